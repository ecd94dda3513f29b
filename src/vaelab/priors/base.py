"""What a prior p(z) implements: an `nn.Module` (it may own parameters, e.g. a VampPrior's
pseudo-inputs) whose forward gives a torch `Distribution` over z with event shape (L,).

vaelab's priors (standard, mog, vamp) implement exactly this. The KL to the prior is in closed
form when the distribution is an Independent Normal, else the Monte Carlo estimate at the
ELBO's own z (vaelab.model.VAE.kl), so any distribution with `log_prob` and `sample` works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch.distributions import Distribution


@runtime_checkable
class Prior(Protocol):
    def __call__(self, encode: Callable[[torch.Tensor], Distribution] | None = None) -> Distribution:
        """p(z): batch shape (), event shape (L,). `encode` is the model's x -> q(z|x), for priors
        defined through the encoder (a VampPrior: a mixture of q(z|u_k) over pseudo-inputs u_k)."""
        ...

    def tempered(
        self, temperature: float, encode: Callable[[torch.Tensor], Distribution] | None = None
    ) -> Distribution:
        """p(z) at temperature T (each component's scale times T; T = 1 is p(z)): what
        vaelab-sample draws from with temperature=T."""
        ...
