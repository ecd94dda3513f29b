"""A learnable mixture of K diagonal Gaussians as the prior:
    p(z) = sum_k pi_k N(z; m_k, diag(s_k^2)),
with logits, means and log-scales trained with the rest of the model. The KL to it has no
closed form: the model estimates it by Monte Carlo at the ELBO's own sample z.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution

from vaelab.config.types import PosFloat, PosInt
from vaelab.priors.mixture import GaussianMixture


class MixtureOfGaussians(nn.Module):
    def __init__(self, latent_dim: PosInt, components: PosInt = 10, init_spread: PosFloat = 1.0):
        super().__init__()
        # Means spread like N(0, init_spread^2 I) draws so the components start apart; unit scales.
        self.logits = nn.Parameter(torch.zeros(components))  # (K,)
        self.loc = nn.Parameter(init_spread * torch.randn(components, latent_dim))  # (K, L)
        self.log_scale = nn.Parameter(torch.zeros(components, latent_dim))  # (K, L)

    def forward(self, encode=None) -> Distribution:
        return self.tempered(1.0)

    def tempered(self, temperature: float, encode=None) -> Distribution:
        """The prior at temperature T: each component's standard deviation s_k scaled by T;
        weights and means unchanged (T = 1: p(z))."""
        return GaussianMixture(self.logits, self.loc, temperature * self.log_scale.exp())  # K components over (L,)
