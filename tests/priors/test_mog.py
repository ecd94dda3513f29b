"""MixtureOfGaussians, p(z) = sum_k pi_k N(z; m_k, diag s_k^2): its density against a direct
scipy mixture, and the Monte Carlo KL the model uses for it,
    KL(q(z|x) || p(z)) ~ log q(z|x) - log p(z),   z ~ q(z|x),
which is unbiased: with one component at (0, I) it must agree in expectation with the closed form
of N(0, I) (Kingma & Welling, 2014, Appendix B), and the ELBO's reconstruction and the
importance-weighted log p(x) (Burda et al., 2016, eq. 8) must not change at all.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special, stats

from tests.helpers.models import LAT, _images, _mlp_vae, _np
from vaelab.priors import MixtureOfGaussians
from vaelab.runs.train import train


def _standard_as_mixture(latent_dim: int = LAT) -> MixtureOfGaussians:
    """A one-component mixture at loc 0, log-scale 0: N(0, I), but on the Monte Carlo KL path."""
    mog = MixtureOfGaussians(latent_dim, components=1)
    with torch.no_grad():
        mog.loc.zero_()
        mog.log_scale.zero_()
    return mog


def test_log_prob_matches_scipy_mixture():
    k, lat = 3, 2
    torch.manual_seed(0)
    mog = MixtureOfGaussians(lat, components=k)
    with torch.no_grad():
        mog.logits.copy_(torch.randn(k))
        mog.log_scale.copy_(0.5 * torch.randn(k, lat))
    z = 2.0 * torch.randn(40, lat)
    prior = mog()
    assert prior.batch_shape == () and prior.event_shape == (lat,)

    logits, loc, scale = _np(mog.logits), _np(mog.loc), np.exp(_np(mog.log_scale))
    log_pi = logits - special.logsumexp(logits)  # (K,)
    # log N(z; m_k, diag s_k^2) for every point and component: (40, K)
    log_comp = stats.norm.logpdf(_np(z)[:, None, :], loc[None], scale[None]).sum(axis=2)
    expected = special.logsumexp(log_pi[None] + log_comp, axis=1)  # (40,)
    np.testing.assert_allclose(_np(prior.log_prob(z)), expected, rtol=1e-5, atol=1e-6)


def test_one_standard_component_gives_the_standard_elbo_and_nll():
    standard, mixture = _mlp_vae(), _mlp_vae(prior=_standard_as_mixture())
    x = _images(4)
    with torch.no_grad():
        torch.manual_seed(7)
        recon_s, kl_s, q, z = standard.elbo_sample(x)
        torch.manual_seed(7)
        recon_m, kl_m, _, z_m = mixture.elbo_sample(x)
        mu, logvar = (_np(t) for t in standard.encoder(x))
    # Same seed, same weights: the same z and the same reconstruction term.
    torch.testing.assert_close(z_m, z, rtol=0, atol=0)
    torch.testing.assert_close(recon_m, recon_s, rtol=0, atol=0)
    assert not torch.allclose(kl_m, kl_s)  # the mixture takes the one-sample path, not the closed form

    # Per sample, the estimate is exactly log q(z|x) - log N(z; 0, I), here in numpy float64.
    zn, std = _np(z), np.exp(0.5 * logvar)
    log_q = stats.norm.logpdf(zn, mu, std).sum(axis=1)
    log_p = stats.norm.logpdf(zn).sum(axis=1)
    np.testing.assert_allclose(_np(kl_m), log_q - log_p, rtol=1e-5, atol=1e-5)

    # The importance-weighted log p(x) reads the prior's density only: identical to float precision.
    torch.manual_seed(11)
    nll_s = standard.log_marginal(x, 64)
    torch.manual_seed(11)
    nll_m = mixture.log_marginal(x, 64)
    torch.testing.assert_close(nll_m, nll_s)


def test_monte_carlo_kl_matches_the_closed_form_within_its_standard_error():
    standard, mixture = _mlp_vae(), _mlp_vae(prior=_standard_as_mixture())
    x = _images(4)
    n = 200_000
    torch.manual_seed(3)
    with torch.no_grad():
        q = standard.encode(x)
        z = q.sample((n,))  # (n, B, L)
        mc = _np(mixture.kl(q, z))  # (n, B): one estimate per draw
        closed = _np(standard.kl(q, z))  # (B,)
    assert mc.shape == (n, 4) and closed.shape == (4,)
    mean, se = mc.mean(axis=0), mc.std(axis=0, ddof=1) / math.sqrt(n)
    assert np.all(se < 0.01 * closed), (se, closed)  # precise enough for the check to mean something
    assert np.all(np.abs(mean - closed) < 4 * se), (mean, closed, se)


def test_gradients_reach_every_mixture_parameter():
    mog = MixtureOfGaussians(LAT, components=3)
    vae = _mlp_vae(prior=mog)
    _, kl, _, _ = vae.elbo_sample(_images(8))
    kl.mean().backward()
    for name in ("logits", "loc", "log_scale"):
        grad = getattr(mog, name).grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


def test_trains_end_to_end(cfg_factory):
    metrics = train(cfg_factory("prior=mog", "eval.num_samples=32"))
    assert math.isfinite(metrics["test/nll"]) and math.isfinite(metrics["test/elbo"])
    # ELBO <= the importance-weighted bound: -test/nll estimates log p(x) from above the ELBO.
    assert metrics["test/elbo"] <= -metrics["test/nll"] + 0.1, metrics
