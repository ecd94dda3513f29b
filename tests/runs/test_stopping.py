"""vaelab.runs.stopping: a run that would train nothing, or never stop, is refused before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vaelab.runs.train import train

RULES = "trainer.max_steps=N, trainer.max_time=DD:HH:MM:SS or callbacks=early_stopping"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["trainer.max_epochs=0"], f"trainer.max_epochs=0: trains nothing; must be >= 1, or -1 (until {RULES}"),
        (["trainer.max_steps=0"], "trainer.max_steps=0: trains nothing; must be -1 (no step limit) or >= 1"),
        (
            ["trainer.max_epochs=-1"],
            f"trainer.max_epochs=-1: trains until a stopping rule ends it, and none is set; set {RULES}",
        ),
    ],
)
def test_a_run_that_does_nothing_or_never_stops_is_refused(cfg_factory, overrides, message):
    cfg = cfg_factory(*overrides)
    with pytest.raises(ValueError) as refused:
        train(cfg)
    assert str(refused.value).startswith(message) and "\n" not in str(refused.value)
    run = Path(cfg.paths.output_dir)
    assert sorted(p.name for p in run.iterdir()) == ["status.json"]  # no checkpoint, no empty metrics.json
    assert json.loads((run / "status.json").read_text())["state"] == "failed"


def test_max_epochs_minus_one_trains_until_its_stopping_rule(cfg_factory):
    cfg = cfg_factory("trainer.max_epochs=-1", "trainer.max_steps=4")
    metrics = train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 4 and "test/elbo" in metrics
