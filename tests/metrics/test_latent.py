"""LatentUsage: active units (Burda et al., 2016) and KL per latent dimension.

References are computed independently in numpy float64 from the same (mu, logvar) values:
    A_d  = np.var(mu[:, d], ddof=1)                     (variance over the data of the mean)
    KL_d = mean_x 0.5 * (mu^2 + exp(logvar) - 1 - logvar)
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers.models import _images, _mlp_system
from vaelab.metrics import LatentUsage

L = 6


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def _reference(mu: np.ndarray, logvar: np.ndarray, threshold: float) -> dict[str, np.ndarray]:
    var = np.var(mu, axis=0, ddof=1)
    active = int(np.sum(var > threshold))
    kl = np.mean(0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar), axis=0)
    return {"mean_variance": var, "active_units": active, "active_share": active / mu.shape[1], "kl_per_dim": kl}


def _posteriors(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, L) posterior parameters whose dimensions have very different spreads, with
    dimension 4 collapsed onto the prior (mu = 0, logvar = 0) and dimension 5 constant."""
    g = torch.Generator().manual_seed(seed)
    scales = torch.tensor([2.0, 1.0, 0.3, 0.05, 0.0, 0.0])
    offsets = torch.tensor([0.5, -1.0, 0.2, 0.0, 0.0, 0.7])
    mu = offsets + scales * torch.randn(n, L, generator=g)
    logvar = torch.randn(n, L, generator=g) * 0.5 - 1.0
    logvar[:, 4] = 0.0
    return mu, logvar


