"""Hand-made factor sources and representations for the disentanglement metric tests.

`FactorsAsImages` implements the factor-source interface (vaelab.data.factors: factor_names,
factor_sizes, sample_factors, render) with the factors themselves as the observation: v (n, F)
renders to v_k / (K_k - 1) in [0, 1] as an (n, F, 1, 1) image, so a representation can be any
chosen function of the factors, as disentanglement_lib's IdentityObservationsData does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


class FactorsAsImages:
    """Factors drawn uniformly and independently; observation = scaled factors (n, F, 1, 1)."""

    def __init__(self, factor_sizes: Sequence[int] = (3, 4, 5, 6)):
        self.factor_sizes = tuple(int(k) for k in factor_sizes)
        self.factor_names = tuple(f"f{k}" for k in range(len(self.factor_sizes)))
        self.rendered = 0  # observations rendered so far: tests check no work was done

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(k, size=n) for k in self.factor_sizes], axis=1).astype(np.int64)

    def render(self, factors) -> torch.Tensor:
        v = torch.as_tensor(np.asarray(factors), dtype=torch.float32)  # (n, F)
        self.rendered += len(v)
        scale = torch.tensor([k - 1 for k in self.factor_sizes], dtype=torch.float32)
        return (v / scale)[:, :, None, None]


# ----------------------------------------------------------------- representations of the factors
# Each maps the (n, F, 1, 1) observation of FactorsAsImages to codes (n, L) as numpy.


def identity(x: torch.Tensor) -> np.ndarray:
    """z = the factors: the ideal disentangled code (L = F)."""
    return x.flatten(1).double().numpy()


def constant(x: torch.Tensor) -> np.ndarray:
    """z = 0 whatever the input (L = F)."""
    return np.zeros((len(x), x.shape[1]))


def duplicated(x: torch.Tensor) -> np.ndarray:
    """Each factor in two latents (L = 2F): as informative, but no latent is the only one."""
    z = identity(x)
    return np.concatenate([z, z], axis=1)


def rotated(x: torch.Tensor, angle: float = np.pi / 4) -> np.ndarray:
    """Factors 0 and 1 mixed by a rotation of `angle` in their plane; the others untouched."""
    z = identity(x)
    c, s = np.cos(angle), np.sin(angle)
    z[:, 0], z[:, 1] = c * z[:, 0] - s * z[:, 1], s * z[:, 0] + c * z[:, 1]
    return z


def noise(seed: int = 123, latent_dim: int | None = None):
    """z ~ N(0, I) independent of the input (a fresh draw per call, from a fixed stream)."""
    g = np.random.default_rng(seed)

    def fn(x: torch.Tensor) -> np.ndarray:
        return g.standard_normal((len(x), latent_dim or x.shape[1]))

    return fn


# The suites' sizes cut to a few hundred observations (monkeypatched over FAST_SIZES or
# DEFAULT_SIZES), so a run that scores takes seconds: the same code on fewer points.
SMALL_SIZES = {
    "mig": {"num_train": 100},
    "sap": {"num_train": 100, "num_test": 50},
    "dci": {"num_train": 100, "num_test": 50},
    "factor_vae": {"num_variance_estimate": 100, "num_train": 10, "num_eval": 5, "batch_size": 16},
    "beta_vae": {"num_train": 10, "num_eval": 5, "batch_size": 16},
}
