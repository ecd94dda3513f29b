"""The training progress bar: Lightning's RichProgressBar, redrawn every N training steps.

Lightning's bar does three things after every training step: it updates rich's task, builds the
metrics dict it shows (from the trainer's logged values) and asks rich to refresh. For a model
whose step takes a few milliseconds, or a fraction of one on a GPU, that is a large share of the
step (benchmarks/overhead.py). A person reads a bar a few times a second, so the bar skips the
steps in between; the last step of an epoch always draws. Validation and test bars are Lightning's.

The bar counts optimiser steps. With several of them per Lightning step
(`trainer.steps_per_execution`, vaelab.runs.executions) Lightning's own count is of the loader's
hand-outs; the loader says where each ends (`ends()`), and the bar shows those positions instead.
It then draws every N hand-outs.
"""

from __future__ import annotations

from lightning.pytorch.callbacks import RichProgressBar

from vaelab.config.types import Bool, PosInt


class ProgressBar(RichProgressBar):
    def __init__(self, every_n_steps: PosInt = 10, leave: Bool = False):
        super().__init__(leave=leave)
        self.every_n_steps = int(every_n_steps)

    def _hand_out_ends(self) -> list[int] | None:
        """Where the epoch's hand-outs end, in steps; None when each Lightning step is one."""
        loader = self.trainer.train_dataloader
        return loader.ends() if getattr(loader, "chunk", 1) > 1 else None

    @property
    def total_train_batches(self) -> int | float:
        """Training steps this epoch: with several per hand-out, where the last hand-out ends (Lightning
        takes them all: part of an epoch is refused with several steps, vaelab.config.schema)."""
        ends = self._hand_out_ends()
        return super().total_train_batches if ends is None else ends[-1]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        # Every N Lightning steps: N optimiser steps, or with up to K a hand-out N hand-outs.
        # A draw costs about 0.25 ms whatever it shows; drawing at every multiple of N steps cost
        # 50-90 µs a step at K = 8 on the small model (benchmarks/overhead.py).
        if (batch_idx + 1) % self.every_n_steps and batch_idx + 1 != trainer.num_training_batches:
            return
        ends = self._hand_out_ends()
        # Lightning's bar shows batch_idx + 1: with several steps a hand-out, the index of its last step.
        super().on_train_batch_end(
            trainer, pl_module, outputs, batch, batch_idx if ends is None else ends[batch_idx] - 1
        )
