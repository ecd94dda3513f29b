"""Sweeps (grid, W&B, submitit), DDP and run comparison, each run for real (Optuna: tests/hparams_search/)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, compose_config
from tests.helpers import warm
from tests.helpers.train_cli import FAST, train_cli
from tests.helpers.wandb_files import records, wandb_record
from vaelab.compare.cli import main as compare_main
from vaelab.runs.train import train


@pytest.mark.slow
def test_grid_sweep_with_a_failing_job(tmp_path):
    """Every job gets its own run directory and W&B run in the sweep's group; a job that fails is
    recorded as failed and the others still finish; vaelab-compare then tabulates them."""
    done = train_cli(tmp_path, "-m", *FAST, "objective.beta=-1,2", "model.latent_dim=2,3", "logger=wandb")
    assert done.returncode != 0  # Hydra reports the failure at the end of the sweep
    (sweep,) = tmp_path.glob("train/multiruns/*")
    jobs = sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    assert len(jobs) == 4
    states, groups, plane = {}, set(), {}
    for job in jobs:
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        status = json.loads((job / "status.json").read_text())
        states[" ".join(o for o in overrides if o.startswith(("model.", "objective.")))] = status["state"]
        if "objective.beta=-1" in overrides:
            assert status["state"] == "failed" and "objective.beta=-1: must be >= 0" in status["error"]
            assert not (job / "metrics.json").exists()
            continue
        assert status["state"] == "finished"
        metrics = json.loads((job / "metrics.json").read_text())
        record = wandb_record(job)
        assert f'"run_group":"train-{sweep.name}"' in record["records"]
        # Named by the overrides that differ within the sweep, short; a training job.
        (run,) = records(record, "run")
        knobs = dict(o.split("=") for o in overrides if o.startswith(("model.", "objective.")))
        assert run["display_name"] == f"beta={knobs['objective.beta']},latent_dim={knobs['model.latent_dim']}"
        assert run["job_type"] == "train"
        assert {o for o in overrides if o.startswith(("model.", "objective."))} <= set(record["tags"])
        assert record["summary"]["test/nll"] == pytest.approx(metrics["test/nll"], rel=1e-6)
        groups.add(re.search(r'"run_group":"([^"]+)"', record["records"]).group(1))
        plane[job.name] = [metrics["test/kl"], metrics["test/recon"]]
    assert sorted(states.values()).count("finished") == 2

    # The sweep's end (here at exit: Hydra skips on_multirun_end after a failed job) wrote its
    # comparison, and one more W&B run in the jobs' group with the runs' table and the scatter.
    assert (sweep / "comparison" / "rate_distortion.png").stat().st_size > 1000
    comparison = wandb_record(sweep / "comparison")
    assert len(groups) == 1 and f'"run_group":"{groups.pop()}"' in comparison["records"]
    assert '"job_type":"comparison"' in comparison["records"]
    assert '"panelDefId":"wandb/scatter/v0"' in comparison["records"]
    assert comparison["summary"]["rate_distortion_table"]["nrows"] == 4
    assert comparison["summary"]["rate_distortion_plane"]["_type"] == "image-file"
    (offline,) = (sweep / "comparison" / "wandb").glob("offline-run-*")
    (table_file,) = offline.glob("files/media/table/runs_*.table.json")
    logged = json.loads(table_file.read_text())
    assert logged["columns"] == ["run", "knobs", "rate", "distortion", "elbo", "state"]
    by_run = {row[0]: row for row in logged["data"]}
    for name, (rate, distortion) in plane.items():
        assert by_run[name][2:4] == pytest.approx([rate, distortion], rel=1e-6)
    assert sorted(row[5] for row in logged["data"]) == ["failed"] * 2 + ["finished"] * 2

    assert compare_main([f"folders={sweep}", "metric=test/elbo", "mode=max"]) == 0
    out = sweep / "comparison"
    table = (out / "comparison.md").read_text()
    assert "failed" in table and "objective.beta=-1: must be >= 0" in table
    rows = list(csv_rows(out / "comparison.csv"))
    header, body = rows[0], rows[1:]
    assert header[:4] == ["run", "state", "model.latent_dim", "objective.beta"] and header[4] == "test/elbo"
    elbos = [float(r[4]) for r in body if r[1] == "finished"]
    assert elbos == sorted(elbos, reverse=True) and len(body) == 4  # best first, failed last
    assert [r[1] for r in body[-2:]] == ["failed", "failed"]
    for name in ("test_elbo_vs_objective.beta.png", "test_elbo_vs_model.latent_dim.png", "val_curves.png"):
        assert (out / name).stat().st_size > 1000


def csv_rows(path: Path):
    import csv

    with path.open() as f:
        yield from csv.reader(f)


@pytest.mark.slow
def test_wandb_sweep_command_runs_as_an_agent_would(tmp_path):
    """Expand sweeps/wandb.yaml's command the way `wandb agent` does and run it."""
    sweep = yaml.safe_load((ROOT / "sweeps" / "wandb.yaml").read_text())
    params = {}
    for name, spec in sweep["parameters"].items():  # one point of the search space
        params[name] = spec["values"][0] if "values" in spec else spec["min"]
    macros = {
        "${env}": ["/usr/bin/env"],
        "${interpreter}": [sys.executable],
        "${program}": [sweep["program"]],
        "${args_no_hyphens}": [f"{k}={v}" for k, v in params.items()],
    }
    cmd = [part for word in sweep["command"] for part in macros.get(word, [word])]
    assert not any(a.startswith("-") for a in cmd[2:])  # Hydra overrides, no dashes
    cmd += [*FAST, f"paths.log_dir={tmp_path}", "logger=none"]
    done = warm.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "WANDB_MODE": "offline"}
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = tmp_path.glob("wandb_sweep/runs/*")
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["objective"]["beta"] == params["objective.beta"] and config["likelihood"]["_target_"].endswith(
        "Bernoulli"
    )
    assert sweep["metric"]["name"] in json.loads((run / "metrics.json").read_text())


