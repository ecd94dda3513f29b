"""Reliability: bad input fails fast in one line, faults lose nothing, resumes keep the record.

Most checks run in-process (the same `train()` that train.py calls); a subprocess only where
only a process shows it: the one-line format and exit codes, Hydra's own resolution, signals.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from hydra.errors import ConfigCompositionException
from PIL import Image

from tests.conftest import DIVERGING, ROOT, TINY, compose_config
from tests.helpers import OLD_CHECKPOINT, warm
from tests.helpers.train_cli import cli_here
from vaelab.cli.evaluate import main as eval_main
from vaelab.cli.train import main as train_main
from vaelab.conf import CONF_DIR
from vaelab.config.composition import one_line
from vaelab.config.schema import ConfigError
from vaelab.runs import rundir
from vaelab.runs.checkpoint import read_checkpoint
from vaelab.runs.train import train
from vaelab.system import VAESystem


def cli(tmp_path: Path, *overrides: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python train.py` as a user runs it, in a temporary log folder, offline."""
    env = {**os.environ, "WANDB_MODE": "offline"}
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = [sys.executable, "train.py", f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}"]
    return warm.run([*cmd, *overrides], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def no_checkpoint_written(root: Path) -> bool:
    return not [p for p in root.glob("**/*.ckpt") if p.parent.name == "checkpoints"]


@pytest.mark.parametrize(
    "overrides, line",
    [
        (["objective.beta=abc"], "error: objective.beta='abc': must be a number"),
        (["ckpt_path=last"], "error: ckpt_path=last: no earlier run of this command left a checkpoints/last.ckpt"),
    ],
    ids=["schema", "resolver"],
)
def test_train_py_says_one_line_and_exits_1(tmp_path, monkeypatch, capsys, overrides, line):
    # train.py's main() in this process (the real process's one line and exit code: the test below).
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    words = [f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}", "data=digits", "logger=none"]
    monkeypatch.setattr(sys, "argv", ["train.py", *words, *overrides])
    assert train_main() == 1  # an exception would have left main(): a traceback in a process
    err = capsys.readouterr().err
    (last,) = [s for s in err.strip().splitlines() if s.startswith("error: ")]
    assert last.startswith(line), err[-2000:]
    assert err.strip().splitlines()[-1] == last
    assert no_checkpoint_written(tmp_path)


@pytest.mark.parametrize(
    "overrides, line",
    [
        (["model.betta=1"], "model.betta=1: no such setting; did you mean objective.beta?"),
        (["model.encoder.hiddn=[8]"], "model.encoder.hiddn=[8]: no such setting; did you mean model.encoder.hidden?"),
        (
            ["data.num_workers=2"],
            "data.num_workers=2: no such setting; the settings of data are batch_size, binarize, eval_batch_size",
        ),
        (
            ["nosuch.key=1"],
            "nosuch.key=1: no such setting; the settings of the config are callbacks, ckpt_path, data, eval",
        ),
        (
            ["objective=nope"],
            "objective=nope: no such option; choose one of beta_tcvae, capacity, dip_vae, elbo, factor_vae, iwae",
        ),
        (["likelihood=gausian"], "likelihood=gausian: no such option; did you mean gaussian? (options: bernoulli,"),
        (
            ["+objective.beta=3"],
            "+objective.beta=3: objective.beta is already a setting; set it without +: objective.beta=3",
        ),
        (["~modell"], "~modell: no such setting; did you mean model?"),
        (
            ["model=null"],
            "model=null: a model is needed; choose one with model=NAME: conv, conv_hvae, hvae, mlp, top_down, vae",
        ),
        (["model.latent_dim=[1,2"], "model.latent_dim=[1,2: not a valid key=value (no viable alternative at input"),
        (["model=mlp,conv"], "model=mlp,conv: a,b is a sweep: add -m (--multirun) to run one job each"),
    ],
)
def test_what_hydra_cannot_compose_is_one_line(tmp_path, overrides, line):
    # Hydra refuses these while composing, before train.py runs, in its own several lines.
    with pytest.raises(Exception) as raised:
        compose_config(tmp_path, "data=digits", *overrides)
    said = one_line(raised.value, ["data=digits", *overrides], "train")
    assert said is not None and said.startswith(line) and "\n" not in said, said


@pytest.mark.parametrize("removed", ["~model", "model=[]"])
def test_a_config_without_a_model_names_the_group(tmp_path, removed):
    cfg = compose_config(tmp_path, "data=digits", removed)  # Hydra composes it: model is simply absent
    with pytest.raises(ConfigError) as raised:
        train(cfg)
    assert (
        str(raised.value)
        == "model: no model is chosen; choose one with model=NAME: conv, conv_hvae, hvae, mlp, top_down, vae"
    )


def test_a_misspelled_key_on_the_command_line_is_one_line(tmp_path, monkeypatch):
    done = cli(tmp_path, "data=digits", "model.betta=1")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == ["error: model.betta=1: no such setting; did you mean objective.beta?"]
    # HYDRA_FULL_ERROR=1 keeps Hydra's own report: its exception leaves main() (a traceback in a process).
    monkeypatch.setenv("HYDRA_FULL_ERROR", "1")
    monkeypatch.setattr(sys, "argv", ["train.py", "model.betta=1"])
    with pytest.raises(ConfigCompositionException, match="Could not override 'model.betta'"):
        train_main()


def test_a_likelihood_checks_every_split_it_will_score(cfg_factory, tmp_path):
    # 100 examples in [0, 1]; only the test split (the first 10 of the seed's permutation, as
    # vaelab.data.base.split_off draws it) holds one out of range: the test NLL would be meaningless.
    x = np.random.default_rng(0).random((100, 1, 8, 8)).astype(np.float32)
    test_rows = torch.randperm(100, generator=torch.Generator().manual_seed(42))[:10]
    x[int(test_rows[3]), 0, 0, 0] = 3.0
    np.save(tmp_path / "x.npy", x)
    cfg = cfg_factory("data=array", f"data.path={tmp_path / 'x.npy'}", "data.test_size=10", "likelihood=bernoulli")
    with pytest.raises(ValueError, match=r"likelihood=Bernoulli models data in \[0, 1\], but the test split .* spans"):
        train(cfg)
    assert no_checkpoint_written(tmp_path)


def test_likelihood_that_cannot_model_the_data(cfg_factory, tmp_path):
    np.save(tmp_path / "raw.npy", np.random.default_rng(0).integers(0, 256, (300, 1, 8, 8)).astype(np.uint8))
    cfg = cfg_factory("data=array", f"data.path={tmp_path / 'raw.npy'}", "likelihood=continuous_bernoulli")
    with pytest.raises(
        ValueError, match=r"likelihood=ContinuousBernoulli models data in \[0, 1\].*\[0, 255\].*data.scale"
    ):
        train(cfg)
    assert no_checkpoint_written(tmp_path)


def write_truncated_idx(folder: Path) -> Path:
    folder.mkdir()
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        header = bytes([0, 0, 8, 3]) + (100).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
        with gzip.open(folder / f"{name}.gz", "wb") as f:
            f.write(header + bytes(1000))  # far fewer bytes than 100 images
    return folder


def test_bad_data_files_are_named(cfg_factory, tmp_path):
    def fails(*overrides: str, match: str) -> None:
        with pytest.raises((ValueError, FileNotFoundError)) as raised:
            train(cfg_factory(*overrides))
        assert "\n" not in str(raised.value)
        for phrase in match.split("|"):
            assert phrase in str(raised.value)

    nowhere = tmp_path / "nowhere"
    fails(
        "data=mnist", f"data.data_dir={nowhere}", "data.download=false", match=f"files not found|{nowhere}|To get them"
    )
    idx = write_truncated_idx(tmp_path / "idx")
    fails("data=mnist", f"data.data_dir={idx}", "data.download=false", match="train-images-idx3-ubyte.gz|truncated")
    npz = tmp_path / "broken.npz"
    np.savez(npz, x=np.zeros((50, 4)))
    npz.write_bytes(npz.read_bytes()[:60])
    fails("data=array", f"data.path={npz}", "likelihood=gaussian", match="broken.npz")
    fails("data=array", f"data.path={tmp_path}", "likelihood=gaussian", match=f"data.path={tmp_path}: is a directory")
    folder = tmp_path / "images"
    folder.mkdir()
    fails("data=folder", f"data.root={folder}", match=f"no images found|{folder}")
    for i in range(7):  # enough for data=folder's splits (7 at test_size=val_size=0.1): the bad image is the fault
        Image.new("RGB", (10, 10)).save(folder / f"good{i}.png")
    (folder / "bad.png").write_bytes(b"\x89PNG not really")
    fails("data=folder", f"data.root={folder}", match="bad.png|not a readable image")
    assert no_checkpoint_written(tmp_path)


@pytest.fixture
def finished_run(cfg_factory) -> tuple[Path, dict]:
    """A finished tiny digits run: (its run directory, its metrics)."""
    cfg = cfg_factory("callbacks.step_checkpoint.every_n_train_steps=2")
    metrics = train(cfg)
    return Path(cfg.paths.output_dir), metrics


def test_bad_checkpoints_are_refused_before_training(cfg_factory, finished_run, tmp_path, capsys):
    run, _ = finished_run
    good = run / "checkpoints" / "last.ckpt"
    with pytest.raises(FileNotFoundError, match=f"ckpt_path={tmp_path / 'gone.ckpt'}: no such file$"):
        train(cfg_factory(f"ckpt_path={tmp_path / 'gone.ckpt'}"))
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="corrupt.ckpt: not a readable checkpoint"):
        train(cfg_factory(f"ckpt_path={corrupt}"))
    # A checkpoint of another run's settings is not resumed under these ones.
    with pytest.raises(
        ValueError, match=r"model.latent_dim=5 differs from the checkpoint's run \(model.latent_dim=4\)"
    ) as raised:
        train(cfg_factory("model.latent_dim=5", f"ckpt_path={good}"))
    assert "\n" not in str(raised.value)
    # One from before the model/system split can be evaluated, not resumed.
    with pytest.raises(ValueError, match="before the model/system split.*not resumed"):
        train(cfg_factory(f"ckpt_path={OLD_CHECKPOINT}"))
    # Evaluating with a shape-changing override: the weights do not fit.
    assert eval_main([f"ckpt_path={good}", "model.latent_dim=9", "eval.num_samples=2"]) == 1
    assert "do not fit the model its config describes with model.latent_dim=9" in capsys.readouterr().err


