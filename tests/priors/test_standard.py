"""StandardNormal, p(z) = N(0, I) (Kingma & Welling, 2014): its density against scipy, its
draws' moments, no trained or saved state, and the model's closed-form KL to it,
    KL(N(mu, diag s^2) || N(0, I)) = 1/2 sum_d (mu_d^2 + s_d^2 - 1 - log s_d^2)   (their Appendix B),
checked in numpy float64.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import stats

from tests.helpers.models import LAT, _images, _mlp_vae, _np
from vaelab.priors import StandardNormal


def test_log_prob_matches_scipy():
    prior = StandardNormal(LAT)()
    assert prior.batch_shape == () and prior.event_shape == (LAT,)
    z = 2.0 * torch.randn(50, LAT, generator=torch.Generator().manual_seed(0))
    expected = stats.norm.logpdf(_np(z)).sum(axis=1)  # (50,)
    np.testing.assert_allclose(_np(prior.log_prob(z)), expected, rtol=1e-6)


def test_draws_have_zero_mean_and_unit_variance():
    n = 100_000
    torch.manual_seed(0)
    z = _np(StandardNormal(LAT)().sample((n,)))  # (n, L)
    assert z.shape == (n, LAT)
    # Mean within 4 standard errors of 0; variance within 4 of its standard error sqrt(2/n) of 1.
    assert np.all(np.abs(z.mean(axis=0)) < 4 / math.sqrt(n))
    assert np.all(np.abs(z.var(axis=0) - 1) < 4 * math.sqrt(2 / n))


def test_nothing_is_trained_or_saved():
    prior = StandardNormal(LAT)
    assert list(prior.parameters()) == []
    assert prior.state_dict() == {}  # checkpoints carry no prior state
    dist = prior.to(torch.float64)()
    assert dist.base_dist.loc.dtype == torch.float64  # the buffers follow the module


def test_model_kl_is_the_closed_form_whatever_z():
    vae = _mlp_vae()
    x = _images(4)
    with torch.no_grad():
        mu_t, logvar_t = vae.encoder(x)
        q = vae.encode(x)
        kl_a = vae.kl(q, q.sample())
        kl_b = vae.kl(q, q.sample())
    mu, logvar = _np(mu_t), _np(logvar_t)
    closed = 0.5 * np.sum(mu**2 + np.exp(logvar) - 1.0 - logvar, axis=1)  # (B,)
    assert np.all(closed > 0.05)  # a posterior away from the prior, or the check says little
    np.testing.assert_allclose(_np(kl_a), closed, rtol=1e-5, atol=1e-6)
    # The closed form does not depend on the sample: no Monte Carlo noise with this prior.
    torch.testing.assert_close(kl_a, kl_b, rtol=0, atol=0)
