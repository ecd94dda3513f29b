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

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from vaelab.config.types import PosInt, Shape
from vaelab.errors import ConfigError
from vaelab.likelihood import Likelihood
from vaelab.model.distributions import diagonal_normal
from vaelab.model.views import CodeSpace, ImportanceSample

# Safe range for the encoder's log-variance: exp(-12) ~ 6e-6 and exp(8) ~ 3e3 are far
# outside what ordinary training reaches, but keep exp() and the KL finite.
LOGVAR_RANGE = (-12.0, 8.0)


class VAE(CodeSpace, nn.Module):
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
        self.set_space(data_shape, latent_dim, iw_rows_per_chunk)

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
        return diagonal_normal(mu, torch.exp(0.5 * logvar))

    def prior_dist(self, temperature: float = 1.0) -> Distribution:
        """p(z) (at temperature T, each component's scale times T): batch shape (), event shape
        (latent_dim,). A VampPrior reads the encoder."""
        return self.prior(self.encode) if temperature == 1.0 else self.prior.tempered(temperature, self.encode)

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
            return normal_kl(q.base_dist, prior.base_dist).sum(-1)
        return q.log_prob(z) - prior.log_prob(z)

    def kl_units(self, q: Distribution) -> torch.Tensor:
        """The KL in the units free bits holds apart (Kingma et al., 2016, eq. 15): here each latent
        dimension, KL(q(z_d|x) || p(z_d)), (B, L); needs a factorised Gaussian prior."""
        prior = self.prior_dist()
        if not (isinstance(prior, Independent) and isinstance(prior.base_dist, Normal)):
            raise ConfigError("objective.free_bits needs a factorised Gaussian prior (prior=standard)")
        return normal_kl(q.base_dist, prior.base_dist)

    def elbo_sample(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Distribution, torch.Tensor]:
        """(recon, kl, q, z): the ELBO's parts per example (B,), the posterior and its sample z (B, L)."""
        q = self.encode(x)
        z = q.rsample()  # (B, latent_dim), differentiable in mu and logvar
        recon = -self.decode(z).log_prob(x)
        return recon, self.kl(q, z), q, z

    def importance_sample(self, x: torch.Tensor, k: int) -> ImportanceSample:
        """k reparameterised draws z_k ~ q(z|x) and their log weights (Burda et al., 2016, eq. 8)
            log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x):   (k, B),
        with the ELBO's parts at the first draw."""
        q, prior = self.encode(x), self.prior_dist()
        z = q.rsample((k,))  # (k, B, L)
        # p(x|z) has batch shape (k, B); x (B, ...) broadcasts against it without a copy.
        log_px = self.decode(z).log_prob(x)  # (k, B)
        log_w = log_px + prior.log_prob(z) - q.log_prob(z)
        return ImportanceSample(log_w, -log_px[0], self.kl(q, z[0], prior), q, z[0])


def normal_kl(q: Normal, p: Normal) -> torch.Tensor:
    """KL(q || p) between Gaussians, elementwise, in closed form (Kingma & Welling, 2014, appendix B):
        KL = 1/2 (s^2 + t^2 - 1 - log s^2),   s = sigma_q / sigma_p,   t = (mu_q - mu_p) / sigma_p.
    torch's own formula, op for op (the same numbers), written out because
    `torch.distributions.kl_divergence` dispatches by type through a lookup that torch.compile cannot
    trace (a graph break in every step)."""
    var_ratio = (q.scale / p.scale).pow(2)
    t = ((q.loc - p.loc) / p.scale).pow(2)
    return 0.5 * (var_ratio + t - 1 - var_ratio.log())
