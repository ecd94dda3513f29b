"""FactorVAE score (Kim & Mnih, 2018): votes, pruning, normalisation by the global variance.

For z = factors the latent of the fixed factor has zero variance within its vote, so every
vote is right and the score is exactly 1; a code independent of the factors votes at random
(chance 1/F); a constant code has no latent above the prune threshold and scores 0.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.factor_sources import FactorsAsImages, constant, identity, noise, rotated
from vaelab.metrics.disentanglement.factor_vae import compute_factor_vae, vote_accuracy, vote_batches

SIZES = (3, 4, 5, 6)


def _fvae(fn, seed=0, **kw):
    sizes = {"num_train": 300, "num_eval": 300, "num_variance_estimate": 1000, **kw}
    return compute_factor_vae(fn, FactorsAsImages(SIZES), np.random.default_rng(seed), **sizes)


def test_votes_share_exactly_their_fixed_factor():
    index, factors = vote_batches(FactorsAsImages(SIZES), 200, 64, np.random.default_rng(0))
    assert factors.shape == (200, 64, 4)
    for v in range(200):
        assert np.all(factors[v, :, index[v]] == factors[v, 0, index[v]])
        others = np.delete(factors[v], index[v], axis=1)
        assert all(len(np.unique(others[:, k])) > 1 for k in range(3))
    assert np.bincount(index, minlength=4).min() > 30  # each factor fixed in about 50 votes


def test_majority_vote_accuracy_on_a_hand_made_vote_table():
    train = np.array([[5, 0, 1], [1, 4, 6]])  # latent 0 -> factor 0, latents 1, 2 -> factor 1
    evaluation = np.array([[3, 1, 0], [2, 2, 2]])
    assert vote_accuracy(train, evaluation) == pytest.approx(((5 + 4 + 6) / 17, (3 + 2 + 2) / 10))


def test_factors_themselves_score_one_and_random_scores_chance():
    out = _fvae(identity)
    assert out["factor_vae_score"] == 1.0 and out["train_accuracy"] == 1.0 and out["num_active_dims"] == 4
    assert out["votes"].sum() == 300 and np.count_nonzero(out["votes"] - np.diag(np.diag(out["votes"]))) == 0
    assert abs(_fvae(noise(), num_train=1000, num_eval=1000)["factor_vae_score"] - 1 / 4) < 0.06
    assert _fvae(rotated)["factor_vae_score"] < 0.9


def test_constant_and_collapsed_latents_are_pruned():
    out = _fvae(constant)
    assert out["factor_vae_score"] == 0.0 and out["num_active_dims"] == 0

    def shrunk(scale):  # factor 3's latent multiplied by `scale`; its std is 0.34 * scale
        return lambda x: identity(x) * np.array([1.0, 1.0, 1.0, scale])

    # Std 0.068 >= 0.05: still the latent of factor 3, whatever its scale.
    assert _fvae(shrunk(0.2))["factor_vae_score"] == 1.0
    # Std 0.034 < 0.05: pruned, never voted for; factor 3's votes (a quarter) land on latents
    # that belong to other factors, so the majority-vote classifier gets them wrong.
    out = _fvae(shrunk(0.1))
    assert out["num_active_dims"] == 3 and out["votes"][:, 3].sum() == 0
    assert 0.65 < out["factor_vae_score"] < 0.85


def test_votes_are_invariant_to_rescaling_latents_and_seeded():
    # Dividing by the global variance makes the vote scale-free per latent.
    def scaled(x):
        return rotated(x) * np.array([1.0, 50.0, 0.2, 7.0])

    a, b = _fvae(rotated, seed=3), _fvae(scaled, seed=3)
    np.testing.assert_array_equal(a["votes"], b["votes"])
    assert a["factor_vae_score"] == b["factor_vae_score"]
    np.testing.assert_array_equal(_fvae(rotated, seed=3)["votes"], a["votes"])
    assert not np.array_equal(_fvae(rotated, seed=4)["votes"], a["votes"])
    with pytest.raises(ValueError, match="batch_size=1"):
        _fvae(identity, batch_size=1)
