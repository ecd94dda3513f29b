"""Disentanglement metrics on data with ground-truth factors, following disentanglement_lib
(Locatello et al., 2019, "Challenging Common Assumptions in the Unsupervised Learning of
Disentangled Representations"): MIG, SAP, DCI, the FactorVAE score and the beta-VAE score of a
representation function (vaelab: the posterior mean, `posterior_mean(model)`).

Sizes (points; FactorVAE and beta-VAE: votes / points of 64 observations or pairs each):

    metric      default (disentanglement_lib)          fast (validation during training)
    MIG         10,000 points, 20 bins                 1,000 points, 20 bins
    SAP         10,000 train, 5,000 test               1,000 train, 500 test
    DCI         10,000 train, 5,000 test               1,000 train, 500 test
    FactorVAE   10,000 variance points,                1,000 variance points,
                10,000 train + 5,000 eval votes        1,000 train + 500 eval votes
    beta-VAE    10,000 train + 5,000 eval points       1,000 train + 500 eval points

Each metric draws from its own np.random.Generator(seed), as disentanglement_lib seeds each
evaluation with random_seed = 0: same seed, same scores, whichever metrics run. By default the
code of each factor combination is computed once and shared by the metrics (`cache.CachedCodes`;
the representation must be deterministic, as the posterior mean is): same scores, about a
quarter of the rendering and encoding on a dSprites-sized grid. The seconds of a metric then
include only the combinations the metrics before it had not needed.

DCI's importances come from gradient-boosted trees by default, as disentanglement_lib's; with
`dci_estimator="extra_trees"` its three scores are reported as dci_<part>_extra_trees (dci.py).
`suite` describes a suite (estimator, every size, the seed), for metrics.json beside the scores.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from vaelab.metrics.disentanglement.beta_vae import compute_beta_vae
from vaelab.metrics.disentanglement.cache import LOOKUP_BATCH, CachedCodes
from vaelab.metrics.disentanglement.dci import DEFAULT_ESTIMATOR, check_estimator, compute_dci, score_keys
from vaelab.metrics.disentanglement.factor_vae import compute_factor_vae
from vaelab.metrics.disentanglement.mig import compute_mig
from vaelab.metrics.disentanglement.sap import compute_sap
from vaelab.metrics.disentanglement.utils import (
    BATCH_SIZE,
    RepresentationFn,
    check_positive,
    factor_sizes,
    posterior_mean,
)
from vaelab.metrics.names import SCORE_KEYS

DEFAULT_SIZES: dict[str, dict[str, int]] = {
    "mig": {"num_train": 10_000},
    "sap": {"num_train": 10_000, "num_test": 5_000},
    "dci": {"num_train": 10_000, "num_test": 5_000},
    "factor_vae": {"num_variance_estimate": 10_000, "num_train": 10_000, "num_eval": 5_000, "batch_size": 64},
    "beta_vae": {"num_train": 10_000, "num_eval": 5_000, "batch_size": 64},
}
#: 10x fewer points, the same batch of 64 per vote (the definition of a vote).
FAST_SIZES: dict[str, dict[str, int]] = {
    name: {k: (v if k == "batch_size" else v // 10) for k, v in sizes.items()} for name, sizes in DEFAULT_SIZES.items()
}


def suite(
    *, seed: int = 0, fast: bool = False, dci_estimator: str = DEFAULT_ESTIMATOR, batch_size: int = BATCH_SIZE
) -> dict[str, Any]:
    """What evaluate_all computes with these settings: {"suite": "default" | "fast",
    "dci_estimator", "seed", "representation_batch_size" (observations per representation call),
    "sizes": {metric: its points, votes and batch of 64 observations per vote}}."""
    sizes = FAST_SIZES if fast else DEFAULT_SIZES
    return {
        "suite": "fast" if fast else "default",
        "dci_estimator": dci_estimator,
        "seed": int(seed),
        "representation_batch_size": int(batch_size),
        "sizes": {name: dict(values) for name, values in sizes.items()},
    }


def evaluate_all(
    representation_fn: RepresentationFn,
    source: Any,
    *,
    seed: int = 0,
    fast: bool = False,
    dci_estimator: str = DEFAULT_ESTIMATOR,
    batch_size: int = BATCH_SIZE,
    cache: bool = True,
    n_jobs: int = 1,
) -> dict[str, float]:
    """All five metrics: {SCORE_KEYS..., "mig_seconds", "sap_seconds", "dci_seconds",
    "factor_vae_seconds", "beta_vae_seconds"}; DCI's keys as dci.score_keys(dci_estimator) names
    them (dci_disentanglement_extra_trees, ... for extra trees).

    representation_fn: Tensor (n, C, H, W) -> array (n, L); source: factor_sizes, sample_factors,
    render (vaelab.data.factors); batch_size: observations per representation_fn call;
    cache: compute each factor combination's code once (a deterministic representation_fn);
    n_jobs: DCI's factors fitted at once, in threads (the same scores, dci.importance_matrix).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed={seed!r}: a non-negative integer is allowed")
    check_estimator(dci_estimator, "dci_estimator")
    check_positive(batch_size=batch_size, n_jobs=n_jobs)
    factor_sizes(source)
    if not callable(representation_fn):
        raise ValueError(f"representation_fn={representation_fn!r}: a function of observations is allowed")
    sizes = FAST_SIZES if fast else DEFAULT_SIZES
    outer = batch_size
    if cache:  # one object is both the source and the representation (see cache.py)
        representation_fn = source = CachedCodes(representation_fn, source, batch_size)
        # Look codes up in large batches, so the unseen combinations of one lookup fill whole
        # batch_size batches of the real representation_fn.
        outer = LOOKUP_BATCH
    runs = {
        "mig": (compute_mig, {"batch_size": outer}),
        "sap": (compute_sap, {"batch_size": outer}),
        "dci": (compute_dci, {"estimator": dci_estimator, "batch_size": outer, "n_jobs": n_jobs}),
        "factor_vae": (compute_factor_vae, {"obs_batch": outer}),
        "beta_vae": (compute_beta_vae, {"obs_batch": outer}),
    }
    out: dict[str, float] = {}
    for name, (fn, extra) in runs.items():
        start = time.perf_counter()
        result = fn(representation_fn, source, np.random.default_rng(seed), **sizes[name], **extra)
        out[f"{name}_seconds"] = time.perf_counter() - start
        if name == "dci":
            for part, key in score_keys(dci_estimator).items():
                out[key] = float(result[part])
        else:
            key = {"factor_vae": "factor_vae_score", "beta_vae": "beta_vae_score"}.get(name, name)
            out[key] = float(result[key])
    return out


__all__ = [
    "DEFAULT_SIZES",
    "FAST_SIZES",
    "SCORE_KEYS",
    "CachedCodes",
    "compute_beta_vae",
    "compute_dci",
    "compute_factor_vae",
    "compute_mig",
    "compute_sap",
    "evaluate_all",
    "posterior_mean",
    "suite",
]
