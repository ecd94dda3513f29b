"""Controlled capacity increase (Burgess et al., 2018, "Understanding disentangling in beta-VAE",
Section 5): the KL is pulled towards a target capacity C that grows linearly during training,

    loss = E[-log p(x|z)] + gamma * | E[KL(q(z|x) || p(z))] - C |,
    C    = max_capacity * min(1, step / capacity_steps),

so the encoder is allowed C nats about x, a few more as training goes on. The capacity schedule
takes the place of the KL schedule: `kl_weight` is not used.

The system calls the objective with (model, x, kl_weight) only, so it sets `global_step` (the
optimiser step, an int) on the objective before each training step. Evaluation uses the last C
set (0 in a fresh process: vaelab-eval on a checkpoint reports the loss at C = 0).
"""

from __future__ import annotations

import torch

from vaelab.config.types import NonNegFloat, NonNegInt
from vaelab.objectives.base import Objective, Step


class Capacity(Objective):
    def __init__(
        self, gamma: NonNegFloat = 1000.0, max_capacity: NonNegFloat = 25.0, capacity_steps: NonNegInt = 100000
    ):
        super().__init__()
        self.gamma, self.max_capacity, self.capacity_steps = float(gamma), float(max_capacity), int(capacity_steps)
        # self.global_step (Objective's, 0 by default) is the system's training step, set before each step.

    def capacity(self, step: int) -> float:
        """C at a training step: 0 at step 0, max_capacity from capacity_steps on (at once if 0)."""
        if self.capacity_steps <= 0:
            return self.max_capacity
        return self.max_capacity * min(1.0, step / self.capacity_steps)

    def forward(self, model, x: torch.Tensor, kl_weight: float = 1.0) -> Step:
        recon, kl, q, z = model.elbo_sample(x)
        c = self.capacity(self.global_step)
        # The batch-mean KL is what meets C (the paper's |KL - C| is on the expectation).
        recon_mean, kl_mean = recon.mean(), kl.mean()  # the only reduction over the batch
        loss = recon_mean + self.gamma * (kl_mean - c).abs()
        return Step(loss, recon, kl, q, z, {"capacity": torch.tensor(c)})
