"""Discretized logistic likelihood and its mixture (PixelCNN++): masses against scipy in float64.

Every reference comes from scipy.stats.logistic (CDF differences, or log-survival functions in
the far tails) and numpy/scipy.special, never from torch. Data are levels k/255 in [0, 1]; the
model's mu and s are in the same units; a bin has half-width h = 1/510.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import special, stats

from vaelab.config.schema import ConfigError, validate
from vaelab.likelihood import DiscretizedLogistic, DiscretizedLogisticMixture, params_per_dim
from vaelab.runs.train import train

H = 0.5 / 255
LEVELS = np.arange(256) / 255.0
MIN_LOG_SCALE = -8.0
B, SHAPE = 4, (1, 3, 5)


def _log_scale(raw: np.ndarray) -> np.ndarray:
    """The likelihood's smooth bound: log s = min + softplus(raw - min), float64."""
    return MIN_LOG_SCALE + np.logaddexp(0.0, raw - MIN_LOG_SCALE)


def _ref_log_mass(x: np.ndarray, mu: np.ndarray, log_s: np.ndarray) -> np.ndarray:
    """log P(x) per element from scipy's logistic CDF, float64 (PixelCNN++ eq. 2 on [0, 1]).

    Edge bins take the tails. Interior bins: the CDF difference on the side of mu where it does
    not cancel (cdf below mu, sf above), and in the far tails, where even that underflows,
    log sf(a) + log(1 - exp(log sf(b) - log sf(a))) (and its mirror), which never cancels."""
    x, mu, s = np.broadcast_arrays(x, mu, np.exp(log_s))
    a, b = (x - H - mu) / s, (x + H - mu) / s
    lo = stats.logistic.logcdf(b) + np.log(-np.expm1(stats.logistic.logcdf(a) - stats.logistic.logcdf(b)))
    hi = stats.logistic.logsf(a) + np.log(-np.expm1(stats.logistic.logsf(b) - stats.logistic.logsf(a)))
    out = np.where(x <= mu, lo, hi)
    out = np.where(x < H, stats.logistic.logcdf(b), out)  # x = 0: P(Y < h)
    return np.where(x > 1 - H, stats.logistic.logsf(a), out)  # x = 1: P(Y > 1 - h)


def _dist(lik, params: np.ndarray):
    return lik(torch.as_tensor(params))


def _random_params(rng, n_mix: int | None, extreme: bool) -> np.ndarray:
    """(B, P, *SHAPE) decoder outputs; extreme: means far outside [0, 1], raw log-scales +-40."""
    m = 1 if n_mix is None else n_mix
    mu = rng.uniform(-0.3, 1.3, size=(B, m, *SHAPE))
    raw = rng.uniform(-10.0, 2.0, size=(B, m, *SHAPE))
    if extreme:
        mu.reshape(-1)[::3] = rng.choice([-30.0, 30.0, 0.0, 1.0, 127.5 / 255], size=mu.reshape(-1)[::3].shape)
        raw.reshape(-1)[::2] = rng.choice([-40.0, 40.0], size=raw.reshape(-1)[::2].shape)
    parts = [mu, raw] if n_mix is None else [rng.normal(0.0, 3.0, size=mu.shape), mu, raw]
    return np.concatenate(parts, axis=1)


LIKELIHOODS = [(DiscretizedLogistic, None), (DiscretizedLogisticMixture, 3)]


@pytest.mark.parametrize("extreme", [False, True], ids=["ordinary", "extreme"])
@pytest.mark.parametrize("cls, n_mix", LIKELIHOODS, ids=["single", "mixture"])
def test_the_256_bin_masses_of_every_pixel_sum_to_one(cls, n_mix, extreme):
    lik = cls() if n_mix is None else cls(n_mix=n_mix)
    params = _random_params(np.random.default_rng(0), n_mix, extreme)
    per_pixel = _dist(lik, params).base_dist  # batch shape (B, *SHAPE), one pixel each
    levels = torch.as_tensor(LEVELS).reshape(256, 1, 1, 1, 1)
    with torch.no_grad():
        log_p = per_pixel.log_prob(levels)  # (256, B, *SHAPE)
    assert log_p.shape == (256, B, *SHAPE) and log_p.dtype == torch.float64
    assert torch.isfinite(log_p).all() and (log_p <= 1e-12).all()
    np.testing.assert_allclose(log_p.exp().sum(0).numpy(), 1.0, atol=1e-6)


