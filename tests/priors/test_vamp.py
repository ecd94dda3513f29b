"""VampPrior (Tomczak & Welling, 2018, eq. 9): the encoder's posteriors at K pseudo-inputs,
    p(z) = (1/K) sum_k N(z; mu(u_k), diag sigma^2(u_k)),   u_k = hardtanh(pseudo_k) in [0, 1]^D.
Its density against the mixture computed in numpy float64, gradients into the pseudo-inputs
(zero where the hardtanh clips) and the encoder, and its draws' shape and mean.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import special, stats

from tests.helpers.models import IMG, LAT, _images, _mlp_vae, _np
from vaelab.model.vae import LOGVAR_RANGE
from vaelab.priors import VampPrior
from vaelab.runs.train import train

K = 5


def _vamp_vae():
    """A small VAE with a VampPrior whose pseudo-inputs straddle [0, 1], so the hardtanh clips some."""
    prior = VampPrior(IMG, components=K)
    vae = _mlp_vae(prior=prior)
    with torch.no_grad():
        prior.pseudo_inputs.uniform_(-0.5, 1.5, generator=torch.Generator().manual_seed(2))
    return vae, prior


def _components(vae, prior) -> tuple[np.ndarray, np.ndarray]:
    """(mu, sigma), each (K, L) in float64: the encoder at the pseudo-inputs clipped to [0, 1] in numpy."""
    u = np.clip(_np(prior.pseudo_inputs), 0.0, 1.0)  # (K, *IMG)
    with torch.no_grad():
        mu, logvar = (_np(t) for t in vae.encoder(torch.from_numpy(u).float()))
    # Inside the model's clamp range, so the clamp plays no part in the comparison.
    assert logvar.min() > LOGVAR_RANGE[0] and logvar.max() < LOGVAR_RANGE[1]
    return mu, np.exp(0.5 * logvar)


def test_log_prob_matches_numpy_mixture():
    vae, prior = _vamp_vae()
    raw = _np(prior.pseudo_inputs)
    assert (raw < 0).any() and (raw > 1).any()  # the hardtanh has work to do
    z = 1.5 * torch.randn(60, LAT, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        dist = vae.prior_dist()
        got = _np(dist.log_prob(z))
    assert dist.batch_shape == () and dist.event_shape == (LAT,)

    mu, sigma = _components(vae, prior)
    log_comp = stats.norm.logpdf(_np(z)[:, None, :], mu[None], sigma[None]).sum(axis=2)  # (60, K)
    expected = special.logsumexp(log_comp, axis=1) - math.log(K)  # uniform weights 1/K
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_gradients_reach_pseudo_inputs_and_encoder():
    vae, prior = _vamp_vae()
    _, kl, _, _ = vae.elbo_sample(_images(8))
    kl.mean().backward()
    grad, raw = prior.pseudo_inputs.grad, prior.pseudo_inputs.detach()
    assert grad is not None and torch.isfinite(grad).all()
    inside = (raw > 0) & (raw < 1)
    assert (grad[inside] != 0).all()  # the prior pulls on every unclipped pixel
    assert (grad[~inside] == 0).all()  # hardtanh: no gradient where it clips
    for name, p in vae.encoder.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_samples_have_the_mixture_mean():
    vae, prior = _vamp_vae()
    n = 50_000
    torch.manual_seed(4)
    z = _np(vae.sample_latents(n))
    assert z.shape == (n, LAT)
    mu, sigma = _components(vae, prior)
    # Mixture mean (1/K) sum_k mu_k; the draws' mean within 4 standard errors of it, per dimension.
    se = z.std(axis=0, ddof=1) / math.sqrt(n)
    assert np.all(np.abs(z.mean(axis=0) - mu.mean(axis=0)) < 4 * se), (z.mean(axis=0), mu.mean(axis=0), se)
    # And the spread of a mixture: variance = E_k[sigma_k^2] + Var_k[mu_k], within 5%.
    np.testing.assert_allclose(z.var(axis=0), (sigma**2).mean(axis=0) + mu.var(axis=0), rtol=0.05)


def test_trains_end_to_end(cfg_factory):
    metrics = train(cfg_factory("prior=vamp", "prior.components=10", "eval.num_samples=32"))
    assert math.isfinite(metrics["test/nll"]) and math.isfinite(metrics["test/elbo"])
    # ELBO <= the importance-weighted bound: -test/nll estimates log p(x) from above the ELBO.
    assert metrics["test/elbo"] <= -metrics["test/nll"] + 0.1, metrics
