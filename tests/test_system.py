"""The training system runs every objective and prior under DDP (2 CPU processes over gloo).

One Hydra multirun per group, as a user launches it, with Lightning's fork launcher
(`trainer.strategy=ddp_fork`): each job's second rank is forked from the job's process rather
than a new interpreter, which would spend seconds importing before it trains. The launcher that
`trainer=ddp_cpu` uses by default (a new process per rank) is tested in tests/test_sweeps.py,
where two ranks' numbers are compared with one process's.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers import warm

TINY_DDP = [
    "data=digits",
    "logger=none",
    "trainer=ddp_cpu",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "eval.num_samples=2",
    "model.latent_dim=4",
    "++callbacks.rich_progress_bar=null",
    "callbacks.images=null",
]


@pytest.mark.slow
@pytest.mark.parametrize(
    "sweep",
    [
        # FactorVAE's two networks each miss from the other's backward: DDP must allow unused parameters.
        "objective=beta_tcvae,factor_vae,dip_vae,capacity,iwae trainer.strategy=ddp_fork_find_unused_parameters_true",
        "prior=mog,vamp trainer.strategy=ddp_fork",
    ],
    ids=["objectives", "priors"],
)
def test_every_objective_and_prior_trains_under_ddp(tmp_path, sweep):
    env = {**os.environ, "WANDB_MODE": "offline"}
    cmd = [sys.executable, "train.py", "-m", f"paths.log_dir={tmp_path}", *TINY_DDP, *sweep.split()]
    done = warm.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Starting with 2 processes" in done.stdout + done.stderr
    jobs = sorted(p.parent for p in Path(tmp_path).glob("train/multiruns/*/*/metrics.json"))
    assert len(jobs) == len(sweep.split()[0].split("=")[1].split(","))
    for job in jobs:
        assert json.loads((job / "status.json").read_text()) == {"state": "finished"}
        metrics = json.loads((job / "metrics.json").read_text())
        assert all(v == v for v in metrics.values() if isinstance(v, float)), job  # no NaN
        assert metrics["test/elbo"] <= -metrics["test/nll"] + 1.0  # ELBO <= IW bound, up to noise
