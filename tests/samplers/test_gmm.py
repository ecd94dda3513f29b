"""The ex-post GMM sampler (Ghosh et al., 2020): fitted to codes drawn from a known two-component
mixture it recovers the weights and means, its draws have the mixture's moments, its temperature
scales every component's covariance by T^2; on a real model it is fitted to the train split's
posterior means."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from tests.helpers import OLD_CHECKPOINT
from vaelab.config import targets
from vaelab.runs.checkpoint import load_model
from vaelab.samplers import GMMSampler

# The true mixture: weights (2,), means (2, 2), covariances (2, 2, 2); well apart.
W = np.array([0.3, 0.7])
M = np.array([[-3.0, 0.0], [3.0, 1.0]])
S = np.array([[[1.0, 0.5], [0.5, 1.0]], [[0.5, -0.2], [-0.2, 2.0]]])
N = 6000


def draw_codes(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = rng.choice(2, size=n, p=W)
    return np.stack([rng.multivariate_normal(M[j], S[j]) for j in k])  # (n, 2)


def mixture_moments(w, m, s) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of a Gaussian mixture: sum w_k m_k and sum w_k (S_k + m_k m_k^T) - mean mean^T."""
    mean = (w[:, None] * m).sum(0)
    second = (w[:, None, None] * (s + m[:, :, None] * m[:, None, :])).sum(0)
    return mean, second - np.outer(mean, mean)


@pytest.fixture(scope="module")
def fitted() -> tuple[GMMSampler, np.ndarray]:
    codes = draw_codes(N)
    return GMMSampler(n_components=2, seed=0).fit_codes(torch.from_numpy(codes)), codes


def test_fit_recovers_the_mixture(fitted):
    sampler, codes = fitted
    order = np.argsort(sampler.means[:, 0].numpy())  # components in the order of the true ones
    w, m = sampler.weights.numpy()[order], sampler.means.numpy()[order]
    # Standard errors of a weight and of a component mean estimated from ~N w_k codes.
    assert np.all(np.abs(w - W) < 5 * np.sqrt(W * (1 - W) / N))
    se_m = np.sqrt(np.diagonal(S, axis1=1, axis2=2) / (N * W[:, None]))
    assert np.all(np.abs(m - M) < 5 * se_m), (m, M)
    # An EM fixed point: the weighted means and covariances reproduce the codes' own moments.
    mean, cov = mixture_moments(sampler.weights.numpy(), sampler.means.numpy(), sampler.covariances.numpy())
    assert mean == pytest.approx(codes.mean(0), abs=1e-6)
    assert cov == pytest.approx(np.cov(codes.T, bias=True), abs=1e-4)


def test_draws_have_the_mixtures_moments(fitted):
    sampler, _ = fitted
    torch.manual_seed(0)
    n = 40_000
    z = sampler.distribution(temperature=1.0).sample((n,)).numpy()  # (n, 2)
    # The fitted mixture's closed-form moments (its distance to the true one: the test above).
    mean, cov = mixture_moments(*(t.numpy() for t in (sampler.weights, sampler.means, sampler.covariances)))
    # 5 standard errors of a sample mean, sqrt(var / n), and of a sample covariance entry,
    # sqrt(Var[(z_i - mean_i)(z_j - mean_j)] / n), estimated from the draws.
    assert np.all(np.abs(z.mean(0) - mean) < 5 * np.sqrt(np.diag(cov) / n))
    centred = z - z.mean(0)
    products = centred[:, :, None] * centred[:, None, :]  # (n, 2, 2)
    assert np.all(np.abs(products.mean(0) - cov) < 5 * products.std(0) / math.sqrt(n))


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_temperature_scales_each_components_covariance(fitted, temperature):
    sampler, _ = fitted
    w, m, s = (t.numpy() for t in (sampler.weights, sampler.means, sampler.covariances))
    z = draw_codes(100, seed=1)
    want = logsumexp(
        [np.log(w[k]) + multivariate_normal(m[k], temperature**2 * s[k]).logpdf(z) for k in range(2)], axis=0
    )
    got = sampler.distribution(temperature=temperature).log_prob(torch.from_numpy(z)).numpy()
    assert got == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_too_few_codes_for_the_components_is_one_line():
    with pytest.raises(ValueError, match=r"^sampler.n_components=10: the train split has only 5 examples"):
        GMMSampler(n_components=10).fit_codes(torch.randn(5, 2))


def test_fit_on_a_model_reads_the_train_splits_posterior_means():
    system, cfg, _ = load_model(OLD_CHECKPOINT)
    model = system.vae
    datamodule = targets.instantiate(cfg.data, path="data")
    datamodule.setup("fit")
    sampler = GMMSampler(n_components=3, seed=0).fit(model, datamodule)
    # The same inputs as the fit (the training loader: one binarisation draw each), encoded here.
    with torch.no_grad():
        codes = torch.cat([model.encode(x).mean for x, _ in datamodule.loader("train", True)]).double()
    assert len(codes) == len(datamodule.splits["train"][0])
    mean, _ = mixture_moments(*(t.numpy() for t in (sampler.weights, sampler.means, sampler.covariances)))
    assert mean == pytest.approx(codes.mean(0).numpy(), abs=1e-5)
    assert sampler.distribution(model, 1.0).event_shape == (model.latent_dim,)
    assert math.isclose(float(sampler.weights.sum()), 1.0, rel_tol=1e-9)
