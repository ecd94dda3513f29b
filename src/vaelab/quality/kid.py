"""Kernel distance between two feature sets: KID (Binkowski et al., 2018, "Demystifying MMD GANs", eq. 2 and sec. 4).

The unbiased estimate of the squared maximum mean discrepancy with the cubic polynomial kernel
    k(x, y) = (x.y / d + 1)^3,
    MMD^2_u = 1/(m(m-1)) sum_{i!=j} [k(x_i, x_j) + k(y_i, y_j)] - 2/m^2 sum_{i,j} k(x_i, y_j),
averaged over `subsets` random subsets of `subset_size` examples from each set: the mean and the
(population) standard deviation over subsets, as torchmetrics' KernelInceptionDistance reports
them. Unlike the Fréchet distance it is unbiased in the number of samples, and can be slightly
negative when the sets come from the same distribution.

Subset size: min(`subset_size`, Na, Nb), 1000 by default as in the paper and torchmetrics; with
fewer examples than that, every subset is a whole set (reordered) and the std is 0. Its scale
follows the features' (the kernel is cubic in x.y / d): Fashion-MNIST's classifier features give
KIDs in the hundreds where Inception's give ~0.01-0.1.
torchmetrics draws the subsets from the global generator; we fork it and seed it, so the
result depends only on `seed` and the caller's random state is left untouched.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torchmetrics.image.kid import KernelInceptionDistance

from vaelab.errors import ConfigError

SUBSETS = 100
SUBSET_SIZE = 1000


def kernel_distance(
    features_a: torch.Tensor,
    features_b: torch.Tensor,
    subsets: int = SUBSETS,
    subset_size: int = SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """(mean, std) of KID over subsets, features (Na, d) and (Nb, d) taken as given (float64)."""
    size = min(int(subset_size), len(features_a), len(features_b))
    if size < 2:
        raise ConfigError(f"KID needs at least 2 examples in each set, got {len(features_a)} and {len(features_b)}")
    with warnings.catch_warnings():
        # "will save all extracted features in buffer": that is what we hand it anyway.
        warnings.filterwarnings("ignore", message=".*save all extracted features.*")
        # The features are already computed: the metric's feature extractor is the identity.
        kid = KernelInceptionDistance(feature=nn.Identity(), subsets=int(subsets), subset_size=size)
    kid.update(features_a.detach().to(torch.float64), real=True)
    kid.update(features_b.detach().to(torch.float64), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        mean, std = kid.compute()
    return float(mean), float(std)
