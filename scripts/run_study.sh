#!/usr/bin/env bash
# experiment=disentanglement_study on one machine: its 33 runs (python -m vaelab.config.grid
# prints them), JOBS at a time (default 2, one per core, one thread each), each in its own
# directory $OUT/<seed-N_study-NAME>, logged to this script's output.
#
#   nohup scripts/run_study.sh > logs/disentanglement_study/study.log 2>&1 &
#   scripts/run_study.sh trainer.max_steps=300      # extra overrides go to every run
#
# Run it again after an interruption (a reboot, kill, Ctrl-C): finished runs are skipped, a run
# with a checkpoint resumes from its last.ckpt (ckpt_path=last: at most 200 steps are redone),
# a run that left none starts again (its directory moves to $OUT.abandoned/<name>-<time>).
# At the end: vaelab-compare's table and plots in $OUT/comparison. Environment: PYTHON (default
# .venv/bin/python), JOBS, OUT (default logs/disentanglement_study/study), ONLY (a grep -E
# pattern: only the runs it matches, e.g. ONLY='seed=0 ' for one seed of every setting).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHON="${PYTHON:-.venv/bin/python}" OUT="${OUT:-logs/disentanglement_study/study}"
export OMP_NUM_THREADS=1 WANDB_MODE="${WANDB_MODE:-offline}"
JOBS="${JOBS:-2}"
mkdir -p "$OUT"

run_one() {  # run_one "seed=0 study=beta_vae_1" [overrides...]
    local job="$1"
    shift
    local dir="$OUT/$(tr ' =' '_-' <<<"$job")" resume=()
    if grep -qs '"state": "finished"' "$dir/status.json"; then
        echo "$(date -u +%FT%TZ) done already: $job"
        return 0
    elif [[ -f "$dir/checkpoints/last.ckpt" ]]; then
        resume=(ckpt_path=last)
    elif [[ -e "$dir" ]]; then
        mkdir -p "$OUT.abandoned"
        mv "$dir" "$OUT.abandoned/$(basename "$dir")-$(date +%s)"
    fi
    echo "$(date -u +%FT%TZ) start: $job ${resume[*]:-}"
    # shellcheck disable=SC2086  # the job's overrides are words
    if "$PYTHON" train.py experiment=disentanglement_study hydra.mode=RUN "hydra.run.dir=$dir" \
        $job "${resume[@]}" "$@" > "$dir.out" 2>&1; then
        echo "$(date -u +%FT%TZ) finished: $job"
    else
        echo "$(date -u +%FT%TZ) FAILED ($?): $job; see $dir.out and $dir/train.log"
    fi
}
export -f run_one

"$PYTHON" -m vaelab.config.grid experiment=disentanglement_study | grep -E -- "${ONLY:-.}" |
    xargs -d '\n' -P "$JOBS" -I{} bash -c 'run_one "$@"' _ {} "$@"
"$PYTHON" -m vaelab.compare.cli "$OUT" --metric test/mig --mode max --out "$OUT/comparison" || true
