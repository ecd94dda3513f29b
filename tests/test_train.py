"""Training runs end to end: each data source, each likelihood, a run that must learn, the CLI."""

from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import ROOT
from tests.helpers import warm
from vaelab.config import targets
from vaelab.runs.train import train

METRIC_KEYS = {"test/loss", "test/elbo", "test/recon", "test/kl", "test/nll"}


def check_run(cfg, metrics, image=True):
    out = cfg.paths.output_dir
    on_disk = json.loads(open(os.path.join(out, "metrics.json")).read())
    assert on_disk.keys() == metrics.keys()
    for key, value in metrics.items():
        assert on_disk[key] == (pytest.approx(value) if isinstance(value, (float, list)) else value)
    assert METRIC_KEYS | ({"test/bpd"} if image else set()) <= set(metrics)
    # Units: the ELBO is a lower bound on log p(x), so -elbo >= the IW estimate of -log p(x) up to noise,
    # and loss = recon + beta * kl.
    assert metrics["test/elbo"] == pytest.approx(-(metrics["test/recon"] + metrics["test/kl"]), rel=1e-5)
    assert metrics["test/kl"] >= 0
    assert all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))


def write_cifar(d):
    rng = np.random.default_rng(0)
    folder = d / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name in [*(f"data_batch_{i}.bin" for i in range(1, 6)), "test_batch.bin"]:
        records = np.concatenate([rng.integers(0, 10, (40, 1)), rng.integers(0, 256, (40, 3072))], axis=1)
        (folder / name).write_bytes(records.astype(np.uint8).tobytes())
    return folder.parent


def write_folder(d):
    rng = np.random.default_rng(0)
    for label in ("cats", "dogs"):
        (d / label).mkdir(parents=True)
        for i in range(30):
            Image.fromarray(rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)).save(d / label / f"{i}.png")
    return d


SOURCES = {
    "fashion_mnist": lambda tmp, mnist: [],
    "mnist": lambda tmp, mnist: [f"data.data_dir={mnist}", "data.download=false", "data.val_size=1000"],
    "digits": lambda tmp, mnist: [],
    "cifar10": lambda tmp, mnist: [
        f"data.data_dir={write_cifar(tmp / 'cifar')}",
        "data.download=false",
        "data.val_size=20",
        "likelihood=continuous_bernoulli",
    ],
    "folder": lambda tmp, mnist: [
        f"data.root={write_folder(tmp / 'imgs')}",
        "data.image_size=16",
        "likelihood=continuous_bernoulli",
    ],
    "array": lambda tmp, mnist: [f"data.path={tmp / 'x.npy'}", "likelihood=gaussian"],
}


@pytest.mark.parametrize("source", SOURCES)
def test_short_run_per_data_source(cfg_factory, tmp_path, mnist_dir, source):
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(200, 12)).astype(np.float32))
    cfg = cfg_factory(f"data={source}", *SOURCES[source](tmp_path, mnist_dir))
    metrics = train(cfg)
    check_run(cfg, metrics, image=source != "array")
    assert os.path.isfile(os.path.join(cfg.paths.output_dir, "checkpoints", "last.ckpt"))


@pytest.mark.parametrize("likelihood", ["bernoulli", "continuous_bernoulli", "gaussian", "gaussian_learned", "laplace"])
@pytest.mark.parametrize("model", ["mlp", "conv"])
def test_short_run_per_likelihood(cfg_factory, likelihood, model):
    binarize = "dynamic" if likelihood == "bernoulli" else "none"
    cfg = cfg_factory(f"likelihood={likelihood}", f"model={model}", f"data.binarize={binarize}")
    check_run(cfg, train(cfg))
    images = os.listdir(os.path.join(cfg.paths.output_dir, "images"))
    assert {"reconstructions_epoch000.png", "samples_epoch000.png"} <= set(images)


