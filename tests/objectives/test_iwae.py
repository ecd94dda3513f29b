"""IWAE (Burda et al., 2016) and its DReG gradient (Tucker et al., 2019).

References are independent: the bound and every gradient are recomputed in numpy float64 from
the same noise on a linear-Gaussian model whose log p(x) and ELBO are known exactly; K = 1 is
compared with the ELBO objective and with a hand-written single-sample ELBO.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats
from scipy.special import logsumexp, softmax

from tests.helpers.models import LAT, LG_L, LG_SIGMA, LinearGaussianProblem, _images, _mlp_vae, _np
from vaelab.objectives import ELBO, IWAE
from vaelab.priors import MixtureOfGaussians
from vaelab.runs.train import train


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The tensors here are tiny: a second intra-op thread only costs, and on a busy machine
    spinning threads made this file ten times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def lg() -> LinearGaussianProblem:
    return LinearGaussianProblem()


def grads(loss: torch.Tensor, params: list[torch.Tensor]) -> list[np.ndarray]:
    return [_np(g) for g in torch.autograd.grad(loss, params)]


# =========================================================================== the numpy reference


def reference(vae, X: np.ndarray, eps: np.ndarray) -> tuple[np.ndarray, dict, tuple]:
    """The linear-Gaussian model in float64, at z = mu + sigma * eps with eps (..., K, B, L):
    L_K per example (..., B), the encoder's loss gradients (dA, dlogvar) for each estimator and
    the decoder's (dW, db), each averaged over the batch like the loss."""
    A, lv, c, W, b = (_np(t) for t in (vae.encoder.A, vae.encoder.lv, vae.encoder.c, vae.decoder.W, vae.decoder.b))
    K, B = eps.shape[-3:-1]
    xc = X - c  # (B, D)
    mu, v = xc @ A.T, np.exp(lv)  # (B, L), (L,)
    z = mu + np.sqrt(v) * eps  # (..., K, B, L)
    mean_x = z @ W.T + b  # (..., K, B, D)
    log_w = (
        stats.norm.logpdf(X, mean_x, LG_SIGMA).sum(-1)
        + stats.norm.logpdf(z).sum(-1)
        - stats.norm.logpdf(z, mu, np.sqrt(v)).sum(-1)
    )  # (..., K, B)
    bound = logsumexp(log_w, axis=-2) - math.log(K)
    wt = softmax(log_w, axis=-2)  # w~_k

    r = (X - mean_x) / LG_SIGMA**2  # (..., K, B, D): d log p(x|z) / d mean_x
    g_z = r @ W - z + (z - mu) / v  # d log w / d z, log q's parameters held fixed
    # Through z: dz/dA_lj = (x - c)_j, dz_l/dlogvar_l = (z - mu)_l / 2.
    path = (g_z[..., None] * xc[:, None, :], 0.5 * g_z * (z - mu))
    # The score term -d log q(z|x) / d(A, logvar) at fixed z.
    score = (-((z - mu) / v)[..., None] * xc[:, None, :], 0.5 - 0.5 * (z - mu) ** 2 / v)

    def loss_grad(weights, t):  # -(1/B) sum_{k,b} weights_kb t_kb, t (..., K, B, *shape)
        w = weights.reshape(weights.shape + (1,) * (t.ndim - weights.ndim))
        return -(w * t).sum(axis=(weights.ndim - 2, weights.ndim - 1)) / B

    encoder = {
        "iwae": tuple(loss_grad(wt, p + s) for p, s in zip(path, score)),  # Burda et al., eq. 14
        "dreg": tuple(loss_grad(wt**2, p) for p in path),  # Tucker et al., eq. 6
        "stl": tuple(loss_grad(wt, p) for p in path),  # the score term dropped, not reweighted: biased
    }
    decoder = (loss_grad(wt, r[..., :, None] * z[..., None, :]), loss_grad(wt, r))
    return bound, encoder, decoder


