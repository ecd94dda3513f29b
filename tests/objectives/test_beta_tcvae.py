"""beta-TCVAE's minibatch estimators of MI, TC and dimension-wise KL: against scipy on a small
batch, against the closed-form TC of Gaussians on large ones, and a training run end to end."""

from __future__ import annotations

import logging
import math
import sys

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm
from torch.distributions import Independent, Normal

from tests.helpers.models import _mlp_vae, _np
from vaelab.cli.train import main as train_main
from vaelab.config import targets
from vaelab.objectives import BetaTCVAE
from vaelab.objectives.beta_tcvae import decompose_kl, log_importance_weights
from vaelab.priors import MixtureOfGaussians
from vaelab.runs.checkpoint import load_model
from vaelab.runs.train import train


def standard_prior(latent_dim: int) -> Independent:
    return Independent(
        Normal(torch.zeros(latent_dim, dtype=torch.float64), torch.ones(latent_dim, dtype=torch.float64)), 1
    )


def gaussian_posteriors(cov: np.ndarray, m: int, sigma: float, seed: int = 0):
    """Posterior means mu ~ N(0, cov), q(z|x_i) = N(mu_i, sigma^2 I) and one sample z_i of each:
    as M grows the aggregate posterior tends to N(0, cov + sigma^2 I)."""
    g = torch.Generator().manual_seed(seed)
    chol = torch.linalg.cholesky(torch.as_tensor(cov, dtype=torch.float64))
    mu = torch.randn(m, len(cov), generator=g, dtype=torch.float64) @ chol.T  # (M, L)
    z = mu + sigma * torch.randn(m, len(cov), generator=g, dtype=torch.float64)
    return z, mu, torch.full_like(mu, 2 * math.log(sigma))


def gaussian_tc(cov: np.ndarray) -> float:
    """KL(N(0, S) || prod_j N(0, S_jj)) = (sum_j log S_jj - log det S) / 2."""
    return 0.5 * (np.log(np.diag(cov)).sum() - np.linalg.slogdet(cov)[1])


def reference(z, mu, logvar, n, sampling):
    """The paper's estimators written out with loops in numpy/scipy, float64."""
    m, latent = z.shape
    sd = np.exp(0.5 * logvar)
    if sampling == "mws":  # Section 4.1: 1/(N M) for every example
        w = np.full((m, m), 1 / (n * m))
    else:  # Appendix C.2: 1/N own, (N - M + 1)/(N (M - 1)) one other, 1/(M - 1) the rest
        w = np.array(
            [
                [
                    1 / n if j == i else (n - m + 1) / (n * (m - 1)) if j == (i + 1) % m else 1 / (m - 1)
                    for j in range(m)
                ]
                for i in range(m)
            ]
        )
    log_q_zx = norm.logpdf(z, mu, sd).sum(1)
    log_qz = np.array([logsumexp([norm.logpdf(z[i], mu[j], sd[j]).sum() for j in range(m)], b=w[i]) for i in range(m)])
    log_qz_d = np.array(
        [[logsumexp(norm.logpdf(z[i, d], mu[:, d], sd[:, d]), b=w[i]) for d in range(latent)] for i in range(m)]
    )
    mi = log_q_zx - log_qz
    tc = log_qz - log_qz_d.sum(1)
    dwkl = (log_qz_d - norm.logpdf(z)).sum(1)
    return mi, tc, dwkl


# =========================================================================== the estimators


