"""The VAE system: KL, reparameterisation, ELBO terms, importance-weighted log p(x),
sampling/reconstruction/interpolation shapes, conv architectures, and the metrics.

References are computed independently (numpy/scipy in float64, closed forms); the
linear-Gaussian model has an exact marginal likelihood to compare against.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers.models import (
    IMG,
    LAT,
    LinearGaussianProblem,
    _conv_vae,
    _images,
    _mlp_system,
    _mlp_vae,
    _np,
)
from vaelab.kl_schedules import Linear
from vaelab.likelihood import Bernoulli, Gaussian, GaussianLearned
from vaelab.model import VAE, MLPDecoder
from vaelab.priors import StandardNormal

# =========================================================================== KL


def test_kl_matches_closed_form_and_monte_carlo():
    vae = _mlp_vae()
    x = _images(4)
    with torch.no_grad():
        mu_t, logvar_t = vae.encoder(x)
        _, kl = vae.elbo_terms(x)
    mu, logvar = _np(mu_t), _np(logvar_t)
    # The test needs a posterior well away from the prior and inside the clamp range.
    assert np.abs(mu).max() > 0.3 and np.abs(logvar).max() > 0.3
    assert logvar.min() > -12 and logvar.max() < 8
    assert kl.shape == (4,)

    closed = 0.5 * np.sum(mu**2 + np.exp(logvar) - 1.0 - logvar, axis=1)
    np.testing.assert_allclose(_np(kl), closed, rtol=1e-5, atol=1e-6)
    assert np.all(closed > 0.05)

    # Monte Carlo: KL = E_q[log q(z) - log p(z)], densities evaluated in numpy float64.
    n = 200_000
    torch.manual_seed(123)
    with torch.no_grad():
        z = _np(vae.encode(x).sample((n,)))  # (n, B, L)
    std = np.exp(0.5 * logvar)
    log_q = np.sum(-0.5 * ((z - mu) / std) ** 2 - np.log(std) - 0.5 * math.log(2 * math.pi), axis=2)
    log_p = np.sum(-0.5 * z**2 - 0.5 * math.log(2 * math.pi), axis=2)
    d = log_q - log_p
    mc, se = d.mean(axis=0), d.std(axis=0, ddof=1) / math.sqrt(n)
    assert np.all(np.abs(mc - closed) < 4 * se), (mc, closed, se)


# =========================================================================== reparameterisation


class FixedEncoder(nn.Module):
    """Ignores x and returns leaf parameters (mu, logvar), each (B, L)."""

    def __init__(self, mu: torch.Tensor, logvar: torch.Tensor):
        super().__init__()
        self.mu = nn.Parameter(mu.clone())
        self.logvar = nn.Parameter(logvar.clone())

    def forward(self, x):
        return self.mu, self.logvar


def test_reparameterisation_gradients_elementwise():
    b, lat = 2, 3
    torch.manual_seed(0)
    enc = FixedEncoder(torch.randn(b, lat), torch.randn(b, lat))
    dec = MLPDecoder(IMG, lat, [16])
    vae = VAE(
        encoder=enc, decoder=dec, likelihood=Bernoulli(), prior=StandardNormal(lat), data_shape=IMG, latent_dim=lat
    )
    x = _images(b)
    z = vae.encode(x).rsample()
    assert z.shape == (b, lat)
    z_minus_mu = (z - enc.mu).detach()
    # Full Jacobian, one output element at a time: dz/dmu = I, dz/dlogvar = diag(0.5 (z - mu)).
    for i in range(b):
        for j in range(lat):
            onehot = torch.zeros(b, lat)
            onehot[i, j] = 1.0
            g_mu, g_lv = torch.autograd.grad(z, [enc.mu, enc.logvar], grad_outputs=onehot, retain_graph=True)
            torch.testing.assert_close(g_mu, onehot)
            torch.testing.assert_close(g_lv, onehot * 0.5 * z_minus_mu[i, j], rtol=1e-5, atol=1e-7)
    # Sanity: the sample really is random (z != mu), so the logvar derivative is non-trivial.
    assert z_minus_mu.abs().min() > 0


def test_loss_gradients_reach_encoder_and_decoder():
    vae = _mlp_vae(head_std=0.05)
    x = _images(6)
    recon, kl = vae.elbo_terms(x)
    (recon + kl).mean().backward()
    for name, p in vae.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    # Specifically the first encoder layer (reached only through the sampled z and the KL).
    assert vae.encoder.body[0].weight.grad.abs().sum() > 0


# =========================================================================== ELBO terms


def test_elbo_terms_recon_uses_one_reparameterised_sample():
    vae = _mlp_vae()
    b = 5
    x = (_images(b) > 0.5).float()
    torch.manual_seed(7)
    with torch.no_grad():
        recon, kl = vae.elbo_terms(x)
    assert recon.shape == (b,) and kl.shape == (b,)

    # Same z, rebuilt by hand: z = mu + exp(logvar / 2) * eps with eps from the same seed.
    with torch.no_grad():
        mu, logvar = vae.encoder(x)
        torch.manual_seed(7)
        eps = torch.randn(b, LAT)
        z = mu + torch.exp(0.5 * logvar) * eps
        torch.testing.assert_close(recon, -vae.decode(z).log_prob(x))
        logits = _np(vae.decoder(z)[:, 0]).reshape(b, -1)
    xf = _np(x).reshape(b, -1)
    ref = -np.sum(xf * -np.logaddexp(0, -logits) + (1 - xf) * -np.logaddexp(0, logits), axis=1)
    np.testing.assert_allclose(_np(recon), ref, rtol=1e-5, atol=1e-4)

    # A different seed gives a different z, hence a different recon (it is stochastic), same kl.
    torch.manual_seed(8)
    with torch.no_grad():
        recon2, kl2 = vae.elbo_terms(x)
    torch.testing.assert_close(kl2, kl)
    assert not torch.allclose(recon2, recon)


@pytest.mark.parametrize("beta", [0.0, 1.0, 4.0])
def test_eval_step_loss_is_recon_plus_beta_kl_batch_mean(beta):
    system = _mlp_system(beta=beta)
    system.eval()
    x = _images(6)
    torch.manual_seed(3)
    with torch.no_grad():
        recon, kl = system.vae.elbo_terms(x)
    torch.manual_seed(3)
    with torch.no_grad():
        system._eval_step((x,), "val")
    torch.testing.assert_close(system.loss["val"].compute().float(), (recon + beta * kl).mean())
    out = system.elbo["val"].compute()
    torch.testing.assert_close(out["recon"], recon.mean())
    torch.testing.assert_close(out["kl"], kl.mean())
    torch.testing.assert_close(out["elbo"], -(recon + kl).mean())  # beta = 1 whatever the objective


def test_kl_schedule_only_in_training():
    system = _mlp_system(beta=2.0, kl_schedule=Linear(steps=10))
    system.train()
    assert system.kl_weight() == 0.0  # global_step 0 without a trainer
    system.eval()
    assert system.kl_weight() == 1.0


# =========================================================================== linear-Gaussian model


@pytest.fixture(scope="module")
def lg() -> LinearGaussianProblem:
    return LinearGaussianProblem()


def test_exact_posterior_gives_exact_log_marginal(lg):
    vae = lg.exact_vae()
    torch.manual_seed(0)
    for k in (1, 3, 100):
        got = _np(vae.log_marginal(lg.x, num_samples=k))
        np.testing.assert_allclose(got, lg.exact, rtol=0, atol=1e-4)
    # The ELBO is then tight too: exactly in closed form, and on average for -(recon + kl)
    # (one z per example with the KL in closed form, so single samples still vary).
    np.testing.assert_allclose(lg.closed_form_elbo(lg.M, np.log(lg.post_var)), lg.exact, rtol=0, atol=1e-9)
    reps = 50
    with torch.no_grad():
        recon, kl = vae.elbo_terms(lg.x.repeat(reps, 1))
    elbo = _np(-(recon + kl)).reshape(reps, -1)
    d = elbo.mean(0) - lg.exact
    assert abs(d.mean()) < 4 * d.std(ddof=1) / math.sqrt(len(d))


def test_importance_weighted_bound_with_imperfect_encoder(lg):
    vae, A, logvar = lg.imperfect()
    n = lg.x.shape[0]
    torch.manual_seed(0)

    # ELBO: large-sample average of -(recon + kl), per x, and its exact closed form.
    reps = 100
    with torch.no_grad():
        recon, kl = vae.elbo_terms(lg.x.repeat(reps, 1))
    elbo_samples = _np(-(recon + kl)).reshape(reps, n)
    elbo = elbo_samples.mean(0)
    elbo_exact = lg.closed_form_elbo(A, logvar)
    diff = elbo_samples.mean(1) - elbo_exact.mean()  # reps independent batch means
    assert abs(diff.mean()) < 4 * diff.std(ddof=1) / math.sqrt(reps)
    # The encoder is visibly imperfect: the ELBO gap is large.
    assert np.mean(lg.exact - elbo_exact) > 1.0
    assert np.all(elbo_exact <= lg.exact + 1e-9)

    # IW estimates. K = 1 and K = 10 are noisy per x: also average them over `rep` repeats.
    rep = 20
    x_rep = lg.x.repeat(rep, 1)
    iw_rep = {k: _np(vae.log_marginal(x_rep, num_samples=k)).reshape(rep, n) for k in (1, 10)}
    iw = {k: v[0] for k, v in iw_rep.items()}  # single estimates
    iw.update({k: _np(vae.log_marginal(lg.x, num_samples=k)) for k in (1000, 5000)})
    iw_avg = {k: v.mean(0) for k, v in iw_rep.items()}

    def below(a, b):
        """mean(a) < mean(b) by more than 3 paired standard errors."""
        d = b - a
        return d.mean() > 3 * d.std(ddof=1) / math.sqrt(len(d))

    assert below(elbo, iw_avg[10])
    assert below(iw_avg[10], iw[1000])
    assert below(elbo, iw[1000])
    # IW with K = 1 is an unbiased single-sample ELBO estimate.
    d1 = iw_avg[1] - elbo_exact
    assert abs(d1.mean()) < 4 * d1.std(ddof=1) / math.sqrt(n)

    # Never above log p(x) by more than noise, on average (Jensen: E[IW_K] <= log p(x)).
    for k, est in [*iw.items(), *((f"avg{k}", v) for k, v in iw_avg.items())]:
        d = est - lg.exact
        assert d.mean() <= 4 * d.std(ddof=1) / math.sqrt(n), k
    # Converges: the error at K = 5000 is well under half the error at K = 1.
    err = {k: np.abs(v - lg.exact).mean() for k, v in iw.items()}
    assert err[5000] < 0.5 * err[1]
    assert err[5000] < err[1000] < err[10] < err[1]


@pytest.mark.parametrize("b, rows", [(3, 7), (10, 7), (4, 1)])
def test_log_marginal_chunking_exact_posterior(lg, b, rows):
    """Chunks of iw_rows_per_chunk // B samples (at least 1), including a ragged last chunk."""
    vae = lg.exact_vae(iw_rows_per_chunk=rows)
    x = lg.x[:b]
    torch.manual_seed(0)
    for k in (1, 11, 50):
        got = _np(vae.log_marginal(x, num_samples=k))
        np.testing.assert_allclose(got, lg.exact[:b], rtol=0, atol=1e-4)


