"""`python train.py ...` as a subprocess, offline, writing into a temporary directory: for what
only a process shows (sweeps, exit codes). FAST makes its runs small."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.helpers import warm

FAST = ["data=digits", "trainer.max_epochs=1", "eval.num_samples=4", "++callbacks.rich_progress_bar=null"]


def train_cli(tmp_path: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline"}
    cmd = [sys.executable, "train.py", *args, f"paths.log_dir={tmp_path}", f"paths.data_dir={tmp_path / 'data'}"]
    return warm.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