def draw_eps(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """The noise the objective draws after torch.manual_seed(seed): q.rsample((K,)) is
    mu + sigma * torch.randn(K, B, L)."""
    torch.manual_seed(seed)
    return _np(torch.randn(shape))


# =========================================================================== K = 1 is the ELBO


def test_one_sample_equals_the_elbo_objective():
    """With a prior without a closed-form KL both objectives are log p(x|z) + log p(z) - log q(z|x)
    at the same z: the same value, Step and gradient for every parameter."""
    torch.manual_seed(0)
    vae = _mlp_vae(prior=MixtureOfGaussians(LAT, components=3))
    x = (_images(6) > 0.5).float()
    params = list(vae.parameters())
    steps, gradients = {}, {}
    for name, objective in (("iwae", IWAE(num_samples=1)), ("elbo", ELBO(beta=1.0))):
        torch.manual_seed(5)
        steps[name] = objective(vae, x)
        gradients[name] = grads(steps[name].loss, params)
    iw, el = steps["iwae"], steps["elbo"]
    torch.testing.assert_close(iw.loss, el.loss)
    for part in ("recon", "kl", "z"):
        torch.testing.assert_close(getattr(iw, part), getattr(el, part))
    torch.testing.assert_close(iw.terms["iw_bound"], -el.loss.detach())
    for (name, _), a, b in zip(vae.named_parameters(), gradients["iwae"], gradients["elbo"]):
        assert np.abs(b).max() > 0, name  # every parameter, prior included, has a gradient
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=name)


def test_one_sample_is_the_single_sample_elbo_at_its_own_z():
    """Standard prior (the ELBO objective's KL is then in closed form, so compare with a
    hand-written single-sample ELBO at the IWAE's own z instead)."""
    vae = _mlp_vae()
    b = 5
    x = (_images(b) > 0.5).float()
    params = list(vae.parameters())
    torch.manual_seed(11)
    step = IWAE(num_samples=1)(vae, x)
    got = grads(step.loss, params)

    mu, logvar = vae.encoder(x)
    assert logvar.min() > -12 and logvar.max() < 8  # inside the model's clamp: the same density
    eps = torch.tensor(draw_eps(11, (b, LAT)), dtype=torch.float32)
    z = mu + torch.exp(0.5 * logvar) * eps
    torch.testing.assert_close(step.z, z)
    log_px = -F.binary_cross_entropy_with_logits(vae.decoder(z)[:, 0], x, reduction="none").flatten(1).sum(1)
    log_q = (-0.5 * eps**2 - 0.5 * logvar).sum(1)  # log N(z; mu, sigma^2) as a function of (mu, logvar)
    log_p = (-0.5 * z**2).sum(1)  # the same -L/2 log(2 pi) in both cancels
    want = grads(-(log_px + log_p - log_q).mean(), params)
    for (name, _), a, w in zip(vae.named_parameters(), got, want):
        np.testing.assert_allclose(a, w, rtol=1e-4, atol=1e-6, err_msg=name)

    # The value and the ELBO's parts, in float64.
    logits, xf, m, lv, zz = (_np(t).reshape(b, -1) for t in (vae.decoder(z)[:, 0], x, mu, logvar, z))
    log_px_np = np.sum(-xf * np.logaddexp(0, -logits) - (1 - xf) * np.logaddexp(0, logits), axis=1)
    log_w = log_px_np + stats.norm.logpdf(zz).sum(1) - stats.norm.logpdf(zz, m, np.exp(0.5 * lv)).sum(1)
    np.testing.assert_allclose(float(step.loss.detach()), -log_w.mean(), rtol=1e-5)
    np.testing.assert_allclose(_np(step.recon), -log_px_np, rtol=1e-5)
    np.testing.assert_allclose(_np(step.kl), 0.5 * np.sum(m**2 + np.exp(lv) - 1 - lv, axis=1), rtol=1e-5)


# =========================================================================== the same noise, in numpy