def test_resume_refuses_a_changed_setting_and_keeps_the_record(cfg_factory, finished_run):
    run, _ = finished_run
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    last = run / "checkpoints" / "last.ckpt"
    with pytest.raises(
        ValueError, match=r": optimizer.lr=1000000.0 differs from the checkpoint's run \(optimizer.lr=0.001\)"
    ):
        train(cfg_factory("callbacks.step_checkpoint.every_n_train_steps=2", "optimizer.lr=1e6", f"ckpt_path={last}"))
    after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert after == before  # status.json, config.yaml, provenance.json, history.jsonl untouched


def test_resume_honours_a_longer_run_and_appends_to_the_record(cfg_factory, finished_run):
    run, _ = finished_run
    last = run / "checkpoints" / "last.ckpt"
    first = json.loads((run / "provenance.json").read_text())
    cfg = cfg_factory("callbacks.step_checkpoint.every_n_train_steps=2", "trainer.max_epochs=2", f"ckpt_path={last}")
    train(cfg)
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]
    record = json.loads((run / "provenance.json").read_text())
    assert record["argv"] == first["argv"] and len(record["resumes"]) == 1
    assert yaml.safe_load((run / "config.yaml").read_text())["trainer"]["max_epochs"] == 2  # what ran last
    assert torch.load(last, weights_only=True)["epoch"] == 1


