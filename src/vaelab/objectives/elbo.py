"""The (beta-)ELBO, vaelab's default objective:
    loss = E_q[-log p(x|z)] + beta * KL(q(z|x) || p(z))
(Kingma & Welling, 2014; beta > 1: Higgins et al., 2017, "beta-VAE"), averaged over the batch.
With `free_bits` = lambda > 0 the KL term is the free-bits bound of Kingma et al. (2016,
"Improved variational inference with inverse autoregressive flow", eq. 15): each latent
dimension's KL, averaged over the batch, counts no less than lambda nats,
    KL term = sum_d max(lambda, E_batch[KL_d]),
so the optimiser gains nothing by pushing a dimension below lambda (against posterior collapse).
The units are the model's (`kl_units`): each dimension for a one-layer VAE, each group of latents
for a hierarchical one (as Kingma et al. and Vahdat & Kautz, 2020, apply it).
"""

from __future__ import annotations

import torch

from vaelab.config.types import NonNegFloat
from vaelab.objectives.base import Objective, Step


class ELBO(Objective):
    def __init__(self, beta: NonNegFloat = 1.0, free_bits: NonNegFloat = 0.0):
        super().__init__()
        self.beta, self.free_bits = float(beta), float(free_bits)

    compilable = True

    def forward(self, model, x: torch.Tensor, kl_weight: float | torch.Tensor = 1.0) -> Step:
        recon, kl, q, z = model.elbo_sample(x)
        beta = self.beta * kl_weight
        if self.free_bits > 0:
            kl_term = model.kl_units(q).mean(0).clamp(min=self.free_bits).sum()
            loss = recon.mean() + beta * kl_term
        else:
            loss = (recon + beta * kl).mean()  # the only reduction over the batch
        return Step(loss, recon, kl, q, z, {"beta_now": torch.as_tensor(beta)})
