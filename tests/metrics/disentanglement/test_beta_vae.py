"""beta-VAE score (Higgins et al., 2017): pairs sharing one factor, linear classifier on the
mean absolute difference of their codes.

For z = factors the feature of a point is exactly 0 in the latent of the shared factor and
positive in the others, so the factor is linearly recoverable (score 1); a code independent of
the factors (or constant) leaves the classifier at chance, 1/F.
"""

from __future__ import annotations

import numpy as np

from tests.helpers.factor_sources import FactorsAsImages, constant, identity, noise
from vaelab.metrics.disentanglement.beta_vae import compute_beta_vae, difference_features, pair_batches

SIZES = (3, 4, 5, 6)


def _bvae(fn, seed=0):
    return compute_beta_vae(fn, FactorsAsImages(SIZES), np.random.default_rng(seed), num_train=400, num_eval=1000)


def test_pairs_share_their_factor_and_the_feature_is_the_mean_absolute_difference():
    source = FactorsAsImages(SIZES)
    index, factors = pair_batches(source, 50, 8, np.random.default_rng(0))
    assert factors.shape == (50, 2, 8, 4)
    for p in range(50):
        np.testing.assert_array_equal(factors[p, 0, :, index[p]], factors[p, 1, :, index[p]])
        assert np.any(np.delete(factors[p, 0], index[p], axis=1) != np.delete(factors[p, 1], index[p], axis=1))
    features, labels = difference_features(identity, source, 50, 8, np.random.default_rng(0), obs_batch=48)
    np.testing.assert_array_equal(labels, index)
    scaled = factors / (np.array(SIZES) - 1.0)
    np.testing.assert_allclose(features, np.abs(scaled[:, 0] - scaled[:, 1]).mean(axis=1), rtol=1e-6)
    assert np.all(features[np.arange(50), index] == 0.0)


def test_factors_themselves_score_one_and_constant_or_random_score_chance():
    out = _bvae(identity)
    assert out["beta_vae_score"] == 1.0 and out["train_accuracy"] == 1.0
    assert abs(_bvae(constant)["beta_vae_score"] - 1 / 4) < 0.05
    assert abs(_bvae(noise())["beta_vae_score"] - 1 / 4) < 0.06
    assert _bvae(noise(seed=1), seed=5) == _bvae(noise(seed=1), seed=5)