def test_history_drops_what_an_interrupted_attempt_recorded_after_the_checkpoint(cfg_factory, finished_run):
    run, _ = finished_run
    history = run / "history.jsonl"
    # The attempt that was killed had gone on to a validation the checkpoint does not know, and cut a line short.
    history.write_text(
        history.read_text() + json.dumps({"epoch": 1, "step": 6, "val/loss": 1.0}) + '\n{"epoch": 2, "st'
    )
    train(
        cfg_factory(
            "callbacks.step_checkpoint.every_n_train_steps=2",
            "trainer.max_epochs=2",
            f"ckpt_path={run / 'checkpoints' / 'last.ckpt'}",
        )
    )
    rows = [json.loads(line) for line in history.read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1] and rows[1]["val/loss"] != 1.0


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(cfg_factory):
    cfg = cfg_factory(
        "likelihood=gaussian",
        "data.binarize=none",
        "optimizer.lr=1e4",
        "trainer.limit_train_batches=null",
        "trainer.max_epochs=3",
        "callbacks.step_checkpoint.every_n_train_steps=1",
    )
    with pytest.raises(FloatingPointError) as raised:
        train(cfg)
    line = str(raised.value)
    assert line.startswith("step ") and "is not finite" in line and "the last good checkpoint is" in line
    state = torch.load(line.rsplit(" ", 1)[-1], weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values())
    status = json.loads((Path(cfg.paths.output_dir) / "status.json").read_text())
    assert status == {"state": "failed", "error": line}


