"""DCI: disentanglement, completeness, informativeness (Eastwood & Williams, 2018, "A Framework
for the Quantitative Evaluation of Disentangled Representations", sec. 2-3).

A classifier predicts each factor v_k from the whole code z; R_jk >= 0 is the importance of
latent j for factor k (L x F). With P_jk = R_jk / sum_k' R_jk' and base-F entropies:

    D_j = 1 - H_F(P_j.),   D = sum_j rho_j D_j,  rho_j = sum_k R_jk / sum_jk R_jk   (eq. 2-3)
    C_k = 1 - H_L(R_.k / sum_j R_jk),   C = sum_k w_k C_k,  w_k = sum_j R_jk / sum_jk R_jk
    I   = mean_k test accuracy of the classifier of v_k                                 (sec. 3.3)

The paper lets the classifier be any with an importance measure (its experiments use LASSO and
random forests); disentanglement_lib (Locatello et al., 2019) uses sklearn's
GradientBoostingClassifier with default settings on num_train = 10,000 and num_test = 5,000
points, and so does vaelab by default (`estimator="gbt"`): the published definition. That
builds one depth-3 tree per class per stage, 100 stages: for a dSprites-sized source (factors
of 3, 6, 40, 32, 32 values) about 5.5 CPU minutes per representation. `estimator="extra_trees"`
is a forest as in the paper, of extremely randomised trees (Geurts et al., 2006): 100 trees,
every latent a candidate at every split, depth <= 6, impurity-decrease importances; about 3.5
CPU seconds for the same source, so vaelab's per-epoch validation scores use it. On test
representations it reaches the same or higher held-out accuracy (I) as the boosted trees, puts
less importance on latents that carry only noise, and so scores D and C higher where the
boosted trees overfit: e.g. 0.96 / 0.95 against 0.71 / 0.66 for factors plus noise with five
pure-noise latents (docs/disentanglement.md). Its scores are therefore not the published
numbers and carry their estimator in their names (`score_keys`: dci_disentanglement_extra_trees,
...). Both importances are sklearn's impurity-based `feature_importances_`, so scores can move
with scikit-learn's tree code across versions; the numbers quoted here are from scikit-learn 1.9.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import entropy
from sklearn.ensemble import ExtraTreesClassifier, GradientBoostingClassifier
from sklearn.utils.parallel import Parallel, delayed

from vaelab.metrics.disentanglement.utils import (
    BATCH_SIZE,
    RepresentationFn,
    check_positive,
    factor_sizes,
    sample_codes,
    seed_of,
)

ESTIMATORS = ("gbt", "extra_trees")
#: The published definition (disentanglement_lib's); the others' scores carry their name.
DEFAULT_ESTIMATOR = "gbt"
PARTS = ("disentanglement", "completeness", "informativeness")


def check_estimator(estimator: str, setting: str = "estimator") -> None:
    if estimator not in ESTIMATORS:
        raise ValueError(f"{setting}={estimator!r}: one of {', '.join(ESTIMATORS)} is allowed")


def score_keys(estimator: str = DEFAULT_ESTIMATOR) -> dict[str, str]:
    """{part: the key its score is reported under}: dci_<part> for the published estimator,
    dci_<part>_<estimator> for another, so that no other estimator's number passes for DCI."""
    suffix = "" if estimator == DEFAULT_ESTIMATOR else f"_{estimator}"
    return {part: f"dci_{part}{suffix}" for part in PARTS}


def _classifier(estimator: str, seed: int):
    if estimator == "gbt":
        return GradientBoostingClassifier(random_state=seed)  # disentanglement_lib's defaults
    # All latents at every split (max_features=None): a random subset would force splits on
    # latents that carry nothing and spread importance onto them. Depth 6 (64 leaves) separates
    # 40 orientations from (cos, sin) latents perfectly; deeper trees start fitting noise latents.
    return ExtraTreesClassifier(n_estimators=100, max_features=None, max_depth=6, random_state=seed)


def _fit_factor(codes, factor, codes_test, factor_test, estimator: str, seed: int) -> tuple[np.ndarray, float, float]:
    """One factor's classifier: (importances (L,), train accuracy, test accuracy)."""
    model = _classifier(estimator, seed).fit(codes, factor)
    train_acc = float(np.mean(model.predict(codes) == factor))
    return np.abs(model.feature_importances_), train_acc, float(np.mean(model.predict(codes_test) == factor_test))


