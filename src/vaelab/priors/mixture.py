"""A mixture of diagonal Gaussians whose density costs two matrix products.

    log p(z) = logsumexp_k [ log pi_k + log N(z; m_k, diag(s_k^2)) ],
    sum_l (z_l - m_kl)^2 / s_kl^2 = z^2 . (1/s_k^2) - 2 z . (m_k / s_k^2) + sum_l m_kl^2 / s_kl^2,

so for N points and K components the quadratic forms are (N, L) x (L, K) products instead of an
(N, K, L) tensor of differences: a VampPrior of 500 components over z = 40 computed its density
elementwise in about 70 ms of a 190 ms training step. The products are taken in float64, where
the expansion's cancellation (terms of size (z / s)^2) costs nothing measurable. Sampling, the
mean and the rest are torch's MixtureSameFamily's.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Categorical, MixtureSameFamily

from vaelab.model.distributions import diagonal_normal


class GaussianMixture(MixtureSameFamily):
    """Weights from `logits` (K,), components N(loc_k, diag(scale_k^2)) with loc, scale (K, L):
    batch shape (), event shape (L,)."""

    def __init__(self, logits: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor):
        components = diagonal_normal(loc, scale)
        super().__init__(Categorical(logits=logits, validate_args=False), components, validate_args=False)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for z of shape (*batch, L): (*batch,)."""
        base = self.component_distribution.base_dist
        loc, scale = base.loc.double(), base.scale.double()  # (K, L)
        flat = z.reshape(-1, z.shape[-1]).double()  # (N, L)
        precision = scale.pow(-2)  # (K, L)
        quadratic = flat.pow(2) @ precision.T - 2 * flat @ (loc * precision).T + (loc.pow(2) * precision).sum(-1)
        log_norm = scale.log().sum(-1) + 0.5 * loc.shape[-1] * math.log(2 * math.pi)  # (K,)
        log_weights = torch.log_softmax(self.mixture_distribution.logits.double(), -1)  # (K,)
        log_p = torch.logsumexp(log_weights - log_norm - 0.5 * quadratic.clamp(min=0), dim=-1)  # (N,)
        return log_p.to(z.dtype).reshape(z.shape[:-1])