def test_off_the_cpu_the_loss_is_read_every_log_every_n_steps_and_names_the_same_step(cfg_factory, monkeypatch):
    """On a GPU the finiteness check stays on the device between reads (no host sync a step); run
    here with that path forced, it stops within log_every_n_steps of the bad step and names the
    step the per-step check names."""
    diverging = [*DIVERGING, "trainer.log_every_n_steps=7"]
    with pytest.raises(FloatingPointError) as each_step:
        train(cfg_factory(*diverging))
    monkeypatch.setattr(VAESystem, "reads_loss_each_step", lambda self: False)
    with pytest.raises(FloatingPointError) as deferred:
        train(cfg_factory(*diverging))
    named = re.match(
        r"step (\d+): the (reconstruction term \(recon\)|KL term) of the loss is not finite", str(each_step.value)
    )
    assert named, str(each_step.value)
    line = str(deferred.value)
    assert line.startswith(f"{named[0]} (seen at step "), line
    seen = int(re.search(r"seen at step (\d+)", line)[1])
    assert int(named[1]) <= seen < int(named[1]) + 7 and "trainer.log_every_n_steps=7" in line
    assert "training stopped" in line  # and nothing was saved from the steps in between (no checkpoint here)


def test_same_seed_same_numbers(tmp_path):
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
        rundir.run_dir(str(tmp_path), "last", ["objective.beta=2", "ckpt_path=last"])
    with pytest.raises(
        NotADirectoryError, match="the runs folder of paths.log_dir=/proc/vaelab/train/runs: cannot create"
    ):
        rundir.new_run_dir(Path("/proc/vaelab/train/runs"))
    (tmp_path / "a_file").write_text("")
    with pytest.raises(NotADirectoryError, match="a_file/runs: a file is in the way|cannot create the directory"):
        rundir.new_run_dir(tmp_path / "a_file" / "runs")


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


def start(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "WANDB_MODE": "offline"}
    cmd = [
        sys.executable,
        "train.py",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.data_dir={tmp_path / 'data'}",
        *args,
    ]
    # A shell that starts the tests in the background ignores SIGINT, and a child inherits that:
    # the run gets Ctrl-C as from a terminal (a Python handler becomes the default in the child).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return warm.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)


def wait_for_checkpoint(tmp_path: Path, proc: subprocess.Popen) -> None:
    deadline = time.time() + 120
    while not list(tmp_path.glob("logs/train/runs/*/checkpoints/last.ckpt")) and time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.02)


@pytest.mark.slow
def test_ctrl_c_says_interrupted_and_the_same_command_resumes(tmp_path, monkeypatch):
    args = [
        "data=digits",
        "logger=none",
        "trainer.max_epochs=3",
        "eval.num_samples=2",
        "data.batch_size=16",
        "callbacks.step_checkpoint.every_n_train_steps=5",
        "++callbacks.rich_progress_bar=null",
    ]
    proc = start(tmp_path, *args)
    wait_for_checkpoint(tmp_path, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == "interrupted: run the same command again with ckpt_path=last to resume"
    (run,) = tmp_path.glob("logs/train/runs/*")
    assert json.loads((run / "status.json").read_text())["state"] == "interrupted"

    # The same command again (its main() here: the interrupted process was the one to kill).
    assert cli_here(tmp_path, monkeypatch, *args, "ckpt_path=last") == 0
    assert json.loads((run / "status.json").read_text()) == {"state": "finished"}
    # Hydra's record of the original command stays; the resume's own is kept beside it.
    assert "ckpt_path=last" not in (run / ".hydra" / "overrides.yaml").read_text()
    (again,) = (run / ".hydra" / "resumed").glob("*/overrides.yaml")
    assert "ckpt_path=last" in again.read_text()
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2]


@pytest.mark.slow
def test_sigkill_then_resume_gives_the_uninterrupted_result(tmp_path):
    """A run killed mid-epoch and resumed with ckpt_path=last ends exactly as one never interrupted:
    FactorVAE (two networks, two optimisers, manual optimisation) under a cyclical KL schedule."""
    args = [
        "data=digits",
        "data.batch_size=16",
        "trainer.max_epochs=2",
        "eval.num_samples=10",
        "logger=wandb",
        "objective=factor_vae",
        "objective.discriminator_hidden=[64,64]",
        "kl_schedule=cyclical",
        "kl_schedule.total_steps=120",
        "kl_schedule.cycles=3",
        "callbacks.step_checkpoint.every_n_train_steps=10",
        "++callbacks.rich_progress_bar=null",
    ]
    logs = tmp_path / "b"
    proc = start(logs, *args)
    wait_for_checkpoint(logs, proc)
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

    # ... and ends as the same command never interrupted, here in-process (one thread, as the
    # processes: equal sums, equal order) without W&B, whose service this process would keep.
    expected = train(compose_config(tmp_path / "a", *[a for a in args if a != "logger=wandb"], "logger=none"))
    got = json.loads((run / "metrics.json").read_text())
    for key, value in expected.items():
        if key != "best_checkpoint":
            assert got[key] == pytest.approx(value, rel=1e-6), key


