"""The history and throughput records a run leaves in its directory."""

from __future__ import annotations

import json
import time
from pathlib import Path

from vaelab.callbacks import ProgressBar
from vaelab.runs.train import train


def test_history_and_throughput_records(cfg_factory):
    cfg = cfg_factory(
        "trainer.max_epochs=3",
        "+callbacks.throughput._target_=vaelab.callbacks.Throughput",
        "+callbacks.throughput.path=${paths.output_dir}/throughput.json",
    )
    started = time.time()
    metrics = train(cfg)
    out = Path(cfg.paths.output_dir)
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in history] == [0, 1, 2]  # no sanity-check row
    assert [row["step"] for row in history] == [3, 6, 9]  # 3 batches an epoch (limit_train_batches)
    assert history[-1]["val/loss"] == metrics["val/loss"]
    throughput = json.loads((out / "throughput.json").read_text())
    assert started < throughput["first_step_time"] < time.time()
    epochs = throughput["epochs"]
    assert [e["images"] for e in epochs] == [3 * 64] * 3  # digits: batch 64
    for e in epochs:
        assert e["images_per_s"] == e["images"] / e["seconds"]
        assert e["val_seconds"] > 0  # validation runs after the last step: timed apart
        assert e["cpu_seconds"] > 0  # the process's CPU time over the same steps


class CountingBar(ProgressBar):
    """The progress bar, recording the training batches it drew after and the totals it showed."""

    drawn: list[int] = []
    totals: set[float] = set()

    def _update(self, progress_bar_id, current, visible=True, hard=False):
        if self.trainer.training and progress_bar_id == self.train_progress_bar_id:
            CountingBar.drawn.append(current)
            CountingBar.totals |= {task.total for task in self.progress.tasks if task.id == progress_bar_id}
        super()._update(progress_bar_id, current, visible, hard)


def test_the_progress_bar_draws_every_n_steps_and_at_the_end_of_an_epoch(cfg_factory):
    CountingBar.drawn = []
    cfg = cfg_factory(
        "trainer.limit_train_batches=10",
        "trainer.max_epochs=2",
        "trainer.enable_progress_bar=true",
        "++callbacks.rich_progress_bar._target_=tests.callbacks.test_callbacks.CountingBar",
        "++callbacks.rich_progress_bar.every_n_steps=4",
    )
    train(cfg)
    assert CountingBar.drawn == [4, 8, 10, 4, 8, 10]


def test_with_several_steps_per_lightning_step_the_bar_counts_optimiser_steps(cfg_factory):
    """21 batches an epoch in hand-outs of up to 8 that end at steps 1, 8, 16, 21 in epoch 0 and
    3, 11, 19, 21 in epoch 1 (vaelab.data.loader): the bar draws every 2 hand-outs and at the
    epoch's end, showing steps of 21, not hand-outs of 4."""
    CountingBar.drawn, CountingBar.totals = [], set()
    cfg = cfg_factory(
        "trainer.limit_train_batches=1.0",
        "trainer.limit_val_batches=1",
        "trainer.max_epochs=2",
        "trainer.steps_per_execution=8",
        "trainer.enable_progress_bar=true",
        "++callbacks.rich_progress_bar._target_=tests.callbacks.test_callbacks.CountingBar",
        "++callbacks.rich_progress_bar.every_n_steps=2",
    )
    train(cfg)
    assert CountingBar.drawn == [8, 21, 11, 21] and CountingBar.totals == {21}
