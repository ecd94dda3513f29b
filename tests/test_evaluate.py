"""vaelab-eval, the Hydra app (conf/eval.yaml), on checkpoints of real (short) training runs:
in-process (the config composed as the command line composes it, then `evaluate`), and the
console script in a subprocess for what only it shows (-m, --help)."""

from __future__ import annotations

import csv
import json
import math
import os
import pickle
import sys
from pathlib import Path

import pytest
import torch

from tests.helpers import warm
from tests.helpers.apps import compose_app
from vaelab.cli.evaluate import evaluate
from vaelab.errors import exit_code
from vaelab.runs.checkpoint import load_model
from vaelab.runs.train import train


def run_eval(out: Path, *argv: str) -> dict:
    """vaelab-eval argv..., writing into `out` (as hydra.run.dir=out would)."""
    return evaluate(compose_app("eval", *argv, output_dir=out))


def eval_error(out: Path, capsys, *argv: str) -> str:
    """The one line vaelab-eval argv... prints on stderr, with exit code 1."""
    capsys.readouterr()
    assert exit_code(lambda: run_eval(out, *argv)) == 1, argv
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ")
    return line


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
    run_eval(out, f"ckpt_path={ckpt}", "eval.num_samples=200")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["eval.num_samples"] == 200 and metrics["split"] == "test"
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


def test_eval_on_another_split_with_a_logger_and_a_changed_setting(trained, tmp_path):
    ckpt, _ = trained
    args = [f"ckpt_path={ckpt}", "split=val", "eval.num_samples=5", "pictures=false"]
    metrics = run_eval(tmp_path, *args, "logger=csv", "objective.beta=3")
    assert "val/nll" in metrics and not any(k.startswith("test/") for k in metrics)
    assert metrics["val/beta_now"] == 3.0  # objective.beta changed the checkpoint's objective
    # The ELBO's parts at beta = 3: loss = recon + 3 kl (the ELBO itself is reported at beta = 1).
    assert metrics["val/loss"] == pytest.approx(metrics["val/recon"] + 3 * metrics["val/kl"], rel=1e-4)
    assert not list(tmp_path.glob("*.png"))
    # logger=csv: the split's own keys, in the output directory.
    with open(tmp_path / "csv" / "metrics.csv") as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["val/nll"]) == pytest.approx(metrics["val/nll"], rel=1e-6)


def test_checkpoint_rebuilds_the_model_alone(trained):
    ckpt, _ = trained
    model, cfg, checkpoint = load_model(ckpt)
    assert not model.training and model.vae.latent_dim == cfg.model.latent_dim == 4
    assert checkpoint["vaelab"]["config"]["data"]["_target_"] == "vaelab.data.Digits"
    x = torch.rand(3, 1, 8, 8)
    assert model.vae.reconstruct(x).shape == x.shape


def test_the_output_goes_beside_the_checkpoints_run(trained, tmp_path):
    ckpt, _ = trained  # <run>/checkpoints/epoch_*.ckpt
    cfg = compose_app("eval", f"ckpt_path={ckpt}", "split=val", "eval.num_samples=7", output_dir=tmp_path)
    run_dir = Path(cfg.hydra.run.dir)
    assert run_dir.parent == ckpt.parent.parent / "eval" and run_dir.name.startswith("val-K7-")


