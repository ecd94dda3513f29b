"""MIG (Chen et al., 2018) on hand-made representations and a closed-form table.

Closed form: with a balanced factor v taking 4 values, a latent equal to v has I = H(v) = log 4,
and a latent equal to v // 2 has I = H(v // 2) = log 2, so the normalised gap is
(log 4 - log 2) / log 4 = 1/2. The scores are also recomputed independently in numpy.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.factor_sources import FactorsAsImages, constant, duplicated, identity, noise, rotated
from vaelab.metrics.disentanglement.mig import compute_mig, mig_score

N = 2000  # points: the bias of the discrete MI, ~(bins - 1)(K - 1) / 2N nats, stays < 0.02


def _mig(fn, seed=0, source=None):
    return compute_mig(fn, source or FactorsAsImages(), np.random.default_rng(seed), num_train=N)["mig"]


def test_normalised_gap_on_a_closed_form_table():
    v = np.tile(np.arange(4), 50)  # balanced: H(v) = log 4
    w = np.repeat(np.arange(2), 100)  # a second factor, H(w) = log 2, independent of v
    factors = np.column_stack([v, w])
    codes = np.column_stack([v, v // 2, w]).astype(float)
    out = mig_score(codes, factors, num_bins=20)
    np.testing.assert_allclose(out["entropy"], [np.log(4), np.log(2)], rtol=1e-12)
    np.testing.assert_allclose(out["mutual_info"][:, 0], [np.log(4), np.log(2), 0.0], atol=1e-12)
    # v: (log 4 - log 2) / log 4 = 1/2; w: its latent has I = log 2, the others 0 -> 1.
    np.testing.assert_allclose(out["mig_per_factor"], [0.5, 1.0], atol=1e-12)
    assert out["mig"] == pytest.approx(0.75, abs=1e-12)


def test_mig_matches_an_independent_numpy_computation():
    rng = np.random.default_rng(3)
    factors = rng.integers(4, size=(600, 3))
    codes = factors @ rng.normal(size=(3, 4)) + 0.3 * rng.normal(size=(600, 4))
    bins = np.empty_like(factors, shape=codes.shape)
    for j in range(4):  # 20 equal-width bins, the maximum in the last
        x = codes[:, j]
        bins[:, j] = np.minimum(np.floor((x - x.min()) / ((x.max() - x.min()) / 20)), 19)

    def mi(a, b):
        joint = np.zeros((a.max() + 1, b.max() + 1))
        np.add.at(joint, (a, b), 1.0)
        p = joint / joint.sum()
        outer = p.sum(1, keepdims=True) * p.sum(0, keepdims=True)
        return np.sum(p[p > 0] * np.log(p[p > 0] / outer[p > 0]))

    m = np.array([[mi(bins[:, j], factors[:, k]) for k in range(3)] for j in range(4)])
    h = np.array([mi(factors[:, k], factors[:, k]) for k in range(3)])
    top = np.sort(m, axis=0)
    expected = np.mean((top[-1] - top[-2]) / h)
    assert mig_score(codes, factors)["mig"] == pytest.approx(expected, rel=1e-9)


def test_factors_themselves_score_near_one_and_constant_or_random_near_zero():
    assert _mig(identity) > 0.97
    assert _mig(constant) == 0.0
    assert _mig(noise()) < 0.03


def test_duplicated_factors_score_zero_and_a_rotation_lowers_mig():
    # Two latents carrying the same factor have equal MI: the gap is exactly 0.
    assert _mig(duplicated) == pytest.approx(0.0, abs=1e-12)
    assert _mig(rotated) < _mig(identity) - 0.2


def test_same_seed_same_score_and_a_factor_that_never_varies_is_refused():
    assert _mig(rotated, seed=4) == _mig(rotated, seed=4)
    assert _mig(rotated, seed=4) != _mig(rotated, seed=5)
    with pytest.raises(ValueError, match="factor 1 takes one value"):
        mig_score(np.random.default_rng(0).normal(size=(10, 2)), np.column_stack([np.arange(10), np.zeros(10, int)]))
    with pytest.raises(ValueError, match="num_train=0: a positive integer is allowed"):
        compute_mig(identity, FactorsAsImages(), np.random.default_rng(0), num_train=0)
