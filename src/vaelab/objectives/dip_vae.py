"""DIP-VAE (Kumar et al., 2018, "Variational Inference of Disentangled Latent Concepts from
Unlabeled Observations"): the ELBO plus a penalty pulling a covariance of the latents towards
the identity, so that the aggregate posterior decorrelates like the prior N(0, I) (Section 3,
eq. 6-7):

    DIP-VAE-I   C = Cov_p(x)[mu(x)]
    DIP-VAE-II  C = Cov_q(z)[z] = E_p(x)[diag(sigma^2(x))] + Cov_p(x)[mu(x)]

    penalty = lambda_od * sum_{i != j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2
    loss    = E[-log p(x|z)] + kl_weight * E[KL(q(z|x) || p(z))] + penalty

Expectations over p(x) are batch means; the covariance is the batch's biased (1/B) estimate, as
in disentanglement_lib. The penalty is a property of the whole batch, not a per-example term.
"""

from __future__ import annotations

from typing import Literal

import torch

from vaelab.config.types import NonNegFloat
from vaelab.errors import ConfigError
from vaelab.objectives.base import Objective, Step

VARIANTS = ("i", "ii")


class DIPVAE(Objective):
    compilable = True
    needs_one_gaussian_posterior = True

    def __init__(self, variant: Literal["i", "ii"] = "i", lambda_od: NonNegFloat = 10.0, lambda_d: NonNegFloat = 100.0):
        super().__init__()
        if variant not in VARIANTS:
            raise ConfigError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.variant, self.lambda_od, self.lambda_d = variant, float(lambda_od), float(lambda_d)

    def forward(self, model, x: torch.Tensor, kl_weight: float | torch.Tensor = 1.0) -> Step:
        recon, kl, q, z = model.elbo_sample(x)
        q_dims = q.base_dist  # Normal, batch (B, L)
        cov = latent_covariance(q_dims.loc, q_dims.variance, self.variant)  # (L, L)
        penalty = dip_penalty(cov, self.lambda_od, self.lambda_d)
        # The per-example terms' one reduction; the penalty's batch statistics are its own.
        loss = (recon + kl_weight * kl).mean() + penalty
        return Step(loss, recon, kl, q, z, {"dip_penalty": penalty})


def latent_covariance(mu: torch.Tensor, var: torch.Tensor, variant: str) -> torch.Tensor:
    """Cov_p(x)[mu(x)] ("i") or Cov_q(z)[z] ("ii") from a batch of posterior means and variances
    (B, L): the biased batch estimate, (L, L)."""
    centred = mu - mu.mean(0)  # (B, L)
    cov = centred.T @ centred / mu.shape[0]  # (L, L)
    if variant == "ii":
        cov = cov + torch.diag(var.mean(0))  # + E_p(x)[diag(sigma^2(x))]
    elif variant != "i":
        raise ConfigError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return cov


def dip_penalty(cov: torch.Tensor, lambda_od: float, lambda_d: float) -> torch.Tensor:
    """lambda_od * sum_{i != j} C_ij^2 + lambda_d * sum_i (C_ii - 1)^2, a scalar."""
    diag = torch.diagonal(cov)
    off_diag = cov - torch.diag(diag)
    return lambda_od * off_diag.pow(2).sum() + lambda_d * (diag - 1).pow(2).sum()
