"""FactorVAE score (Kim & Mnih, 2018, "Disentangling by Factorising", sec. 4).

One vote: pick a factor k uniformly, draw batch_size = 64 observations that share the value of
v_k (the other factors random), divide each latent's variance over the batch by its global
variance, and vote (k, argmin_j  Var_batch(z_j) / Var_global(z_j)): the latent that stays
still when only v_k stays still. A majority-vote classifier maps each latent j to the factor it
got most votes for; the score is its accuracy on num_eval fresh votes:

    votes V (F, L),  c(j) = argmax_k V_kj,  score = sum_j V^eval_{c(j) j} / sum V^eval.

As disentanglement_lib (Locatello et al., 2019): global variances from num_variance_estimate =
10,000 points (ddof = 1); latents with global standard deviation < 0.05 (`prune_dims`
threshold .05, compared with sqrt(Var), as its code does) are collapsed and never vote; no
active latent gives a score of 0; num_train = 10,000 and num_eval = 5,000 votes. Chance is 1/F.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vaelab.metrics.disentanglement.utils import (
    BATCH_SIZE,
    RepresentationFn,
    check_positive,
    factor_sizes,
    grouped_codes,
    sample_codes,
    sample_factors,
)

PRUNE_STD = 0.05


def vote_batches(source: Any, num_votes: int, batch_size: int, rng: np.random.Generator):
    """(factor index per vote (V,), factors (V, batch_size, F)) with v_k shared within a vote."""
    num_factors = len(source.factor_sizes)
    index = rng.integers(num_factors, size=num_votes)
    factors = sample_factors(source, num_votes * batch_size, rng).reshape(num_votes, batch_size, num_factors)
    votes = np.arange(num_votes)
    factors[votes, :, index] = factors[votes, 0, index][:, None]  # fix v_k to the first draw's value
    return index, factors


def collect_votes(
    representation_fn: RepresentationFn,
    source: Any,
    num_votes: int,
    batch_size: int,
    rng: np.random.Generator,
    global_var: np.ndarray,
    active: np.ndarray,
    obs_batch: int = BATCH_SIZE,
) -> np.ndarray:
    """(F, L) vote counts; latent indices are those of the full code."""
    index, factors = vote_batches(source, num_votes, batch_size, rng)
    active_idx = np.flatnonzero(active)
    votes = np.zeros((len(source.factor_sizes), len(global_var)), dtype=np.int64)
    for start, codes in grouped_codes(representation_fn, source, factors, obs_batch):  # codes (v, B, L)
        ratio = codes[:, :, active_idx].var(axis=1, ddof=1) / global_var[active_idx]  # (v, L_active)
        np.add.at(votes, (index[start : start + len(codes)], active_idx[ratio.argmin(axis=1)]), 1)
    return votes


def vote_accuracy(train_votes: np.ndarray, eval_votes: np.ndarray) -> tuple[float, float]:
    """Majority-vote classifier from train_votes (F, L): (train accuracy, eval accuracy)."""
    classifier = train_votes.argmax(axis=0)  # (L,) the factor of each latent
    cols = np.arange(train_votes.shape[1])
    train = train_votes[classifier, cols].sum() / max(train_votes.sum(), 1)
    evaluation = eval_votes[classifier, cols].sum() / max(eval_votes.sum(), 1)
    return float(train), float(evaluation)


def compute_factor_vae(
    representation_fn: RepresentationFn,
    source: Any,
    rng: np.random.Generator,
    *,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    num_variance_estimate: int = 10_000,
    obs_batch: int = BATCH_SIZE,
) -> dict[str, Any]:
    """-> {"factor_vae_score" (eval accuracy), "train_accuracy", "num_active_dims", "votes" (F, L)}."""
    check_positive(
        batch_size=batch_size, num_train=num_train, num_eval=num_eval, num_variance_estimate=num_variance_estimate
    )
    if batch_size < 2 or num_variance_estimate < 2:
        raise ValueError(f"batch_size={batch_size}, num_variance_estimate={num_variance_estimate}: >= 2 is allowed")
    factor_sizes(source)
    _, codes = sample_codes(representation_fn, source, num_variance_estimate, rng, obs_batch)
    global_var = codes.var(axis=0, ddof=1)  # (L,)
    active = np.sqrt(global_var) >= PRUNE_STD
    if not active.any():
        return {"factor_vae_score": 0.0, "train_accuracy": 0.0, "num_active_dims": 0, "votes": None}
    args = (batch_size, rng, global_var, active, obs_batch)
    train_votes = collect_votes(representation_fn, source, num_train, *args)
    eval_votes = collect_votes(representation_fn, source, num_eval, *args)
    train, evaluation = vote_accuracy(train_votes, eval_votes)
    return {
        "factor_vae_score": evaluation,
        "train_accuracy": train,
        "num_active_dims": int(active.sum()),
        "votes": train_votes,
    }
