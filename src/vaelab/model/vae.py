"""The probabilistic model: encoder q(z|x), prior p(z), decoder and likelihood p(x|z).

A plain `nn.Module`, usable without Lightning (vaelab.system trains it). Notation
(Kingma & Welling, 2014, "Auto-Encoding Variational Bayes"):
    q(z|x) = N(mu(x), diag(exp(logvar(x))))           the encoder's posterior
    p(z)                                              the prior (vaelab.priors)
    p(x|z)                                            the likelihood, from the decoder
    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z))    <= log p(x)
Per-example terms have shape (B,), in nats; what to optimise is the objective's business
(vaelab.objectives).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal, kl_divergence

from vaelab.config.types import PosInt, Shape
from vaelab.errors import ConfigError
from vaelab.likelihood import Likelihood

# Safe range for the encoder's log-variance: exp(-12) ~ 6e-6 and exp(8) ~ 3e3 are far
# outside what ordinary training reaches, but keep exp() and the KL finite.
LOGVAR_RANGE = (-12.0, 8.0)


class VAE(nn.Module):
    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        likelihood: Likelihood,
        prior: nn.Module,
        data_shape: Shape,
        latent_dim: PosInt,
        iw_rows_per_chunk: PosInt = 4096,
    ):
        super().__init__()
        self.encoder, self.decoder, self.likelihood, self.prior = encoder, decoder, likelihood, prior
        self.data_shape = tuple(int(s) for s in data_shape)
        self.latent_dim = int(latent_dim)
        self.iw_rows_per_chunk = int(iw_rows_per_chunk)
        self.is_image = len(self.data_shape) == 3
        # Follows the module's device; tells where to put new tensors (samples, grids).
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)

    @property
    def device(self) -> torch.device:
        return self._anchor.device

    # ----------------------------------------------------------------- the three distributions

    def forward(self, x: torch.Tensor) -> Distribution:
        """Inference only: the posterior q(z|x) for a batch x of shape (B, *data_shape)."""
        return self.encode(x)

    def encode(self, x: torch.Tensor) -> Distribution:
        """q(z|x): a diagonal Gaussian with batch shape (B,) and event shape (latent_dim,)."""
        mu, logvar = (t.float() for t in self.encoder(x))  # float32 even under bf16 autocast
        logvar = logvar.clamp(*LOGVAR_RANGE)
        # Normal.rsample is the reparameterisation z = mu + exp(logvar / 2) * eps, eps ~ N(0, I).
        # No argument validation: the clamp keeps the scale positive, and checking it costs a step time.
        return Independent(Normal(mu, torch.exp(0.5 * logvar), validate_args=False), 1, validate_args=False)

    def prior_dist(self) -> Distribution:
        """p(z): batch shape (), event shape (latent_dim,). A VampPrior reads the encoder."""
        return self.prior(self.encode)

    def decode(self, z: torch.Tensor) -> Distribution:
        """p(x|z) for z of shape (*batch, latent_dim): batch shape `batch`, event shape data_shape."""
        params = self.decoder(z.reshape(-1, self.latent_dim)).float()  # (N, P, *data_shape); float32 densities
        params = params.view(*z.shape[:-1], *params.shape[1:])
        return self.likelihood(params, event_dims=len(self.data_shape))

    # ----------------------------------------------------------------- the ELBO and log p(x)

    def kl(self, q: Distribution, z: torch.Tensor, prior: Distribution | None = None) -> torch.Tensor:
        """KL(q(z|x) || p(z)) per example, (B,): in closed form when the prior has one (a Gaussian),
        else the one-sample Monte Carlo estimate log q(z|x) - log p(z) at the z the ELBO uses."""
        prior = self.prior_dist() if prior is None else prior
        if isinstance(prior, Independent) and isinstance(prior.base_dist, Normal):
            return kl_divergence(q, prior)
        return q.log_prob(z) - prior.log_prob(z)

    def elbo_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example (recon, kl), each (B,): recon = -log p(x|z) at one z ~ q(z|x)."""
        recon, kl, _, _ = self.elbo_sample(x)
        return recon, kl

    def elbo_sample(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Distribution, torch.Tensor]:
        """(recon, kl, q, z): the ELBO's parts per example (B,), the posterior and its sample z (B, L)."""
        q = self.encode(x)
        z = q.rsample()  # (B, latent_dim), differentiable in mu and logvar
        recon = -self.decode(z).log_prob(x)
        return recon, self.kl(q, z), q, z

    @torch.no_grad()
    def log_marginal(self, x: torch.Tensor, num_samples: int) -> torch.Tensor:
        """Importance-weighted estimate of log p(x), shape (B,) (Burda et al., 2016, eq. 8):
            log p(x) ~ log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x),   z_k ~ q(z|x).
        The K samples are taken in chunks of about `iw_rows_per_chunk` decoded rows and
        combined with log-sum-exp, so memory stays bounded for any K. Chunks of a few thousand
        rows keep the decoder's output in cache: 4096 ran 1.7x faster than 32768 here.
        """
        k_total = int(num_samples)
        q, prior = self.encode(x), self.prior_dist()
        chunk = max(1, self.iw_rows_per_chunk // x.shape[0])
        partial = []
        for start in range(0, k_total, chunk):
            z = q.sample((min(chunk, k_total - start),))  # (k, B, L)
            # p(x|z) has batch shape (k, B); x (B, ...) broadcasts against it without a copy.
            log_w = self.decode(z).log_prob(x) + prior.log_prob(z) - q.log_prob(z)  # (k, B)
            partial.append(torch.logsumexp(log_w, dim=0))
        return torch.logsumexp(torch.stack(partial), dim=0) - math.log(k_total)

    # ----------------------------------------------------------------- generation and pictures

    @torch.no_grad()
    def sample_latents(self, n: int) -> torch.Tensor:
        """n draws z ~ p(z): (n, latent_dim)."""
        return self.prior_dist().sample((n,))

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """n draws z ~ p(z), decoded to the likelihood's mean: (n, *data_shape)."""
        return self.decode(self.sample_latents(n)).mean

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of p(x|z) at the posterior mean z = mu(x): (B, *data_shape)."""
        return self.decode(self.encode(x).mean).mean

    @torch.no_grad()
    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 8, mode: str = "linear") -> torch.Tensor:
        """Decode paths between posterior means, straight ("linear") or along the great circle
        ("spherical", White 2016, which keeps the norm typical of N(0, I) draws): (B, steps, *data_shape)."""
        if mode not in ("linear", "spherical"):
            raise ConfigError(f"interpolation mode must be 'linear' or 'spherical', got {mode!r}")
        z_a, z_b = self.encode(x_a).mean, self.encode(x_b).mean  # (B, L)
        t = torch.linspace(0, 1, steps, device=z_a.device).view(1, steps, 1)
        z = (slerp if mode == "spherical" else lerp)(z_a[:, None], z_b[:, None], t)  # (B, steps, L)
        return self.decode(z).mean

    @torch.no_grad()
    def traverse(self, x: torch.Tensor, dims: Sequence[int], values: torch.Tensor) -> torch.Tensor:
        """Vary one latent dimension at a time around the posterior mean of one input x (1, *data_shape):
        (len(dims), len(values), *data_shape), row i setting z[dims[i]] to each of `values`."""
        z = self.encode(x).mean[0].expand(len(dims), len(values), self.latent_dim).clone()
        for i, d in enumerate(dims):
            z[i, :, d] = values.to(z)
        return self.decode(z).mean


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Spherical interpolation (Shoemake, 1985): constant angular speed along the arc from a to b;
    falls back to lerp where a and b are (nearly) parallel."""
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    cos = ((a * b).sum(-1, keepdim=True) / (na * nb).clamp(min=eps)).clamp(-1, 1)
    omega = torch.arccos(cos)
    so = torch.sin(omega)
    arc = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / so.clamp(min=eps)
    return torch.where(so > 1e-4, arc, lerp(a, b, t))
