"""evaluate_all (vaelab.metrics.disentanglement): every score and its time from one call, each
metric seeded on its own, bad input refused before any observation is rendered."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.factor_sources import FactorsAsImages, identity
from vaelab.metrics.disentanglement import (
    DEFAULT_SIZES,
    FAST_SIZES,
    SCORE_KEYS,
    compute_dci,
    compute_factor_vae,
    compute_mig,
    evaluate_all,
    suite,
)

SECONDS = ("mig_seconds", "sap_seconds", "dci_seconds", "factor_vae_seconds", "beta_vae_seconds")


def test_fast_suite_on_the_factors_themselves():
    source = FactorsAsImages((2, 3, 4, 5))
    out = evaluate_all(identity, source, seed=3, fast=True)
    assert set(out) == set(SCORE_KEYS) | set(SECONDS)
    assert all(isinstance(v, float) for v in out.values()) and all(out[k] >= 0 for k in SECONDS)
    assert out["mig"] > 0.95 and out["factor_vae_score"] == 1.0 and out["beta_vae_score"] == 1.0
    assert out["dci_disentanglement"] > 0.9 and out["dci_completeness"] > 0.9 and out["dci_informativeness"] == 1.0
    assert 0.0 < out["sap"] <= 1.0
    # Each metric draws from its own Generator(seed): MIG alone, so seeded, gives the same number.
    alone = compute_mig(identity, source, np.random.default_rng(3), **FAST_SIZES["mig"])["mig"]
    assert out["mig"] == alone
    # DCI by default: disentanglement_lib's gradient-boosted trees, under the plain names.
    gbt = compute_dci(identity, source, np.random.default_rng(3), **FAST_SIZES["dci"], estimator="gbt")
    assert out["dci_disentanglement"] == gbt["disentanglement"] and out["dci_completeness"] == gbt["completeness"]


def test_extra_trees_are_selectable_and_their_scores_carry_the_name():
    source = FactorsAsImages((2, 3))
    out = evaluate_all(identity, source, seed=1, fast=True, dci_estimator="extra_trees")
    forest = compute_dci(identity, source, np.random.default_rng(1), **FAST_SIZES["dci"], estimator="extra_trees")
    for part in ("disentanglement", "completeness", "informativeness"):
        assert out[f"dci_{part}_extra_trees"] == forest[part] and f"dci_{part}" not in out
    assert set(out) - set(SCORE_KEYS) - set(SECONDS) == {
        f"dci_{p}_extra_trees" for p in ("disentanglement", "completeness", "informativeness")
    }


def test_the_suite_record_names_the_estimator_and_every_size():
    record = suite(seed=2, fast=True, dci_estimator="extra_trees", batch_size=32)
    assert record == {
        "suite": "fast",
        "dci_estimator": "extra_trees",
        "seed": 2,
        "representation_batch_size": 32,
        "sizes": FAST_SIZES,
    }
    assert suite()["dci_estimator"] == "gbt" and suite()["sizes"]["dci"] == {"num_train": 10_000, "num_test": 5_000}


def test_fast_sizes_are_a_tenth_of_the_defaults_with_the_same_vote_batch():
    assert DEFAULT_SIZES["mig"] == {"num_train": 10_000}
    assert DEFAULT_SIZES["factor_vae"]["batch_size"] == FAST_SIZES["factor_vae"]["batch_size"] == 64
    for name, sizes in DEFAULT_SIZES.items():
        for key, value in sizes.items():
            assert FAST_SIZES[name][key] == (value if key == "batch_size" else value // 10)


def test_default_sizes_mig_and_factor_vae():
    source, rng = FactorsAsImages((3, 4, 5, 6)), np.random.default_rng(0)
    assert compute_mig(identity, source, rng, **DEFAULT_SIZES["mig"])["mig"] > 0.99
    out = compute_factor_vae(identity, source, np.random.default_rng(0), **DEFAULT_SIZES["factor_vae"])
    assert out["factor_vae_score"] == 1.0 and out["votes"].sum() == 10_000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed=-1: a non-negative integer is allowed"),
        ({"dci_estimator": "lasso"}, "dci_estimator='lasso': one of gbt, extra_trees is allowed"),
        ({"batch_size": 0}, "batch_size=0: a positive integer is allowed"),
    ],
)
def test_bad_settings_are_refused_before_any_work(kwargs, message):
    source = FactorsAsImages()
    with pytest.raises(ValueError, match=message):
        evaluate_all(identity, source, fast=True, **kwargs)
    assert source.rendered == 0


def test_a_source_without_factors_or_a_non_function_is_refused():
    with pytest.raises(ValueError, match=r"factor_sizes=\(\): .*integers >= 2"):
        evaluate_all(identity, object(), fast=True)
    with pytest.raises(ValueError, match="representation_fn=3: a function of observations is allowed"):
        evaluate_all(3, FactorsAsImages(), fast=True)
