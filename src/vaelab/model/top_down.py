"""`model=top_down`: a top-down hierarchical VAE with residual cells and bidirectional inference,
in the line of the Ladder VAE (Sønderby et al., 2016), IAF-VAE (Kingma et al., 2016, sec. 6),
NVAE (Vahdat & Kautz, 2020) and VDVAE (Child, 2021):

    bottom-up:  x -> stem -> cells at each resolution, finest to coarsest: features h_r
    top-down:   s = a learned constant at 1x1; for each group of latents, top first:
                    p(z_l | z_>l) = N(p_head(s)),   q(z_l | x, z_>l) = N(q_head([s, h_r]))
                    s <- cell(s + proj(z_l))   (upsampled when the next group is finer)
                p(x | z) from cell(s) upsampled to the data's size

The prior and the posterior share the top-down path s (the "shared top-down path" of the IAF and
NVAE papers), so the posterior only learns a correction. The top group is a vector of
`latent_dim` numbers at 1x1 (its prior is `prior=standard|mog|vamp`); below it, `groups[i]`
spatial groups of `latent_channels` channels at each resolution `resolutions[i]` (heights, top
first; widths keep the data's aspect). Sized by config from a CPU toy to a CIFAR-10 model for a
GPU (conf/experiment/cifar10_top_down.yaml).

Shapes: x (N, C, H, W); s (N, width, h, w); spatial group z_l (N, latent_channels * h * w),
flattened channel-major; codes (N, latent_dim + sum of the spatial groups' sizes), top first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vaelab.config.types import PosInt, Shape
from vaelab.errors import ConfigError
from vaelab.likelihood import Likelihood
from vaelab.model.hierarchical import HierarchicalVAE, diagonal_gaussian


class ResidualCell(nn.Module):
    """s + conv3x3(SiLU(conv3x3(SiLU(s)))): (N, c, h, w) -> the same; the last conv starts small
    so that a deep stack starts near the identity (VDVAE's scaled initialisation)."""

    def __init__(self, channels: int, scale: float = 0.1):
        super().__init__()
        self.a = nn.Conv2d(channels, channels, 3, padding=1)
        self.b = nn.Conv2d(channels, channels, 3, padding=1)
        with torch.no_grad():
            self.b.weight.mul_(scale)
            self.b.bias.zero_()

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return s + self.b(F.silu(self.a(F.silu(s))))


def gaussian_conv_head(c_in: int, width: int, latent_channels: int) -> nn.Sequential:
    """(N, c_in, h, w) -> [mu, logvar] maps (N, 2 * latent_channels, h, w); starts near N(0, I)."""
    out = nn.Conv2d(width, 2 * latent_channels, 1)
    nn.init.normal_(out.weight, std=1e-3)
    nn.init.zeros_(out.bias)
    return nn.Sequential(nn.Conv2d(c_in, width, 3, padding=1), nn.SiLU(), out)


def flat_gaussian(params: torch.Tensor):
    """[mu, logvar] maps (N, 2k, h, w) -> a diagonal Gaussian over (N, k * h * w)."""
    mu, logvar = params.chunk(2, dim=1)
    return diagonal_gaussian(torch.cat([mu.flatten(1), logvar.flatten(1)], dim=1))


class TopDownVAE(HierarchicalVAE):
    def __init__(
        self,
        data_shape: Shape,
        likelihood: Likelihood,
        prior: nn.Module,
        latent_dim: PosInt = 16,
        width: PosInt = 32,
        resolutions: Sequence[PosInt] = (7, 14),
        groups: Sequence[PosInt] = (1, 1),
        latent_channels: PosInt = 4,
        cells: PosInt = 1,
        iw_rows_per_chunk: PosInt = 4096,
    ):
        if len(data_shape) != 3:
            raise ConfigError(f"model=top_down needs images shaped (channels, height, width), got {list(data_shape)}")
        c, h, w = (int(v) for v in data_shape)
        resolutions, groups = [int(r) for r in resolutions], [int(g) for g in groups]
        if len(resolutions) != len(groups) or resolutions != sorted(set(resolutions)) or resolutions[-1] > h:
            raise ConfigError(
                f"model.vae.resolutions={resolutions}, groups={groups}: one number of groups per resolution, "
                f"resolutions strictly increasing (top first) and at most the data's height {h}"
            )
        self.sizes = [(1, 1)] + [(r, max(1, round(r * w / h))) for r in resolutions]  # (h, w) per level, top first
        self.level = [0] + [i + 1 for i, g in enumerate(groups) for _ in range(g)]  # each group's level
        zc = int(latent_channels)
        sizes = [int(latent_dim)] + [zc * self.sizes[lv][0] * self.sizes[lv][1] for lv in self.level[1:]]
        super().__init__(sizes, data_shape, likelihood, prior, iw_rows_per_chunk)
        width, cells = int(width), int(cells)
        self.width, self.latent_channels = width, zc

        def stack() -> nn.Sequential:
            return nn.Sequential(*(ResidualCell(width) for _ in range(cells)))

        # Bottom-up: the stem at the data's size, then cells at each level, finest to coarsest.
        self.stem = nn.Conv2d(c, width, 3, padding=1)
        self.up_cells = nn.ModuleList(stack() for _ in self.sizes)
        # Top-down: the constant start, each group's heads, projection of z and cells.
        self.start = nn.Parameter(torch.zeros(1, width, 1, 1))
        self.q_heads = nn.ModuleList(
            gaussian_conv_head(2 * width, width, int(latent_dim) if g == 0 else zc) for g in range(len(sizes))
        )
        self.p_heads = nn.ModuleList(gaussian_conv_head(width, width, zc) for _ in sizes[1:])
        self.z_proj = nn.ModuleList(nn.Conv2d(int(latent_dim) if g == 0 else zc, width, 1) for g in range(len(sizes)))
        self.down_cells = nn.ModuleList(stack() for _ in sizes)
        self.out_cells = stack()
        self.out = nn.Conv2d(width, likelihood.params_per_dim * c, 1)

    def bottom_up(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, features = self.stem(x), []
        for size, cells in zip(reversed(self.sizes), reversed(self.up_cells)):  # finest first
            h = cells(F.adaptive_avg_pool2d(h, size))
            features.append(h)
        return features[::-1]  # per level, top first: (B, width, *size)

    def initial_state(self, n: int) -> torch.Tensor:
        return self.start.expand(n, -1, -1, -1)  # (n, width, 1, 1)

    def posterior(self, group: int, state: torch.Tensor, features: list[torch.Tensor]):
        return flat_gaussian(self.q_heads[group](torch.cat([state, features[self.level[group]]], dim=1)))

    def conditional_prior(self, group: int, state: torch.Tensor):
        return flat_gaussian(self.p_heads[group - 1](state))

    def absorb(self, group: int, state: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        size = self.sizes[self.level[group]]
        s = self.down_cells[group](state + self.z_proj[group](z.view(z.shape[0], -1, *size)))
        if group + 1 < len(self.level) and self.level[group + 1] != self.level[group]:
            s = F.interpolate(s, size=self.sizes[self.level[group + 1]], mode="nearest")
        return s

    def output(self, state: torch.Tensor) -> torch.Tensor:
        c, h, w = self.data_shape
        s = self.out_cells(F.interpolate(state, size=(h, w), mode="nearest"))
        return self.out(s).view(-1, self.likelihood.params_per_dim, c, h, w)  # (N, P, C, H, W)
