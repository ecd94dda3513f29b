"""Learning-rate schedulers that torch.optim.lr_scheduler lacks as one class a config can name.

WarmupCosine: linear warm-up (Goyal et al., 2017, "Accurate, Large Minibatch SGD", sec. 2.2)
then cosine decay without restarts (Loshchilov & Hutter, 2017, "SGDR", eq. 5), per optimiser
step t, with W = warmup_steps, T = total_steps, lr0 the optimiser's lr:

    lr_t = lr0 * t / W                                                   t < W
    lr_t = eta_min + (lr0 - eta_min) * (1 + cos(pi * (t - W) / (T - W))) / 2    W <= t <= T
    lr_t = eta_min                                                       t > T

(the schedule of transformers' get_cosine_schedule_with_warmup, with a floor eta_min).
torch's SequentialLR would need the two schedulers built first, which a partial config cannot
express. A closed form of t, not a recursion: a resumed run (Lightning restores t, W and T
from the checkpoint) continues it exactly.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from vaelab.config.types import NonNegInt, PosInt
from vaelab.errors import ConfigError

__all__ = ["WarmupCosine"]


class WarmupCosine(LRScheduler):
    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: NonNegInt,
        total_steps: PosInt | None,
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ):
        # total_steps=None in a config is filled in by VAESystem.configure_optimizers.
        if total_steps is None or not 0 <= warmup_steps < total_steps:
            raise ConfigError(
                f"WarmupCosine needs 0 <= warmup_steps < total_steps, got warmup_steps={warmup_steps}, "
                f"total_steps={total_steps}"
            )
        self.warmup_steps, self.total_steps, self.eta_min = int(warmup_steps), int(total_steps), float(eta_min)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, step: int) -> float:
        """The learning rate of optimiser step `step` (0-based) for a group whose lr is base_lr."""
        if step < self.warmup_steps:
            return base_lr * step / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * progress)) / 2

    def get_lr(self) -> list[float]:
        # last_epoch counts the scheduler's steps: the optimiser steps taken so far when stepped per step.
        return [self.lr_at(base_lr, self.last_epoch) for base_lr in self.base_lrs]
