"""Pieces shared by the architectures."""

from __future__ import annotations

from torch import nn


def gaussian_head(d_in: int, latent_dim: int) -> nn.Linear:
    """One linear layer emitting [mu, logvar] (2 * latent_dim numbers).

    Its weights start small so that q(z|x) starts close to the prior N(0, I):
    KL starts near zero instead of at a large random value.
    """
    head = nn.Linear(d_in, 2 * latent_dim)
    nn.init.normal_(head.weight, std=1e-3)
    nn.init.zeros_(head.bias)
    return head
