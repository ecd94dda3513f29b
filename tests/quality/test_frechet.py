"""The Fréchet distance against closed forms and an independent scipy computation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from vaelab.quality.frechet import frechet_distance


def with_moments(mu: torch.Tensor, cov: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n points (n, d) whose sample mean is exactly mu and unbiased sample covariance exactly cov."""
    z = torch.randn(n, len(mu), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    z = z - z.mean(0)
    z = z @ torch.linalg.inv(torch.linalg.cholesky(torch.cov(z.T))).T  # sample covariance I
    return mu + z @ torch.linalg.cholesky(cov).T


def test_closed_form_2d_non_commuting():
    # For 2x2 PSD matrices, Tr (S1 S2)^{1/2} = sqrt(Tr(S1 S2) + 2 sqrt(det S1 det S2)) (the square
    # roots of the two eigenvalues l1, l2 of S1 S2 sum to sqrt(l1 + l2 + 2 sqrt(l1 l2))).
    mu1, mu2 = torch.tensor([0.5, -1.0], dtype=torch.float64), torch.tensor([2.0, 1.0], dtype=torch.float64)
    s1 = torch.tensor([[2.0, 0.9], [0.9, 1.0]], dtype=torch.float64)
    s2 = torch.tensor([[0.5, -0.3], [-0.3, 3.0]], dtype=torch.float64)
    tr_sqrt = np.sqrt(float(torch.trace(s1 @ s2)) + 2 * np.sqrt(float(torch.det(s1) * torch.det(s2))))
    expected = float((mu1 - mu2).square().sum() + s1.trace() + s2.trace()) - 2 * tr_sqrt
    # Feature sets (identity features) whose fitted Gaussians are exactly these two.
    fa, fb = with_moments(mu1, s1, 50, seed=0), with_moments(mu2, s2, 80, seed=1)
    assert frechet_distance(fa, fb) == pytest.approx(expected, rel=1e-10)


def test_diagonal_closed_form_and_scipy():
    # Commuting (diagonal) covariances: FD = ||mu1 - mu2||^2 + sum_i (sigma1_i - sigma2_i)^2.
    sd1, sd2 = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([3.0, 1.0, 0.5])
    mu1, mu2 = torch.zeros(3), torch.tensor([1.0, 0.0, -2.0])
    fa = with_moments(mu1.double(), torch.diag(sd1.double() ** 2), 40, seed=2)
    fb = with_moments(mu2.double(), torch.diag(sd2.double() ** 2), 60, seed=3)
    expected = float((mu1 - mu2).square().sum() + (sd1 - sd2).square().sum())
    assert frechet_distance(fa, fb) == pytest.approx(expected, rel=1e-10)


def test_against_scipy_sqrtm_and_itself():
    g = np.random.default_rng(0)
    a = g.normal(size=(300, 16)) @ g.normal(size=(16, 16))
    b = g.normal(size=(200, 16)) @ g.normal(size=(16, 16)) + 0.5
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(ref, rel=1e-8)
    # A set against itself: 0 up to round-off; against noise of the same size: large.
    assert frechet_distance(torch.from_numpy(a), torch.from_numpy(a)) < 1e-8
    noise = torch.from_numpy(g.uniform(size=(300, 16)))
    assert frechet_distance(torch.from_numpy(a), noise) > 100


def test_rank_deficient_features():
    # Dead ReLU units: constant coordinates make singular covariances; the result stays finite and exact.
    g = torch.Generator().manual_seed(0)
    a = torch.cat([torch.randn(100, 3, generator=g), torch.zeros(100, 2)], 1).double()
    b = a.clone()
    b[:, 3] = 1.0  # a constant shift of a dead unit: FD = 1 exactly
    assert frechet_distance(a, b) == pytest.approx(1.0, abs=1e-9)


def test_bad_shapes_one_line():
    with pytest.raises(ValueError, match="same d"):
        frechet_distance(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="N >= 2"):
        frechet_distance(torch.zeros(1, 3), torch.zeros(5, 3))