def test_bad_checkpoints_and_arguments_are_one_line(trained, tmp_path, capsys):
    ckpt, _ = trained
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(ckpt.read_bytes()[:1000])
    cases = [
        ([f"ckpt_path={tmp_path / 'nope.ckpt'}"], "nope.ckpt: no such file"),
        ([f"ckpt_path={truncated}"], "truncated.ckpt: not a readable checkpoint"),
        ([], "ckpt_path: missing"),
        (["split=holdout"], "split='holdout': must be one of 'train', 'val' or 'test'"),
        (["eval.num_samples=0"], "eval.num_samples=0: must be >= 1"),
        (["model.latent_dim=7"], "do not fit the model its config describes with model.latent_dim=7"),
        (["objective.beta=-1"], "objective.beta=-1: must be >= 0"),
        (["objective.betaa=3"], "has no setting objective.betaa; did you mean objective.beta?"),
        # The one name for K: the old ones are refused, naming it.
        (["num_samples=5"], "has no setting num_samples; did you mean eval.num_samples?"),
        (["model.num_iw_samples=5"], "model.num_iw_samples=5: not a setting; the number of importance samples is eval"),
        (["nonsense=1"], "nonsense=1: the checkpoint's config has no setting nonsense"),
        (["+objective.beta=2"], "+objective.beta=2: a checkpoint's settings are changed with key=value"),
        (["trainer.accelerator=gpu"], "trainer.accelerator='gpu': no CUDA GPU is available on this machine; use cpu"),
        (["trainer=gpu"], "trainer.accelerator='gpu': no CUDA GPU is available on this machine; use cpu"),
        # The weights define the model: a model group that differs is refused, one that matches taken.
        (
            ["model=mlp"],
            "model=mlp: refused: the checkpoint's weights define its model, and model.latent_dim=16 differs",
        ),
        (["likelihood=gaussian"], "likelihood=gaussian: refused: the checkpoint's weights define its likelihood"),
        (
            ["data=mnist"],
            "data=mnist: the data have shape [1, 28, 28] but the model was trained on data of shape [1, 8, 8]",
        ),
        (["data.batch_size=abc"], "data.batch_size='abc': must be a whole number"),
    ]
    for args, message in cases:
        words = args if any(a.startswith("ckpt_path=") for a in args) or not args else [f"ckpt_path={ckpt}", *args]
        line = eval_error(tmp_path / "out", capsys, *words)
        assert message in line, (args, line)
    # Model groups that match the checkpoint's (with its latent_dim) are taken.
    matching = ["model=mlp", "model.latent_dim=4", "prior=standard", "likelihood=bernoulli"]
    assert run_eval(tmp_path / "ok", f"ckpt_path={ckpt}", *matching, "eval.num_samples=2", "pictures=false")
    # A refused command wrote nothing.
    assert not (tmp_path / "out").exists()


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {_Exploit.marker}",))


def test_checkpoint_loading_never_runs_pickled_code(tmp_path, capsys):
    _Exploit.marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    with open(evil, "wb") as f:
        pickle.dump({"state_dict": {}, "vaelab": {"config": {}}, "payload": _Exploit()}, f)
    assert exit_code(lambda: run_eval(tmp_path / "out", f"ckpt_path={evil}")) == 1
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert not _Exploit.marker.exists()


def test_a_fashion_model_is_scored_on_the_mnist_test_files_alone(
    cfg_factory, fashion_mnist_dir, mnist_test_split, tmp_path, capsys
):
    """data=mnist replaces the checkpoint's data; the test split needs only the two t10k files."""
    cfg = cfg_factory("data=fashion_mnist", f"data.data_dir={fashion_mnist_dir}", "data.download=false")
    ckpt = Path(train(cfg)["best_checkpoint"])
    test_only = tmp_path / "test_only"
    test_only.mkdir()
    for kind in ("images-idx3", "labels-idx1"):
        (test_only / f"t10k-{kind}-ubyte.gz").symlink_to(mnist_test_split / f"t10k-{kind}-ubyte.gz")
    args = [f"ckpt_path={ckpt}", "data=mnist", f"data.data_dir={test_only}", "data.search_dirs=[]"]
    metrics = run_eval(tmp_path / "eval", *args, "eval.num_samples=2", "pictures=false")
    assert metrics["split"] == "test" and math.isfinite(metrics["test/nll"])
    assert metrics["test/nll"] <= -metrics["test/elbo"] + 1.0  # K=2 bound vs the K=1 ELBO, up to noise
    # The val split is carved from train: evaluating it asks for MNIST's train files (not Fashion-MNIST's).
    line = eval_error(tmp_path / "val", capsys, *args, "split=val")
    assert "files not found (train-images-idx3-ubyte, train-labels-idx1-ubyte)" in line

    # MNIST as the out-of-distribution set of the Fashion-MNIST model, its files named by ood_data_dirs.
    ood_args = ["ood=[mnist]", f"ood_data_dirs={{mnist:{test_only}}}", "eval.num_samples=2", "pictures=false"]
    ood = run_eval(tmp_path / "ood", f"ckpt_path={ckpt}", *ood_args)
    for score in ("nll", "typicality", "complexity"):
        assert 0.0 <= ood[f"ood/mnist/{score}/auroc"] <= 1.0
    assert math.isfinite(ood["ood/mnist/nll_mean"]) and math.isfinite(ood["ood/test/nll_mean"])


