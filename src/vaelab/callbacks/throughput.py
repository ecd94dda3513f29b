"""Training throughput: images per second of every training epoch, and when the first step began.

An epoch's `seconds` run from the start of its first training step to the end of its last
(with whatever callbacks do at each step, e.g. the step checkpoint); `val_seconds` from there
to the end of the epoch: the validation loop and what runs at its end (metrics, pictures,
checkpoints). `cpu_seconds` is the process's CPU time over the same steps, all its threads: what
the steps cost whatever else the machine runs (wall time on a shared machine includes waiting
for a core). Written to throughput.json in the run directory (rank zero) and logged as
`train/images_per_s`. The benchmarks read it; a user can switch it on with
`+callbacks.throughput=...` (see benchmarks/training.py) to see where time goes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only


class Throughput(L.Callback):
    def __init__(self, path: str):
        self.path = Path(path)
        self.first_step_time: float | None = None  # time.time() at the first training batch
        self.epochs: list[dict[str, float]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.first_step_time is None:
            self.first_step_time = time.time()
        if batch_idx == 0:
            self.start, self.start_cpu, self.images = time.perf_counter(), time.process_time(), 0
        self.images += len(batch[0])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.last_step_end, self.last_step_cpu = time.perf_counter(), time.process_time()

    def on_train_epoch_end(self, trainer, pl_module):
        # Lightning validates inside the training epoch, after its last step: timed apart.
        now = time.perf_counter()
        seconds = self.last_step_end - self.start
        self.epochs.append(
            {
                "epoch": trainer.current_epoch,
                "images": self.images,
                "seconds": seconds,
                "images_per_s": self.images * trainer.world_size / seconds,
                "cpu_seconds": self.last_step_cpu - self.start_cpu,
                "val_seconds": now - self.last_step_end,
            }
        )
        pl_module.log("train/images_per_s", self.epochs[-1]["images_per_s"], on_epoch=True)
        self.write()

    @rank_zero_only
    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps({"first_step_time": self.first_step_time, "epochs": self.epochs}, indent=2))
