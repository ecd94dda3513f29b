#!/usr/bin/env bash
# The GPU benchmark in one command (issue 24, item 4), under 8 minutes on one GPU:
#   1. python -m benchmarks.training --trainer gpu: vaelab's `python train.py trainer=gpu` against
#      the hand loop on the GPU, for the default MLP, the conv model, the MLP with
#      trainer.compile=true, with trainer.precision=bf16-mixed and with trainer.steps_per_execution=8
#      (REPEATS interleaved runs each);
#   2. a one-GPU DDP smoke run: train.py trainer=gpu trainer.strategy=ddp trainer.devices=1, 20 steps;
# and writes both to benchmarks/results/gpu.json. Without a GPU it says so in one line and exits 0.
#
#   benchmarks/gpu.sh                 # PYTHON (default .venv/bin/python, else python), REPEATS (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."

# Asked before torch is imported (seconds): no driver, no GPU.
if ! command -v nvidia-smi > /dev/null 2>&1 || ! nvidia-smi -L > /dev/null 2>&1; then
    echo "benchmarks/gpu.sh: skipped, no GPU on this machine (no working nvidia-smi)"
    exit 0
fi
PYTHON="${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}"
if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "benchmarks/gpu.sh: skipped, torch sees no CUDA GPU (torch.cuda.is_available() is False)"
    exit 0
fi
REPEATS="${REPEATS:-2}"
export WANDB_MODE="${WANDB_MODE:-offline}" WANDB_SILENT=true
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
started=$(date +%s)

# 1. Training speed; a case that fails or runs over its time still leaves the others' record.
set +e
timeout 390 "$PYTHON" -m benchmarks.training --trainer gpu --repeats "$REPEATS" \
    --cases mlp,conv,mlp_compile,mlp_bf16,mlp_steps8 > "$work/training.log" 2>&1
training_exit=$?
tail -n 20 "$work/training.log"

# 2. DDP on one GPU: the strategy's wrapping, hooks and checkpoints on a CUDA device, 20 steps.
ddp_started=$(date +%s)
timeout 120 "$PYTHON" train.py trainer=gpu trainer.strategy=ddp trainer.devices=1 trainer.max_steps=20 \
    trainer.limit_val_batches=2 test=false logger=none "hydra.run.dir=$work/ddp" "paths.log_dir=$work/logs" \
    > "$work/ddp.log" 2>&1
ddp_exit=$?
ddp_seconds=$(( $(date +%s) - ddp_started ))
set -e
tail -n 5 "$work/ddp.log"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$work/gpu.txt" || true
WORK="$work" TRAINING_EXIT=$training_exit DDP_EXIT=$ddp_exit DDP_SECONDS=$ddp_seconds \
TOTAL_SECONDS=$(( $(date +%s) - started )) "$PYTHON" - <<'EOF'
import json, os
from pathlib import Path

work, results = Path(os.environ["WORK"]), Path("benchmarks/results")
training = results / "training_gpu.json"
ddp_status = work / "ddp" / "status.json"
record = {
    "gpu": (work / "gpu.txt").read_text().strip(),
    "seconds": int(os.environ["TOTAL_SECONDS"]),
    "training": {
        "exit_code": int(os.environ["TRAINING_EXIT"]),  # 124: stopped by the time limit
        "result": json.loads(training.read_text()) if training.is_file() and os.environ["TRAINING_EXIT"] == "0" else None,
        "log_tail": (work / "training.log").read_text().splitlines()[-20:],
    },
    "ddp_one_gpu": {
        "exit_code": int(os.environ["DDP_EXIT"]),
        "seconds": int(os.environ["DDP_SECONDS"]),
        "status": json.loads(ddp_status.read_text()) if ddp_status.is_file() else None,
        "log_tail": (work / "ddp.log").read_text().splitlines()[-10:],
    },
    "not_measured": "the small model 784-64-8 at batch 128: not a case of benchmarks.training yet",
}
(results / "gpu.json").write_text(json.dumps(record, indent=2) + "\n")
print(f"written: {results / 'gpu.json'}")
EOF
