"""The training progress bar: Lightning's RichProgressBar, redrawn every N training steps.

Lightning's bar does three things after every training step: it updates rich's task, builds the
metrics dict it shows (from the trainer's logged values) and asks rich to refresh. For a model
whose step takes a few milliseconds, or a fraction of one on a GPU, that is a large share of the
step (benchmarks/overhead.py). A person reads a bar a few times a second, so the bar skips the
steps in between; the last step of an epoch always draws. Validation and test bars are Lightning's.
"""

from __future__ import annotations

from lightning.pytorch.callbacks import RichProgressBar

from vaelab.config.types import Bool, PosInt


class ProgressBar(RichProgressBar):
    def __init__(self, every_n_steps: PosInt = 10, leave: Bool = False):
        super().__init__(leave=leave)
        self.every_n_steps = int(every_n_steps)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        done = batch_idx + 1
        if done % self.every_n_steps and done != self.total_train_batches:
            return
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
