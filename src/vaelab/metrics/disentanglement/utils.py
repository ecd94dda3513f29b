"""Shared parts of the disentanglement metrics: sampling (factors, codes) from a factor source.

A factor source (vaelab.data.factors, duck-typed here) has `factor_sizes` (F ints),
`sample_factors(n, rng) -> (n, F) int64` and `render(factors (n, F)) -> Tensor (n, C, H, W)`.
A representation function maps observations to codes, Tensor (n, C, H, W) -> array (n, L); in
vaelab it is the posterior mean E_q[z|x] (`posterior_mean`), as in Locatello et al. (2019).

Everything random is drawn from one np.random.Generator that the representation never touches,
so the scores depend on the seed only (not on the batch size used to compute representations):
same seed, same scores.

Arrays here are (points, dims), the transpose of disentanglement_lib's (dims, points).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from sklearn.metrics import mutual_info_score

#: Observations per representation_fn call: bounds memory (1024 RGB 64x64 images = 48 MB).
BATCH_SIZE = 1024

RepresentationFn = Callable[[torch.Tensor], Any]


def check_positive(**sizes: int) -> None:
    """One line per bad size: `num_train=0: a positive integer is allowed`."""
    for name, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name}={value!r}: a positive integer is allowed")


def factor_sizes(source: Any) -> tuple[int, ...]:
    """The source's factor sizes, checked: every metric needs factors that take >= 2 values."""
    sizes = tuple(getattr(source, "factor_sizes", ()) or ())
    if not sizes or any(isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2 for k in sizes):
        raise ValueError(
            f"factor_sizes={sizes!r}: a non-empty tuple of integers >= 2 is allowed "
            "(the metrics need data with ground-truth factors, each taking at least two values)"
        )
    return tuple(int(k) for k in sizes)


def sample_factors(source: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, F) int64 factor indices drawn by the source from `rng`."""
    factors = np.asarray(source.sample_factors(n, rng), dtype=np.int64)
    if factors.shape != (n, len(source.factor_sizes)):
        raise ValueError(f"sample_factors({n}) returned shape {factors.shape}: ({n}, F) is allowed")
    return factors


def _as_codes(out: Any, n: int) -> np.ndarray:
    # The function may hand back a Tensor (e.g. on the GPU) or an array: float64 numpy, (n, L).
    if isinstance(out, torch.Tensor):
        out = out.detach().cpu().double().numpy()
    codes = np.asarray(out, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] != n or codes.shape[1] < 1:
        raise ValueError(f"representation_fn returned shape {codes.shape} for {n} observations: (n, L) is allowed")
    if not np.isfinite(codes).all():
        raise ValueError("representation_fn returned non-finite values: finite codes are allowed")
    return codes


def represent(
    representation_fn: RepresentationFn, source: Any, factors: np.ndarray, batch_size: int = BATCH_SIZE
) -> np.ndarray:
    """Codes (n, L) float64 of the observations rendered from `factors` (n, F), in batches."""
    chunks = []
    for start in range(0, len(factors), batch_size):
        part = factors[start : start + batch_size]
        chunks.append(_as_codes(representation_fn(source.render(part)), len(part)))
    return np.concatenate(chunks, axis=0)


def grouped_codes(representation_fn: RepresentationFn, source: Any, factors: np.ndarray, batch_size: int = BATCH_SIZE):
    """Codes of groups of observations (the votes of the FactorVAE score, the pairs of the beta-VAE
    score): for factors (G, ..., F), yields (first group, codes (g, ..., L)) over whole groups, as
    many per representation_fn call as `batch_size` observations hold."""
    per_group = int(np.prod(factors.shape[1:-1]))
    step = max(1, batch_size // per_group)
    for start in range(0, len(factors), step):
        part = factors[start : start + step]  # (g, ..., F)
        codes = represent(representation_fn, source, part.reshape(-1, part.shape[-1]), batch_size)
        yield start, codes.reshape(*part.shape[:-1], -1)


def sample_codes(
    representation_fn: RepresentationFn,
    source: Any,
    num_points: int,
    rng: np.random.Generator,
    batch_size: int = BATCH_SIZE,
) -> tuple[np.ndarray, np.ndarray]:
    """(factors (n, F) int64, codes (n, L) float64) for n random observations of the source."""
    factors = sample_factors(source, num_points, rng)
    return factors, represent(representation_fn, source, factors, batch_size)


def histogram_discretize(codes: np.ndarray, num_bins: int) -> np.ndarray:
    """(n, L) codes -> (n, L) bin indices in 1..num_bins: equal-width bins over each latent's
    observed range, as disentanglement_lib's `_histogram_discretize` (its maximum falls in the
    last bin because only the left edges are used; a constant latent falls in one bin)."""
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, j], bins=num_bins)
        out[:, j] = np.digitize(codes[:, j], edges[:-1])
    return out


def discrete_mutual_info(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(L, F) matrix of I(v_k; z_j) in nats from the empirical joint (sklearn's contingency)."""
    num_codes, num_factors = discrete_codes.shape[1], factors.shape[1]
    m = np.empty((num_codes, num_factors))
    for j in range(num_codes):
        for k in range(num_factors):
            m[j, k] = mutual_info_score(factors[:, k], discrete_codes[:, j])
    return m


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """(F,) empirical entropies H(v_k) in nats, as I(v_k; v_k)."""
    return np.array([mutual_info_score(factors[:, k], factors[:, k]) for k in range(factors.shape[1])])


def top_two_gap(scores: np.ndarray) -> np.ndarray:
    """(L, F) scores -> (F,) gap between the largest and second-largest latent per factor."""
    if scores.shape[0] < 2:
        raise ValueError(f"latent_dim={scores.shape[0]}: a gap between the top two latents needs at least 2")
    top = np.sort(scores, axis=0)
    return top[-1] - top[-2]


def seed_of(rng: np.random.Generator) -> int:
    """A seed for a scikit-learn estimator, drawn from the metric's generator."""
    return int(rng.integers(2**31 - 1))


def posterior_mean(model: torch.nn.Module, device: torch.device | str | None = None) -> RepresentationFn:
    """The representation vaelab scores: x (n, C, H, W) -> E_q[z|x] (n, L) as float64 numpy.

    `model` is a vaelab VAE (its `encode(x)` is q(z|x)); evaluated in eval mode without
    gradients, on `device` (default: where the model's parameters are).
    """
    if device is None:
        device = next(model.parameters()).device

    @torch.no_grad()
    def fn(x: torch.Tensor) -> np.ndarray:
        was_training = model.training
        model.eval()
        try:
            return model.encode(x.to(device)).mean.double().cpu().numpy()
        finally:
            model.train(was_training)

    return fn
