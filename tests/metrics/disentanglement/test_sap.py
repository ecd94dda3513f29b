"""SAP (Kumar et al., 2018) with disentanglement_lib's discrete-factor default (linear SVM per
(latent, factor), held-out accuracy).

Closed form for z = factors on a source of binary uniform factors: the factor's own latent is
classified perfectly (accuracy 1), and a latent independent of a uniform K-valued factor has
expected accuracy sum_c P(pred = c) P(v = c) = 1/K whatever it predicts, so SAP -> 1 - 1/2 up
to the sampling spread of the runner-up. (With more values the 1-D one-vs-rest SVM at
C = 0.01 misses inner values, more so with fewer training points: SAP's ceiling is below 1.)
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.factor_sources import FactorsAsImages, constant, duplicated, identity, noise, rotated
from vaelab.metrics.disentanglement.sap import compute_sap

SIZES = (2, 2, 2, 2)


def _sap(fn, seed=0):
    return compute_sap(fn, FactorsAsImages(SIZES), np.random.default_rng(seed), num_train=1000, num_test=1000)


def test_factors_themselves_reach_the_closed_form_ceiling():
    out = _sap(identity)
    np.testing.assert_array_equal(np.diag(out["score_matrix"]), 1.0)
    assert 0.5 - 0.06 < out["sap"] < 0.5 + 0.03
    off = out["score_matrix"][~np.eye(4, dtype=bool)]
    np.testing.assert_allclose(off, 0.5, atol=0.06)


def test_constant_duplicated_and_random_codes_score_near_zero():
    # Identical latents give identical classifiers: the top two tie exactly.
    assert _sap(constant)["sap"] == 0.0
    assert _sap(duplicated)["sap"] == 0.0
    assert _sap(noise())["sap"] < 0.05


def test_a_rotation_lowers_sap_and_the_same_seed_gives_the_same_score():
    assert _sap(rotated)["sap"] < _sap(identity)["sap"] - 0.1
    assert _sap(rotated, seed=2)["sap"] == _sap(rotated, seed=2)["sap"]
    with pytest.raises(ValueError, match="num_test=-1: a positive integer is allowed"):
        compute_sap(identity, FactorsAsImages(), np.random.default_rng(0), num_test=-1)
