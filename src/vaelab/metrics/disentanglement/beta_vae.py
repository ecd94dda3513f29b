"""beta-VAE score (Higgins et al., 2017, "beta-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework", sec. 3 and app. A.4).

One point: pick a factor k uniformly, draw batch_size = 64 pairs of observations (x1_l, x2_l)
whose factors are random except that each pair shares v_k, and take the feature

    z_diff = 1/B sum_l |z(x1_l) - z(x2_l)|        (L,)

A linear classifier predicts k from z_diff; the score is its accuracy on num_eval fresh points.
A disentangled code has a z_diff near 0 exactly in the latent(s) of v_k. As disentanglement_lib
(Locatello et al., 2019, `beta_vae_sklearn`): sklearn's LogisticRegression with its defaults
(L2, C = 1), num_train = 10,000 and num_eval = 5,000 points. Chance is 1/F. Those defaults moved
with scikit-learn: liblinear one-vs-rest until 0.22 (what the published study ran), lbfgs
multinomial since; vaelab uses the current default with max_iter 1,000 instead of 100 so that a
slow fit still ends converged (the representations tested here need fewer than 40 iterations).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from vaelab.metrics.disentanglement.utils import (
    BATCH_SIZE,
    RepresentationFn,
    check_positive,
    factor_sizes,
    grouped_codes,
    sample_factors,
)


def pair_batches(source: Any, num_points: int, batch_size: int, rng: np.random.Generator):
    """(factor index (P,), factors (P, 2, batch_size, F)): pairs sharing v_k of their point."""
    num_factors = len(source.factor_sizes)
    index = rng.integers(num_factors, size=num_points)
    factors = sample_factors(source, num_points * 2 * batch_size, rng).reshape(num_points, 2, batch_size, num_factors)
    points = np.arange(num_points)
    factors[points, 1, :, index] = factors[points, 0, :, index]  # the pair's second shares v_k
    return index, factors


def difference_features(
    representation_fn: RepresentationFn,
    source: Any,
    num_points: int,
    batch_size: int,
    rng: np.random.Generator,
    obs_batch: int = BATCH_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """(features (P, L) mean |z1 - z2| over each point's pairs, labels (P,) the shared factor)."""
    index, factors = pair_batches(source, num_points, batch_size, rng)  # factors (P, 2, B, F)
    features = [
        np.abs(codes[:, 0] - codes[:, 1]).mean(axis=1)  # (p, L) from codes (p, 2, B, L)
        for _, codes in grouped_codes(representation_fn, source, factors, obs_batch)
    ]
    return np.concatenate(features, axis=0), index


def compute_beta_vae(
    representation_fn: RepresentationFn,
    source: Any,
    rng: np.random.Generator,
    *,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    obs_batch: int = BATCH_SIZE,
) -> dict[str, Any]:
    """-> {"beta_vae_score" (eval accuracy), "train_accuracy"}."""
    check_positive(batch_size=batch_size, num_train=num_train, num_eval=num_eval)
    factor_sizes(source)
    x_train, y_train = difference_features(representation_fn, source, num_train, batch_size, rng, obs_batch)
    x_eval, y_eval = difference_features(representation_fn, source, num_eval, batch_size, rng, obs_batch)
    if np.unique(y_train).size < 2:
        # One class seen (a tiny num_train): the classifier can only answer it.
        return {"beta_vae_score": float(np.mean(y_eval == y_train[0])), "train_accuracy": 1.0}
    model = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    return {
        "beta_vae_score": float(model.score(x_eval, y_eval)),
        "train_accuracy": float(model.score(x_train, y_train)),
    }
