"""Pieces shared by the architectures."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def check_sizes(latent_dim: int, hidden: Sequence[int] = (), name: str = "hidden") -> None:
    if name == "channels" and len(hidden) == 0:
        raise ValueError("model.encoder.channels must list at least one stage, got []")
    if int(latent_dim) < 1:
        raise ValueError(f"model.latent_dim must be >= 1, got {latent_dim}")
    bad = [h for h in hidden if int(h) < 1]
    if bad:
        raise ValueError(f"model.encoder.{name} must be positive sizes, got {list(hidden)}")


def gaussian_head(d_in: int, latent_dim: int) -> nn.Linear:
    """One linear layer emitting [mu, logvar] (2 * latent_dim numbers).

    Its weights start small so that q(z|x) starts close to the prior N(0, I):
    KL starts near zero instead of at a large random value.
    """
    head = nn.Linear(d_in, 2 * latent_dim)
    nn.init.normal_(head.weight, std=1e-3)
    nn.init.zeros_(head.bias)
    return head
