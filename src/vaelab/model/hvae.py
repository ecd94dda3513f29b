"""`model=hvae`: the two-level VAE of Tomczak & Welling (2018, "VAE with a VampPrior", sec. 3.3),

    q(z2|x) q(z1|x, z2),        p(z2) p(z1|z2) p(x|z1, z2),

z2 the top group (its prior is `prior=standard|mog|vamp`), z1 the bottom, each conditional a
diagonal Gaussian from fully connected layers of `hidden` units, gated as in the paper
(`gated=true`, vaelab.model.mlp.GatedDense). The walk over the groups, the ELBO, log p(x) and the
rest are vaelab.model.hierarchical's.

Shapes: x (N, *data_shape), flattened to D numbers by the fully connected paths; z2 (N, z2_dim), z1 (N, z1_dim); codes
(N, z2_dim + z1_dim), top group first.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from vaelab.config.types import Bool, PosInt, Shape
from vaelab.likelihood import Likelihood
from vaelab.model.common import gaussian_head
from vaelab.model.hierarchical import HierarchicalVAE, diagonal_gaussian
from vaelab.model.mlp import dense_layers


class HVAE(HierarchicalVAE):
    def __init__(
        self,
        data_shape: Shape,
        likelihood: Likelihood,
        prior: nn.Module,
        z1_dim: PosInt = 40,
        z2_dim: PosInt = 40,
        hidden: PosInt = 300,
        gated: Bool = True,
        iw_rows_per_chunk: PosInt = 4096,
    ):
        super().__init__((z2_dim, z1_dim), data_shape, likelihood, prior, iw_rows_per_chunk)
        h = int(hidden)
        self.out_shape = (likelihood.params_per_dim, *self.data_shape)
        self.build_data_paths(h, z2_dim, gated)
        # q(z1|x, z2): x (q_z1_x, above) and z2 each through a layer, joined, one more layer and the head.
        self.q_z1_z2 = dense_layers([z2_dim, h], gated)
        self.q_z1 = nn.Sequential(dense_layers([2 * h, h], gated), gaussian_head(h, z1_dim))
        # p(z1|z2): two layers and a Gaussian head.
        self.p_z1 = nn.Sequential(dense_layers([z2_dim, h, h], gated), gaussian_head(h, z1_dim))
        # p(x|z1, z2): z1 and z2 each through a layer, joined, then p_x (above) to the likelihood's parameters.
        self.p_x_z1, self.p_x_z2 = dense_layers([z1_dim, h], gated), dense_layers([z2_dim, h], gated)

    def build_data_paths(self, h: int, z2_dim: int, gated: bool) -> None:
        """The parts that touch data space: q(z2|x) (x -> [mu, logvar]), x's path into q(z1|x, z2)
        (x -> h features) and p_x (the joined (N, 2h) -> the likelihood's parameters), here fully
        connected on the flattened image (conv_hvae: convolutional)."""
        d = math.prod(self.data_shape)
        self.q_z2 = nn.Sequential(dense_layers([d, h, h], gated), gaussian_head(h, z2_dim))
        self.q_z1_x = dense_layers([d, h], gated)
        self.p_x = nn.Sequential(dense_layers([2 * h, h], gated), nn.Linear(h, math.prod(self.out_shape)))

    def bottom_up(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.data_input(x)
        return [self.q_z2(x), self.q_z1_x(x)]  # [mu, logvar] of z2 (B, 2 z2_dim); x's features (B, h)

    def data_input(self, x: torch.Tensor) -> torch.Tensor:
        """x as the data paths take it: flattened, (B, D) (conv_hvae: the images themselves)."""
        return x.flatten(1)

    def initial_state(self, n: int) -> list[torch.Tensor]:
        return []  # the groups drawn so far, top first

    def posterior(self, group: int, state: list[torch.Tensor], features: list[torch.Tensor]):
        if group == 0:
            return diagonal_gaussian(features[0])
        return diagonal_gaussian(self.q_z1(torch.cat([features[1], self.q_z1_z2(state[0])], dim=-1)))

    def conditional_prior(self, group: int, state: list[torch.Tensor]):
        return diagonal_gaussian(self.p_z1(state[0]))  # group 1: p(z1|z2)

    def absorb(self, group: int, state: list[torch.Tensor], z: torch.Tensor) -> list[torch.Tensor]:
        return [*state, z]

    def output(self, state: list[torch.Tensor]) -> torch.Tensor:
        z2, z1 = state
        h = torch.cat([self.p_x_z1(z1), self.p_x_z2(z2)], dim=-1)  # (N, 2h)
        return self.p_x(h).view(-1, *self.out_shape)  # (N, P, *data_shape)
