"""Reliability: bad input fails fast in one line, faults lose nothing, results reproduce."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import ROOT
from vaelab import rundir
from vaelab.run import train


def cli(tmp_path: Path, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python train.py` as a user runs it, in a temporary log folder, offline."""
    env = {**os.environ, "WANDB_MODE": "offline"}
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = [
        sys.executable,
        "train.py",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.data_dir={tmp_path / 'data'}",
        *overrides,
    ]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def assert_one_line_error(done: subprocess.CompletedProcess, *phrases: str) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr + done.stdout
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), done.stderr[-2000:]
    for phrase in phrases:
        assert phrase in last, last
    # Nothing was trained: no epoch ran, no checkpoint was written.
    assert "Epoch 0" not in done.stdout + done.stderr
    log_dir = Path(done.args[2].split("=", 1)[1])  # cli() passes paths.log_dir third
    assert not list(log_dir.glob("**/*.ckpt"))
    return last


@pytest.mark.parametrize(
    "overrides, phrases",
    [
        (["model.beta=-1"], ["model.beta must be >= 0, got -1"]),
        (["model.latent_dim=0"], ["model.latent_dim must be >= 1, got 0"]),
        (["model.optimizer.lr=0"], ["model.optimizer.lr must be > 0, got 0"]),
        (["data.batch_size=0"], ["data.batch_size must be >= 1, got 0"]),
        (["data.binarize=maybe"], ["data.binarize must be one of none, static, dynamic", "'maybe'"]),
        (["model=conv", "model.encoder.channels=[8,16,32,64]"], ["model=conv with 4 downsampling stages", "8x8"]),
        (["likelihood=gaussian", "likelihood.scale=0"], ["likelihood.scale must be > 0, got 0"]),
    ],
    ids=["beta", "latent_dim", "lr", "batch_size", "binarize", "conv_shape", "scale"],
)
def test_bad_settings_fail_in_one_line(tmp_path, overrides, phrases):
    assert_one_line_error(cli(tmp_path, "data=digits", "logger=none", *overrides), *phrases)


@pytest.mark.parametrize(
    "override, phrases",
    [
        ("likelihood=poisson", ["Could not find 'likelihood/poisson'", "continuous_bernoulli", "gaussian_learned"]),
        ("data=imagenet", ["Could not find 'data/imagenet'", "fashion_mnist"]),
        ("logger=mlflow", ["Could not find 'logger/mlflow'", "tensorboard"]),
        ("trainer=tpu", ["Could not find 'trainer/tpu'", "cpu"]),
        ("model.betta=2", ["Key 'betta' is not in struct", "model.betta"]),
    ],
)
def test_unknown_names_and_misspelled_keys_list_the_choices(tmp_path, override, phrases):
    done = cli(tmp_path, override)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    for phrase in phrases:
        assert phrase in done.stderr
    assert not (tmp_path / "logs").exists()


def test_likelihood_that_cannot_model_the_data(tmp_path):
    raw = tmp_path / "raw.npy"
    np.save(raw, np.random.default_rng(0).integers(0, 256, (300, 1, 8, 8)).astype(np.uint8))
    done = cli(tmp_path, "data=array", f"data.path={raw}", "likelihood=continuous_bernoulli", "logger=none")
    assert_one_line_error(done, "likelihood=ContinuousBernoulli models data in [0, 1]", "[0, 255]", "data.scale")


def test_bad_data_files_are_named(tmp_path):
    missing = cli(tmp_path, "data=mnist", f"data.data_dir={tmp_path / 'nowhere'}", "data.download=false", "logger=none")
    assert_one_line_error(missing, "files not found", str(tmp_path / "nowhere"), "To get them")

    idx = tmp_path / "idx"
    idx.mkdir()
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        header = bytes([0, 0, 8, 3]) + (100).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
        with gzip.open(idx / f"{name}.gz", "wb") as f:
            f.write(header + bytes(1000))  # far fewer bytes than 100 images
    truncated = cli(tmp_path, "data=mnist", f"data.data_dir={idx}", "data.download=false", "logger=none")
    assert_one_line_error(truncated, "train-images-idx3-ubyte.gz", "truncated")

    npz = tmp_path / "broken.npz"
    np.savez(npz, x=np.zeros((50, 4)))
    npz.write_bytes(npz.read_bytes()[:60])
    corrupt = cli(tmp_path, "data=array", f"data.path={npz}", "likelihood=gaussian", "logger=none")
    assert corrupt.returncode != 0 and "broken.npz" in corrupt.stderr and "Traceback" not in corrupt.stderr

    folder = tmp_path / "images"
    folder.mkdir()
    empty = cli(tmp_path, "data=folder", f"data.root={folder}", "logger=none")
    assert_one_line_error(empty, "no images found", str(folder))
    Image.new("RGB", (10, 10)).save(folder / "good.png")
    (folder / "bad.png").write_bytes(b"\x89PNG not really")
    unreadable = cli(tmp_path, "data=folder", f"data.root={folder}", "logger=none")
    assert_one_line_error(unreadable, "bad.png", "not a readable image")


