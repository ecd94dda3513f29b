"""The training progress bar: Lightning's RichProgressBar, redrawn every N training steps.

Lightning's bar does three things after every training step: it updates rich's task, builds the
metrics dict it shows (from the trainer's logged values) and asks rich to refresh. For a model
whose step takes a few milliseconds, or a fraction of one on a GPU, that is a large share of the
step (benchmarks/overhead.py). A person reads a bar a few times a second, so the bar skips the
steps in between; the last step of an epoch always draws. Validation and test bars are Lightning's.

The bar counts optimiser steps. With several of them per Lightning step
(`trainer.steps_per_execution`, vaelab.runs.executions) Lightning's own count is of the loader's
hand-outs; the loader says where each ends (`ends()`), and the bar shows those positions instead.
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
        """Training steps this epoch: with several per hand-out, those of the hand-outs Lightning takes."""
        total, ends = super().total_train_batches, self._hand_out_ends()
        if ends is None or not 1 <= total < float("inf"):
            return total
        return ends[min(int(total), len(ends)) - 1]

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        ends = self._hand_out_ends()
        if ends is None:
            done, before = batch_idx + 1, batch_idx
        else:  # steps at the end of this hand-out and of the one before
            done, before = ends[batch_idx], ends[batch_idx - 1] if batch_idx else 0
        # Draw when the steps cross a multiple of N (every N-th step with one step per hand-out).
        if done // self.every_n_steps == before // self.every_n_steps and done != self.total_train_batches:
            return
        # Lightning's bar shows batch_idx + 1: the index of the hand-out's last step.
        super().on_train_batch_end(trainer, pl_module, outputs, batch, done - 1)
