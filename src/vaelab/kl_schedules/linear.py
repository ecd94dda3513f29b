"""Linear warm-up (Bowman et al., 2016, "Generating sentences from a continuous space"): the
KL weight rises from 0 to its full value over `steps` training steps, then stays."""

from __future__ import annotations

from vaelab.config.types import NonNegInt


class Linear:
    def __init__(self, steps: NonNegInt = 10000):
        self.steps = int(steps)

    def __call__(self, step: int) -> float:
        return min(1.0, step / self.steps) if self.steps > 0 else 1.0
