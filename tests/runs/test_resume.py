"""A resumed run may train longer than the run it continues, and nothing else changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vaelab.runs.train import train

STEPS = ("trainer.max_epochs=-1", "callbacks.step_checkpoint.every_n_train_steps=2")


def test_a_finished_run_trains_on_to_a_larger_max_steps(cfg_factory):
    cfg = cfg_factory(*STEPS, "trainer.max_steps=2")
    train(cfg)
    run = Path(cfg.paths.output_dir)
    last = run / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 2
    # The study's case: the same run, a larger step budget.
    train(cfg_factory(*STEPS, "trainer.max_steps=6", "ckpt_path=last"))
    assert torch.load(last, weights_only=True)["global_step"] == 6
    (resume,) = json.loads((run / "provenance.json").read_text())["resumes"]
    assert resume["resumed_from"] == str(last)
    # What it trains is still fixed.
    with pytest.raises(ValueError, match=r"optimizer.lr=0.5 differs from the checkpoint's run"):
        train(cfg_factory(*STEPS, "trainer.max_steps=8", "optimizer.lr=0.5", "ckpt_path=last"))