def _check(out: dict[str, torch.Tensor], ref: dict[str, np.ndarray]) -> None:
    assert set(out) == {"active_units", "active_share", "mean_variance", "kl_per_dim"}
    assert out["mean_variance"].shape == (L,) and out["kl_per_dim"].shape == (L,)
    assert out["active_units"].dim() == 0 and out["active_share"].dim() == 0
    assert float(out["active_units"]) == ref["active_units"]
    assert float(out["active_share"]) == pytest.approx(ref["active_share"], rel=1e-7)
    # float64 state, float32 output: agreement to float32 rounding.
    np.testing.assert_allclose(_np(out["mean_variance"]), ref["mean_variance"], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(_np(out["kl_per_dim"]), ref["kl_per_dim"], rtol=1e-6, atol=1e-9)


# =========================================================================== exact statistics


def test_latent_usage_matches_numpy_over_uneven_batches():
    mu, logvar = _posteriors(41)
    metric = LatentUsage(latent_dim=L, threshold=0.01)
    for chunk in (slice(0, 3), slice(3, 20), slice(20, 21), slice(21, 41)):
        metric.update(mu[chunk], logvar[chunk])
    out = metric.compute()
    ref = _reference(_np(mu), _np(logvar), 0.01)
    _check(out, ref)
    # Dims 0..3 move with the input (var 4, 1, 0.09, 0.0025 in expectation: the last below
    # 0.01), dims 4 and 5 are constant: 3 active out of 6.
    assert ref["active_units"] == 3
    assert float(out["active_share"]) == pytest.approx(0.5)
    # The per-dimension KLs add up to the mean total KL of the examples.
    total = np.mean(0.5 * np.sum(_np(mu) ** 2 + np.exp(_np(logvar)) - 1.0 - _np(logvar), axis=1))
    assert float(out["kl_per_dim"].double().sum()) == pytest.approx(total, rel=1e-6)


def test_latent_usage_is_batching_invariant():
    mu, logvar = _posteriors(50, seed=3)
    one = LatentUsage(latent_dim=L)
    one.update(mu, logvar)
    many = LatentUsage(latent_dim=L)
    for chunk in torch.split(torch.arange(50), [1, 7, 13, 2, 27]):
        many.update(mu[chunk], logvar[chunk])
    a, b = one.compute(), many.compute()
    # The float64 sums differ only by summation order (~1e-15 relative), so the float32
    # outputs agree to their own rounding.
    for key in a:
        np.testing.assert_allclose(_np(b[key]), _np(a[key]), rtol=1e-6, atol=0)
    # And the float64 state itself agrees to 1e-10 relative.
    for state in ("sum_mu", "sum_mu2", "sum_kl"):
        np.testing.assert_allclose(_np(getattr(many, state)), _np(getattr(one, state)), rtol=1e-10, atol=1e-12)
    assert int(many.count) == int(one.count) == 50
    # Not the mean of per-batch variances: that would be visibly different.
    per_batch = np.mean([np.var(_np(mu[c]), axis=0, ddof=1) for c in torch.split(torch.arange(50), [10, 40])], axis=0)
    assert np.abs(per_batch - _np(a["mean_variance"])).max() > 1e-3


def test_collapsed_dimension_is_inactive_with_zero_kl():
    n = 32
    g = torch.Generator().manual_seed(5)
    mu = torch.randn(n, 3, generator=g)
    logvar = torch.randn(n, 3, generator=g) * 0.3
    mu[:, 1] = 0.0  # the posterior equals the prior for every x
    logvar[:, 1] = 0.0
    mu[:, 2] = 0.7  # constant mean away from 0: no variance, but KL 0.5 * 0.49
    logvar[:, 2] = 0.0
    metric = LatentUsage(latent_dim=3)
    metric.update(mu[:20], logvar[:20])
    metric.update(mu[20:], logvar[20:])
    out = metric.compute()
    kl = _np(out["kl_per_dim"])
    var = _np(out["mean_variance"])
    assert abs(kl[1]) <= 1e-6
    assert var[1] == pytest.approx(0.0, abs=1e-12) and var[2] == pytest.approx(0.0, abs=1e-10)
    assert kl[2] == pytest.approx(0.5 * 0.7**2, rel=1e-6)
    assert np.all(var >= 0)
    assert float(out["active_units"]) == 1.0
    assert float(out["active_share"]) == pytest.approx(1 / 3)


def test_threshold_is_configurable():
    n = 200
    rng = np.random.default_rng(0)
    e = rng.normal(size=n)
    e = (e - e.mean()) / e.std(ddof=1)  # unbiased variance exactly 1
    mu = np.stack([np.sqrt(0.005) * e, 3.0 + np.sqrt(0.5) * e[::-1]], axis=1)
    assert np.var(mu[:, 0], ddof=1) == pytest.approx(0.005, rel=1e-12)
    mu_t = torch.tensor(mu, dtype=torch.float32)
    logvar_t = torch.zeros_like(mu_t)

    counts = {}
    for threshold in (None, 0.01, 0.001, 1.0):
        metric = LatentUsage(latent_dim=2) if threshold is None else LatentUsage(latent_dim=2, threshold=threshold)
        metric.update(mu_t, logvar_t)
        out = metric.compute()
        assert float(out["mean_variance"][0]) == pytest.approx(0.005, rel=1e-5)
        assert float(out["mean_variance"][1]) == pytest.approx(0.5, rel=1e-5)
        counts[threshold] = float(out["active_units"])
    assert counts[None] == counts[0.01] == 1.0  # the default is Burda et al.'s 0.01
    assert counts[0.001] == 2.0
    assert counts[1.0] == 0.0


def test_reset_forgets_earlier_batches():
    mu1, lv1 = _posteriors(30, seed=1)
    mu2, lv2 = _posteriors(17, seed=2)
    metric = LatentUsage(latent_dim=L)
    metric.update(mu1 * 10, lv1 + 1)
    metric.compute()
    metric.reset()
    assert int(metric.count) == 0
    assert float(metric.sum_mu.abs().sum()) == 0.0 and float(metric.sum_kl.abs().sum()) == 0.0
    metric.update(mu2[:5], lv2[:5])
    metric.update(mu2[5:], lv2[5:])
    _check(metric.compute(), _reference(_np(mu2), _np(lv2), 0.01))


# =========================================================================== numerics


@pytest.mark.parametrize("batches", [[1000], [300, 1, 299, 400]])
def test_variance_with_large_common_offset(batches):
    """E[mu^2] - E[mu]^2 cancels catastrophically in float32 at mu ~ 1000; float64 sums hold."""
    n = sum(batches)
    g = torch.Generator().manual_seed(11)
    noise = torch.randn(n, 2, generator=g)
    mu = torch.stack([1000.0 + 0.2 * noise[:, 0], -1000.0 + 0.05 * noise[:, 1]], dim=1)  # float32
    logvar = torch.zeros_like(mu)
    metric = LatentUsage(latent_dim=2)
    for chunk in torch.split(torch.arange(n), batches):
        metric.update(mu[chunk], logvar[chunk])
    out = metric.compute()
    ref = np.var(_np(mu), axis=0, ddof=1)  # the float32 inputs, in float64, two-pass
    assert 0.03 < ref[0] < 0.05 and 0.002 < ref[1] < 0.003
    np.testing.assert_allclose(_np(out["mean_variance"]), ref, rtol=1e-3)
    assert float(out["active_units"]) == 1.0  # 0.04 > 0.01 > 0.0025
    kl = np.mean(0.5 * _np(mu) ** 2, axis=0)  # logvar = 0: KL = mu^2 / 2
    np.testing.assert_allclose(_np(out["kl_per_dim"]), kl, rtol=1e-6)


# =========================================================================== inside the VAE


def test_vae_validation_feeds_latent_usage_its_posterior():
    """The VAE's validation step updates LatentUsage with (mu, logvar) of q(z|x): the active
    units are those of the encoder's means, and the KL per dimension sums to the ELBO's KL."""
    vae = _mlp_system(latent_dim=4)
    vae.eval()
    xs = [_images(7, seed=1), _images(5, seed=2)]
    with torch.no_grad():
        for x in xs:
            vae._eval_step((x,), "val")
        mu, logvar = zip(*(vae.vae.encoder(x) for x in xs))
    mu, logvar = _np(torch.cat(mu)), _np(torch.cat(logvar)).clip(-12.0, 8.0)
    usage = vae.latent_usage["val"].compute()
    ref = _reference(mu, logvar, 0.01)
    assert float(usage["active_units"]) == ref["active_units"]
    np.testing.assert_allclose(_np(usage["mean_variance"]), ref["mean_variance"], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(_np(usage["kl_per_dim"]), ref["kl_per_dim"], rtol=1e-4, atol=1e-6)
    elbo = vae.elbo["val"].compute()
    assert float(usage["kl_per_dim"].sum()) == pytest.approx(float(elbo["kl"]), rel=1e-4)
