"""A W&B run as its users expect it, read back from the offline run's files with `wandb leet
inspect`: its name and job type, val/* against the epoch with the best val/loss in the summary,
test/* final, the checkpoints as a model artifact (aliases best and last, config and metrics as
metadata); a sweep job's name from its swept overrides; vaelab-eval of an artifact offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.wandb_files import records, wandb_record
from vaelab.cli.evaluate import main
from vaelab.logger.sweep import run_name
from vaelab.runs.train import train


def test_a_run_its_curves_summary_and_checkpoints(cfg_factory):
    # lr 0.02: val/loss falls, then rises at the last epoch, so its best is not its last.
    cfg = cfg_factory(
        "logger=wandb",
        "logger.wandb.log_model=true",
        "trainer.max_epochs=3",
        "optimizer.lr=0.02",
        "callbacks.images=null",
    )
    metrics = train(cfg)
    run_dir = Path(cfg.paths.output_dir)
    history = [json.loads(line)["val/loss"] for line in (run_dir / "history.jsonl").read_text().splitlines()]
    assert min(history) < history[-1]
    record = wandb_record(run_dir)
    (run,) = records(record, "run")
    assert run["display_name"] == "train" and run["job_type"] == "train"  # a single run: the task name

    defined = {m.get("name") or m.get("glob_name"): m for m in records(record, "metric")}
    assert defined["val/*"]["step_metric"] == "epoch"
    assert defined["val/loss"]["summary"] == defined["val/nll"]["summary"] == {"min": True}
    summary = record["summary"]
    assert summary["val/loss"] == {"min": pytest.approx(min(history), rel=1e-6)}
    assert summary["test/nll"] == pytest.approx(metrics["test/nll"], rel=1e-6)

    artifacts = records(record, "artifact")
    assert {a["name"] for a in artifacts} == {f"model-{run['run_id']}"}
    aliases = {alias for a in artifacts for alias in a["aliases"]}
    assert {"best", "last"} <= aliases
    for artifact in artifacts:
        assert [c["path"] for c in artifact["manifest"]["contents"]] == ["model.ckpt"]
        metadata = json.loads(artifact["metadata"])
        assert metadata["config"]["optimizer"]["lr"] == 0.02
        assert metadata["metrics"]["test/nll"] == pytest.approx(metrics["test/nll"], rel=1e-6)


def test_a_sweep_job_is_named_by_what_differs_within_the_sweep():
    job = ["data=digits", "objective.beta=4", "model.latent_dim=32", "paths.log_dir=/tmp"]
    assert run_name(job, {"objective.beta", "model.latent_dim"}, "train") == "beta=4,latent_dim=32"
    clash = ["model.latent_dim=8", "prior.latent_dim=8"]
    assert run_name(clash, {"model.latent_dim", "prior.latent_dim"}, "train") == "model.latent_dim=8,prior.latent_dim=8"
    assert run_name(job, set(), "train") == "train"


def test_evaluating_a_wandb_artifact_offline_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.chdir(tmp_path)  # where vaelab-eval would download it and write beside it
    spec = "ckpt_path=wandb:lab/vaelab/model-abc123:best"
    assert main([spec]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {spec}: W&B is offline here")
    assert not list(tmp_path.iterdir())  # nothing downloaded, no output directory made


def test_a_run_that_fails_before_its_logger_starts_leaves_no_wandb_run(tmp_path, monkeypatch):
    import wandb

    from vaelab.logger.wandb import wandb_logger
    from vaelab.logger.wandb_run import finish

    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = wandb_logger(save_dir=str(tmp_path))
    assert logger.run_started is False
    finish(logger, {}, exit_code=1, state=None, output_dir=tmp_path)
    assert wandb.run is None
    assert not list(tmp_path.rglob("*.wandb"))
    # Once started, the same call ends the run it made.
    assert logger.experiment is not None and logger.run_started is True
    finish(logger, {"test/loss": 1.5}, exit_code=0, state=None, output_dir=tmp_path)
    assert wandb.run is None
    assert len(list(tmp_path.rglob("*.wandb"))) == 1
