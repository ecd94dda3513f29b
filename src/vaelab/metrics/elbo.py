"""torchmetrics for the VAE objective, in nats per example.

They hold sums and counts, so they accumulate over batches and reduce exactly across
processes (DDP) before `compute`.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


class ELBO(Metric):
    """Mean reconstruction term, KL and the ELBO (beta = 1, whatever the objective).

    update(recon, kl): per-example tensors (B,), recon = -log p(x|z), kl = KL(q(z|x) || p(z)).
    compute(): {"elbo": -(recon + kl), "recon": ..., "kl": ...}.
    """

    full_state_update = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add_state("recon", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("kl", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, recon: torch.Tensor, kl: torch.Tensor) -> None:
        self.recon += recon.detach().sum(dtype=torch.float64)
        self.kl += kl.detach().sum(dtype=torch.float64)
        self.count += recon.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        recon, kl = self.recon / self.count, self.kl / self.count
        return {"elbo": (-(recon + kl)).float(), "recon": recon.float(), "kl": kl.float()}


class NLL(Metric):
    """Mean negative log-likelihood -log p(x) from per-example estimates of log p(x);
    also bits per dimension when the data has `num_dims` dimensions."""

    full_state_update = False

    def __init__(self, num_dims: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.num_dims = num_dims
        self.add_state("nll", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, log_px: torch.Tensor) -> None:
        self.nll -= log_px.detach().sum(dtype=torch.float64)
        self.count += log_px.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        nll = self.nll / self.count
        out = {"nll": nll.float()}
        if self.num_dims:
            out["bpd"] = (nll / (self.num_dims * torch.log(torch.tensor(2.0, dtype=torch.float64)))).float()
        return out