def test_log_prob_matches_scipy_including_far_tails():
    rng = np.random.default_rng(1)
    mu = rng.uniform(-0.2, 1.2, size=(B, *SHAPE))
    raw = rng.uniform(-7.0, 0.0, size=(B, *SHAPE))
    x = rng.integers(0, 256, size=(B, *SHAPE)) / 255.0
    x.reshape(B, -1)[:, :2] = [0.0, 1.0]  # both edge bins in every example
    # Far tails: 100 and 400 scales away, where a float32 CDF difference is exactly 0.
    mu.reshape(B, -1)[:, 2:4] = [0.9, 0.1]
    raw.reshape(B, -1)[:, 2:4] = math.log(0.002)
    x.reshape(B, -1)[:, 2:4] = [100 / 255, 230 / 255]
    ref = _ref_log_mass(x, mu, _log_scale(raw))
    assert np.all(np.isfinite(ref)) and ref.reshape(B, -1)[:, 2:4].max() < -150
    for dtype, rtol in ((torch.float64, 1e-10), (torch.float32, 1e-5)):
        dist = DiscretizedLogistic()(torch.as_tensor(np.stack([mu, raw], axis=1), dtype=dtype))
        with torch.no_grad():
            per_pixel = dist.base_dist.log_prob(torch.as_tensor(x, dtype=dtype)).double().numpy()
            summed = dist.log_prob(torch.as_tensor(x, dtype=dtype)).double().numpy()
        np.testing.assert_allclose(per_pixel, ref, rtol=rtol, atol=rtol)
        # log_prob sums over the data dimensions: one number per example.
        assert summed.shape == (B,)
        np.testing.assert_allclose(summed, ref.reshape(B, -1).sum(1), rtol=rtol)


