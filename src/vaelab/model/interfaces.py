"""What a researcher's encoder and decoder implement: plain `nn.Module`s of these shapes.

vaelab's own (model/mlp.py, model/conv.py) implement exactly this, and nothing in vaelab asks
more of them; `vaelab.model.checks.check_parts` tries one batch through each part before the
first training step and names the part that does not fit.

Shapes: B a batch, L = latent_dim, P = the likelihood's params_per_dim, data_shape e.g. (C, H, W).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class Encoder(Protocol):
    """x (B, *data_shape) -> (mu, logvar), each (B, L): the mean and log-variance of the diagonal
    Gaussian q(z|x). Constructed as `Encoder(data_shape, latent_dim, ...)` by the model configs."""

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


@runtime_checkable
class Decoder(Protocol):
    """z (N, L) -> the likelihood's parameters (N, P, *data_shape), which the likelihood
    (vaelab.likelihood.Likelihood) turns into p(x|z). Constructed as
    `Decoder(data_shape, latent_dim, ..., params_per_dim=P)` by the model configs."""

    def __call__(self, z: torch.Tensor) -> torch.Tensor: ...
