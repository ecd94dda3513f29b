"""The (beta-)ELBO, vaelab's default objective:
    loss = E_q[-log p(x|z)] + beta * KL(q(z|x) || p(z))
(Kingma & Welling, 2014; beta > 1: Higgins et al., 2017, "beta-VAE"), averaged over the batch.
With `free_bits` = lambda > 0 the KL term is the free-bits bound of Kingma et al. (2016,
"Improved variational inference with inverse autoregressive flow", eq. 15): each latent
dimension's KL, averaged over the batch, counts no less than lambda nats,
    KL term = sum_d max(lambda, E_batch[KL_d]),
so the optimiser gains nothing by pushing a dimension below lambda (against posterior collapse).
"""

from __future__ import annotations

import torch
from torch.distributions import Independent, Normal, kl_divergence

from vaelab.config.types import NonNegFloat
from vaelab.errors import ConfigError
from vaelab.objectives.base import Objective, Step


class ELBO(Objective):
    def __init__(self, beta: NonNegFloat = 1.0, free_bits: NonNegFloat = 0.0):
        super().__init__()
        self.beta, self.free_bits = float(beta), float(free_bits)

    def forward(self, model, x: torch.Tensor, kl_weight: float = 1.0) -> Step:
        recon, kl, q, z = model.elbo_sample(x)
        beta = self.beta * kl_weight
        if self.free_bits > 0:
            kl_term = per_dim_kl(q, model.prior_dist()).mean(0).clamp(min=self.free_bits).sum()
            loss = recon.mean() + beta * kl_term
        else:
            loss = (recon + beta * kl).mean()  # the only reduction over the batch
        return Step(loss, recon, kl, q, z, {"beta_now": torch.tensor(beta)})


def per_dim_kl(q, prior) -> torch.Tensor:
    """KL(q(z_d|x) || p(z_d)) for each latent dimension, (B, L): needs a factorised Gaussian prior."""
    if not (isinstance(prior, Independent) and isinstance(prior.base_dist, Normal)):
        raise ConfigError("objective.free_bits needs a factorised Gaussian prior (prior=standard)")
    return kl_divergence(q.base_dist, prior.base_dist)
