"""Cyclical annealing (Fu et al., 2019, "Cyclical Annealing Schedule", eq. 5): `total_steps`
split into `cycles` cycles; in each, the weight rises linearly from 0 to 1 over the first
`ratio` of the cycle, then holds at 1:
    tau = (t mod ceil(T / M)) / (T / M),   f(tau) = tau / R if tau <= R else 1.
After `total_steps` the weight stays at 1."""

from __future__ import annotations

import math

from vaelab.config.types import PosInt, Ratio


class Cyclical:
    def __init__(self, total_steps: PosInt = 10000, cycles: PosInt = 4, ratio: Ratio = 0.5):
        self.total_steps, self.cycles, self.ratio = int(total_steps), int(cycles), float(ratio)

    def __call__(self, step: int) -> float:
        if step >= self.total_steps:
            return 1.0
        period = self.total_steps / self.cycles
        tau = (step % math.ceil(period)) / period
        return min(1.0, tau / self.ratio)
