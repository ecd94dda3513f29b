"""DCI (Eastwood & Williams, 2018): D and C of importance matrices in closed form, and the
scores of hand-made representations with the tree ensembles that estimate the importances.

Closed forms (base-F entropy for D, base-L for C), as disentanglement_lib's tests:
diagonal R -> D = C = 1; each factor in two latents (R stacked on itself, L = 2F) -> D = 1,
C = 1 - log 2 / log L; each latent about two factors (F = 2L) -> D = 1 - log 2 / log F, C = 1;
R = 0 -> 0. A random R is checked against a direct numpy evaluation of eq. 2-3, and the default
estimator's scores of a partly informative code against scikit-learn's gradient-boosted trees
(disentanglement_lib's DCI) evaluated here from the paper's definition.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.ensemble import GradientBoostingClassifier

from tests.helpers.factor_sources import FactorsAsImages, duplicated, identity, noise, rotated
from vaelab.metrics.disentanglement.dci import completeness, compute_dci, disentanglement, importance_matrix

SIZES = (3, 4, 5, 6)


def test_closed_form_importance_matrices():
    diag = np.diag([5.0, 2.0, 1.0, 3.0, 0.5])
    assert disentanglement(diag) == pytest.approx(1.0) and completeness(diag) == pytest.approx(1.0)
    stacked = np.vstack([diag, diag])  # L = 10 latents, each factor in two of them
    assert disentanglement(stacked) == pytest.approx(1.0)
    assert completeness(stacked) == pytest.approx(1 - np.log(2) / np.log(10))
    wide = np.hstack([diag, diag])  # F = 10 factors, each latent about two of them
    assert disentanglement(wide) == pytest.approx(1 - np.log(2) / np.log(10))
    assert completeness(wide) == pytest.approx(1.0)
    empty_code = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # an unused latent weighs nothing
    assert disentanglement(empty_code) == pytest.approx(1.0) and completeness(empty_code) == pytest.approx(1.0)
    assert disentanglement(np.zeros((4, 3))) == 0.0 and completeness(np.zeros((4, 3))) == 0.0


def test_random_importances_match_a_direct_evaluation():
    r = np.random.default_rng(0).gamma(0.5, size=(6, 4))
    p = r / r.sum(axis=1, keepdims=True)
    d_j = 1 + np.sum(p * np.log(p), axis=1) / np.log(4)
    q = r / r.sum(axis=0, keepdims=True)
    c_k = 1 + np.sum(q * np.log(q), axis=0) / np.log(6)
    assert disentanglement(r) == pytest.approx(np.sum(r.sum(1) / r.sum() * d_j), rel=1e-12)
    assert completeness(r) == pytest.approx(np.sum(r.sum(0) / r.sum() * c_k), rel=1e-12)


def test_the_default_is_disentanglement_libs_gradient_boosted_trees():
    """On a code where latent 0 is factor 0 plus noise, latent 1 mixes both factors and latent 2 is
    noise, the default compute_dci gives exactly the importances of GradientBoostingClassifier
    (default settings, as disentanglement_lib) and D, C, I computed from them by eq. 2-3."""
    sizes, seed, n_train, n_test = (3, 4), 5, 400, 200
    noise_stream = np.random.default_rng(99)
    seen: list[tuple[torch.Tensor, np.ndarray]] = []

    def partly_informative(x: torch.Tensor) -> np.ndarray:
        f = identity(x) * (np.array(sizes) - 1)  # the factor values
        z = np.stack([f[:, 0], f[:, 1] + 0.7 * f[:, 0], np.zeros(len(f))], axis=1)
        z += noise_stream.standard_normal(z.shape) * [0.4, 0.3, 1.0]
        seen.append((x, z))
        return z

    out = compute_dci(
        partly_informative, FactorsAsImages(sizes), np.random.default_rng(seed), num_train=n_train, num_test=n_test
    )

    x = torch.cat([a for a, _ in seen]).flatten(1).numpy()
    codes = np.concatenate([z for _, z in seen])
    factors = np.rint(x * (np.array(sizes) - 1)).astype(int)
    assert len(codes) == n_train + n_test
    replay = np.random.default_rng(seed)  # the classifier's seed: the metric's generator after its draws
    FactorsAsImages(sizes).sample_factors(n_train, replay), FactorsAsImages(sizes).sample_factors(n_test, replay)
    state = int(replay.integers(2**31 - 1))
    r, accuracy = np.zeros((3, 2)), []
    for k in range(2):
        gbt = GradientBoostingClassifier(random_state=state).fit(codes[:n_train], factors[:n_train, k])
        r[:, k] = gbt.feature_importances_
        accuracy.append(np.mean(gbt.predict(codes[n_train:]) == factors[n_train:, k]))
    np.testing.assert_array_equal(out["importance"], r)
    p_jk = r / r.sum(axis=1, keepdims=True)  # latent j's importance over the factors
    d_j = 1 + np.sum(p_jk * np.log(np.where(p_jk > 0, p_jk, 1)), axis=1) / np.log(2)
    q_jk = r / r.sum(axis=0, keepdims=True)  # factor k's importance over the latents
    c_k = 1 + np.sum(q_jk * np.log(np.where(q_jk > 0, q_jk, 1)), axis=0) / np.log(3)
    assert out["disentanglement"] == pytest.approx(np.sum(r.sum(1) / r.sum() * d_j), rel=1e-12, abs=1e-12)
    assert out["completeness"] == pytest.approx(np.sum(r.sum(0) / r.sum() * c_k), rel=1e-12, abs=1e-12)
    assert out["informativeness"] == np.mean(accuracy)
    # Partly informative: neither end of any score.
    assert 0.1 < out["disentanglement"] < 0.9 and 0.1 < out["completeness"] < 0.9 and 0.5 < out["informativeness"] < 1


def _dci(fn, estimator="extra_trees", seed=0, n=1000, sizes=SIZES):
    rng = np.random.default_rng(seed)
    return compute_dci(fn, FactorsAsImages(sizes), rng, num_train=n, num_test=500, estimator=estimator)


@pytest.fixture(scope="module")
def scores() -> dict[str, dict]:
    """The default estimator's scores of each hand-made representation, computed once."""
    reps = {"identity": identity, "duplicated": duplicated, "rotated": rotated, "noise": noise()}
    return {name: _dci(fn, n=600) for name, fn in reps.items()}


