"""The Disentanglement callback: scores of the tested weights in metrics.json (and val/ curves in
history.jsonl) on data with ground-truth factors, nothing on data without (the study's grid:
tests/test_disentanglement_study.py).

The metrics themselves are checked against hand-made representations in tests/metrics; here
only where their values go. Their fast sizes (1,000 points, about a minute of rendering and
encoding on a CPU) are cut to a few hundred observations so a run takes seconds: the same code
on fewer points.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.apps import compose_app
from tests.helpers.factor_sources import SMALL_SIZES
from tests.helpers.models import _mlp_system
from vaelab.callbacks.disentanglement import scores
from vaelab.cli.evaluate import evaluate
from vaelab.config import targets
from vaelab.data.shapes2d import Shapes2DSource
from vaelab.metrics import disentanglement
from vaelab.metrics.disentanglement import (
    SCORE_KEYS,
    compute_beta_vae,
    compute_mig,
    compute_sap,
    posterior_mean,
)
from vaelab.runs.checkpoint import load_model
from vaelab.runs.train import train

TIMED = ("mig", "sap", "dci", "factor_vae", "beta_vae")
# The validation scores' DCI is the extra trees' (callbacks.disentanglement.val_dci_estimator).
VAL_NAMES = {f"dci_{p}": f"dci_{p}_extra_trees" for p in ("disentanglement", "completeness", "informativeness")}
SHAPES = (
    "data=shapes2d",
    "data.resolution=32",
    "data.train_size=192",
    "data.val_size=64",
    "data.test_size=64",
    "data.batch_size=64",
    "data.eval_batch_size=64",
    "model.encoder.hidden=[64]",
    "callbacks.images=null",
    "callbacks.disentanglement.fast_every_n_epochs=1",
    "callbacks.disentanglement.fast_test=true",
)


@pytest.fixture
def small_suite(monkeypatch):
    monkeypatch.setattr(disentanglement, "FAST_SIZES", SMALL_SIZES)


def test_scores_of_the_tested_weights_reach_metrics_json(cfg_factory, small_suite):
    cfg = cfg_factory(*SHAPES)
    metrics = train(cfg)
    out = Path(cfg.paths.output_dir)
    assert json.loads((out / "metrics.json").read_text()) == metrics
    # Testing: DCI by gradient-boosted trees under its plain names; validation: extra trees, named so.
    val_keys = [VAL_NAMES.get(key, key) for key in SCORE_KEYS]
    for key in SCORE_KEYS:
        assert 0.0 <= metrics[f"test/{key}"] <= 1.0, key
    for key in val_keys:
        assert 0.0 <= metrics[f"val/{key}"] <= 1.0, key
    assert not {f"val/{key}" for key in VAL_NAMES} & set(metrics)
    assert not {f"test/{key}" for key in VAL_NAMES.values()} & set(metrics)
    record = metrics["disentanglement"]
    assert record["test"]["dci_estimator"] == "gbt" and record["val"]["dci_estimator"] == "extra_trees"
    assert record["test"]["suite"] == record["val"]["suite"] == "fast" and record["test"]["sizes"] == SMALL_SIZES
    for metric in TIMED:
        assert 0.0 < metrics[f"test/{metric}_seconds"] < 60.0
    (row,) = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert all(0.0 <= row[f"val/{key}"] <= 1.0 for key in val_keys)

    # Recomputed from the best checkpoint, the weights trainer.test scored, with each metric's own
    # generator as evaluate_all seeds it: the same values (logged as float32). (DCI's forests,
    # the slow part of a small suite, are left out.)
    system, stored, _ = load_model(metrics["best_checkpoint"])
    source = Shapes2DSource(stored.data.resolution)
    code = posterior_mean(system.vae)
    again = {
        "mig": compute_mig(code, source, np.random.default_rng(0), **SMALL_SIZES["mig"])["mig"],
        "sap": compute_sap(code, source, np.random.default_rng(0), **SMALL_SIZES["sap"])["sap"],
        "beta_vae_score": compute_beta_vae(code, source, np.random.default_rng(0), **SMALL_SIZES["beta_vae"])[
            "beta_vae_score"
        ],
    }
    for key, value in again.items():
        assert math.isclose(metrics[f"test/{key}"], value, rel_tol=1e-6, abs_tol=1e-7), key

    # vaelab-eval on the same checkpoint scores the same way (the run's seed, the fast suite).
    argv = [f"ckpt_path={metrics['best_checkpoint']}", "disentanglement=fast", "pictures=false", "eval.num_samples=2"]
    evaluated = evaluate(compose_app("eval", *argv, output_dir=out / "eval"))
    for key in again:
        assert math.isclose(evaluated[f"test/{key}"], metrics[f"test/{key}"], rel_tol=1e-6, abs_tol=1e-7), key
    # ... DCI with the run's estimator, recorded; the boosted trees' DCI of the same weights and seed.
    assert evaluated["disentanglement"]["test"] == metrics["disentanglement"]["test"]
    assert math.isclose(evaluated["test/dci_disentanglement"], metrics["test/dci_disentanglement"], rel_tol=1e-6)


def test_data_without_factors_gets_no_scores(cfg_factory):
    cfg = cfg_factory("callbacks.disentanglement.fast_every_n_epochs=1", "callbacks.images=null")
    metrics = train(cfg)
    names = {key.rpartition("/")[2] for key in metrics}
    assert "elbo" in names and not names & {*SCORE_KEYS, *(f"{m}_seconds" for m in TIMED)}
    digits = targets.instantiate(cfg.data, path="data")
    digits.setup("test")
    assert scores(_mlp_system().vae, digits) == {}  # what vaelab-eval gets for such data


def test_the_callback_offers_exactly_the_estimators_dci_has():
    from typing import get_args

    from vaelab.callbacks.disentanglement import Disentanglement, Estimator
    from vaelab.metrics.disentanglement.dci import DEFAULT_ESTIMATOR, ESTIMATORS

    assert set(get_args(Estimator)) == set(ESTIMATORS)
    assert (
        Disentanglement().estimators == {"test": DEFAULT_ESTIMATOR, "val": "extra_trees"} and DEFAULT_ESTIMATOR == "gbt"
    )