@pytest.mark.parametrize("sampling", ["mws", "mss"])
def test_estimators_match_scipy(sampling):
    g = torch.Generator().manual_seed(3)
    mu = torch.randn(6, 3, generator=g, dtype=torch.float64)
    logvar = torch.randn(6, 3, generator=g, dtype=torch.float64) - 1
    z = mu + torch.exp(0.5 * logvar) * torch.randn(6, 3, generator=g, dtype=torch.float64)
    ours = decompose_kl(z, mu, logvar, standard_prior(3), 50, sampling)
    for got, want in zip(ours, reference(_np(z), _np(mu), _np(logvar), 50, sampling), strict=True):
        np.testing.assert_allclose(_np(got), want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("m, n", [(2, 10), (5, 5), (64, 60000)])
def test_stratified_weights_are_a_distribution(m, n):
    w = log_importance_weights(m, n, "mss").exp()
    np.testing.assert_allclose(_np(w.sum(1)), np.ones(m), rtol=1e-12)
    assert (w > 0).all()
    np.testing.assert_allclose(_np(w.diagonal()), np.full(m, 1 / n))


@pytest.mark.parametrize("sampling", ["mws", "mss"])
def test_terms_sum_to_the_kl_estimate(sampling):
    """MI + TC + DWKL telescopes to log q(z|x) - log p(z), whatever the estimate of q(z)."""
    g = torch.Generator().manual_seed(4)
    mu = 2 * torch.randn(32, 5, generator=g, dtype=torch.float64)
    logvar = torch.randn(32, 5, generator=g, dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(32, 5, generator=g, dtype=torch.float64)
    mi, tc, dwkl = decompose_kl(z, mu, logvar, standard_prior(5), 1000, sampling)
    kl_estimate = norm.logpdf(_np(z), _np(mu), np.exp(0.5 * _np(logvar))).sum(1) - norm.logpdf(_np(z)).sum(1)
    np.testing.assert_allclose(_np(mi + tc + dwkl), kl_estimate, rtol=1e-12, atol=1e-10)


def test_tc_of_independent_latents_is_near_zero():
    """Narrow posteriors around draws of a diagonal Gaussian: the aggregate posterior factorises."""
    cov = np.diag([1.0, 0.25])
    z, mu, logvar = gaussian_posteriors(cov, 2000, sigma=0.1)
    _, tc, _ = decompose_kl(z, mu, logvar, standard_prior(2), 2000, "mss")
    assert abs(float(tc.mean())) < 0.05
    correlated = gaussian_tc(np.array([[1.0, 0.9], [0.9, 1.0]]))
    assert abs(float(tc.mean())) < 0.1 * correlated  # and far below what a correlation gives
    # The paper's mws estimate is the same up to its constant offset (L - 1) log N.
    _, tc_mws, _ = decompose_kl(z, mu, logvar, standard_prior(2), 2000, "mws")
    assert float(tc_mws.mean()) - math.log(2000) == pytest.approx(float(tc.mean()), abs=0.01)


def test_tc_approaches_closed_form_as_batch_grows():
    """With M = N the batch is the whole data set: the estimate tends to the aggregate posterior's
    TC, that of N(0, Sigma + sigma^2 I) (close to Sigma's own for narrow posteriors)."""
    cov, sigma = np.array([[1.0, 0.9], [0.9, 1.0]]), 0.1
    exact = gaussian_tc(cov + sigma**2 * np.eye(2))
    errors = {}
    for m in (250, 4000):
        z, mu, logvar = gaussian_posteriors(cov, m, sigma)
        _, tc, _ = decompose_kl(z, mu, logvar, standard_prior(2), m, "mss")
        errors[m] = abs(float(tc.mean()) - exact)
    assert errors[4000] < 0.1 * exact
    assert errors[4000] < errors[250] / 2


def test_needs_a_factorised_prior():
    prior = MixtureOfGaussians(3, components=4)()
    z = torch.zeros(4, 3)
    with pytest.raises(ValueError, match=r"objective=beta_tcvae.*prior=standard"):
        decompose_kl(z, z, z, prior, 100)


@pytest.mark.parametrize("prior", ["mog", "vamp"])
def test_a_prior_that_is_not_factorised_is_one_line_before_any_work(tmp_path, monkeypatch, capsys, prior):
    """train.py refuses it when the system is built (before data, DDP processes or a step)."""
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    words = [f"paths.log_dir={tmp_path}", "data=digits", "logger=none", "objective=beta_tcvae", f"prior={prior}"]
    monkeypatch.setattr(sys, "argv", ["train.py", *words])
    assert train_main() == 1
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line.startswith("error: objective=beta_tcvae needs a factorised prior") and line.endswith(
        "use prior=standard"
    )
    assert not list(tmp_path.glob("**/*.ckpt"))


# =========================================================================== the objective


def test_loss_weights_each_term():
    """loss = mean recon + alpha MI + beta * kl_weight * TC + gamma DWKL at the ELBO's own z."""
    model = _mlp_vae(latent_dim=3)
    objective = BetaTCVAE(alpha=0.5, beta=6.0, gamma=2.0, sampling="mss")
    objective.dataset_size = 500
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    step = objective(model, x, kl_weight=0.25)
    q = step.q.base_dist
    mi, tc, dwkl = decompose_kl(step.z, q.loc, 2 * q.scale.log(), model.prior_dist(), 500, "mss")
    want = step.recon.mean() + 0.5 * mi.mean() + 6.0 * 0.25 * tc.mean() + 2.0 * dwkl.mean()
    torch.testing.assert_close(step.loss, want)
    assert step.terms.keys() == {"mi", "tc", "dwkl"}
    torch.testing.assert_close(step.terms["tc"], tc.mean())
    step.loss.backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_dataset_size_survives_the_state_dict(caplog):
    objective = BetaTCVAE()
    assert objective.dataset_size is None
    objective.dataset_size = 1234
    restored = BetaTCVAE()
    restored.load_state_dict(objective.state_dict())
    assert restored.dataset_size == 1234
    # Unknown N: the batch stands in for the data set, with one warning.
    unknown, model, x = BetaTCVAE(), _mlp_vae(), torch.rand(8, 1, 8, 8)
    with caplog.at_level(logging.WARNING, logger="vaelab.objectives.beta_tcvae"):
        torch.manual_seed(0)
        step = unknown(model, x)
        unknown(model, x)
    assert sum("training-set size is unknown" in r.message for r in caplog.records) == 1
    q = step.q.base_dist
    _, tc, _ = decompose_kl(step.z, q.loc, 2 * q.scale.log(), model.prior_dist(), 8, "mws")
    torch.testing.assert_close(step.terms["tc"], tc.mean())


def test_trains_on_digits_and_checkpoints_n(cfg_factory):
    cfg = cfg_factory("objective=beta_tcvae", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1")
    metrics = train(cfg)
    for key in ("test/loss", "test/mi", "test/tc", "test/dwkl", "test/kl"):
        assert math.isfinite(metrics[key]), key
    data = targets.instantiate(cfg.data, path="data")
    data.setup("fit")
    model, _, _ = load_model(metrics["best_checkpoint"])
    assert model.objective.dataset_size == len(data.splits["train"][0])