def test_factors_themselves_are_disentangled_complete_and_informative(scores):
    out = scores["identity"]
    assert out["disentanglement"] > 0.9 and out["completeness"] > 0.9
    assert out["informativeness"] == 1.0


def test_disentanglement_lib_boosted_trees_agree_on_the_factors_themselves():
    out = _dci(identity, "gbt", n=300, sizes=(2, 3))  # small: one tree per class per stage
    assert out["disentanglement"] > 0.9 and out["completeness"] > 0.9 and out["informativeness"] == 1.0


def test_duplicates_stay_informative_but_incomplete_and_rotations_are_less_disentangled(scores):
    dup = scores["duplicated"]
    assert dup["informativeness"] == 1.0 and dup["disentanglement"] > 0.9
    assert dup["completeness"] == pytest.approx(1 - np.log(2) / np.log(8), abs=0.1)
    assert scores["rotated"]["disentanglement"] < scores["identity"]["disentanglement"] - 0.1


def test_random_codes_score_near_zero_and_the_same_seed_gives_the_same_scores(scores):
    out = scores["noise"]
    assert out["disentanglement"] < 0.1 and out["completeness"] < 0.1
    assert out["informativeness"] < 0.3  # chance: mean 1/K_k = 0.24
    a, b = _dci(rotated, seed=7, n=300), _dci(rotated, seed=7, n=300)
    np.testing.assert_array_equal(a["importance"], b["importance"])
    with pytest.raises(ValueError, match="estimator='lasso': one of gbt, extra_trees is allowed"):
        _dci(identity, "lasso")


@pytest.mark.parametrize("estimator", ["gbt", "extra_trees"])
def test_factors_fitted_in_parallel_give_the_same_scores(estimator):
    """n_jobs fits the factors' classifiers at once, in threads: the same importances and
    accuracies, to the bit, as one after another; a bad n_jobs is one line."""
    rng = np.random.default_rng(3)
    factors = np.stack([rng.integers(k, size=600) for k in (3, 5, 7)], axis=1)  # (N, F)
    codes = np.concatenate([factors + 0.3 * rng.standard_normal(factors.shape), rng.standard_normal((600, 2))], 1)
    one = importance_matrix(codes[:400], factors[:400], codes[400:], factors[400:], estimator, seed=1)
    three = importance_matrix(codes[:400], factors[:400], codes[400:], factors[400:], estimator, seed=1, n_jobs=3)
    for a, b in zip(one, three):
        np.testing.assert_array_equal(a, b)
    assert one[0].shape == (5, 3) and (one[2] > 0.5).all()  # the three factors are read off their latents
    with pytest.raises(ValueError, match=r"^n_jobs=0: a positive integer is allowed$"):
        importance_matrix(codes, factors, codes, factors, estimator, n_jobs=0)
