"""Sampling and discrete information helpers of the disentanglement metrics.

The histogram bins, mutual information and entropies are checked against independent float64
numpy computations (bin = floor((x - min) / width) clipped to the last bin; MI and H from the
contingency table: I = sum p_ij log(p_ij / (p_i p_j)), H = -sum p log p).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers.factor_sources import FactorsAsImages, identity
from tests.helpers.models import _images, _mlp_vae
from vaelab.metrics.disentanglement import utils


def _mi_numpy(a: np.ndarray, b: np.ndarray) -> float:
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    joint = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(joint, (ia, ib), 1.0)
    p = joint / joint.sum()
    outer = p.sum(1, keepdims=True) * p.sum(0, keepdims=True)
    nz = p > 0
    return float(np.sum(p[nz] * np.log(p[nz] / outer[nz])))


def test_histogram_bins_are_equal_width_over_the_observed_range():
    rng = np.random.default_rng(0)
    codes = np.column_stack([rng.normal(size=500), rng.uniform(-3, 7, size=500), np.full(500, 2.5)])
    out = utils.histogram_discretize(codes, 20)
    for j in range(2):
        x = codes[:, j]
        width = (x.max() - x.min()) / 20
        expected = np.minimum(np.floor((x - x.min()) / width), 19).astype(int) + 1
        # A point within rounding of an edge may fall either side of it.
        near_edge = np.abs((x - x.min()) / width - np.round((x - x.min()) / width)) < 1e-9
        np.testing.assert_array_equal(out[~near_edge, j], expected[~near_edge])
        assert out[:, j].min() == 1 and out[np.argmax(x), j] == 20  # the maximum is in the last bin
    assert len(set(out[:, 2])) == 1  # a constant latent is one bin


def test_mutual_information_and_entropy_match_the_contingency_table():
    # A small table with dependence: the latent's bin agrees with the factor 70% of the time.
    rng = np.random.default_rng(1)
    factors = rng.integers(3, size=(400, 2))
    agree = rng.random(400) < 0.7
    codes = np.column_stack([np.where(agree, factors[:, 0], rng.integers(3, size=400)), rng.integers(5, size=400)])
    mi = utils.discrete_mutual_info(codes, factors)
    assert mi.shape == (2, 2)
    for j in range(2):
        for k in range(2):
            assert mi[j, k] == pytest.approx(_mi_numpy(codes[:, j], factors[:, k]), rel=1e-10, abs=1e-12)
    p = np.bincount(factors[:, 1]) / 400
    np.testing.assert_allclose(utils.discrete_entropy(factors)[1], -np.sum(p * np.log(p)), rtol=1e-12)
    assert mi[0, 0] > 0.2 > mi[1, 0]  # the dependent pair carries information, the independent one hardly


def test_codes_do_not_depend_on_the_representation_batch_size():
    source = FactorsAsImages()
    f1, z1 = utils.sample_codes(identity, source, 1000, np.random.default_rng(5), batch_size=1000)
    f2, z2 = utils.sample_codes(identity, source, 1000, np.random.default_rng(5), batch_size=7)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(z1, z2)
    np.testing.assert_allclose(z1, f1 / (np.array(source.factor_sizes) - 1), rtol=1e-6)
    f3, _ = utils.sample_codes(identity, source, 1000, np.random.default_rng(6))
    assert not np.array_equal(f1, f3)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda x: np.zeros(len(x)), r"returned shape \(\d+,\)"),
        (lambda x: np.zeros((len(x) + 1, 2)), "returned shape"),
        (lambda x: np.full((len(x), 2), np.nan), "non-finite"),
    ],
)
def test_bad_representations_are_refused_in_one_line(fn, message):
    with pytest.raises(ValueError, match=message):
        utils.sample_codes(fn, FactorsAsImages(), 10, np.random.default_rng(0))


@pytest.mark.parametrize("sizes", [(), (3, 1), (2.5, 3), (True, 3)])
def test_sources_without_varying_factors_are_refused(sizes):
    source = FactorsAsImages()
    source.factor_sizes = sizes
    with pytest.raises(ValueError, match=r"factor_sizes=.*integers >= 2 is allowed"):
        utils.factor_sizes(source)


def test_top_two_gap_and_its_refusal_of_one_latent():
    scores = np.array([[0.9, 0.1], [0.2, 0.5], [0.4, 0.45]])
    np.testing.assert_allclose(utils.top_two_gap(scores), [0.5, 0.05])
    with pytest.raises(ValueError, match="latent_dim=1"):
        utils.top_two_gap(scores[:1])


def test_posterior_mean_is_the_encoder_mean_in_eval_mode():
    vae = _mlp_vae()
    vae.train()
    x = _images(6)
    codes = utils.posterior_mean(vae)(x)
    with torch.no_grad():
        expected = vae.encode(x).mean.double().numpy()
    assert isinstance(codes, np.ndarray) and codes.shape == (6, 3) and codes.dtype == np.float64
    np.testing.assert_allclose(codes, expected, rtol=1e-6)
    assert vae.training  # the caller's mode is restored
