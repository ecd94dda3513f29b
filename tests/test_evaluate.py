"""vaelab-eval and vaelab-sample on a checkpoint of a real (short) training run."""

from __future__ import annotations

import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from vaelab.checkpoint import load_model
from vaelab.evaluate import main as eval_main
from vaelab.run import train
from vaelab.sample import main as sample_main


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A digits model trained for a few epochs: (checkpoint path, the run's metrics)."""
    from tests.conftest import TINY, compose_config

    tmp = tmp_path_factory.mktemp("trained")
    cfg = compose_config(
        tmp,
        *TINY,
        "data=digits",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=null",
        "trainer.limit_val_batches=null",
        "trainer.limit_test_batches=null",
        "eval.num_samples=50",
    )
    metrics = train(cfg)
    return Path(metrics["best_checkpoint"]), metrics


def test_eval_reports_every_number_and_picture(trained, tmp_path, capsys):
    ckpt, run_metrics = trained
    out = tmp_path / "eval"
    assert eval_main([f"ckpt_path={ckpt}", "num_samples=200", f"output_dir={out}"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_samples"] == 200 and metrics["split"] == "test"
    for key in ("test/nll", "test/elbo", "test/bpd", "test/active_units", "test/kl_per_dim"):
        assert key in metrics
    # Same checkpoint, same test split as the training run's own test: the ELBO agrees within
    # Monte-Carlo noise, and the K=200 bound is at least as tight as the K=50 one, up to noise.
    assert metrics["test/elbo"] == pytest.approx(run_metrics["test/elbo"], abs=1.0)
    assert metrics["test/nll"] <= run_metrics["test/nll"] + 0.2
    assert metrics["test/nll"] <= -metrics["test/elbo"]
    assert metrics["test/bpd"] == pytest.approx(metrics["test/nll"] / (64 * math.log(2)), rel=1e-5)
    assert len(metrics["test/kl_per_dim"]) == 4
    assert sum(metrics["test/kl_per_dim"]) == pytest.approx(metrics["test/kl"], rel=1e-3)
    assert 0 <= metrics["test/active_units"] <= 4
    pngs = {p.stem for p in out.glob("*.png")}
    assert {
        "reconstructions_test",
        "samples_test",
        "interpolations_linear_test",
        "interpolations_spherical_test",
        "traversals_test",
        "latent_map_test",
    } <= pngs
    printed = capsys.readouterr().out
    assert "test/nll" in printed and "K = 200" in printed


def test_eval_on_another_split_renames_keys(trained, tmp_path):
    ckpt, _ = trained
    assert (
        eval_main([f"ckpt_path={ckpt}", "split=val", "num_samples=5", "pictures=false", f"output_dir={tmp_path}"]) == 0
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "val/nll" in metrics and not any(k.startswith("test/") for k in metrics)
    assert not list(tmp_path.glob("*.png"))


def test_checkpoint_rebuilds_the_model_alone(trained):
    ckpt, _ = trained
    model, cfg, checkpoint = load_model(ckpt)
    assert not model.training and model.model.latent_dim == cfg.model.latent_dim == 4
    assert checkpoint["vaelab"]["config"]["data"]["_target_"] == "vaelab.data.Digits"
    x = torch.rand(3, 1, 8, 8)
    assert model.model.reconstruct(x).shape == x.shape


def test_sample_writes_grid_and_array(trained, tmp_path):
    ckpt, _ = trained
    assert sample_main([f"ckpt_path={ckpt}", "n=9", f"output_dir={tmp_path}"]) == 0
    samples = np.load(tmp_path / "samples.npy", allow_pickle=False)
    assert samples.shape == (9, 1, 8, 8) and samples.min() >= 0 and samples.max() <= 1
    assert (tmp_path / "samples.png").is_file()
    assert sample_main([f"ckpt_path={ckpt}", "interpolate=true", "pairs=3", "steps=5", f"output_dir={tmp_path}"]) == 0
    for mode in ("linear", "spherical"):
        path = np.load(tmp_path / f"interpolations_{mode}.npy")
        assert path.shape == (3, 5, 1, 8, 8)
        assert (tmp_path / f"interpolations_{mode}.png").is_file()


def test_bad_checkpoints_and_arguments_are_named(trained, tmp_path, capsys):
    ckpt, _ = trained
    assert eval_main([f"ckpt_path={tmp_path / 'nope.ckpt'}"]) == 1
    assert "nope.ckpt: no such file" in capsys.readouterr().err
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(ckpt.read_bytes()[:1000])
    assert eval_main([f"ckpt_path={truncated}"]) == 1
    assert "truncated.ckpt: not a readable checkpoint" in capsys.readouterr().err
    assert eval_main([f"ckpt_path={ckpt}", "model.latent_dim=7"]) == 1
    assert "do not fit the model" in capsys.readouterr().err
    assert eval_main([f"ckpt_path={ckpt}", "nonsense=1"]) == 2
    assert "unknown option 'nonsense'" in capsys.readouterr().err
    assert eval_main([]) == 2
    assert "missing ckpt_path" in capsys.readouterr().err
    assert eval_main([f"ckpt_path={ckpt}", "split=holdout"]) == 1
    assert "split must be one of train, val, test" in capsys.readouterr().err


def test_bad_overrides_and_surroundings_are_one_line(trained, tmp_path, capsys):
    ckpt, _ = trained
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = [
        (eval_main, ["objective.beta=-1"], "objective.beta=-1: must be >= 0"),
        (eval_main, ["objective.betaa=3"], "has no setting objective.betaa; did you mean objective.beta?"),
        (eval_main, ["eval.num_sampels=5"], "has no setting eval.num_sampels; did you mean eval.num_samples?"),
        (eval_main, ["accelerator=gpu"], "accelerator=gpu: no CUDA GPU is available on this machine; use cpu"),
        (eval_main, [f"output_dir={a_file}", "num_samples=2"], f"output_dir={a_file}: a file is in the way"),
        (sample_main, [f"output_dir={a_file / 'x'}"], f"output_dir={a_file / 'x'}: cannot create the directory"),
        (sample_main, ["data.batch_size=abc"], "data.batch_size='abc': must be a whole number"),
    ]
    for main, args, message in cases:
        assert main([f"ckpt_path={ckpt}", *args]) == 1, args
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith("error: ") and message in line, line


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {_Exploit.marker}",))


def test_checkpoint_loading_never_runs_pickled_code(tmp_path, capsys):
    _Exploit.marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    with open(evil, "wb") as f:
        pickle.dump({"state_dict": {}, "vaelab": {"config": {}}, "payload": _Exploit()}, f)
    assert eval_main([f"ckpt_path={evil}"]) == 1
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert not _Exploit.marker.exists()


@pytest.mark.slow
def test_console_scripts_are_installed(trained, tmp_path):
    ckpt, _ = trained
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        [bin_dir / "vaelab-sample", f"ckpt_path={ckpt}", "n=4", f"output_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert np.load(tmp_path / "samples.npy").shape == (4, 1, 8, 8)
    bad = subprocess.run(
        [bin_dir / "vaelab-eval", "ckpt_path=/nonexistent.ckpt"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 1 and bad.stderr.strip() == "error: ckpt_path=/nonexistent.ckpt: no such file"


def test_eval_of_the_test_split_needs_only_the_test_files(cfg_factory, mnist_dir, mnist_test_split, tmp_path, capsys):
    """A model trained on MNIST is scored on a data_dir holding only the two t10k files."""
    cfg = cfg_factory("data=mnist", f"data.data_dir={mnist_dir}", "data.download=false", "data.val_size=1000")
    ckpt = Path(train(cfg)["best_checkpoint"])
    test_only = tmp_path / "test_only"
    test_only.mkdir()
    for kind in ("images-idx3", "labels-idx1"):
        (test_only / f"t10k-{kind}-ubyte.gz").symlink_to(mnist_test_split / f"t10k-{kind}-ubyte.gz")
    out = tmp_path / "eval"
    args = [f"ckpt_path={ckpt}", f"data.data_dir={test_only}", "data.search_dirs=[]", "num_samples=2"]
    assert eval_main([*args, "pictures=false", f"output_dir={out}"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "test" and math.isfinite(metrics["test/nll"])
    assert metrics["test/nll"] <= -metrics["test/elbo"] + 1.0  # K=2 bound vs the K=1 ELBO, up to noise
    # The val split is carved from train: evaluating it asks for the train files.
    capsys.readouterr()
    assert eval_main([*args, "split=val", f"output_dir={tmp_path / 'val'}"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "files not found (train-images-idx3-ubyte, train-labels-idx1-ubyte)" in line
