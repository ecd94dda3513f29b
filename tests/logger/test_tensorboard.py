"""logger=tensorboard: a run's event files hold, for TensorBoard's HParams view, its
hyperparameters with the final metrics as the view's columns, and those metrics' values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

from vaelab.runs.train import train


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
