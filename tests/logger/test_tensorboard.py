"""logger=tensorboard: a run's event files hold, for TensorBoard's HParams view, its
hyperparameters with the final metrics as the view's columns, and those metrics' values; and a
real TensorBoard server shows a sweep's runs side by side in that view, in headless Chromium (the
page's screenshot is docs/dashboards/tensorboard_hparams.png)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from tests.conftest import ROOT
from tests.helpers.browser import chromium, page
from tests.helpers.train_cli import FAST, train_cli
from vaelab.runs.train import train

# As tests/logger/test_mlflow.py's picture: VAELAB_SCREENSHOTS=1 writes it into docs/dashboards.
SCREENSHOT = ROOT / "docs" / "dashboards" / "tensorboard_hparams.png"


@pytest.mark.parametrize("hp_metric", [False, True])
def test_the_hparams_view_gets_the_config_and_the_final_metrics(cfg_factory, hp_metric):
    cfg = cfg_factory(
        "logger=tensorboard",
        f"logger.tensorboard.default_hp_metric={hp_metric}",
        "objective.beta=2",
        "callbacks.images=null",
    )
    metrics = train(cfg)
    run = Path(cfg.paths.output_dir)
    assert json.loads((run / "metrics.json").read_text())["test/nll"] == metrics["test/nll"]
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    plugin = {tag: HParamsPluginData.FromString(data) for tag, data in events.PluginTagToContent("hparams").items()}
    experiment = plugin["_hparams_/experiment"].experiment
    columns = {m.name.tag for m in experiment.metric_infos}
    # Without Lightning's hp_metric, the final metrics; with it, only hp_metric, written at the start
    # (TensorBoard keeps the first hparams summary), its value at the end the optimized metric.
    assert columns == {"hp_metric"} if hp_metric else {"test/nll", "test/elbo", "val/loss", "val/elbo"} <= columns
    hparams = plugin["_hparams_/session_start_info"].session_start_info.hparams
    assert hparams["objective/beta"].number_value == 2.0 and hparams["model/latent_dim"].number_value == 4.0
    # The view shows each column's last value: the final metric.
    for column in columns:
        last = events.Scalars(column)[-1].value
        expected = metrics[cfg.optimized_metric if column == "hp_metric" else column]
        assert last == pytest.approx(expected, rel=1e-6), column


@pytest.mark.slow
def test_the_hparams_dashboard_compares_a_sweeps_runs(tmp_path):
    if chromium() is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    small = ["trainer.limit_train_batches=3", "trainer.limit_val_batches=2", "trainer.limit_test_batches=2"]
    done = train_cli(tmp_path, "-m", *FAST, *small, "logger=tensorboard", "objective.beta=1,4", "callbacks.images=null")
    assert done.returncode == 0, done.stderr[-3000:]
    (sweep,) = tmp_path.glob("train/multiruns/*")
    tensorboard = [str(Path(sys.executable).parent / "tensorboard"), "--logdir", str(sweep), "--port", "0"]
    log = tmp_path / "tensorboard.log"
    with log.open("w") as out:
        server = subprocess.Popen([*tensorboard, "--host", "127.0.0.1"], stdout=out, stderr=out)
    try:
        deadline = time.time() + 120
        while not (port := re.search(r"http://127\.0\.0\.1:(\d+)/", log.read_text())):
            assert server.poll() is None and time.time() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        with page(1400, 600) as browser:
            browser.goto(f"http://127.0.0.1:{port[1]}/#hparams")
            beta = browser.get_by_role("checkbox", name="objective/beta", exact=True)
            beta.wait_for(timeout=90_000)
            # The view ticks the first five hyperparameters by name; show the swept one instead.
            ticked = browser.locator("paper-checkbox.hparam-checkbox[aria-checked=true]")
            while ticked.count():
                ticked.first.click()
            beta.click()
            for job in ("0", "1"):  # a run's trial id is its folder in the sweep
                browser.get_by_text(f"{job}/tensorboard", exact=True).wait_for()
            for column in ("objective/beta", "val/loss", "test/nll"):
                assert browser.get_by_text(column, exact=True).count() >= 1, column
            # The table's numbers are the runs' (five significant digits): beta and the final val/loss.
            cells = browser.locator("vaadin-grid-cell-content").all_inner_texts()
            for job in ("0", "1"):
                metrics = json.loads((sweep / job / "metrics.json").read_text())
                assert f"{metrics['val/loss']:.5g}" in cells, (metrics["val/loss"], cells)
            assert {"1.0000", "4.0000"} <= set(cells)
            shot = SCREENSHOT if os.environ.get("VAELAB_SCREENSHOTS") == "1" else tmp_path / SCREENSHOT.name
            browser.screenshot(path=shot)
    finally:
        server.kill()
        server.wait()
    assert shot.stat().st_size > 20_000
