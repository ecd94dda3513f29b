"""How the latent space is used: active units and KL per dimension.

Active units (Burda et al., 2016, sec. 5.2): dimension d is active when
    A_d = Var_x( E_q[z_d | x] ) > threshold   (0.01 in the paper),
i.e. the posterior mean moves with the input. A collapsed unit has q(z_d|x) = p(z_d)
for every x: zero variance of its mean and zero KL.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


class LatentUsage(Metric):
    """update(mu, logvar, kl=None): the posterior parameters of a batch, each (B, L), and the KL of
    each dimension to its prior where the model gives it (a hierarchical model's, to each
    conditional prior); else the KL to N(0, 1).

    compute(): {"active_units": count, "active_share": count / L,
                "mean_variance": A_d (L,), "kl_per_dim": mean KL_d (L,)}.
    """

    full_state_update = False

    def __init__(self, latent_dim: int, threshold: float = 0.01, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.threshold = int(latent_dim), float(threshold)
        zeros = torch.zeros(self.latent_dim, dtype=torch.float64)
        # Sums, not running means: exact under any batching, and summable across processes.
        self.add_state("sum_mu", default=zeros.clone(), dist_reduce_fx="sum")
        self.add_state("sum_mu2", default=zeros.clone(), dist_reduce_fx="sum")
        self.add_state("sum_kl", default=zeros.clone(), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, mu: torch.Tensor, logvar: torch.Tensor, kl: torch.Tensor | None = None) -> None:
        mu, logvar = mu.detach().double(), logvar.detach().double()
        self.sum_mu += mu.sum(0)
        self.sum_mu2 += mu.square().sum(0)
        if kl is None:  # KL(N(mu, s^2) || N(0, 1)) per dimension, closed form (Kingma & Welling, 2014, app. B)
            kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar)
        self.sum_kl += kl.detach().double().sum(0)
        self.count += mu.shape[0]

    def compute(self) -> dict[str, torch.Tensor]:
        n = self.count.double()
        mean = self.sum_mu / n
        # Unbiased variance over the data; clamp the rounding error of E[mu^2] - E[mu]^2.
        variance = ((self.sum_mu2 - n * mean.square()) / (n - 1).clamp(min=1)).clamp(min=0)
        active = (variance > self.threshold).sum()
        return {
            "active_units": active.float(),
            "active_share": active.float() / self.latent_dim,
            "mean_variance": variance.float(),
            "kl_per_dim": (self.sum_kl / n).float(),
        }