def importance_matrix(
    codes: np.ndarray,
    factors: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    estimator: str = DEFAULT_ESTIMATOR,
    seed: int = 0,
    n_jobs: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (R (L, F) importances, train accuracy (F,), test accuracy (F,)).

    The factors' classifiers are independent fits, each seeded: with n_jobs > 1 they run in that
    many threads at once (scikit-learn's tree building releases the interpreter lock), with the
    same numbers. The boosted trees' cost is one tree per class per stage, so the factor with the
    most values bounds the gain (dSprites' 40 orientations: at most about 2.8x)."""
    check_estimator(estimator)
    check_positive(n_jobs=n_jobs)
    num_factors = factors.shape[1]
    fits = Parallel(n_jobs=min(n_jobs, num_factors), prefer="threads")(
        delayed(_fit_factor)(codes, factors[:, k], codes_test, factors_test[:, k], estimator, seed)
        for k in range(num_factors)
    )
    r = np.stack([importances for importances, _, _ in fits], axis=1)  # (L, F)
    return r, np.array([fit[1] for fit in fits]), np.array([fit[2] for fit in fits])


def _weighted_one_minus_entropy(r: np.ndarray) -> float:
    """sum_rows weight_row * (1 - H_base(row distribution)), base = row length; rows of r are
    the units scored (latents for D with r = R, factors for C with r = R^T)."""
    total = r.sum()
    if total <= 0:
        return 0.0  # nothing is predictive: no latent is specific to anything
    row_sums = r.sum(axis=1)
    used = row_sums > 0  # an unused row has weight 0, and no distribution to take H of
    per_row = 1.0 - entropy(r[used].T, base=r.shape[1])  # scipy normalises each column of r[used].T
    return float(np.sum(row_sums[used] / total * per_row))


def disentanglement(r: np.ndarray) -> float:
    """D of an (L, F) importance matrix."""
    if r.shape[1] < 2:
        return 1.0  # with one factor, every latent is about it alone (H_1 is undefined)
    return _weighted_one_minus_entropy(r)


def completeness(r: np.ndarray) -> float:
    """C of an (L, F) importance matrix."""
    if r.shape[0] < 2:
        return 1.0  # one latent captures each factor alone
    return _weighted_one_minus_entropy(r.T)


def dci_score(
    codes: np.ndarray,
    factors: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    estimator: str = DEFAULT_ESTIMATOR,
    seed: int = 0,
    n_jobs: int = 1,
) -> dict[str, Any]:
    """-> {"disentanglement", "completeness", "informativeness" (test accuracy),
    "informativeness_train", "importance" (L, F)}; n_jobs: factors fitted at once (importance_matrix)."""
    r, train_acc, test_acc = importance_matrix(codes, factors, codes_test, factors_test, estimator, seed, n_jobs)
    return {
        "disentanglement": disentanglement(r),
        "completeness": completeness(r),
        "informativeness": float(test_acc.mean()),
        "informativeness_train": float(train_acc.mean()),
        "importance": r,
    }


def compute_dci(
    representation_fn: RepresentationFn,
    source: Any,
    rng: np.random.Generator,
    *,
    num_train: int = 10_000,
    num_test: int = 5_000,
    estimator: str = DEFAULT_ESTIMATOR,
    batch_size: int = BATCH_SIZE,
    n_jobs: int = 1,
) -> dict[str, Any]:
    """DCI of `representation_fn` on `source`: train and test points drawn from `rng`; n_jobs:
    factors fitted at once (the same scores)."""
    check_positive(num_train=num_train, num_test=num_test, batch_size=batch_size, n_jobs=n_jobs)
    check_estimator(estimator)
    factor_sizes(source)
    factors, codes = sample_codes(representation_fn, source, num_train, rng, batch_size)
    factors_test, codes_test = sample_codes(representation_fn, source, num_test, rng, batch_size)
    return dci_score(codes, factors, codes_test, factors_test, estimator, seed_of(rng), n_jobs)
