"""Separated Attribute Predictability (Kumar et al., 2018, "Variational Inference of Disentangled
Latent Concepts from Unlabeled Observations", sec. 3).

    S_jk = accuracy on held-out points of a linear classifier predicting factor v_k from latent z_j
    SAP  = 1/F sum_k ( S_{(1)k} - S_{(2)k} ),   the gap between the two most predictive latents.

As disentanglement_lib's default (`continuous_factors=False`): the factors are discrete, one
sklearn LinearSVC(C=0.01, class_weight="balanced") per (latent, factor) on the single feature
z_j, trained on num_train = 10,000 points and scored on num_test = 5,000 others.

Its ceiling is below 1: with balanced classes an uninformative latent still scores the
accuracy of a constant guess (about 1/K_k for a factor with K_k values), and a one-dimensional
one-vs-rest linear classifier cannot pick out the inner values of a factor with many values.
So SAP ranks representations; it is not a fraction of a perfect score.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from vaelab.metrics.disentanglement.utils import (
    BATCH_SIZE,
    RepresentationFn,
    check_positive,
    factor_sizes,
    sample_codes,
    seed_of,
    top_two_gap,
)


def sap_matrix(
    codes: np.ndarray, factors: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray, seed: int = 0
) -> np.ndarray:
    """(L, F) held-out accuracy of each latent alone predicting each factor."""
    num_codes, num_factors = codes.shape[1], factors.shape[1]
    scores = np.zeros((num_codes, num_factors))
    for j in range(num_codes):
        for k in range(num_factors):
            if np.unique(factors[:, k]).size < 2:
                raise ValueError(f"factor {k} takes one value in the training sample: SAP needs every factor to vary")
            clf = LinearSVC(C=0.01, class_weight="balanced", random_state=seed)
            # A latent that carries nothing about a factor may not converge; its accuracy is
            # still that of the (poor) classifier it ends at, which is what SAP measures.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(codes[:, j : j + 1], factors[:, k])
            scores[j, k] = np.mean(clf.predict(codes_test[:, j : j + 1]) == factors_test[:, k])
    return scores


def sap_score(
    codes: np.ndarray, factors: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray, seed: int = 0
) -> dict[str, Any]:
    """-> {"sap", "sap_per_factor" (F,), "score_matrix" (L, F)}."""
    scores = sap_matrix(codes, factors, codes_test, factors_test, seed)
    per_factor = top_two_gap(scores)
    return {"sap": float(per_factor.mean()), "sap_per_factor": per_factor, "score_matrix": scores}


def compute_sap(
    representation_fn: RepresentationFn,
    source: Any,
    rng: np.random.Generator,
    *,
    num_train: int = 10_000,
    num_test: int = 5_000,
    batch_size: int = BATCH_SIZE,
) -> dict[str, Any]:
    """SAP of `representation_fn` on `source`: train and test points drawn from `rng`."""
    check_positive(num_train=num_train, num_test=num_test, batch_size=batch_size)
    factor_sizes(source)
    factors, codes = sample_codes(representation_fn, source, num_train, rng, batch_size)
    factors_test, codes_test = sample_codes(representation_fn, source, num_test, rng, batch_size)
    return sap_score(codes, factors, codes_test, factors_test, seed_of(rng))
