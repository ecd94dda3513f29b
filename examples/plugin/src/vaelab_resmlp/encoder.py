"""A residual MLP encoder: x (B, *data_shape) -> (mu, logvar), each (B, latent_dim).

    h_0     = W_in x                                   (B, hidden)
    h_{k+1} = h_k + W_2 SiLU(W_1 LayerNorm(h_k))        k = 0 .. blocks-1
    [mu, logvar] = W_out SiLU(LayerNorm(h_blocks))     (B, 2 L)

Pre-activation residual blocks (He et al., 2016, "Identity Mappings in Deep Residual Networks"):
the identity path keeps the gradient's scale however many blocks are stacked. Same interface as
vaelab.model.MLPEncoder, so vaelab's MLPDecoder can decode its codes.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaelab.config.types import PosInt, Shape


class ResidualBlock(nn.Module):
    """h -> h + W_2 SiLU(W_1 LayerNorm(h)), (B, width) -> (B, width)."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h + self.body(h)


class ResMLPEncoder(nn.Module):
    """x (B, *data_shape) -> (mu, logvar), each (B, latent_dim); `blocks` residual blocks of width `hidden`."""

    def __init__(self, data_shape: Shape, latent_dim: PosInt, hidden: PosInt = 256, blocks: PosInt = 2):
        super().__init__()
        self.inp = nn.Linear(math.prod(data_shape), hidden)
        self.blocks = nn.Sequential(*(ResidualBlock(hidden) for _ in range(blocks)))
        self.norm = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, 2 * latent_dim)
        # Small initial weights: q(z|x) starts near N(0, I), as vaelab's own encoders do.
        nn.init.normal_(self.head.weight, std=1e-3)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.blocks(self.inp(x.flatten(1)))  # (B, hidden)
        mu, logvar = self.head(nn.functional.silu(self.norm(h))).chunk(2, dim=-1)  # each (B, L)
        return mu, logvar