@pytest.mark.parametrize("estimator", ["iwae", "dreg"])
def test_bound_and_gradients_match_numpy_for_the_same_noise(lg, estimator):
    vae, _, _ = lg.imperfect(learnable=True)
    k, b = 5, 16
    x, X = lg.x[:b], lg.X[:b]
    encoder, decoder = [vae.encoder.A, vae.encoder.lv], [vae.decoder.W, vae.decoder.b]
    objective = IWAE(num_samples=k, estimator=estimator)
    torch.manual_seed(3)
    step = objective(vae, x)
    got = grads(step.loss, encoder + decoder)
    bound, enc, dec = reference(vae, X, draw_eps(3, (k, b, LG_L)))

    np.testing.assert_allclose(float(step.loss.detach()), -bound.mean(), rtol=1e-6)
    np.testing.assert_allclose(float(step.terms["iw_bound"]), bound.mean(), rtol=1e-6)
    for a, want in zip(got, (*enc[estimator], *dec)):
        assert np.abs(want).max() > 1e-2
        np.testing.assert_allclose(a, want, rtol=1e-4, atol=1e-6)
    # The estimators really differ for the encoder (the test above tells them apart).
    assert not np.allclose(enc["iwae"][0], enc["dreg"][0], rtol=0.05)

    # Step's ELBO parts at the first sample: recon = -log p(x|z_1), kl in closed form.
    mu, v = _np(step.q.base_dist.loc), _np(step.q.base_dist.scale) ** 2
    z1 = _np(step.z)
    np.testing.assert_allclose(z1, mu + np.sqrt(v) * draw_eps(3, (k, b, LG_L))[0], rtol=1e-6, atol=1e-6)
    recon = -stats.norm.logpdf(X, z1 @ _np(vae.decoder.W).T + _np(vae.decoder.b), LG_SIGMA).sum(1)
    np.testing.assert_allclose(_np(step.recon), recon, rtol=1e-5)
    np.testing.assert_allclose(_np(step.kl), 0.5 * np.sum(mu**2 + v - 1 - np.log(v), axis=1), rtol=1e-5)

    # Evaluation (no gradient) gives the same value from the same noise.
    torch.manual_seed(3)
    with torch.no_grad():
        torch.testing.assert_close(objective(vae, x).loss, step.loss.detach())


def test_dreg_decoder_gradient_is_the_iwae_one_for_the_same_noise(lg):
    vae, _, _ = lg.imperfect(learnable=True)
    decoder = [vae.decoder.W, vae.decoder.b]
    got = {}
    for estimator in ("iwae", "dreg"):
        torch.manual_seed(9)
        got[estimator] = grads(IWAE(num_samples=7, estimator=estimator)(vae, lg.x).loss, decoder)
    for a, b in zip(got["iwae"], got["dreg"]):
        assert np.abs(a).max() > 1e-2
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


# =========================================================================== the bound and K


def test_bound_rises_with_k_towards_log_marginal(lg):
    """L_1 = ELBO <= L_5 <= L_50 <= L_500 <= log p(x) (Burda et al., Theorem 1), on average over
    the noise; the gap to the exact log p(x) shrinks towards 0."""
    vae, A, logvar = lg.imperfect()
    x = lg.x.repeat(8, 1)  # the 128 examples, 8 times: each call averages 1024 estimates
    reps = 10
    mean, se = {}, {}
    for k in (1, 5, 50, 500):
        objective = IWAE(num_samples=k)
        values = []
        for seed in range(reps):
            torch.manual_seed(seed)
            with torch.no_grad():
                step = objective(vae, x)
            values.append(float(step.terms["iw_bound"]))
            np.testing.assert_allclose(values[-1], -float(step.loss), rtol=1e-6)
        mean[k], se[k] = np.mean(values), np.std(values, ddof=1) / math.sqrt(reps)

    exact, elbo = lg.exact.mean(), lg.closed_form_elbo(A, logvar).mean()
    assert abs(mean[1] - elbo) < 4 * se[1]  # L_1 is the ELBO
    ks = sorted(mean)
    for lo, hi in zip(ks, ks[1:]):
        assert mean[hi] - mean[lo] > 3 * math.hypot(se[hi], se[lo]), (lo, hi, mean)
    for k in ks:
        assert mean[k] < exact + 3 * se[k], (k, mean[k], exact)
    # The gap log p(x) - L_K: over a nat at K = 1, under 1% of that at K = 500.
    assert exact - mean[1] > 1.0
    assert exact - mean[500] < 0.01 * (exact - mean[1])


