"""A two-level linear-Gaussian model whose every density has a closed form, for checking the
hierarchical estimators (vaelab.model.hierarchical) exactly.

Per coordinate i of D independent chains (so every posterior is diagonal, as q is):
    z2 ~ N(0, 1),   z1 | z2 ~ N(a z2, s1^2),   x | z1, z2 ~ N(b z1 + c z2, sx^2)
    => x ~ N(0, (a b + c)^2 + b^2 s1^2 + sx^2)
    p(z2 | x) = N(k x, v2),  k = (a b + c) / var_x,  v2 = 1 - (a b + c)^2 / var_x
    p(z1 | x, z2) = N(v1 (a z2 / s1^2 + b (x - c z2) / sx^2), v1),  1 / v1 = 1 / s1^2 + b^2 / sx^2
The encoder q(z2|x) = N(u x, e^lv2), q(z1|x, z2) = N(w_z z2 + w_x x, e^lv1) can be set to the true
posterior (`exact`) or off it (`imperfect`).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from torch import nn

from vaelab.likelihood import Gaussian
from vaelab.model.hierarchical import HierarchicalVAE
from vaelab.priors import StandardNormal

D = 3
A, B, C, S1, SX = np.array([0.9, -1.2, 0.5]), np.array([1.1, 0.7, -1.5]), np.array([0.4, 0.3, 1.0]), 0.6, 0.5


def _t(v) -> torch.Tensor:
    return torch.as_tensor(np.asarray(v, dtype=np.float64), dtype=torch.float32)


class LinearGaussianHVAE(HierarchicalVAE):
    def __init__(self, u, lv2, w_z, w_x, lv1, iw_rows_per_chunk: int = 4096):
        super().__init__((D, D), (D,), Gaussian(scale=SX), StandardNormal(D), iw_rows_per_chunk)
        for name, value in dict(u=u, lv2=lv2, w_z=w_z, w_x=w_x, lv1=lv1).items():
            self.register_parameter(name, nn.Parameter(_t(np.broadcast_to(value, (D,)).copy())))
        self.register_buffer("a", _t(A))
        self.register_buffer("b", _t(B))
        self.register_buffer("c", _t(C))

    def bottom_up(self, x):
        return [x]

    def initial_state(self, n):
        return []

    def posterior(self, group, state, features):
        (x,) = features
        mean, logvar = (self.u * x, self.lv2) if group == 0 else (self.w_z * state[0] + self.w_x * x, self.lv1)
        return torch.distributions.Independent(
            torch.distributions.Normal(mean, (0.5 * logvar).exp().expand_as(mean)), 1
        )

    def conditional_prior(self, group, state):
        mean = self.a * state[0]
        return torch.distributions.Independent(torch.distributions.Normal(mean, torch.full_like(mean, S1)), 1)

    def absorb(self, group, state, z):
        return [*state, z]

    def output(self, state):
        z2, z1 = state
        return (self.b * z1 + self.c * z2)[:, None]  # (N, 1, D): the Gaussian likelihood's mean


def var_x() -> np.ndarray:
    return (A * B + C) ** 2 + B**2 * S1**2 + SX**2


def exact_log_px(x: np.ndarray) -> np.ndarray:
    """log p(x) per example, (N,), in closed form."""
    return stats.norm.logpdf(x, scale=np.sqrt(var_x())).sum(-1)


def exact() -> LinearGaussianHVAE:
    """The encoder at the true posterior."""
    v1 = 1 / (1 / S1**2 + B**2 / SX**2)
    k, v2 = (A * B + C) / var_x(), 1 - (A * B + C) ** 2 / var_x()
    return LinearGaussianHVAE(k, np.log(v2), v1 * (A / S1**2 - B * C / SX**2), v1 * B / SX**2, np.log(v1))


def imperfect() -> LinearGaussianHVAE:
    """An encoder off the true posterior: means shrunk, variances too wide."""
    true = exact()
    return LinearGaussianHVAE(
        0.6 * true.u.detach(),
        true.lv2.detach() + 0.7,
        0.5 * true.w_z.detach(),
        0.8 * true.w_x.detach(),
        true.lv1.detach() + 0.5,
    )


def data(n: int = 64, seed: int = 0) -> np.ndarray:
    """n draws of x from the model, (n, D)."""
    rng = np.random.default_rng(seed)
    z2 = rng.normal(size=(n, D))
    z1 = A * z2 + S1 * rng.normal(size=(n, D))
    return B * z1 + C * z2 + SX * rng.normal(size=(n, D))
