"""Convolutional encoder and decoder for images of any size (28x28 grey, 32x32 colour, 64x64, ...).

Each encoder stage halves height and width (kernel 4, stride 2, padding 1 maps n to
floor(n/2)); the decoder mirrors it with transposed convolutions whose output_padding
(n mod 2) restores odd sizes exactly, so 28 -> 14 -> 7 -> 3 -> 7 -> 14 -> 28 works.
Shapes are derived from `data_shape`, never hard-coded.

`hidden` puts a dense layer of that width between the convolutions and the code (both ways), and
`activation` chooses the nonlinearity: channels [32, 32, 64, 64], hidden 256, activation relu is
the encoder and decoder of disentanglement_lib (Locatello et al., 2019, Table 1), used by
experiment=disentanglement_study. The defaults (no dense layer, SiLU) are vaelab's own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from vaelab.config.types import Channels, PosInt, Shape
from vaelab.errors import ConfigError
from vaelab.model.common import gaussian_head

Activation = Literal["silu", "relu"]
ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU}


def dense(d_in: int, d_out: int, activation: str) -> list[nn.Module]:
    return [nn.Linear(d_in, d_out), ACTIVATIONS[activation]()]


def spatial_sizes(data_shape: Sequence[int], n_stages: int) -> list[tuple[int, int]]:
    """[(H, W) at the input, after stage 1, ..., after the last stage]."""
    if len(data_shape) != 3:
        raise ConfigError(
            f"model=conv needs images shaped (channels, height, width), got data shape {list(data_shape)}; "
            "use model=mlp for vectors"
        )
    sizes = [(int(data_shape[1]), int(data_shape[2]))]
    for _ in range(n_stages):
        h, w = sizes[-1]
        sizes.append((h // 2, w // 2))
    if min(sizes[-1]) < 1:
        raise ConfigError(
            f"model=conv with {n_stages} downsampling stages (model.encoder.channels) cannot take "
            f"{data_shape[1]}x{data_shape[2]} images: each stage halves the size, and it reaches "
            f"{sizes[-1][0]}x{sizes[-1][1]}. Use at most {int(math.log2(min(sizes[0])))} stages."
        )
    return sizes


class ConvEncoder(nn.Module):
    """x (B, C, H, W) -> (mu, logvar), each (B, latent_dim)."""

    def __init__(
        self,
        data_shape: Shape,
        latent_dim: PosInt,
        channels: Channels = (32, 64),
        hidden: PosInt | None = None,
        activation: Activation = "silu",
    ):
        super().__init__()
        h, w = spatial_sizes(data_shape, len(channels))[-1]
        layers: list[nn.Module] = []
        c_in = int(data_shape[0])
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), ACTIVATIONS[activation]()]
            c_in = c_out
        layers.append(nn.Flatten())
        if hidden is not None:
            layers += dense(c_in * h * w, hidden, activation)
        self.body = nn.Sequential(*layers)
        self.head = gaussian_head(hidden or c_in * h * w, latent_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.body(x)).chunk(2, dim=-1)
        return mu, logvar


class ConvDecoder(nn.Module):
    """z (B, latent_dim) -> likelihood parameters (B, params_per_dim, C, H, W).

    `channels` is given in the encoder's order and mirrored here.
    """

    def __init__(
        self,
        data_shape: Shape,
        latent_dim: PosInt,
        channels: Channels = (32, 64),
        params_per_dim: PosInt = 1,
        hidden: PosInt | None = None,
        activation: Activation = "silu",
    ):
        super().__init__()
        sizes = spatial_sizes(data_shape, len(channels))
        c, h, w = (int(s) for s in data_shape)
        self.out_shape = (params_per_dim, c, h, w)
        rev = list(reversed(list(channels)))
        self.start = (rev[0], *sizes[-1])
        widths = [latent_dim, *([hidden] if hidden is not None else []), math.prod(self.start)]
        self.fc = nn.Sequential(*(m for a, b in zip(widths, widths[1:]) for m in dense(a, b, activation)))
        layers: list[nn.Module] = []
        c_outs = [*rev[1:], params_per_dim * c]
        for i, c_out in enumerate(c_outs):
            target_h, target_w = sizes[len(channels) - 1 - i]
            pad = (target_h % 2, target_w % 2)
            layers.append(nn.ConvTranspose2d(rev[i], c_out, 4, stride=2, padding=1, output_padding=pad))
            if i < len(c_outs) - 1:
                layers.append(ACTIVATIONS[activation]())
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.body(self.fc(z).view(-1, *self.start))
        return out.view(-1, *self.out_shape)
