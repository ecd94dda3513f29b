#!/usr/bin/env bash
# experiment=disentanglement_study on one machine: its 33 runs (python -m vaelab.config.grid
# prints them), JOBS at a time (default 2, one per core, one thread each), each in its own
# directory $OUT/<seed-N_study-NAME>, logged to this script's output.
#
#   nohup scripts/run_study.sh > logs/disentanglement_study/study.log 2>&1 &
#   scripts/run_study.sh trainer.max_steps=300      # extra overrides go to every run
#
# Run it again after an interruption (a reboot, kill, Ctrl-C): finished runs are skipped, runs
# with a checkpoint come first and resume from their last.ckpt (ckpt_path=last: at most 200 steps are redone),
# a run that left none starts again (its directory moves to $OUT.abandoned/<name>-<time>).
# A finished run is copied, without its checkpoints, W&B files and per-epoch images, to $RESULTS/<name> (default
# docs/results/study, committed), and a run already there is skipped: the study can go on over
# several sessions on different machines. At the end: vaelab-compare's table and plots of
# $RESULTS in $RESULTS/comparison. Environment: PYTHON (default .venv/bin/python), JOBS, OUT
# (default logs/disentanglement_study/study), RESULTS, ONLY (a grep -E pattern: only the runs it
# matches, e.g. ONLY='seed=0 ' for one seed of every setting).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHON="${PYTHON:-.venv/bin/python}" OUT="${OUT:-logs/disentanglement_study/study}"
export RESULTS="${RESULTS:-docs/results/study}"
export OMP_NUM_THREADS=1 WANDB_MODE="${WANDB_MODE:-offline}"
JOBS="${JOBS:-2}"
mkdir -p "$OUT" "$RESULTS"

keep() {  # keep RUN_DIR DEST: the finished run's files, without checkpoints, W&B's files and the per-epoch images
    rm -rf "$2"
    mkdir -p "$2"
    (cd "$1" && tar --exclude=./checkpoints --exclude=./wandb --exclude='./images/*_epoch*' -cf - .) |
        (cd "$2" && tar -xf -)
}

run_one() {  # run_one "seed=0 study=beta_vae_1" [overrides...]
    local job="$1"
    shift
    local name
    name="$(tr ' =' '_-' <<<"$job")"
    [[ -n "$name" ]] || { echo "run_one: an empty job (a bug in this script)" >&2; return 1; }
    local dir="$OUT/$name" resume=()
    if grep -qs '"state": "finished"' "$RESULTS/$name/status.json"; then
        echo "$(date -u +%FT%TZ) done already: $job ($RESULTS/$name)"
        return 0
    elif grep -qs '"state": "finished"' "$dir/status.json"; then
        keep "$dir" "$RESULTS/$name"
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
    local rc=0
    "$PYTHON" train.py experiment=disentanglement_study hydra.mode=RUN "hydra.run.dir=$dir" \
        $job "${resume[@]}" "$@" >> "$dir.out" 2>&1 || rc=$?
    if ((rc == 0)); then
        keep "$dir" "$RESULTS/$name"
        echo "$(date -u +%FT%TZ) finished: $job (kept in $RESULTS/$name)"
    else
        echo "$(date -u +%FT%TZ) FAILED (exit $rc): $job; see $dir.out and $dir/train.log"
    fi
}
export -f run_one keep

started_first() {  # the grid's runs that have a checkpoint (to resume), then the others, in grid order
    local job later=()
    while IFS= read -r job; do
        if [[ -f "$OUT/$(tr ' =' '_-' <<<"$job")/checkpoints/last.ckpt" ]]; then
            echo "$job"
        else
            later+=("$job")
        fi
    done
    # Nothing when every run resumes: an empty line would be a job with no name, whose folder is $OUT itself.
    if ((${#later[@]})); then
        printf '%s\n' "${later[@]}"
    fi
}

"$PYTHON" -m vaelab.config.grid experiment=disentanglement_study | grep -E -- "${ONLY:-.}" | started_first |
    xargs -d '\n' -P "$JOBS" -I{} bash -c 'run_one "$@"' _ {} "$@"
"$PYTHON" -m vaelab.compare.cli "folders=$RESULTS" metric=test/mig mode=max curve=val/mig "out=$RESULTS/comparison" || true
