"""`model=conv_hvae`: the convolutional two-level HVAE of Tomczak & Welling (2018, "VAE with a
VampPrior", the convHVAE of their experiments): model=hvae with gated convolutions where it
touches data space,

    q(z2|x):       gated convs (two of them stride 2) -> a Gaussian head
    q(z1|x, z2):   gated convs on x, joined with z2's gated dense layer -> a Gaussian head
    p(x|z1, z2):   gated dense layers of z1 and z2 -> an image-shaped map -> gated 3x3 convs at
                   full resolution -> a 1x1 conv to the likelihood's parameters

and the same z-space layers as model=hvae (vaelab/model/hvae.py). Images only: x (N, C, H, W).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaelab.errors import ConfigError
from vaelab.model.common import gaussian_head
from vaelab.model.hvae import HVAE
from vaelab.model.mlp import dense_layers


class GatedConv2d(nn.Module):
    """h = conv(x) * sigmoid(conv'(x)) (Dauphin et al., 2017; van den Oord et al., 2016), one
    convolution emitting both halves: (N, c_in, H, W) -> (N, c_out, H', W')."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(c_in, 2 * c_out, kernel, stride, padding=kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, gate = self.conv(x).chunk(2, dim=1)
        return h * torch.sigmoid(gate)


def _x_features(c: int) -> nn.Sequential:
    """The paper's encoder stack: 32 and 64 channels, two stride-2 stages, 6 channels out, flattened."""
    return nn.Sequential(
        GatedConv2d(c, 32, 7),
        GatedConv2d(32, 32, 3, 2),
        GatedConv2d(32, 64, 5),
        GatedConv2d(64, 64, 3, 2),
        GatedConv2d(64, 6, 3),
        nn.Flatten(),
    )


class ConvHVAE(HVAE):
    def data_input(self, x: torch.Tensor) -> torch.Tensor:
        return x  # (B, C, H, W): the convolutions take the images as they are

    def build_data_paths(self, h: int, z2_dim: int, gated: bool) -> None:
        if len(self.data_shape) != 3:
            raise ConfigError(
                f"model=conv_hvae needs images shaped (channels, height, width), got {list(self.data_shape)}"
            )
        c, height, width = self.data_shape
        flat = 6 * math.ceil(math.ceil(height / 2) / 2) * math.ceil(math.ceil(width / 2) / 2)
        self.q_z2 = nn.Sequential(_x_features(c), gaussian_head(flat, z2_dim))
        # x's path into q(z1|x, z2) ends in h features, as the fully connected model's does.
        self.q_z1_x = nn.Sequential(_x_features(c), dense_layers([flat, h], gated))
        self.p_x = nn.Sequential(
            dense_layers([2 * h, c * height * width], gated),
            nn.Unflatten(1, (c, height, width)),
            *(GatedConv2d(c if i == 0 else 64, 64, 3) for i in range(4)),
            nn.Conv2d(64, self.out_shape[0] * c, 1),
        )