def test_bernoulli_on_out_of_range_data_fails_before_training(cfg_factory, tmp_path):
    np.save(tmp_path / "raw.npy", np.random.default_rng(0).integers(0, 256, (100, 1, 8, 8)).astype(np.float32))
    cfg = cfg_factory("data=array", f"data.path={tmp_path / 'raw.npy'}", "likelihood=bernoulli")
    with pytest.raises(ValueError, match=r"likelihood=Bernoulli models data in \[0, 1\].*\[0, 255\]"):
        train(cfg)
    assert not os.path.exists(os.path.join(cfg.paths.output_dir, "checkpoints"))


@pytest.mark.slow
def test_training_on_fashion_mnist_learns(cfg_factory):
    """Two short epochs on real Fashion-MNIST beat the same model untrained by a wide margin."""
    common = [
        "data=fashion_mnist",
        "trainer.limit_train_batches=150",
        "trainer.limit_test_batches=2",
        "eval.num_samples=20",
    ]
    trained_cfg = cfg_factory(*common, "trainer.max_epochs=2", "model.latent_dim=16")
    # The same model untrained (max_epochs=0 is refused: a run that trains nothing), on the same test batches.
    system = targets.instantiate(trained_cfg.model, path="model")
    data = targets.instantiate(trained_cfg.data, path="data")
    data.setup("test")
    with torch.no_grad():
        batches = [x for (x, _), _ in zip(data.test_dataloader(), range(2))]
        untrained_elbo = -float(torch.cat([sum(system.vae.elbo_terms(x)) for x in batches]).mean())
    trained = train(trained_cfg)
    # Untrained: about 784 * log 2 = 543 nats (every pixel a coin flip); trained: well under 400.
    assert untrained_elbo < -500
    assert trained["test/elbo"] > untrained_elbo + 150
    assert trained["test/nll"] <= -trained["test/elbo"] + 1.0  # the IW bound is at least as tight as the ELBO
    assert trained["test/bpd"] == pytest.approx(trained["test/nll"] / (784 * math.log(2)), rel=1e-5)


@pytest.mark.slow
def test_cli_run_leaves_a_complete_run_directory(tmp_path):
    """`python train.py` as a user runs it: config, checkpoints, images, metrics and an offline W&B run."""
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable,
        "train.py",
        "data=digits",
        "trainer.max_epochs=2",
        "eval.num_samples=8",
        f"hydra.run.dir={run_dir}",
        f"paths.data_dir={tmp_path / 'data'}",
        "objective.beta=2",
        "tags=[cli]",
    ]
    env = {**os.environ, "WANDB_MODE": "offline"}
    warm.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True, timeout=300)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics) and metrics["test/loss"] == pytest.approx(
        metrics["test/recon"] + 2 * metrics["test/kl"], rel=1e-5
    )
    assert (run_dir / ".hydra" / "config.yaml").is_file() and (run_dir / "config.yaml").is_file()
    assert (run_dir / "train.log").is_file() and not (ROOT / "train.log").exists()
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir())[-1] == "last.ckpt"
    assert (run_dir / "images" / "samples_epoch001.png").is_file()
    offline = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    out = warm.run(
        [
            os.path.join(os.path.dirname(sys.executable), "wandb"),
            "leet",
            "inspect",
            "--summary",
            "--json",
            str(offline[0]),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    record = json.loads(out.stdout)
    text = json.dumps(record)
    assert '"beta": 2' in text and "cli" in text
    summary = record.get("summary") or record.get("metrics") or {}
    flat = json.dumps(summary)
    for key in ("test/nll", "test/elbo", "val/loss"):
        assert key in flat


@pytest.mark.parametrize("logger", ["csv", "tensorboard", "wandb"])
def test_short_run_per_logger(cfg_factory, logger):
    cfg = cfg_factory(f"logger={logger}")
    check_run(cfg, train(cfg))
    out = cfg.paths.output_dir
    expected = {"csv": "csv/metrics.csv", "tensorboard": "tensorboard", "wandb": "wandb"}[logger]
    assert os.path.exists(os.path.join(out, expected))
    if logger == "csv":
        header = open(os.path.join(out, expected)).readline()
        assert "val/loss" in header and "test/nll" in header
