"""KID (torchmetrics, identity features) against an independent numpy computation of the unbiased MMD^2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vaelab.quality.kid import kernel_distance


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Binkowski et al. 2018, eq. 2 with k(a, b) = (a.b / d + 1)^3, written from the paper in float64."""
    d, m = x.shape[1], len(x)
    k = lambda a, b: (a @ b.T / d + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    off = lambda s: (s.sum() - np.trace(s)) / (m * (m - 1))  # noqa: E731
    return off(kxx) + off(kyy) - 2 * kxy.mean()


def test_one_subset_of_everything_is_the_full_estimate():
    g = np.random.default_rng(0)
    x, y = g.normal(size=(120, 8)), g.normal(size=(120, 8)) * 1.3 + 0.4
    # With one subset as large as both sets, the subset is the whole set (in some order).
    mean, std = kernel_distance(torch.from_numpy(x), torch.from_numpy(y), subsets=1, subset_size=120)
    assert mean == pytest.approx(mmd2_unbiased(x, y), rel=1e-10)
    assert std == 0.0


def test_same_distribution_near_zero_and_far_apart_large_and_seeded():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(400, 8, generator=g), torch.randn(400, 8, generator=g)
    far = torch.randn(400, 8, generator=g) + 2.0
    same, _ = kernel_distance(a, b, subsets=20, subset_size=200)
    apart, _ = kernel_distance(a, far, subsets=20, subset_size=200)
    itself, _ = kernel_distance(a, a, subsets=20, subset_size=200)
    assert abs(same) < 0.05 * apart and abs(itself) < 0.05 * apart
    assert apart > 1.0
    # The subsets depend on `seed` only, and the caller's random state is untouched.
    state = torch.get_rng_state()
    assert kernel_distance(a, b, subsets=20, subset_size=200, seed=3) == kernel_distance(
        a, b, subsets=20, subset_size=200, seed=3
    )
    assert torch.equal(torch.get_rng_state(), state)


def test_subset_size_is_capped_by_the_smaller_set():
    g = torch.Generator().manual_seed(2)
    mean, _ = kernel_distance(torch.randn(30, 4, generator=g), torch.randn(50, 4, generator=g), subsets=3)
    assert np.isfinite(mean)