def test_bad_checkpoints_are_refused_before_training(tmp_path):
    cfg_run = cli(tmp_path, "data=digits", "logger=none", "trainer.max_epochs=1", "eval.num_samples=2")
    assert cfg_run.returncode == 0, cfg_run.stderr[-2000:]
    good = next((tmp_path / "logs").glob("train/runs/*/checkpoints/last.ckpt"))
    missing = cli(tmp_path, "data=digits", "logger=none", f"ckpt_path={tmp_path / 'gone.ckpt'}")
    assert missing.returncode == 1 and missing.stderr.strip().endswith(
        f"ckpt_path={tmp_path / 'gone.ckpt'}: no such file"
    )
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    bad = cli(tmp_path, "data=digits", "logger=none", f"ckpt_path={corrupt}")
    assert bad.returncode == 1 and "corrupt.ckpt: not a readable checkpoint" in bad.stderr.splitlines()[-1]
    other = cli(tmp_path, "data=digits", "logger=none", "model.latent_dim=9", f"ckpt_path={good}")
    assert other.returncode == 1 and "do not fit the model" in other.stderr.splitlines()[-1]
    assert "Traceback" not in missing.stderr + bad.stderr + other.stderr


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    done = cli(
        tmp_path,
        "data=digits",
        "logger=none",
        "likelihood=gaussian",
        "data.binarize=none",
        "model.optimizer.lr=1e4",
        "callbacks.step_checkpoint.every_n_train_steps=1",
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("error: step ") and "is not finite" in line and "the last good checkpoint is" in line
    ckpt = Path(line.rsplit(" ", 1)[-1])
    state = torch.load(ckpt, weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values())


def test_non_finite_gradient_is_named():
    from tests.model.test_vae import _mlp_vae

    model = _mlp_vae()
    recon, kl = model.elbo_terms(torch.rand(4, 1, 8, 8))
    (recon + kl).mean().backward()
    model.decoder.out.weight.grad[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match=r"step 0: the gradient is not finite \(first in decoder.out.weight\)"):
        model.on_after_backward()


def test_same_seed_same_numbers(tmp_path):
    from tests.conftest import TINY, compose_config

    runs = [train(compose_config(tmp_path / str(i), *TINY, "data=digits", "trainer.max_epochs=2")) for i in range(2)]
    for key, value in runs[0].items():
        if key != "best_checkpoint":
            assert runs[1][key] == value, key
    other_seed = train(compose_config(tmp_path / "s", *TINY, "data=digits", "trainer.max_epochs=2", "seed=7"))
    assert other_seed["test/elbo"] != runs[0]["test/elbo"]


def test_run_directories_are_never_reused(tmp_path):
    made = {rundir.new_run_dir(tmp_path) for _ in range(5)}  # all within the same second or two
    assert len(made) == 5 and all(p.is_dir() for p in made)
    rundir._chosen.clear()
    with pytest.raises(FileNotFoundError, match="ckpt_path=last: no earlier run of this command"):
        rundir.run_dir(str(tmp_path), "last", ["model.beta=2", "ckpt_path=last"])


def test_provenance_is_recorded(cfg_factory):
    cfg = cfg_factory()
    metrics = train(cfg)
    out = Path(cfg.paths.output_dir)
    provenance = json.loads((out / "provenance.json").read_text())
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert provenance["git_commit"] == (commit or None) and provenance["vaelab_version"]
    checkpoint = torch.load(metrics["best_checkpoint"], weights_only=True)
    assert checkpoint["vaelab"]["git_commit"] == provenance["git_commit"]
    assert checkpoint["vaelab"]["config"]["model"]["latent_dim"] == 4
    assert (out / "config.yaml").read_text().count("latent_dim: 4") >= 1


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_uninterrupted_result(tmp_path):
    """A run killed mid-epoch and resumed with ckpt_path=last ends exactly as one never interrupted."""
    args = [
        "data=digits",
        "data.batch_size=16",
        "trainer.max_epochs=2",
        "eval.num_samples=10",
        "logger=wandb",
        "callbacks.step_checkpoint.every_n_train_steps=10",
        "++callbacks.rich_progress_bar=null",
    ]
    straight = cli(tmp_path / "a", *args)
    assert straight.returncode == 0, straight.stderr[-2000:]

    logs = tmp_path / "b"
    env = {**os.environ, "WANDB_MODE": "offline"}
    cmd = [sys.executable, "train.py", f"paths.log_dir={logs / 'logs'}", f"paths.data_dir={logs / 'data'}", *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(logs.glob("logs/train/runs/*/checkpoints/last.ckpt")) and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (run,) = logs.glob("logs/train/runs/*")
    killed_at = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert not (run / "metrics.json").exists() and 0 < killed_at < 2 * 81  # killed before the end

    resumed = cli(logs, *args, "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert [p.name for p in logs.glob("logs/train/runs/*")] == [run.name]  # the same run directory
    wandb_runs = sorted(p.name for p in (run / "wandb").glob("offline-run-*"))
    assert len(wandb_runs) == 2 and len({name.rsplit("-", 1)[1] for name in wandb_runs}) == 1  # one W&B run id

    (a_run,) = (tmp_path / "a").glob("logs/train/runs/*")
    expected = json.loads((a_run / "metrics.json").read_text())
    got = json.loads((run / "metrics.json").read_text())
    for key, value in expected.items():
        if key != "best_checkpoint":
            assert got[key] == pytest.approx(value, rel=1e-6), key
