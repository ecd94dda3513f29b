"""Real-valued likelihoods: Gaussian (fixed or learned scale) and Laplace (fixed scale)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Laplace as TorchLaplace
from torch.distributions import Normal

from vaelab.config.types import PosFloat
from vaelab.likelihood.base import Likelihood


class Gaussian(Likelihood):
    """N(x_d; mu_d, scale^2) with one fixed scale from config (scale=1 is the 'MSE' VAE)."""

    def __init__(self, scale: PosFloat = 0.1):
        super().__init__()
        self.scale = float(scale)

    def base(self, loc: torch.Tensor) -> Normal:
        return Normal(loc, self.scale, validate_args=False)


class GaussianLearned(Likelihood):
    """N(x_d; mu_d, sigma_d^2), the decoder predicting a scale per pixel.

    sigma = min_scale + softplus(raw): smooth, always finite, and bounded below so the
    density cannot collapse onto pixels that are constant (e.g. black borders).
    """

    params_per_dim = 2

    def __init__(self, min_scale: PosFloat = 1e-2):
        super().__init__()
        self.min_scale = float(min_scale)

    def base(self, loc: torch.Tensor, raw_scale: torch.Tensor) -> Normal:
        return Normal(loc, self.min_scale + F.softplus(raw_scale), validate_args=False)


class Laplace(Likelihood):
    """Laplace(x_d; mu_d, b) with a fixed scale b from config (an L1 reconstruction loss)."""

    def __init__(self, scale: PosFloat = 0.1):
        super().__init__()
        self.scale = float(scale)

    def base(self, loc: torch.Tensor) -> TorchLaplace:
        return TorchLaplace(loc, self.scale, validate_args=False)
