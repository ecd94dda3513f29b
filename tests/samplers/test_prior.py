"""Prior sampling at a temperature: `tempered(T)` of every prior (vaelab.priors) scales each
Gaussian's standard deviation by T, checked against closed-form densities (scipy, float64) and by
the moments of draws, within tolerances derived from the number of draws."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from tests.helpers.models import IMG, _mlp_vae
from vaelab.priors import MixtureOfGaussians, StandardNormal, VampPrior
from vaelab.samplers import PriorSampler

L = 3
N_DRAWS = 40_000


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def mixture_log_pdf(z: np.ndarray, log_w: np.ndarray, loc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """log sum_k w_k prod_d N(z_d; loc_kd, scale_kd) for z (n, L), with scipy in float64."""
    per_k = norm.logpdf(z[:, None, :], loc[None], scale[None]).sum(-1) + log_w[None]  # (n, K)
    return logsumexp(per_k, axis=1)


def mixture_variance(w: np.ndarray, loc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Per-dimension variance of a diagonal Gaussian mixture: sum_k w_k (s_k^2 + m_k^2) - (sum_k w_k m_k)^2."""
    mean = (w[:, None] * loc).sum(0)
    return (w[:, None] * (scale**2 + loc**2)).sum(0) - mean**2


def assert_variance(draws: torch.Tensor, expected: np.ndarray) -> None:
    """Sample variance per dimension equals `expected` within 5 standard errors; the standard
    error of a sample variance, sqrt(Var[(z - mean)^2] / n), is estimated from the draws."""
    z = _np(draws)
    sq = (z - z.mean(0)) ** 2
    se = sq.std(0) / math.sqrt(len(z))
    assert np.all(np.abs(sq.mean(0) - expected) < 5 * se), (sq.mean(0), expected, se)


def _vamp_vae():
    """A real (small, untrained) VAE with a VampPrior: its prior reads the encoder."""
    return _mlp_vae(latent_dim=L, prior=VampPrior(IMG, components=5, init_std=0.5))


def _mog() -> MixtureOfGaussians:
    torch.manual_seed(0)
    prior = MixtureOfGaussians(L, components=4, init_spread=2.0)
    with torch.no_grad():
        prior.logits.copy_(torch.tensor([0.0, 1.0, -0.5, 0.3]))
        prior.log_scale.copy_(0.4 * torch.randn(4, L))
    return prior


@pytest.mark.parametrize("temperature", [0.3, 1.0, 1.7])
def test_tempered_densities_match_their_closed_forms(temperature):
    z = torch.randn(50, L, dtype=torch.float64).float() * 2
    T = temperature
    # N(0, T^2 I)
    got = _np(StandardNormal(L).tempered(T).log_prob(z))
    assert got == pytest.approx(norm.logpdf(_np(z), 0, T).sum(1), rel=1e-5, abs=1e-5)
    # Mixture of Gaussians: same weights and means, each component's scale times T.
    mog = _mog()
    w = torch.softmax(mog.logits, 0)
    want = mixture_log_pdf(_np(z), np.log(_np(w)), _np(mog.loc), T * _np(mog.log_scale.exp()))
    assert _np(mog.tempered(T).log_prob(z)) == pytest.approx(want, rel=1e-5, abs=1e-5)
    # VampPrior: the encoder's posteriors at the pseudo-inputs, equal weights, scales times T.
    vae = _vamp_vae()
    vamp, encode = vae.prior, vae.encode
    q = encode(vamp.inputs())
    loc, scale = _np(q.base_dist.loc), _np(q.base_dist.scale)
    want = mixture_log_pdf(_np(z), np.full(5, -math.log(5)), loc, T * scale)
    assert _np(vamp.tempered(T, encode).log_prob(z)) == pytest.approx(want, rel=1e-5, abs=1e-5)


def test_temperature_one_is_the_prior():
    z = torch.randn(20, L)
    mog, vae = _mog(), _vamp_vae()
    vamp, encode = vae.prior, vae.encode
    for tempered, prior in (
        (StandardNormal(L).tempered(1.0), StandardNormal(L)()),
        (mog.tempered(1.0), mog()),
        (vamp.tempered(1.0, encode), vamp(encode)),
    ):
        assert torch.allclose(tempered.log_prob(z), prior.log_prob(z), atol=1e-6)


def test_the_standard_deviation_of_draws_scales_by_t():
    # z = T * eps: with the same noise, draws at T are exactly T times the draws at 1.
    T = 0.6
    torch.manual_seed(1)
    at_one = StandardNormal(L).tempered(1.0).sample((N_DRAWS,))
    torch.manual_seed(1)
    at_t = StandardNormal(L).tempered(T).sample((N_DRAWS,))
    assert torch.allclose(at_t, T * at_one, atol=1e-6)
    assert_variance(at_t, np.full(L, T**2))
    # Mixtures: the closed-form variance of the mixture with every component's scale times T.
    mog = _mog()
    w, loc, scale = _np(torch.softmax(mog.logits, 0)), _np(mog.loc), _np(mog.log_scale.exp())
    for t in (T, 1.5):
        assert_variance(mog.tempered(t).sample((N_DRAWS,)), mixture_variance(w, loc, t * scale))


def test_prior_sampler_draws_from_the_tempered_prior():
    vae = _vamp_vae()
    sampler = PriorSampler().fit(vae)
    z = torch.randn(10, L)
    want = vae.prior.tempered(0.5, vae.encode).log_prob(z)
    assert torch.allclose(sampler.distribution(vae, 0.5).log_prob(z), want)
