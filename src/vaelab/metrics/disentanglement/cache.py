"""Each factor combination's code computed once: the FactorVAE and beta-VAE scores alone draw
15,000 x 64 and 15,000 x 128 observations at disentanglement_lib's default sizes (2.9 million
with the other metrics), more than the 737,280 combinations of dSprites' grid; rendering and
encoding each distinct combination once does about a quarter of the work.

Valid because the source renders deterministically from the factors and the representation
(the posterior mean) is a deterministic function of the observation: a cached code is the code
that would be computed again. The factors are drawn by the wrapped source from the same
generator, so the scores are those of the uncached computation, bit for bit when a code does
not depend on the other observations of its batch (vaelab's encoders on the CPU: checked), and
up to float rounding otherwise (a backend whose kernels change with the batch size).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from vaelab.metrics.disentanglement.utils import BATCH_SIZE, RepresentationFn, factor_sizes, represent

#: Largest cache (codes of the whole grid, float64) worth allocating; a bigger grid (or code)
#: is represented without a cache, as the draws then rarely repeat a combination anyway.
MAX_CACHE_BYTES = 512 << 20
#: Observations looked up per call: a lookup's unseen combinations are represented in batches.
LOOKUP_BATCH = 1 << 16


class CachedCodes:
    """A factor source and representation function in one: `render` hands the factor indices
    on as the observation, and calling it with them returns their codes, computing (rendering
    and representing, in batches) only combinations not seen before. Use it as both arguments:
    `compute_mig(cached, cached, rng)`."""

    def __init__(self, representation_fn: RepresentationFn, source: Any, batch_size: int = BATCH_SIZE):
        self.factor_sizes = factor_sizes(source)
        self.factor_names = tuple(getattr(source, "factor_names", ()))
        self.representation_fn, self.source, self.batch_size = representation_fn, source, batch_size
        grid = math.prod(self.factor_sizes)
        self.radix = np.array([math.prod(self.factor_sizes[f + 1 :]) for f in range(len(self.factor_sizes))])
        # (grid,) computed yet? None: no cache (the grid is too large for even one latent).
        self.known = np.zeros(grid, dtype=bool) if grid * 8 <= MAX_CACHE_BYTES else None
        self.codes: np.ndarray | None = None  # (grid, L), allocated at the first batch (L unknown before)
        self.computed = 0  # observations represented so far (distinct combinations when caching)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.source.sample_factors(n, rng)

    def render(self, factors: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(factors, dtype=np.int64))  # (n, F): looked up in __call__

    def __call__(self, factors: torch.Tensor) -> np.ndarray:
        factors = factors.numpy()
        if self.known is None:
            self.computed += len(factors)
            return represent(self.representation_fn, self.source, factors, self.batch_size)
        index = factors @ self.radix  # (n,) mixed-radix combination index, last factor fastest
        unseen = ~self.known[index]
        missing, first, inverse = np.unique(index[unseen], return_index=True, return_inverse=True)
        if len(missing):
            new = represent(self.representation_fn, self.source, factors[unseen][first], self.batch_size)
            self.computed += len(missing)
            if self.codes is None:
                if self.known.size * new.shape[1] * 8 > MAX_CACHE_BYTES:
                    self.known = None  # too many latents to keep the grid's codes: no cache from now on
                    return new[inverse]  # the first batch: every row was unseen
                self.codes = np.empty((self.known.size, new.shape[1]))
            self.codes[missing] = new
            self.known[missing] = True
        return self.codes[index]
