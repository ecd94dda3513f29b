"""Improved precision/recall on hand-made point clouds, against a brute-force scipy computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist

from vaelab.quality.precision_recall import knn_radii, precision_recall


def brute_force(real: np.ndarray, gen: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Kynkäänniemi et al. 2019, eq. 1-3, from the full distance matrices."""
    r_real = np.sort(cdist(real, real), axis=1)[:, k]  # column 0 is the point itself
    r_gen = np.sort(cdist(gen, gen), axis=1)[:, k]
    d = cdist(gen, real)  # (Ng, Nr)
    precision = np.mean((d <= r_real[None, :]).any(axis=1))
    recall = np.mean((d.T <= r_gen[None, :]).any(axis=1))
    return precision, recall


def check(real: np.ndarray, gen: np.ndarray) -> tuple[float, float]:
    ours = precision_recall(torch.from_numpy(real), torch.from_numpy(gen), chunk=37)  # chunks that do not divide N
    assert ours == pytest.approx(brute_force(real, gen), abs=0)
    return ours


def test_same_distribution_both_high():
    g = np.random.default_rng(0)
    precision, recall = check(g.normal(size=(400, 2)), g.normal(size=(300, 2)))
    assert precision > 0.9 and recall > 0.9


def test_disjoint_both_zero():
    g = np.random.default_rng(1)
    assert check(g.normal(size=(200, 4)), g.normal(size=(200, 4)) + 50.0) == (0.0, 0.0)


def test_one_mode_of_two_high_precision_low_recall():
    g = np.random.default_rng(2)
    modes = np.array([[-20.0, 0.0], [20.0, 0.0]])
    real = np.concatenate([g.normal(size=(200, 2)) + modes[0], g.normal(size=(200, 2)) + modes[1]])
    gen = g.normal(size=(300, 2)) + modes[0]  # only the first mode
    precision, recall = check(real, gen)
    assert precision > 0.9
    assert 0.4 < recall <= 0.5  # at most the first mode's half of the real data


def test_radii_skip_the_point_itself_and_count_duplicates():
    x = torch.tensor([[0.0], [1.0], [3.0], [6.0], [6.0]])
    # k=1: the nearest other point; the duplicate 6.0 is at distance 0 from its twin.
    assert knn_radii(x, k=1).tolist() == [1.0, 1.0, 2.0, 0.0, 0.0]
    assert knn_radii(x, k=2).tolist() == [3.0, 2.0, 3.0, 3.0, 3.0]
    with pytest.raises(ValueError, match="quality.k=5"):
        knn_radii(x, k=5)