# =========================================================================== DReG: unbiased, lower variance


def encoder_gradients(vae, x, k: int, estimator: str, seeds: range) -> np.ndarray:
    """The encoder's loss gradient (A and logvar, flattened) at each seed: (len(seeds), 12)."""
    params, objective = [vae.encoder.A, vae.encoder.lv], IWAE(num_samples=k, estimator=estimator)
    out = []
    for seed in seeds:
        torch.manual_seed(seed)
        out.append(np.concatenate([g.ravel() for g in grads(objective(vae, x).loss, params)]))
    return np.array(out)


def z_scores(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per coordinate, mean(a - b) in units of its standard error (paired: the same seeds)."""
    d = a - b
    return d.mean(0) / (d.std(0, ddof=1) / math.sqrt(len(d)))


def test_dreg_encoder_gradient_is_unbiased(lg):
    """E[DReG] = E[IWAE] for the encoder (Tucker et al., 2019, eq. 6), over 200 seeds at K = 5.
    The same test rejects dropping the score term without reweighting (w~ instead of w~^2)."""
    vae, _, _ = lg.imperfect(learnable=True)
    k, b, seeds = 5, 16, range(200)
    x = lg.x[:b]
    iwae = encoder_gradients(vae, x, k, "iwae", seeds)
    dreg = encoder_gradients(vae, x, k, "dreg", seeds)
    # The expected gradient is far from zero: the encoder is off the posterior.
    assert np.abs(iwae.mean(0) / (iwae.std(0, ddof=1) / math.sqrt(len(iwae)))).max() > 10
    # 12 coordinates: |z| < 4 each has a false-alarm rate of about 1e-3 in all.
    assert np.abs(z_scores(dreg, iwae)).max() < 4

    eps = np.stack([draw_eps(s, (k, b, LG_L)) for s in seeds])  # (S, K, B, L)
    _, enc, _ = reference(vae, lg.X[:b], eps)
    stl = np.concatenate([g.reshape(len(seeds), -1) for g in enc["stl"]], axis=1)
    dreg_np = np.concatenate([g.reshape(len(seeds), -1) for g in enc["dreg"]], axis=1)
    np.testing.assert_allclose(dreg, dreg_np, rtol=1e-4, atol=1e-6)  # the same draws
    assert np.abs(z_scores(stl, iwae)).max() > 10


def test_dreg_encoder_gradient_has_lower_variance_at_k50(lg):
    vae, _, _ = lg.imperfect(learnable=True)
    x, seeds = lg.x[:16], range(100)
    iwae = encoder_gradients(vae, x, 50, "iwae", seeds)
    dreg = encoder_gradients(vae, x, 50, "dreg", seeds)
    ratio = dreg.var(0, ddof=1) / iwae.var(0, ddof=1)
    # Measured ratios are about 1e-3; with 100 seeds a variance is known to about 15%.
    assert ratio.max() < 0.1, ratio


# =========================================================================== end to end


@pytest.mark.parametrize("estimator", ["iwae", "dreg"])
def test_trains_end_to_end(cfg_factory, estimator):
    cfg = cfg_factory("objective=iwae", "objective.num_samples=3", f"objective.estimator={estimator}")
    metrics = train(cfg)
    assert all(math.isfinite(v) for v in metrics.values() if isinstance(v, float))
    # The loss is -L_K, and the ELBO's parts are reported as for every objective.
    assert metrics["test/loss"] == pytest.approx(-metrics["test/iw_bound"], rel=1e-5)
    assert metrics["test/elbo"] == pytest.approx(-(metrics["test/recon"] + metrics["test/kl"]), rel=1e-5)
    assert metrics["test/kl"] >= 0
