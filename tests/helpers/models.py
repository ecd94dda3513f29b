"""Small models and data shared by the tests (the VAE's maths, metrics, pictures)."""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from torch import nn

from vaelab.likelihood import Bernoulli, Gaussian
from vaelab.model import VAE, ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder
from vaelab.objectives import ELBO
from vaelab.priors import StandardNormal
from vaelab.system import VAESystem

IMG = [1, 8, 8]
LAT = 3


def _mlp_parts(data_shape=IMG, latent_dim=LAT, likelihood=None, head_std=0.3, seed=0) -> dict:
    torch.manual_seed(seed)
    likelihood = likelihood or Bernoulli()
    enc = MLPEncoder(data_shape, latent_dim, [32])
    dec = MLPDecoder(data_shape, latent_dim, [32], params_per_dim=likelihood.params_per_dim)
    nn.init.normal_(enc.head.weight, std=head_std)
    nn.init.normal_(enc.head.bias, std=head_std)
    return {
        "encoder": enc,
        "decoder": dec,
        "likelihood": likelihood,
        "data_shape": data_shape,
        "latent_dim": latent_dim,
    }


def _mlp_vae(data_shape=IMG, latent_dim=LAT, likelihood=None, head_std=0.3, seed=0, prior=None) -> VAE:
    """A small MLP VAE; the encoder head is re-initialised larger so q(z|x) is far from N(0, I)."""
    parts = _mlp_parts(data_shape, latent_dim, likelihood, head_std, seed)
    return VAE(prior=prior or StandardNormal(latent_dim), **parts)


def _mlp_system(data_shape=IMG, latent_dim=LAT, likelihood=None, head_std=0.3, seed=0, beta=1.0, **kw) -> VAESystem:
    """The training system around the same small MLP VAE, with the ELBO objective at `beta`."""
    parts = _mlp_parts(data_shape, latent_dim, likelihood, head_std, seed)
    return VAESystem(objective=kw.pop("objective", None) or ELBO(beta=beta), **parts, **kw)


def _images(b: int, shape=IMG, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, *shape, generator=g)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def _conv_vae(data_shape, channels, likelihood=None, latent_dim=4) -> VAE:
    torch.manual_seed(0)
    likelihood = likelihood or Bernoulli()
    enc = ConvEncoder(data_shape, latent_dim, channels)
    dec = ConvDecoder(data_shape, latent_dim, channels, params_per_dim=likelihood.params_per_dim)
    nn.init.normal_(enc.head.weight, std=0.3)
    return VAE(enc, dec, likelihood, StandardNormal(latent_dim), data_shape, latent_dim)


# =========================================================================== linear-Gaussian model
# x = W z + b + sigma * noise, z ~ N(0, I): log p(x) and the ELBO are known exactly
# (the same model as tests/model/test_vae.py's, here to share).

LG_L, LG_D, LG_SIGMA = 2, 5, 0.5


def _register(module: nn.Module, name: str, value: np.ndarray, learnable: bool) -> None:
    """A float32 tensor on `module`: an nn.Parameter when learnable, else a buffer."""
    t = torch.tensor(value, dtype=torch.float32)
    if learnable:
        setattr(module, name, nn.Parameter(t))
    else:
        module.register_buffer(name, t)


class LinearGaussianDecoder(nn.Module):
    """Mean of p(x|z) = N(W z + b, sigma^2 I), shaped (B, 1, D)."""

    def __init__(self, W: np.ndarray, b: np.ndarray, learnable: bool = False):
        super().__init__()
        _register(self, "W", W, learnable)
        _register(self, "b", b, learnable)

    def forward(self, z):
        return (z @ self.W.T + self.b).view(-1, 1, self.W.shape[0])


class LinearEncoder(nn.Module):
    """q(z|x) = N(A (x - c), diag(exp(logvar))) with a logvar that does not depend on x;
    A and logvar are parameters when learnable, c is always fixed."""

    def __init__(self, A: np.ndarray, c: np.ndarray, logvar: np.ndarray, learnable: bool = False):
        super().__init__()
        _register(self, "A", A, learnable)
        _register(self, "c", c, False)
        _register(self, "lv", logvar, learnable)

    def forward(self, x):
        mu = (x - self.c) @ self.A.T
        return mu, self.lv.expand_as(mu)


class LinearGaussianProblem:
    """x = W z + b + sigma * noise, z ~ N(0, I), with W having orthogonal columns so that
    W^T W is diagonal and the exact posterior N(M (x - b), diag(var)) is diagonal."""

    def __init__(self, n: int = 128, seed: int = 0):
        rng = np.random.default_rng(seed)
        q, _ = np.linalg.qr(rng.normal(size=(LG_D, LG_D)))
        self.s = np.array([1.5, 0.8])
        self.W = q[:, :LG_L] * self.s
        self.b = rng.normal(size=LG_D)
        self.rng = rng
        wtw = self.W.T @ self.W
        assert np.allclose(wtw, np.diag(np.diag(wtw)), atol=1e-12)
        # Exact posterior: covariance (I + W^T W / sigma^2)^-1, mean cov W^T (x - b) / sigma^2.
        post_cov = np.linalg.inv(np.eye(LG_L) + wtw / LG_SIGMA**2)
        self.post_var = np.diag(post_cov).copy()
        self.M = post_cov @ self.W.T / LG_SIGMA**2
        self.cov = self.W @ self.W.T + LG_SIGMA**2 * np.eye(LG_D)
        self.X = rng.multivariate_normal(self.b, self.cov, size=n)
        self.exact = stats.multivariate_normal(self.b, self.cov).logpdf(self.X)
        self.x = torch.tensor(self.X, dtype=torch.float32)

    def vae(self, A, logvar, learnable: bool = False, **kw) -> VAE:
        return VAE(
            encoder=LinearEncoder(A, self.b, logvar, learnable),
            decoder=LinearGaussianDecoder(self.W, self.b, learnable),
            likelihood=Gaussian(scale=LG_SIGMA),
            prior=StandardNormal(LG_L),
            data_shape=[LG_D],
            latent_dim=LG_L,
            **kw,
        )

    def exact_vae(self, **kw) -> VAE:
        return self.vae(self.M, np.log(self.post_var), **kw)

    def imperfect(self, **kw) -> tuple[VAE, np.ndarray, np.ndarray]:
        """An encoder off the true posterior: means shrunk towards the prior, variances too wide."""
        A = 0.6 * self.M
        logvar = np.log(self.post_var) + 0.7
        return self.vae(A, logvar, **kw), A, logvar

    def closed_form_elbo(self, A, logvar) -> np.ndarray:
        """E_q[log N(x; W z + b, sigma^2 I)] - KL(q || N(0, I)), exactly, per x."""
        m = (self.X - self.b) @ A.T  # (N, L)
        v = np.exp(logvar)
        mean_x = m @ self.W.T + self.b
        e_loglik = stats.norm.logpdf(self.X, loc=mean_x, scale=LG_SIGMA).sum(1) - np.sum(self.W**2 * v) / (
            2 * LG_SIGMA**2
        )
        kl = 0.5 * np.sum(m**2 + v - 1 - logvar, axis=1)
        return e_loglik - kl
