"""vaelab-sample, the Hydra app (conf/sample.yaml), in-process on a real checkpoint (digits, 2
latent dimensions, N(0, I) prior): what it writes is the decoded draws of the chosen sampler at
the chosen temperature, rebuilt here independently."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from tests.helpers import OLD_CHECKPOINT
from tests.helpers.apps import compose_app
from vaelab.cli.sample import sample
from vaelab.config import targets
from vaelab.errors import exit_code
from vaelab.runs.checkpoint import load_model
from vaelab.samplers import GMMSampler


def run_sample(out: Path, *argv: str) -> list[Path]:
    return sample(compose_app("sample", f"ckpt_path={OLD_CHECKPOINT}", *argv, output_dir=out))


@pytest.fixture(scope="module")
def model():
    system, cfg, _ = load_model(OLD_CHECKPOINT)
    return system.vae, cfg


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_samples_are_the_decoded_prior_draws_scaled_by_t(model, tmp_path, temperature):
    vae, _ = model
    run_sample(tmp_path, "n=9", "seed=3", f"temperature={temperature}")
    samples = np.load(tmp_path / "samples.npy", allow_pickle=False)
    # z = T * eps, eps ~ N(0, I) drawn from the same seed, decoded to the likelihood's mean.
    torch.manual_seed(3)
    eps = Normal(torch.zeros(2), torch.ones(2)).sample((9,))
    with torch.no_grad():
        want = vae.decode(temperature * eps).mean.numpy()
    assert samples.shape == (9, 1, 8, 8) and np.allclose(samples, want, atol=1e-6)
    assert (tmp_path / "samples.png").is_file()


def test_gmm_sampler_draws_from_the_mixture_fitted_to_the_training_codes(model, tmp_path):
    vae, cfg = model
    run_sample(tmp_path / "gmm", "n=16", "seed=1", "sampler=gmm", "sampler.n_components=3", "temperature=0.8")
    samples = np.load(tmp_path / "gmm" / "samples.npy", allow_pickle=False)
    # The same mixture fitted here to the checkpoint's train split, the same draws decoded.
    datamodule = targets.instantiate(cfg.data, path="data")
    datamodule.setup("fit")
    gmm = GMMSampler(n_components=3, seed=1).fit(vae, datamodule)
    torch.manual_seed(1)
    with torch.no_grad():
        want = vae.decode(gmm.distribution(vae, 0.8).sample((16,)).float()).mean.numpy()
    assert samples.shape == (16, 1, 8, 8) and np.allclose(samples, want, atol=1e-5)
    run_sample(tmp_path / "prior", "n=16", "seed=1", "temperature=0.8")
    assert not np.allclose(samples, np.load(tmp_path / "prior" / "samples.npy"), atol=1e-3)


def test_interpolations_write_grids_and_arrays(tmp_path):
    run_sample(tmp_path, "interpolate=true", "pairs=3", "steps=5")
    for mode in ("linear", "spherical"):
        path = np.load(tmp_path / f"interpolations_{mode}.npy", allow_pickle=False)
        assert path.shape == (3, 5, 1, 8, 8)
        assert (tmp_path / f"interpolations_{mode}.png").is_file()


def test_bad_settings_are_one_line(tmp_path, capsys):
    cases = [
        (["temperature=0"], "temperature=0: must be > 0"),
        (["temperature=-1.5"], "temperature=-1.5: must be > 0"),
        (["n=0"], "n=0: must be >= 1"),
        (["sampler=gmm", "sampler.n_components=0"], "sampler.n_components=0: must be >= 1"),
        (["interpolate=true", "temperature=0.5"], "interpolate=true decodes paths between encoded images"),
        (["data.batch_size=abc"], "data.batch_size='abc': must be a whole number"),
        (["model=conv"], "model=conv: refused: the checkpoint's weights define its model"),
        (["nsamples=3"], "nsamples=3: the checkpoint's config has no setting nsamples"),
    ]
    for args, message in cases:
        capsys.readouterr()
        assert exit_code(run_sample, tmp_path / "out", *args) == 1, args
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("error: ") and message in line, (args, line)
    assert not (tmp_path / "out").exists()


def test_sample_quality_of_the_drawn_samples_against_the_test_split(tmp_path):
    out = tmp_path / "samples"
    written = run_sample(out, "n=120", "quality.features=classifier", f"quality.cache_dir={tmp_path / 'nets'}")
    assert out / "quality.json" in written
    metrics = json.loads((out / "quality.json").read_text())
    assert 0 < metrics["quality/fd_classifier"] < float("inf") and 0 <= metrics["quality/recall"] <= 1


def test_an_unknown_quality_feature_space_is_one_line(tmp_path, capsys):
    capsys.readouterr()
    assert exit_code(lambda: run_sample(tmp_path / "s", "quality.features=fid")) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "quality.features" in line and "fid" in line and "classifier" in line
    assert not (tmp_path / "s").exists()
