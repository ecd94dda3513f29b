"""Fully connected encoder and decoder for images (flattened) or plain vectors.

`gated=True` uses gated dense layers, h = (W x + b) * sigmoid(V x + c) (Dauphin et al., 2017),
as the VampPrior paper's MLPs do (Tomczak & Welling, 2018, sec. 4); otherwise Linear + SiLU.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from vaelab.config.types import Bool, PosInt, Shape
from vaelab.model.common import gaussian_head


class GatedDense(nn.Module):
    """h = (W x + b) * sigmoid(V x + c): (B, d_in) -> (B, d_out), one matmul for both halves."""

    def __init__(self, d_in: int, d_out: int):
        super().__init__()
        self.linear = nn.Linear(d_in, 2 * d_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, gate = self.linear(x).chunk(2, dim=-1)
        return h * torch.sigmoid(gate)


def dense_layers(sizes: Sequence[int], gated: bool = False) -> nn.Sequential:
    """sizes[0] -> sizes[1] -> ... -> sizes[-1], each layer gated (GatedDense) or Linear + SiLU."""
    layers: list[nn.Module] = []
    for d_in, d_out in zip(sizes[:-1], sizes[1:]):
        layers += [GatedDense(d_in, d_out)] if gated else [nn.Linear(d_in, d_out), nn.SiLU()]
    return nn.Sequential(*layers)


class MLPEncoder(nn.Module):
    """x (B, *data_shape) -> (mu, logvar), each (B, latent_dim)."""

    def __init__(
        self, data_shape: Shape, latent_dim: PosInt, hidden: Sequence[PosInt] = (512, 256), gated: Bool = False
    ):
        super().__init__()
        self.body = dense_layers([math.prod(data_shape), *hidden], gated)
        self.head = gaussian_head(hidden[-1] if hidden else math.prod(data_shape), latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.body(x.flatten(1))).chunk(2, dim=-1)
        return mu, logvar


class MLPDecoder(nn.Module):
    """z (B, latent_dim) -> likelihood parameters (B, params_per_dim, *data_shape).

    `hidden` is given in the encoder's order and mirrored here.
    """

    def __init__(
        self,
        data_shape: Shape,
        latent_dim: PosInt,
        hidden: Sequence[PosInt] = (512, 256),
        params_per_dim: PosInt = 1,
        gated: Bool = False,
    ):
        super().__init__()
        self.out_shape = (params_per_dim, *data_shape)
        sizes = [latent_dim, *reversed(list(hidden))]
        self.body = dense_layers(sizes, gated)
        self.out = nn.Linear(sizes[-1], math.prod(self.out_shape))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(z)).view(-1, *self.out_shape)