@pytest.mark.slow
def test_ddp_on_two_cpu_processes_matches_one_process(tmp_path):
    """Two gloo processes with batch 32 each = one process with batch 64: the same global batches
    (each rank takes every other example of the epoch's permutation), gradients averaged by DDP.
    The noise draws differ, so the test metrics agree within 2%, not exactly. The two processes
    compile their training step (trainer.compile, AOTAutograd's graphs run eagerly: DDP's gradient
    hooks fire on the compiled backward as on eager's; inductor's code is tested in one process),
    and take 4 optimiser steps per Lightning step (trainer.steps_per_execution: each rank's
    hand-outs, its manual optimisation through DDP; one process's numbers to the bit are tested
    in tests/runs/test_executions.py)."""
    common = [
        "data=digits",
        "logger=none",
        "trainer.max_epochs=4",
        "eval.num_samples=20",
        "data.binarize=static",
        "++callbacks.rich_progress_bar=null",
    ]
    # The one process in this one (the same train() that train.py calls), the two as a user starts them.
    a = train(compose_config(tmp_path / "one", *common, "data.batch_size=64"))
    ddp = train_cli(
        tmp_path / "two",
        *common,
        "trainer=ddp_cpu",
        "trainer.devices=2",
        "data.batch_size=32",
        "trainer.compile=aot_eager",
        "trainer.steps_per_execution=4",
    )
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    assert (ddp.stdout + ddp.stderr).count("trainer.compile: compiled the training step") == 2  # one per rank
    (two,) = (tmp_path / "two").glob("train/runs/*")
    b = json.loads((two / "metrics.json").read_text())
    assert b["train/compile_seconds"] > 0
    for key in ("test/elbo", "test/nll", "test/recon"):
        assert b[key] == pytest.approx(a[key], rel=0.02), key
    assert a["test/elbo"] != b["test/elbo"]  # really two different runs
    # Files written once, by rank zero: one metrics line per epoch, one set of pictures.
    assert len((two / "history.jsonl").read_text().splitlines()) == 4
    assert len(list((two / "images").glob("samples_epoch*.png"))) == 4


def test_bf16_mixed_precision_on_cpu(cfg_factory):
    cfg = cfg_factory("trainer.precision=bf16-mixed", "model=conv")
    metrics = train(cfg)
    assert all(v == v and abs(v) < 1e6 for k, v in metrics.items() if isinstance(v, float))


@pytest.mark.slow
def test_submitit_local_launcher_runs_a_two_job_sweep(tmp_path):
    done = train_cli(tmp_path, "-m", "hydra/launcher=submitit_local", *FAST, "logger=none", "objective.beta=1,2")
    assert done.returncode == 0, done.stderr[-3000:]
    (sweep,) = tmp_path.glob("train/multiruns/*")
    assert (sweep / ".submitit").is_dir()
    for job in ("0", "1"):
        assert json.loads((sweep / job / "status.json").read_text())["state"] == "finished"
        assert "test/nll" in json.loads((sweep / job / "metrics.json").read_text())
