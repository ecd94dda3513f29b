"""CachedCodes: each combination rendered and represented once, with the scores of the
uncached computation (the codes of a deterministic representation do not change)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.factor_sources import FactorsAsImages, duplicated, rotated
from vaelab.metrics.disentanglement import cache as cache_module
from vaelab.metrics.disentanglement.cache import CachedCodes
from vaelab.metrics.disentanglement.factor_vae import compute_factor_vae
from vaelab.metrics.disentanglement.mig import compute_mig
from vaelab.metrics.disentanglement.utils import represent

SIZES = (3, 4, 5, 6)  # 360 combinations


def test_cached_scores_equal_the_uncached_ones_with_each_combination_rendered_once():
    plain_source, cached_source = FactorsAsImages(SIZES), FactorsAsImages(SIZES)
    cached = CachedCodes(rotated, cached_source, batch_size=50)
    kw = {"num_train": 200, "num_eval": 100, "num_variance_estimate": 500}
    plain = compute_factor_vae(rotated, plain_source, np.random.default_rng(0), **kw)
    fast = compute_factor_vae(cached, cached, np.random.default_rng(0), obs_batch=4096, **kw)
    np.testing.assert_array_equal(plain["votes"], fast["votes"])
    assert plain["factor_vae_score"] == fast["factor_vae_score"]
    assert plain_source.rendered == 500 + 300 * 64
    assert cached_source.rendered == cached.computed == 360  # 19,700 draws cover the whole grid
    mig = compute_mig(cached, cached, np.random.default_rng(1), num_train=1000)["mig"]
    assert mig == compute_mig(rotated, FactorsAsImages(SIZES), np.random.default_rng(1), num_train=1000)["mig"]
    assert cached_source.rendered == 360  # every code came from the cache


@pytest.mark.parametrize("max_bytes", [8 * 360 - 1, 8 * 360 * 8 - 1])
def test_a_grid_or_code_too_large_to_cache_is_represented_directly(monkeypatch, max_bytes):
    # Below the grid's mask: no cache at all; below its 8-latent codes: none after the first batch.
    monkeypatch.setattr(cache_module, "MAX_CACHE_BYTES", max_bytes)
    source = FactorsAsImages(SIZES)
    cached = CachedCodes(duplicated, source)
    factors = source.sample_factors(700, np.random.default_rng(2))
    for part in (factors[:400], factors[400:]):
        np.testing.assert_array_equal(represent(cached, cached, part), duplicated(FactorsAsImages(SIZES).render(part)))
    assert cached.known is None and cached.codes is None
    # The first batch renders its distinct combinations in the second case, then all go direct.
    first = 400 if max_bytes < 8 * 360 else len(np.unique(factors[:400] @ cached.radix))
    assert source.rendered == first + 300
