"""experiment=disentanglement_study: its grid (11 settings x 3 seeds, as vaelab.config.grid and
Hydra's basic sweeper launch it, each with its objective's knob at the setting's strength), and
one of its runs, cut to 3 steps on a few hundred images: it trains in Locatello et al.'s
architecture and leaves its latent traversals in images/ and in the W&B run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from PIL import Image

from tests.conftest import CONF, TINY, compose_config
from tests.helpers import warm
from tests.helpers.factor_sources import SMALL_SIZES
from vaelab.config import schema, targets
from vaelab.config.grid import jobs
from vaelab.errors import ConfigError, root_cause
from vaelab.metrics import disentanglement
from vaelab.runs.train import train

ROOT = Path(__file__).resolve().parents[1]

# Setting -> (objective class, knob, strength): the grid the study is meant to run.
GRID = {
    "beta_vae_1": ("ELBO", "beta", 1.0),
    "beta_vae_4": ("ELBO", "beta", 4.0),
    "beta_vae_8": ("ELBO", "beta", 8.0),
    "beta_tcvae_1": ("BetaTCVAE", "beta", 1.0),
    "beta_tcvae_4": ("BetaTCVAE", "beta", 4.0),
    "beta_tcvae_8": ("BetaTCVAE", "beta", 8.0),
    "factor_vae_10": ("FactorVAE", "gamma", 10.0),
    "factor_vae_40": ("FactorVAE", "gamma", 40.0),
    "dip_vae_ii_1": ("DIPVAE", "lambda_od", 1.0),
    "dip_vae_ii_10": ("DIPVAE", "lambda_od", 10.0),
    "dip_vae_ii_50": ("DIPVAE", "lambda_od", 50.0),
}


def test_the_grid_is_11_settings_by_3_seeds_each_at_its_strength(tmp_path):
    grid = jobs(["experiment=disentanglement_study"])
    assert len(grid) == 33 == len({tuple(job) for job in grid})
    settings = [dict(o.split("=", 1) for o in job) for job in grid]
    assert sorted((s["study"], s["seed"]) for s in settings) == sorted((n, str(k)) for n in GRID for k in range(3))
    for name, (objective, knob, strength) in GRID.items():
        cfg = compose_config(tmp_path, "experiment=disentanglement_study", f"study={name}", "seed=2")
        tree = schema.validate(cfg)
        assert tree["objective"]["_target_"] == f"vaelab.objectives.{objective}"
        assert tree["objective"][knob] == strength and tree["model"]["objective"][knob] == strength
        if objective == "DIPVAE":
            assert tree["objective"]["variant"] == "ii" and tree["objective"]["lambda_d"] == strength
        # Locatello et al.'s setup, whatever the setting.
        for part in ("encoder", "decoder"):
            got = {k: tree["model"][part][k] for k in ("channels", "hidden", "activation", "latent_dim")}
            assert got == {"channels": [32, 32, 64, 64], "hidden": 256, "activation": "relu", "latent_dim": 10}
        assert tree["optimizer"]["lr"] == 1e-4 and tree["data"]["batch_size"] == 64
        assert tree["data"]["resolution"] == 32 and tree["trainer"]["max_steps"] == 50_000
    with initialize_config_dir(str(CONF), version_base="1.3"):
        slurm = compose("train", ["experiment=disentanglement_study", "hydra/launcher=slurm"], return_hydra_config=True)
    assert slurm.hydra.launcher._target_.endswith("SlurmLauncher") and slurm.hydra.mode.name == "MULTIRUN"


def test_a_run_of_the_study_trains_and_draws_its_latent_traversals(tmp_path, monkeypatch):
    monkeypatch.setattr(disentanglement, "FAST_SIZES", SMALL_SIZES)
    monkeypatch.setattr(disentanglement, "DEFAULT_SIZES", SMALL_SIZES)
    cfg = compose_config(
        tmp_path,
        *TINY,  # 3 steps, 1-2 batches of validation and test
        "experiment=disentanglement_study",
        "study=beta_tcvae_4",
        "model.latent_dim=10",
        "logger=wandb",
        "trainer.val_check_interval=3",
        "data.val_size=64",
        "data.test_size=64",
        "data.eval_batch_size=64",
        # Boosted trees on 40-valued factors take seconds even on 100 points: the forest here.
        "callbacks.disentanglement.dci_estimator=extra_trees",
    )
    metrics = train(cfg)
    out = Path(cfg.paths.output_dir)
    assert json.loads((out / "status.json").read_text())["state"] == "finished"
    assert metrics["disentanglement"]["test"]["dci_estimator"] == "extra_trees"
    assert 0.0 <= metrics["test/dci_disentanglement_extra_trees"] <= 1.0 and 0.0 <= metrics["val/mig"] <= 1.0
    # Rows: 10 latents x 3 inputs; columns: 11 steps; 32 x 32 tiles, 1 pixel between and around.
    expected = (11 * 33 + 1, 10 * 3 * 33 + 1)
    with Image.open(out / "images" / "latent_traversals_test.png") as png:
        assert png.size == expected
    (logged,) = out.glob("wandb/offline-run-*/files/media/images/test/latent_traversals_*.png")
    with Image.open(logged) as png:
        assert png.size == expected


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("traversal_inputs=17", "callbacks.images.traversal_inputs=17: at most num_images=16 "),
        ("traversal_span=0.0", "callbacks.images.traversal_span=0.0: must be > 0"),
    ],
)
def test_bad_traversal_settings_are_one_line(tmp_path, bad, message):
    cfg = compose_config(tmp_path, "experiment=disentanglement_study", f"callbacks.images.{bad}")
    with pytest.raises(Exception) as caught:
        targets.check(schema.validate(cfg))
        targets.instantiate(cfg.callbacks.images, path="callbacks.images")
    error = root_cause(caught.value)
    assert isinstance(error, ConfigError) and str(error).startswith(message) and "\n" not in str(error)


def test_run_study_keeps_a_finished_run_and_skips_it_on_the_next_machine(tmp_path):
    """scripts/run_study.sh on one run cut to 3 steps: the run is copied to the results folder
    without checkpoints, and a second invocation with an empty run folder (a new machine, the
    results committed) skips it."""
    env = {**os.environ, "ONLY": "^seed=0 study=beta_vae_1$", "JOBS": "1", "RESULTS": str(tmp_path / "results")}
    env["PYTHON"] = str(warm.python_shim(tmp_path / "bin", env))
    cut = [
        *(o for o in TINY if not o.startswith("++")),
        "callbacks.rich_progress_bar=null",
        "callbacks.disentanglement=null",
        "trainer.val_check_interval=3",
        "data.val_size=64",
        "data.test_size=64",
        "data.eval_batch_size=64",
    ]

    def study(out: str) -> str:
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "run_study.sh"), *cut],
            env={**env, "OUT": str(tmp_path / out)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    said = study("machine_1")
    kept = tmp_path / "results" / "seed-0_study-beta_vae_1"
    assert f"finished: seed=0 study=beta_vae_1 (kept in {kept})" in said
    assert json.loads((kept / "status.json").read_text())["state"] == "finished"
    assert (kept / "metrics.json").is_file() and (kept / "history.jsonl").is_file()
    assert not (kept / "checkpoints").exists() and (tmp_path / "machine_1" / kept.name / "checkpoints").is_dir()
    assert not list((kept / "images").glob("*_epoch*"))
    said = study("machine_2")
    assert f"done already: seed=0 study=beta_vae_1 ({kept})" in said
    assert not (tmp_path / "machine_2" / kept.name).exists()

    # Every selected run resumes (the last runs, stopped by a session's end): the script once read
    # an empty job after them and moved all of $OUT, running runs too, to $OUT.abandoned.
    shutil.rmtree(kept)
    (tmp_path / "machine_1" / kept.name / "status.json").unlink()
    said = study("machine_1")
    assert "start: seed=0 study=beta_vae_1 ckpt_path=last" in said and said.count("start:") == 1
    assert f"finished: seed=0 study=beta_vae_1 (kept in {kept})" in said
    assert not (tmp_path / "machine_1.abandoned").exists()
    assert (tmp_path / "machine_1" / kept.name / "checkpoints" / "last.ckpt").is_file()