def test_log_marginal_chunked_matches_unchunked_in_distribution(lg):
    vae_big, A, logvar = lg.imperfect()
    vae_small = lg.vae(A, logvar, iw_rows_per_chunk=7)  # 7 // 256 -> 1 sample per chunk
    torch.manual_seed(0)
    k = 20
    a = _np(vae_big.log_marginal(lg.x, num_samples=k))
    c = _np(vae_small.log_marginal(lg.x, num_samples=k))
    assert not np.allclose(a, c)  # different draws...
    d = a - c
    assert abs(d.mean()) < 4 * d.std(ddof=1) / math.sqrt(len(d))  # ...same distribution
    # And both are clearly better than K = 1 (so all 20 samples were used in both).
    one = _np(vae_big.log_marginal(lg.x, num_samples=1))
    for est in (a, c):
        dd = est - one
        assert dd.mean() > 3 * dd.std(ddof=1) / math.sqrt(len(dd))


# =========================================================================== sample / reconstruct / interpolate


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: _mlp_vae(), IMG),
        (lambda: _mlp_vae(data_shape=[10], likelihood=Gaussian(scale=0.3)), [10]),
        (lambda: _conv_vae([1, 7, 9], [8, 16], likelihood=GaussianLearned()), [1, 7, 9]),
    ],
    ids=["mlp-image", "mlp-vector", "conv-odd"],
)
def test_sample_reconstruct_interpolate(make, shape):
    vae = make()
    vae.eval()
    b = 3
    xa, xb = _images(b, shape, seed=1), _images(b, shape, seed=2)

    s = vae.sample(5)
    assert s.shape == (5, *shape)
    r = vae.reconstruct(xa)
    assert r.shape == xa.shape
    # Reconstruction is the likelihood mean at z = mu(x).
    with torch.no_grad():
        mu_a, _ = vae.encoder(xa)
        mu_b, _ = vae.encoder(xb)
        torch.testing.assert_close(r, vae.decode(mu_a).mean)

    steps = 6
    path = vae.interpolate(xa, xb, steps=steps)
    assert path.shape == (b, steps, *shape)
    torch.testing.assert_close(path[:, 0], vae.reconstruct(xa), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(path[:, -1], vae.reconstruct(xb), rtol=1e-5, atol=1e-6)
    # Intermediate steps decode the straight line between posterior means.
    with torch.no_grad():
        for i in range(steps):
            t = i / (steps - 1)
            want = vae.decode((1 - t) * mu_a + t * mu_b).mean
            torch.testing.assert_close(path[:, i], want, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(path[:, 0], path[:, -1])


def test_sample_is_bernoulli_mean_in_unit_interval():
    vae = _mlp_vae()
    s = vae.sample(16)
    assert s.min() >= 0 and s.max() <= 1
    torch.manual_seed(0)
    with torch.no_grad():
        z = torch.randn(16, LAT)
        want = torch.sigmoid(vae.decoder(z)[:, 0])
    torch.manual_seed(0)
    torch.testing.assert_close(vae.sample(16), want)


def test_non_finite_gradient_is_named_at_the_next_step_and_never_saved():
    model = _mlp_system()
    x = torch.rand(4, 1, 8, 8)
    recon, kl = model.vae.elbo_terms(x)
    (recon + kl).mean().backward()
    model.vae.decoder.out.weight.grad[0, 0] = float("nan")
    torch.optim.SGD(model.parameters(), lr=0.1).step()
    with pytest.raises(
        FloatingPointError,
        match=r"step 0: the loss is not finite: the weights are \(first in vae.decoder.out.weight\)",
    ):
        model.training_step((x,), 0)
    with pytest.raises(
        FloatingPointError, match=r"weights are not finite after the update \(first in vae.decoder.out.weight\)"
    ):
        model.on_save_checkpoint({})
