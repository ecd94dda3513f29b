"""The InfoVAE objective with the maximum mean discrepancy (Zhao, Song & Ermon, 2019, "InfoVAE:
Balancing Learning and Inference in Variational Autoencoders", AAAI, eq. 6), as a loss to minimise:

    loss = E_q[-log p(x|z)] + (1 - alpha) KL(q(z|x) || p(z)) + (alpha + lambda - 1) MMD(q(z), p(z))

q(z) = E_p(x) q(z|x) is the aggregate posterior. alpha weighs the mutual information I_q(x; z)
(alpha = 0: the ELBO plus lambda - 1 times the divergence; alpha = 1: no per-example KL at all)
and lambda the divergence between q(z) and p(z); the paper's objectives need alpha <= 1 and
alpha + lambda - 1 >= 0. The MMD-VAE of the paper is alpha = 1: recon + lambda MMD(q(z), p(z)),
the defaults here with lambda = 1 (conf/objective/mmd.yaml).

MMD is estimated on the batch: z_i ~ q(z|x_i), one per example, against as many draws
z~_j ~ p(z) of the model's prior, with the unbiased estimator of Gretton et al. (2012, "A Kernel
Two-Sample Test", eq. 3), as in Tolstikhin et al. (2018, "Wasserstein Auto-Encoders", Algorithm 2):

    MMD^2 = 1/(n(n-1)) sum_{i != j} k(z_i, z_j) + 1/(n(n-1)) sum_{i != j} k(z~_i, z~_j)
            - 2/n^2 sum_{i, j} k(z_i, z~_j)

and the inverse multiquadratic kernel of Tolstikhin et al. (2018, Sec. 4):
k(x, y) = C / (C + ||x - y||^2), C = 2 L sigma^2 (L latent dimensions, sigma^2 the prior's
variance per dimension: 1 for N(0, I)). Unbiased, the estimate can be slightly negative.
The KL schedule's factor (kl_weight) multiplies the KL term, as it does in vaelab's ELBO.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field, Strict

from vaelab.config.types import PosFloat
from vaelab.objectives import Objective, Step

# alpha <= 1: the KL's weight 1 - alpha must not be negative (Zhao et al., 2019, Sec. 4).
Alpha = Annotated[float, Strict(), Field(le=1, allow_inf_nan=False)]


def imq_kernel(x: torch.Tensor, y: torch.Tensor, scale: float) -> torch.Tensor:
    """k(x_i, y_j) = C / (C + ||x_i - y_j||^2) for x (n, L), y (m, L): (n, m)."""
    return scale / (scale + torch.cdist(x, y).pow(2))


def mmd(z: torch.Tensor, z_prior: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """The unbiased estimate of MMD^2 between samples z (n, L) and z_prior (n, L): a scalar."""
    n, latent_dim = z.shape
    if n < 2:
        return z.new_zeros(())  # the within-sample sums need two samples each
    scale = 2.0 * latent_dim * sigma**2  # C = 2 L sigma^2 (Tolstikhin et al., 2018)
    off_diagonal = 1.0 - torch.eye(n, dtype=z.dtype, device=z.device)  # leaves out i == j
    k_qq = (imq_kernel(z, z, scale) * off_diagonal).sum() / (n * (n - 1))
    k_pp = (imq_kernel(z_prior, z_prior, scale) * off_diagonal).sum() / (n * (n - 1))
    k_qp = imq_kernel(z, z_prior, scale).mean()  # 1/n^2 sum_{i, j}
    return k_qq + k_pp - 2.0 * k_qp


class MMD(Objective):
    """InfoVAE (Zhao et al., 2019): recon + (1 - alpha) KL + (alpha + lambda_ - 1) MMD(q(z), p(z))."""

    def __init__(self, alpha: Alpha = 1.0, lambda_: PosFloat = 1.0, sigma: PosFloat = 1.0):
        super().__init__()
        if alpha + lambda_ - 1 < 0:
            raise ValueError(
                f"objective.alpha={alpha}, objective.lambda_={lambda_}: the MMD's weight alpha + lambda_ - 1 "
                "must be >= 0 (Zhao et al., 2019)"
            )
        self.alpha, self.lambda_, self.sigma = float(alpha), float(lambda_), float(sigma)

    def forward(self, model, x: torch.Tensor, kl_weight: float = 1.0) -> Step:
        recon, kl, q, z = model.elbo_sample(x)  # (B,), (B,), q(z|x), z (B, L)
        # As many draws of the prior as the batch has codes; no gradient flows into the prior's draws.
        z_prior = model.prior_dist().sample((z.shape[0],)).to(z)  # (B, L)
        divergence = mmd(z, z_prior, self.sigma)
        kl_factor = (1.0 - self.alpha) * kl_weight
        mmd_factor = self.alpha + self.lambda_ - 1.0
        loss = (recon + kl_factor * kl).mean() + mmd_factor * divergence
        return Step(loss, recon, kl, q, z, {"mmd": divergence.detach()})
