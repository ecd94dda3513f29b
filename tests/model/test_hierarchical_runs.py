"""The hierarchical models (model=hvae, conv_hvae, top_down) through everything a one-layer model
goes through: train.py, exact resume, vaelab-eval and vaelab-sample, on the small digits data."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.apps import compose_app
from vaelab.cli.evaluate import evaluate
from vaelab.cli.sample import sample
from vaelab.runs.train import train

MODELS = {
    "hvae": ["model.vae.hidden=32"],
    "conv_hvae": ["model.vae.hidden=32"],
    "top_down": ["model.vae.resolutions=[2,4]", "model.vae.width=8"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    """One finished tiny run per hierarchical model: {model: (run directory, metrics)}."""
    from tests.conftest import TINY, compose_config

    done = {}
    for model, overrides in MODELS.items():
        cfg = compose_config(tmp_path_factory.mktemp(model), *TINY, "data=digits", f"model={model}", *overrides)
        done[model] = (Path(cfg.paths.output_dir), train(cfg))
    return done


@pytest.mark.parametrize("model", MODELS)
def test_trains_and_reports_each_group(runs, model):
    run, metrics = runs[model]
    groups = {"hvae": 2, "conv_hvae": 2, "top_down": 5}[model]
    names = [f"z{i}" for i in range(1, groups + 1)]
    kls = [metrics[f"test/kl_{name}"] for name in names]
    assert all(kl >= 0 for kl in kls) and math.isclose(sum(kls), metrics["test/kl"], rel_tol=1e-4, abs_tol=1e-4)
    assert sum(metrics[f"test/active_units_{name}"] for name in names) == metrics["test/active_units"]
    assert metrics["test/elbo"] == pytest.approx(-(metrics["test/recon"] + metrics["test/kl"]), rel=1e-5)
    assert math.isfinite(metrics["test/nll"]) and metrics["test/bpd"] > 0
    assert json.loads((run / "metrics.json").read_text())["test/kl_z1"] == pytest.approx(metrics["test/kl_z1"])
    assert (run / "checkpoints" / "last.ckpt").is_file()


def test_resume_continues_exactly(cfg_factory, tmp_path):
    from tests.conftest import TINY, compose_config

    common = ["data=digits", "model=hvae", *MODELS["hvae"]]
    straight = train(compose_config(tmp_path / "a", *TINY, *common, "trainer.max_epochs=2"))
    first = compose_config(tmp_path / "b", *TINY, *common)
    train(first)
    last = Path(first.paths.output_dir) / "checkpoints" / "last.ckpt"
    resumed = train(compose_config(tmp_path / "b", *TINY, *common, "trainer.max_epochs=2", f"ckpt_path={last}"))
    for key in ("test/elbo", "test/kl_z1", "test/kl_z2", "test/nll"):
        assert resumed[key] == pytest.approx(straight[key], rel=1e-6), key


@pytest.mark.parametrize("model", ["hvae", "top_down"])
def test_eval_and_sample_take_the_checkpoint(runs, model, tmp_path):
    run, trained = runs[model]
    ckpt = run / "checkpoints" / "last.ckpt"
    metrics = evaluate(
        compose_app("eval", f"ckpt_path={ckpt}", "eval.num_samples=3", "pictures=false", output_dir=tmp_path / "e")
    )
    assert {"test/kl_z1", "test/kl_z2", "test/nll"} <= set(metrics)
    assert metrics["test/kl_z1"] == pytest.approx(trained["test/kl_z1"], rel=0.5)  # other draws, same model
    sample(compose_app("sample", f"ckpt_path={ckpt}", "n=6", "temperature=0.5", output_dir=tmp_path / "s"))
    samples = np.load(tmp_path / "s" / "samples.npy")
    assert samples.shape == (6, 1, 8, 8) and np.isfinite(samples).all()
