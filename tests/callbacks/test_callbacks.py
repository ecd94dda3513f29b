"""The history and throughput records a run leaves in its directory."""

from __future__ import annotations

import json
import time
from pathlib import Path

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
