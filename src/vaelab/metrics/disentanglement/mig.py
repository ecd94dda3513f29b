"""Mutual Information Gap (Chen et al., 2018, "Isolating Sources of Disentanglement in VAEs", eq. 6).

    MIG = 1/F sum_k  ( I(z_{j(k)}; v_k) - max_{j != j(k)} I(z_j; v_k) ) / H(v_k),
    j(k) = argmax_j I(z_j; v_k),

with z the representation (posterior mean) and v_k the k-th ground-truth factor. As in
disentanglement_lib (Locatello et al., 2019): I is the discrete mutual information of the
factor and the latent discretised into 20 equal-width bins over its observed range, estimated
on num_train = 10,000 random points; H(v_k) is the empirical entropy of the factor.
1 when every factor is captured by exactly one latent, 0 when no latent tells one factor apart
more than another does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vaelab.metrics.disentanglement.utils import (
    BATCH_SIZE,
    RepresentationFn,
    check_positive,
    discrete_entropy,
    discrete_mutual_info,
    factor_sizes,
    histogram_discretize,
    sample_codes,
    top_two_gap,
)


def mig_score(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> dict[str, Any]:
    """codes (n, L) float, factors (n, F) int -> {"mig", "mig_per_factor" (F,),
    "mutual_info" (L, F) nats, "entropy" (F,) nats}."""
    check_positive(num_bins=num_bins)
    mi = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)  # (L, F)
    entropy = discrete_entropy(factors)  # (F,)
    if np.any(entropy <= 0):
        k = int(np.argmin(entropy))
        raise ValueError(f"factor {k} takes one value in the sample: MIG needs every factor to vary")
    per_factor = top_two_gap(mi) / entropy
    return {"mig": float(per_factor.mean()), "mig_per_factor": per_factor, "mutual_info": mi, "entropy": entropy}


def compute_mig(
    representation_fn: RepresentationFn,
    source: Any,
    rng: np.random.Generator,
    *,
    num_train: int = 10_000,
    num_bins: int = 20,
    batch_size: int = BATCH_SIZE,
) -> dict[str, Any]:
    """MIG of `representation_fn` on num_train random observations of `source`."""
    check_positive(num_train=num_train, num_bins=num_bins, batch_size=batch_size)
    factor_sizes(source)
    factors, codes = sample_codes(representation_fn, source, num_train, rng, batch_size)
    return mig_score(codes, factors, num_bins)
