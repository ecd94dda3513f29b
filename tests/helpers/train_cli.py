"""`python train.py ...` as a process (a warm one: tests/helpers/warm.py), offline, writing into a
temporary directory: for what only a process shows (sweeps, exit codes); and the same command
through train.py's main() in the test process (`cli_here`). FAST makes its runs small."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.helpers import warm
from vaelab.cli.train import main as train_main

FAST = ["data=digits", "trainer.max_epochs=1", "eval.num_samples=4", "++callbacks.rich_progress_bar=null"]


def train_cli(tmp_path: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline"}
    cmd = [sys.executable, "train.py", *args, f"paths.log_dir={tmp_path}", f"paths.data_dir={tmp_path / 'data'}"]
    return warm.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def cli_here(tmp_path: Path, monkeypatch, *overrides: str) -> int:
    """`python train.py` with these overrides through its main() in this process: its exit code."""
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    words = [f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}"]
    monkeypatch.setattr(sys, "argv", ["train.py", *words, *overrides])
    return train_main()
