"""VampPrior (Tomczak & Welling, 2018, "VAE with a VampPrior"): the prior is the encoder's
aggregate posterior at K learnable pseudo-inputs u_k,
    p(z) = (1/K) sum_k q(z | u_k),
so it follows the encoder as it trains. The pseudo-inputs live in data space (K, *data_shape)
and pass through a hardtanh into [0, 1] as in the paper's implementation. No closed-form KL:
the model estimates it by Monte Carlo at the ELBO's own sample z.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.distributions import Distribution

from vaelab.config.types import Float, NonNegFloat, PosInt, Shape
from vaelab.priors.mixture import GaussianMixture


class VampPrior(nn.Module):
    def __init__(
        self, data_shape: Shape, components: PosInt = 500, init_mean: Float = 0.5, init_std: NonNegFloat = 0.01
    ):
        super().__init__()
        # Pseudo-inputs start near grey images (the paper: N(0.05, 0.01) in its hardtanh's range).
        self.pseudo_inputs = nn.Parameter(init_mean + init_std * torch.randn(components, *data_shape))

    def inputs(self) -> torch.Tensor:
        """The K pseudo-inputs in the data's range [0, 1]: (K, *data_shape)."""
        return nn.functional.hardtanh(self.pseudo_inputs, 0.0, 1.0)

    def forward(self, encode: Callable[[torch.Tensor], Distribution]) -> Distribution:
        return self.tempered(1.0, encode)  # one posterior q(z | u_k) per pseudo-input, equally weighted

    def tempered(self, temperature: float, encode: Callable[[torch.Tensor], Distribution]) -> Distribution:
        """The prior at temperature T: each component q(z | u_k) with its standard deviation scaled
        by T; the means (the encoder's at the pseudo-inputs) unchanged (T = 1: p(z))."""
        q = encode(self.inputs())  # Independent(Normal(mu, sigma), 1): batch (K,), event (L,)
        logits = torch.zeros(q.batch_shape, device=self.pseudo_inputs.device)  # equal weights 1/K
        return GaussianMixture(logits, q.base_dist.loc, temperature * q.base_dist.scale)