# Files that are not vaelab checkpoints, each as a user may give one by mistake (or by design).
NOT_CHECKPOINTS = {
    "pickled_object": (
        lambda p: torch.save({"state_dict": {}, "ratio": Fraction(1, 3)}, p),
        "it holds Python objects (fractions.Fraction) that vaelab does not load",
    ),
    "plain_pickle": (
        lambda p: p.write_bytes(pickle.dumps({"state_dict": {}})),
        "a Python pickle, not a vaelab checkpoint",
    ),
    "text_file": (lambda p: p.write_text("epoch: 3\n"), "a text file, not a vaelab checkpoint"),
    "empty_file": (lambda p: p.write_bytes(b""), "the file is empty (0 bytes)"),
    "truncated_zip": (
        lambda p: (torch.save({"w": torch.zeros(1000)}, p), p.write_bytes(p.read_bytes()[:2000])),
        "a truncated or corrupt torch file (2000 bytes)",
    ),
}


@pytest.mark.parametrize("kind", NOT_CHECKPOINTS)
def test_a_file_that_is_no_checkpoint_is_named_in_one_line(tmp_path, kind):
    write, phrase = NOT_CHECKPOINTS[kind]
    path = tmp_path / "x.ckpt"
    write(path)
    with pytest.raises(ValueError) as raised:
        read_checkpoint(path)
    line = str(raised.value)
    assert line.startswith(f"ckpt_path={path}: not a readable checkpoint: ") and phrase in line, line
    # Never torch's advice to load it with weights_only=False (which would run its code).
    assert "\n" not in line and "weights_only" not in line


def test_a_run_directory_as_ckpt_path_suggests_its_last_checkpoint(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    with pytest.raises(ValueError, match=f"^ckpt_path={run}: is a directory, not a checkpoint file; give a .ckpt"):
        read_checkpoint(run)
    torch.save({"state_dict": {}}, run / "checkpoints" / "last.ckpt")
    with pytest.raises(ValueError, match=f"did you mean ckpt_path={run}/checkpoints/last.ckpt\\?$"):
        read_checkpoint(run)


# conf/trainer/default.yaml's values where vaelab chooses other than Lightning's defaults.
VAELAB_TRAINER_CHOICES = {
    "default_root_dir",
    "accelerator",
    "devices",
    "precision",
    "min_epochs",
    "max_epochs",
    "log_every_n_steps",
    "enable_progress_bar",
    "enable_model_summary",
    "deterministic",
    "plugins",
}


def test_every_trainer_argument_is_a_setting_with_lightnings_default():
    import inspect

    from lightning.pytorch import Trainer

    from vaelab.config.targets import EXTRAS

    shipped = yaml.safe_load((CONF_DIR / "trainer" / "default.yaml").read_text())
    parameters = inspect.signature(Trainer.__init__).parameters
    # Two settings are vaelab's own (documented in the file), removed before the Trainer is built.
    assert EXTRAS[shipped["_target_"]] == ("compile", "steps_per_execution")
    assert shipped["compile"] is False and shipped["steps_per_execution"] == 1
    lightnings = set(shipped) - {"_target_", "compile", "steps_per_execution"}
    # logger and callbacks: built from the logger and callbacks groups.
    assert lightnings == set(parameters) - {"self", "logger", "callbacks"}
    for name in lightnings - VAELAB_TRAINER_CHOICES:
        assert shipped[name] == parameters[name].default, name


def test_any_trainer_argument_is_set_without_plus(cfg_factory):
    from vaelab.config import targets

    cfg = cfg_factory("trainer.max_steps=6000", "trainer.val_check_interval=0.5", "trainer.compile=true")
    cfg.trainer.steps_per_execution = 4
    trainer = targets.instantiate(cfg.trainer, path="trainer", logger=False)  # without vaelab's own two
    assert trainer.max_steps == 6000 and trainer.val_check_interval == 0.5


def test_a_checkpoint_from_before_every_trainer_argument_was_listed_ran_with_lightnings_defaults():
    trainer = read_checkpoint(OLD_CHECKPOINT)["vaelab"]["config"]["trainer"]
    assert trainer["max_steps"] == -1 and trainer["accumulate_grad_batches"] == 1
    assert trainer["max_epochs"] == 1  # its own values stay
