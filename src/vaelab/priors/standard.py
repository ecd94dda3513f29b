"""p(z) = N(0, I): the VAE's prior (Kingma & Welling, 2014). The KL to it has a closed form."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution

from vaelab.config.types import PosInt
from vaelab.model.distributions import diagonal_normal


class StandardNormal(nn.Module):
    def __init__(self, latent_dim: PosInt):
        super().__init__()
        # Buffers, not parameters: they follow the module's device and are not trained.
        self.register_buffer("loc", torch.zeros(latent_dim), persistent=False)
        self.register_buffer("scale", torch.ones(latent_dim), persistent=False)

    def forward(self, encode=None) -> Distribution:
        return self.tempered(1.0)

    def tempered(self, temperature: float, encode=None) -> Distribution:
        """The prior at temperature T: N(0, T^2 I), i.e. z = T * eps with eps ~ N(0, I) (T = 1: p(z))."""
        # No argument checks: they cost a few tensor reductions every step, and T > 0 is checked
        # where it is set (sample.temperature).
        scale = self.scale if temperature == 1.0 else temperature * self.scale
        return diagonal_normal(self.loc, scale)
