"""Likelihoods p(x|z): log-probabilities against independent float64 references.

Every reference is computed in numpy/scipy from the formulas, never from torch.
Decoder outputs are laid out (B, P, *data_shape); log_prob must sum over all data dims.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

import vaelab.likelihood as lik_mod
from vaelab.likelihood import (
    Bernoulli,
    ContinuousBernoulli,
    Gaussian,
    GaussianLearned,
    Laplace,
    Likelihood,
    params_per_dim,
)

B = 5
DATA_SHAPES = [(1, 4, 4), (6,)]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


def _sum_data(a: np.ndarray) -> np.ndarray:
    """Sum over everything but the batch dimension."""
    return a.reshape(a.shape[0], -1).sum(axis=1)


def _log_sigmoid(l: np.ndarray) -> np.ndarray:
    """log(sigmoid(l)) in float64, without overflow/underflow at extreme logits."""
    return -np.logaddexp(0.0, -np.asarray(l, dtype=np.float64))


def _log_prob(lik: Likelihood, params: np.ndarray, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        out = lik(_t(params)).log_prob(_t(x))
    assert out.shape == (params.shape[0],), f"log_prob shape {tuple(out.shape)}, want ({params.shape[0]},)"
    return out.double().numpy()


# --------------------------------------------------------------------------- Bernoulli


def _bernoulli_ref(logits: np.ndarray, x: np.ndarray) -> np.ndarray:
    """logits (B, 1, *shape), x (B, *shape) -> (B,)."""
    l = logits[:, 0].astype(np.float64)
    assert l.shape == x.shape
    x = x.astype(np.float64)
    # x*log(sigmoid(l)) + (1-x)*log(1-sigmoid(l)), with 1 - sigmoid(l) = sigmoid(-l).
    per_dim = x * _log_sigmoid(l) + (1.0 - x) * _log_sigmoid(-l)
    return _sum_data(per_dim)


@pytest.mark.parametrize("shape", DATA_SHAPES)
def test_bernoulli_log_prob_binary_and_grey(shape):
    rng = _rng(1)
    logits = rng.normal(0.0, 3.0, size=(B, 1, *shape))
    x_bin = (rng.random((B, *shape)) < 0.5).astype(np.float64)
    x_grey = rng.random((B, *shape))
    for x in (x_bin, x_grey):
        got = _log_prob(Bernoulli(), logits, x)
        np.testing.assert_allclose(got, _bernoulli_ref(logits, x), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("shape", DATA_SHAPES)
def test_bernoulli_extreme_logits_stay_finite_and_exact(shape):
    rng = _rng(2)
    n = math.prod(shape)
    # Mix of +-50 logits with 0/1 targets: both confident-right and confident-wrong.
    logits = rng.choice([-50.0, 50.0], size=(B, 1, *shape))
    x = (rng.random((B, *shape)) < 0.5).astype(np.float64)
    got = _log_prob(Bernoulli(), logits, x)
    ref = _bernoulli_ref(logits, x)
    assert np.all(np.isfinite(got)), got
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-4)
    # All confidently wrong: every dimension costs exactly 50 nats (plus log1p(e^-50) ~ 0).
    x_wrong = (logits[:, 0] < 0).astype(np.float64)
    got_wrong = _log_prob(Bernoulli(), logits, x_wrong)
    np.testing.assert_allclose(got_wrong, -50.0 * n, rtol=1e-6)
    # All confidently right: log-probability ~ 0 (within float error), never positive.
    x_right = (logits[:, 0] > 0).astype(np.float64)
    got_right = _log_prob(Bernoulli(), logits, x_right)
    assert np.all(got_right <= 0.0)
    np.testing.assert_allclose(got_right, 0.0, atol=1e-6)


# --------------------------------------------------------------------------- ContinuousBernoulli


def _cb_log_norm(lam: np.ndarray) -> np.ndarray:
    """log C(lam), C(lam) = 2 atanh(1 - 2 lam) / (1 - 2 lam), C(1/2) = 2."""
    lam = np.asarray(lam, dtype=np.float64)
    u = 1.0 - 2.0 * lam
    out = np.full(lam.shape, math.log(2.0))
    nz = u != 0.0
    out[nz] = np.log(2.0 * np.arctanh(u[nz]) / u[nz])
    return out


def _cb_ref(logits: np.ndarray, x: np.ndarray) -> np.ndarray:
    """logits (B, 1, *shape), x (B, *shape) -> (B,)."""
    l = logits[:, 0].astype(np.float64)
    assert l.shape == x.shape
    x = x.astype(np.float64)
    lam = 1.0 / (1.0 + np.exp(-l))
    # log(lam) and log(1 - lam) = log(sigmoid(-l)) in their stable forms (exact for large |l|).
    per_dim = x * _log_sigmoid(l) + (1.0 - x) * _log_sigmoid(-l) + _cb_log_norm(lam)
    return _sum_data(per_dim)


def test_cb_normaliser_reference_is_sane():
    # The reference itself: C is symmetric in lam <-> 1 - lam and continuous at 1/2.
    lam = np.array([0.1, 0.3, 0.5 - 1e-6, 0.5, 0.5 + 1e-6, 0.7, 0.9])
    c = np.exp(_cb_log_norm(lam))
    np.testing.assert_allclose(c, c[::-1], rtol=1e-9)
    np.testing.assert_allclose(c[2:5], 2.0, rtol=1e-6)


@pytest.mark.parametrize("shape", DATA_SHAPES)
def test_continuous_bernoulli_log_prob(shape):
    rng = _rng(3)
    logits = rng.normal(0.0, 3.0, size=(B, 1, *shape))
    # Include lam = 1/2 exactly, values near it, and fairly confident logits.
    flat = logits.reshape(B, -1)
    flat[0, 0] = 0.0
    flat[1, 0] = 0.05
    flat[2, 0] = -8.0
    flat[3, 0] = 8.0
    x = rng.random((B, *shape))
    x.reshape(B, -1)[0, 1] = 0.0
    x.reshape(B, -1)[1, 1] = 1.0
    got = _log_prob(ContinuousBernoulli(), logits, x)
    np.testing.assert_allclose(got, _cb_ref(logits, x), rtol=1e-4, atol=2e-4)


@pytest.mark.parametrize("shape", DATA_SHAPES)
def test_continuous_bernoulli_log_prob_confident_logits(shape):
    """Trained decoders emit confident logits (e.g. black MNIST borders); the density must stay exact."""
    rng = _rng(7)
    logits = rng.choice([-30.0, -20.0, 20.0, 30.0], size=(B, 1, *shape))
    x = rng.random((B, *shape))
    got = _log_prob(ContinuousBernoulli(), logits, x)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, _cb_ref(logits, x), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("logit", [-6.0, -1.5, 0.0, 0.3, 2.0, 6.0])
def test_continuous_bernoulli_density_integrates_to_one(logit):
    lik = ContinuousBernoulli()
    params = torch.full((1, 1, 1), logit, dtype=torch.float64)
    dist = lik(params)

    def density(x: float) -> float:
        with torch.no_grad():
            return float(dist.log_prob(torch.tensor([[x]], dtype=torch.float64)).exp())

    total, err = integrate.quad(density, 0.0, 1.0, limit=200)
    assert err < 1e-8
    assert total == pytest.approx(1.0, abs=1e-6)
    # Cross-check the reference density with the same quadrature.
    ref_total, _ = integrate.quad(lambda x: float(np.exp(_cb_ref(np.array([[[logit]]]), np.array([[x]]))[0])), 0.0, 1.0)
    assert ref_total == pytest.approx(1.0, abs=1e-8)


def test_bernoulli_is_not_a_density_on_grey_levels():
    """Documented behaviour: the Bernoulli log-prob on [0, 1] does not integrate to 1."""
    dist = Bernoulli()(torch.full((1, 1, 1), 0.0, dtype=torch.float64))
    total, _ = integrate.quad(lambda x: float(dist.log_prob(torch.tensor([[x]], dtype=torch.float64)).exp()), 0.0, 1.0)
    assert total == pytest.approx(0.5, abs=1e-6)  # sigmoid(0)^x (1-sigmoid(0))^(1-x) = 1/2


# --------------------------------------------------------------------------- Gaussian / Laplace


@pytest.mark.parametrize("shape", DATA_SHAPES)
@pytest.mark.parametrize("scale", [0.1, 1.0, 2.5])
@pytest.mark.parametrize(
    "cls, reference", [(Gaussian, stats.norm), (Laplace, stats.laplace)], ids=["gaussian", "laplace"]
)
def test_fixed_scale_location_families(shape, scale, cls, reference):
    rng = _rng(4)
    mu = rng.normal(size=(B, 1, *shape))
    x = mu[:, 0] + reference.rvs(scale=2 * scale, size=(B, *shape), random_state=rng)
    got = _log_prob(cls(scale=scale), mu, x)
    ref = _sum_data(reference.logpdf(x, loc=mu[:, 0], scale=scale))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("shape", DATA_SHAPES)
@pytest.mark.parametrize("min_scale", [1e-2, 0.3])
def test_gaussian_learned_scale(shape, min_scale):
    rng = _rng(5)
    mu = rng.normal(size=(B, *shape))
    raw = rng.normal(0.0, 3.0, size=(B, *shape))
    raw.reshape(B, -1)[0, 0] = -30.0  # softplus ~ 0: scale ~ min_scale
    raw.reshape(B, -1)[1, 0] = 30.0  # softplus ~ raw
    params = np.stack([mu, raw], axis=1)  # (B, 2, *shape)
    assert params.shape == (B, 2, *shape)
    scale = min_scale + np.logaddexp(0.0, raw)  # min_scale + softplus(raw), float64
    x = mu + scale * rng.normal(size=(B, *shape))
    got = _log_prob(GaussianLearned(min_scale=min_scale), params, x)
    ref = _sum_data(stats.norm.logpdf(x, loc=mu, scale=scale))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-3)


def test_gaussian_learned_uses_second_channel_as_scale_only():
    """Swapping channels changes the result: channel 0 is the mean, channel 1 the raw scale."""
    mu = np.array([[0.0, 1.0, 2.0]])
    raw = np.array([[-1.0, 0.5, 3.0]])
    x = np.array([[0.2, 1.1, 1.5]])
    lik = GaussianLearned(min_scale=0.05)
    got = _log_prob(lik, np.stack([mu, raw], axis=1), x)
    ref = _sum_data(stats.norm.logpdf(x, loc=mu, scale=0.05 + np.logaddexp(0.0, raw)))
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    swapped = _log_prob(lik, np.stack([raw, mu], axis=1), x)
    assert abs(swapped[0] - ref[0]) > 0.1


@pytest.mark.parametrize(
    "lik",
    [Bernoulli(), ContinuousBernoulli(), Gaussian(scale=0.5), GaussianLearned(), Laplace(scale=0.5)],
    ids=lambda l: type(l).__name__,
)
def test_event_covers_all_data_dims(lik):
    """batch_shape (B,), event_shape = data_shape, for both image and vector data."""
    for shape in DATA_SHAPES:
        params = torch.randn(B, lik.params_per_dim, *shape)
        dist = lik(params)
        assert tuple(dist.batch_shape) == (B,)
        assert tuple(dist.event_shape) == shape
        assert tuple(dist.mean.shape) == (B, *shape)


# --------------------------------------------------------------------------- params_per_dim


@pytest.mark.parametrize(
    "cls, want",
    [(Bernoulli, 1), (ContinuousBernoulli, 1), (Gaussian, 1), (GaussianLearned, 2), (Laplace, 1)],
)
def test_params_per_dim(cls, want):
    assert cls.params_per_dim == want
    assert params_per_dim(f"vaelab.likelihood.{cls.__name__}") == want


def test_params_per_dim_resolver_gaussian_learned():
    assert lik_mod.params_per_dim("vaelab.likelihood.GaussianLearned") == 2


# --------------------------------------------------------------------------- data range / settings


@pytest.mark.parametrize("cls", [Bernoulli, ContinuousBernoulli])
def test_unit_interval_likelihoods_reject_0_255(cls):
    lik = cls()
    with pytest.raises(ValueError) as info:
        lik.check_data_range(0.0, 255.0)
    msg = str(info.value)
    assert f"likelihood={cls.__name__} " in msg
    assert "[0, 255]" in msg
    assert "[0, 1]" in msg
    # Other out-of-range data is rejected too; data inside [0, 1] is fine.
    for low, high in [(-1.0, 1.0), (0.0, 1.0001), (0.0, math.inf), (-math.inf, 0.5)]:
        with pytest.raises(ValueError):
            lik.check_data_range(low, high)
    lik.check_data_range(0.0, 1.0)
    lik.check_data_range(0.25, 0.75)


def test_check_data_range_names_where():
    with pytest.raises(ValueError, match="the training split"):
        Bernoulli().check_data_range(0.0, 255.0, where="the training split")


@pytest.mark.parametrize("lik", [Gaussian(), GaussianLearned(), Laplace()], ids=lambda l: type(l).__name__)
def test_real_valued_likelihoods_accept_any_finite_range(lik):
    for low, high in [(0.0, 255.0), (-1e6, 1e6), (-3.0, -2.0), (0.0, 1.0)]:
        lik.check_data_range(low, high)  # must not raise