def test_console_script_help_lists_the_settings_and_groups():
    done = warm.run(
        [Path(sys.executable).parent / "vaelab-eval", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    for text in ("vaelab-eval ckpt_path=PATH", "eval:\n  num_samples: 5000", "split: test", "data: ", "trainer: "):
        assert text in done.stdout, text


@pytest.mark.slow
def test_console_script_multirun_over_splits(trained, tmp_path):
    ckpt, _ = trained
    sweep = tmp_path / "sweep"
    args = ["-m", f"ckpt_path={ckpt}", "split=val,test", "eval.num_samples=3", "pictures=false"]
    done = warm.run(
        [Path(sys.executable).parent / "vaelab-eval", *args, "objective.beta=2", f"hydra.sweep.dir={sweep}"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "WANDB_MODE": "offline"},
    )
    assert done.returncode == 0, done.stderr
    jobs = [json.loads((sweep / str(i) / "metrics.json").read_text()) for i in (0, 1)]
    assert [job["split"] for job in jobs] == ["val", "test"]
    assert jobs[0]["val/beta_now"] == jobs[1]["test/beta_now"] == 2.0  # a checkpoint setting, in every job


def test_ood_of_a_set_against_itself_is_chance_and_bad_sets_are_refused_first(trained, tmp_path, capsys):
    ckpt, _ = trained
    out = tmp_path / "ood"
    metrics = run_eval(out, f"ckpt_path={ckpt}", "ood=[digits]", "eval.num_samples=5", "pictures=false")
    # The digits test split against itself: the same examples, the same seed, the same scores.
    for score in ("nll", "bpd", "typicality", "complexity"):
        assert metrics[f"ood/digits/{score}/auroc"] == pytest.approx(0.5)
    assert metrics["ood/digits/nll_mean"] == pytest.approx(metrics["ood/test/nll_mean"])
    assert (out / "ood_hist_nll.png").is_file() and (out / "ood_scores.npz").is_file()
    assert json.loads((out / "metrics.json").read_text())["ood/digits/nll/auroc"] == pytest.approx(0.5)

    for argv, words in (
        (["ood=[mnist]"], ["ood=mnist", "[1, 28, 28]", "[1, 8, 8]", "ood_resize=true"]),
        (["ood=[nope]"], ["unknown data config 'nope'", "mnist"]),
    ):
        bad = tmp_path / f"bad_{len(words)}"
        line = eval_error(bad, capsys, f"ckpt_path={ckpt}", *argv)
        assert all(w in line for w in words), line
        assert not (bad / "metrics.json").exists()  # refused before any work


def test_quality_of_prior_samples_in_the_cached_classifier_space(trained, tmp_path):
    ckpt, _ = trained
    out = tmp_path / "quality"
    argv = [f"ckpt_path={ckpt}", "quality.features=classifier", "quality.num_samples=150", "pictures=false"]
    metrics = run_eval(out, *argv, "eval.num_samples=2", f"quality.cache_dir={tmp_path / 'nets'}")
    assert metrics["quality/classifier_test_accuracy"] > 0.8  # 8x8 digits: the feature net is a real classifier
    assert 0 < metrics["quality/fd_classifier"] < float("inf")
    assert 0 <= metrics["quality/precision"] <= 1 and 0 <= metrics["quality/recall"] <= 1
    assert json.loads((out / "quality.json").read_text())["quality/fd_classifier"] == metrics["quality/fd_classifier"]
    (net,) = (tmp_path / "nets").glob("*.pt")  # trained once, cached for the next evaluation
    assert torch.load(net, weights_only=True)