def test_mixture_with_one_component_is_the_single_logistic():
    rng = np.random.default_rng(2)
    single = _random_params(rng, None, extreme=True)  # (B, 2, *SHAPE): mu, raw log s
    as_mixture = np.concatenate([rng.normal(size=(B, 1, *SHAPE)), single], axis=1)  # any logit
    x = torch.as_tensor(rng.integers(0, 256, size=(B, *SHAPE)) / 255.0)
    one, mix = _dist(DiscretizedLogistic(), single), _dist(DiscretizedLogisticMixture(n_mix=1), as_mixture)
    with torch.no_grad():
        torch.testing.assert_close(mix.log_prob(x), one.log_prob(x), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(mix.mean, one.mean, rtol=1e-12, atol=1e-12)


def test_mixture_log_prob_is_logsumexp_of_weighted_components():
    """Also with the (K, B) batch of importance sampling against data (B, ...)."""
    rng = np.random.default_rng(3)
    n_mix, k = 4, 3
    logits = rng.normal(0.0, 2.0, size=(k, B, n_mix, *SHAPE))
    mu = rng.uniform(-0.2, 1.2, size=(k, B, n_mix, *SHAPE))
    raw = rng.uniform(-8.0, 0.0, size=(k, B, n_mix, *SHAPE))
    x = rng.integers(0, 256, size=(B, *SHAPE)) / 255.0
    x.reshape(B, -1)[:, :2] = [0.0, 1.0]
    log_pi = logits - special.logsumexp(logits, axis=2, keepdims=True)  # log softmax over components
    comp = _ref_log_mass(x[None, :, None], mu, _log_scale(raw))  # (k, B, n_mix, *SHAPE)
    ref = special.logsumexp(log_pi + comp, axis=2).reshape(k, B, -1).sum(-1)  # (k, B)
    params = torch.as_tensor(np.concatenate([logits, mu, raw], axis=2))  # (k, B, 3 n_mix, *SHAPE)
    dist = DiscretizedLogisticMixture(n_mix=n_mix)(params, event_dims=len(SHAPE))
    assert tuple(dist.batch_shape) == (k, B) and tuple(dist.event_shape) == SHAPE
    with torch.no_grad():
        got = dist.log_prob(torch.as_tensor(x)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    # The mean is the mixture of the components' exact means, sum_k (k/255) P_k.
    p = np.exp(_ref_log_mass(LEVELS.reshape(256, 1, 1, 1, 1, 1, 1), mu, _log_scale(raw)))
    comp_mean = (LEVELS.reshape(256, 1, 1, 1, 1, 1, 1) * p).sum(0)
    np.testing.assert_allclose(dist.mean.numpy(), (np.exp(log_pi) * comp_mean).sum(2), rtol=1e-9, atol=1e-12)


def test_mean_and_samples_follow_the_bin_masses():
    mu = np.array([-0.01, 0.4, 0.97, 0.5])
    raw = np.log([0.02, 0.05, 0.03, 1e-3])
    p = np.exp(_ref_log_mass(LEVELS[:, None], mu, _log_scale(raw)))  # (256, 4)
    dist = DiscretizedLogistic()(torch.as_tensor(np.stack([mu, raw])[None]))  # batch (1,), event (4,)
    np.testing.assert_allclose(dist.mean[0].numpy(), LEVELS @ p, rtol=1e-10, atol=1e-13)
    torch.manual_seed(0)
    n = 40_000
    draws = dist.sample((n,))[:, 0].numpy()  # (n, 4)
    k = np.rint(draws * 255).astype(int)
    np.testing.assert_array_equal(k / 255.0, draws)  # exactly on the grid
    freq = np.stack([np.bincount(k[:, j], minlength=256) for j in range(4)], axis=1) / n
    # Every bin within 5 binomial standard errors of its mass (edge bins included).
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-3)


@pytest.mark.parametrize("cls, n_mix", LIKELIHOODS, ids=["single", "mixture"])
def test_gradients_are_finite_at_extreme_parameters(cls, n_mix):
    lik = cls() if n_mix is None else cls(n_mix=n_mix)
    m = 1 if n_mix is None else n_mix
    grid = torch.tensor([-1e3, -40.0, 0.0, 0.5, 1.0, 40.0, 1e3], dtype=torch.float32)
    mu, raw = torch.meshgrid(grid, grid, indexing="ij")  # every pairing of extreme mu and raw log s
    mu, raw = mu.reshape(1, 1, -1).expand(3, m, -1), raw.reshape(1, 1, -1).expand(3, m, -1)
    parts = [mu, raw] if n_mix is None else [torch.linspace(-50, 50, m).reshape(1, m, 1).expand_as(mu), mu, raw]
    params = torch.cat(parts, dim=1).clone().requires_grad_(True)  # (3, P, 49)
    x = torch.tensor([0.0, 128 / 255, 1.0]).reshape(3, 1).expand(3, grid.numel() ** 2)
    log_p = lik(params).log_prob(x)
    assert torch.isfinite(log_p).all()
    (-log_p.sum()).backward()
    assert torch.isfinite(params.grad).all()


def test_params_per_dim_and_decoder_width():
    assert DiscretizedLogistic.params_per_dim == params_per_dim("vaelab.likelihood.DiscretizedLogistic") == 2
    # The config resolver sees the class: the width for the default n_mix=5.
    assert (
        params_per_dim("vaelab.likelihood.DiscretizedLogisticMixture")
        == 15
        == DiscretizedLogisticMixture().params_per_dim
    )
    assert DiscretizedLogisticMixture(n_mix=10).params_per_dim == 30
    with pytest.raises(ValueError) as info:
        DiscretizedLogisticMixture(n_mix=10)(torch.zeros(2, 15, 1, 4, 4))
    assert str(info.value) == (
        "likelihood.n_mix=10 needs 30 decoder outputs per data dimension, but the decoder gives 15: "
        "set model.decoder.params_per_dim=30"
    )


@pytest.mark.parametrize("cls", [DiscretizedLogistic, DiscretizedLogisticMixture])
def test_data_off_the_8_bit_grid_is_refused_in_one_line(cls):
    lik = cls()
    rng = np.random.default_rng(4)
    # On the grid: every 8-bit level as float32 (how the data modules store bytes / 255) and binary data.
    lik.check_data(torch.arange(256, dtype=torch.uint8).float().div(255.0).reshape(4, 1, 8, 8))
    lik.check_data(torch.as_tensor(rng.random((50, 1, 8, 8)) < 0.5, dtype=torch.float32))
    lik.check_data_range(0.0, 1.0)
    digits_16 = torch.as_tensor(rng.integers(0, 17, (50, 1, 8, 8)) / 16.0, dtype=torch.float32)  # 17 levels
    digits_16[0, 0, 0, 0] = 3 / 16  # 47.8 levels: off the grid
    for bad, shown in [(digits_16, "0.1875"), (torch.full((3, 2), 0.5), "0.5")]:
        with pytest.raises(ValueError) as info:
            lik.check_data(bad, where="the train split (data=x)")
        msg = str(info.value)
        assert "\n" not in msg
        assert msg.startswith(f"likelihood={cls.__name__} models 8-bit levels k/255 in [0, 1], but the train split")
        assert f"has {shown}," in msg and "likelihood=continuous_bernoulli" in msg
    # Out of [0, 1] (the base class's message), and range ends that are not levels.
    with pytest.raises(ValueError, match=r"models data in \[0, 1\], but the data spans \[0, 255\]"):
        lik.check_data(torch.tensor([0.0, 255.0]))
    with pytest.raises(ValueError, match="has 0.999,"):
        lik.check_data_range(0.0, 0.999)
    # log_prob refuses rather than silently rounding data to the grid.
    with pytest.raises(ValueError, match=r"^DiscretizedLogisticDistribution models 8-bit levels .* got 0.3 \(1 of 4"):
        lik(torch.zeros(1, lik.params_per_dim, 4)).log_prob(torch.tensor([[0.0, 0.3, 1.0, 2 / 255]]))


def test_mixture_config_validates_and_n_mix_is_checked(cfg_factory):
    """(likelihood=discretized_logistic is composed and validated by the short run below.)"""
    cfg = cfg_factory("likelihood=discretized_logistic_mixture")
    validate(cfg)
    assert cfg.model.decoder.params_per_dim == 3 * cfg.likelihood.n_mix
    cfg.likelihood.n_mix = 0
    with pytest.raises(ConfigError, match=r"^likelihood.n_mix=0: .*>= 1"):
        validate(cfg)


def test_short_run_on_8_bit_digits_reports_a_finite_bpd(cfg_factory, tmp_path):
    """sklearn's digits (17 grey levels) stored as bytes: round(v / 16 * 255), read back / 255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.rint(digits.images / 16.0 * 255).astype(np.uint8)  # (1797, 8, 8)
    np.savez(tmp_path / "digits8.npz", x=x, y=digits.target.astype(np.int64))
    cfg = cfg_factory(
        "data=array",
        f"data.path={tmp_path / 'digits8.npz'}",
        "data.scale=255",
        "likelihood=discretized_logistic",
        "model.encoder.hidden=[64]",
    )
    metrics = train(cfg)
    bpd, nll = metrics["test/bpd"], metrics["test/nll"]
    # A code length in bits per 8-bit pixel: positive and finite (3 training batches: far from good).
    assert math.isfinite(bpd) and bpd > 0
    assert bpd == pytest.approx(nll / (64 * math.log(2)), rel=1e-5)
    # Pictures use the likelihood's mean.
    assert (tmp_path / "run" / "images" / "samples_epoch000.png").is_file()


def test_training_on_data_off_the_8bit_grid_is_refused_before_it_starts(cfg_factory):
    from pathlib import Path

    from vaelab.runs.train import train

    # scikit-learn's digits hold 17 grey levels, k/16: most are not levels k/255.
    cfg = cfg_factory("likelihood=discretized_logistic", "data.binarize=none")
    with pytest.raises(ValueError, match=r"the train split \(data=vaelab.data.Digits\) has .* not within 1e-06") as err:
        train(cfg)
    assert "\n" not in str(err.value)
    assert not (Path(cfg.paths.output_dir) / "checkpoints").exists()  # no step was taken
