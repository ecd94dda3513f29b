"""logger=mlflow, self-hosted: a two-job sweep into a real `mlflow server` (PostgreSQL backend
store, local artifact root), read back through MLflow's client and seen in its run-comparison
page in headless Chromium; the page's screenshot is docs/dashboards/mlflow_compare.png."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers.browser import chromium, page
from tests.helpers.mlflow_server import mlflow_server
from tests.helpers.postgres import create_database
from tests.helpers.train_cli import FAST, train_cli
from vaelab.errors import ConfigError
from vaelab.logger.mlflow import resolve_tracking_uri
from vaelab.runs.train import train

# docs/dashboards/mlflow_compare.png is this test's picture: VAELAB_SCREENSHOTS=1 writes it there;
# otherwise into the test's temporary folder, so that a test run leaves the working tree as it was.
SCREENSHOT = ROOT / "docs" / "dashboards" / "mlflow_compare.png"
# Small jobs: three training steps each logged, two validation and two test batches; no comparison.
SMALL = [
    *FAST,
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.log_every_n_steps=1",
    "~hydra.callbacks.comparison",
]


def test_the_default_store_is_sqlite_in_the_log_dir_and_the_file_store_is_refused(tmp_path, monkeypatch, cfg_factory):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None, tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    assert resolve_tracking_uri("postgresql+psycopg://u@h/db", tmp_path) == "postgresql+psycopg://u@h/db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "./mlruns")
    with pytest.raises(
        ConfigError, match=r"^MLFLOW_TRACKING_URI=./mlruns: must be a database .* file store is deprecated"
    ):
        resolve_tracking_uri(None, tmp_path)
    # The setting is checked with the whole config, before anything is written.
    cfg = cfg_factory("logger=mlflow", "logger.mlflow.tracking_uri=file:./mlruns")
    with pytest.raises(ConfigError, match=r"^logger.mlflow.tracking_uri='file:./mlruns': must be a database"):
        train(cfg)
    assert not (Path(cfg.paths.output_dir) / "config.yaml").exists()


@pytest.fixture(scope="module")
def sweep(postgres_server, tmp_path_factory):
    """(server URL, sweep directory, artifact root) of `train.py -m objective.beta=1,2 logger=mlflow`."""
    tmp = tmp_path_factory.mktemp("mlflow")
    database = create_database(postgres_server, f"mlflow_{uuid.uuid4().hex[:8]}")
    store = database.replace("postgresql://", "postgresql+psycopg://")  # psycopg 3, as vaelab installs
    with mlflow_server(store, tmp / "artifacts") as url:
        done = train_cli(tmp, "-m", *SMALL, "logger=mlflow", f"logger.mlflow.tracking_uri={url}", "objective.beta=1,2")
        assert done.returncode == 0, done.stderr[-3000:]
        (sweep_dir,) = tmp.glob("train/multiruns/*")
        yield url, sweep_dir, tmp / "artifacts"


@pytest.mark.slow
def test_a_sweep_is_a_parent_run_with_one_nested_run_per_job(sweep):
    import mlflow

    url, sweep_dir, artifacts = sweep
    client = mlflow.MlflowClient(url)
    experiment = client.get_experiment_by_name("vaelab")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    parent = runs.pop(f"train-{sweep_dir.name}")
    assert parent.info.status == "FINISHED" and sorted(runs) == ["beta=1", "beta=2"]
    for name, run in runs.items():
        job = sweep_dir / str(int(name[-1]) - 1)
        metrics = json.loads((job / "metrics.json").read_text())
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.tags["vaelab.sweep"] == parent.data.tags["vaelab.sweep"] == f"train-{sweep_dir.name}"
        # params: the flattened resolved config; metrics: per step, per epoch, and the test's.
        assert run.data.params["objective/beta"] == name[-1] and run.data.params["data/_target_"].endswith("Digits")
        assert [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")] == [0, 1, 2]
        assert len(client.get_metric_history(run.info.run_id, "val/elbo")) == 1
        assert run.data.metrics["test/nll"] == pytest.approx(metrics["test/nll"], rel=1e-6)
        # artifacts, kept by the server in its local artifact root
        logged = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"metrics.json", "config.yaml", "images"} <= logged
        stored = {p.name for p in artifacts.rglob("*") if run.info.run_id in str(p)}
        assert "metrics.json" in stored and any(n.startswith("val~reconstructions") for n in stored)


@pytest.mark.slow
def test_the_comparison_page_shows_both_runs_and_a_metric(sweep, tmp_path):
    if chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    import mlflow

    url, _, _ = sweep
    client = mlflow.MlflowClient(url)
    experiment = client.get_experiment_by_name("vaelab")
    jobs = client.search_runs([experiment.experiment_id], "tags.`mlflow.parentRunId` != ''", order_by=["run_name"])
    ids = json.dumps([r.info.run_id for r in jobs])
    with page() as browser:
        browser.goto(f"{url}/#/compare-runs?runs={ids}&experiments={json.dumps([experiment.experiment_id])}")
        browser.get_by_text("Comparing 2 Runs").wait_for(timeout=90_000)
        # The parameters and the metrics that differ between the runs: the swept beta and its results.
        for toggle in browser.get_by_text("Show diff only").all()[:2]:
            toggle.click()
        browser.get_by_text("test/nll", exact=True).wait_for()  # a metric's row, the runs' values beside it
        for run in jobs:
            assert browser.get_by_text(run.info.run_name, exact=True).is_visible()
            assert browser.get_by_text(run.info.run_id).is_visible()
        shot = SCREENSHOT if os.environ.get("VAELAB_SCREENSHOTS") == "1" else tmp_path / SCREENSHOT.name
        browser.screenshot(path=shot)
    assert shot.stat().st_size > 20_000


def test_a_run_that_fails_before_its_logger_starts_leaves_no_mlflow_run(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from vaelab.logger.mlflow import finish, mlflow_logger

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    logger = mlflow_logger(log_dir=str(tmp_path), experiment_name="early")
    assert logger.run_started is False
    (tmp_path / "metrics.json").write_text("{}")
    finish(logger, tmp_path, failed=True)
    client = MlflowClient(resolve_tracking_uri(None, tmp_path))
    assert client.get_experiment_by_name("early") is None  # nothing was made in the store
    # Once started, the same call ends the run it made, with metrics.json as an artifact.
    assert logger.run_id is not None and logger.run_started is True
    finish(logger, tmp_path, failed=False, state="finished")
    (run,) = client.search_runs([client.get_experiment_by_name("early").experiment_id])
    assert run.info.status == "FINISHED" and run.data.tags["state"] == "finished"
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["metrics.json"]
