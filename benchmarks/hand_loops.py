"""The reference of the training benchmark: the fastest correct loop we can write for each job.

Each loop trains the same encoder and decoder modules as vaelab (built from the same config) on
the same batches, with what a careful hand-written loop does and nothing else: dynamic
binarisation as 1[u < p], the losses written out with tensor ops (no `torch.distributions`
objects), fused Adam, no host synchronisation in the step (no `.item()`, no checks), no logging.
They are the limit vaelab is measured against, not a straw man.

`loss(x)` is exposed beside `step(x)` so the benchmark can check, before timing, that each
loop computes the same number as vaelab's objective on the same batch and noise.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LOG_2PI = math.log(2 * math.pi)


def binarize(x: torch.Tensor) -> torch.Tensor:
    """A fresh Bernoulli(x) draw of every pixel: 1[u < p]."""
    return (torch.rand_like(x) < x).to(x.dtype)


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """-log p(x|z) per example for Bernoulli logits (..., *data_shape) -> (...), x broadcast."""
    batch_dims = logits.dim() - x.dim() + 1  # the leading dimensions of logits that x lacks, and B
    return F.binary_cross_entropy_with_logits(logits, x.expand_as(logits), reduction="none").flatten(batch_dims).sum(-1)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over the last dimension."""
    return -0.5 * (z.square().sum(-1) + z.shape[-1] * LOG_2PI)


class HandLoop:
    """One VAE trained with a written-out loss; subclasses define `loss(x)` on a binary batch."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, lr: float = 1e-3):
        self.encoder, self.decoder = encoder, decoder
        params = [*encoder.parameters(), *decoder.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=lr, fused=True)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mu, logvar, std), each (B, L), with vaelab's log-variance range."""
        mu, logvar = self.encoder(x)
        logvar = logvar.clamp(-12.0, 8.0)
        return mu, logvar, torch.exp(0.5 * logvar)

    def decode_logits(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (*z.shape[:-1], *data_shape) for latents z (..., L)."""
        logits = self.decoder(z.reshape(-1, z.shape[-1]))
        return logits.view(*z.shape[:-1], *x.shape[1:])

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def step(self, x: torch.Tensor) -> None:
        loss = self.loss(binarize(x))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


class ElboLoop(HandLoop):
    """-ELBO: Bernoulli reconstruction, closed-form KL to N(0, I)."""

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        mu, logvar, std = self.posterior(x)
        z = mu + std * torch.randn_like(std)
        kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(1)
        return (bernoulli_nll(self.decode_logits(z, x), x) + kl).mean()


class BetaTCVAELoop(HandLoop):
    """Chen et al. (2018) with minibatch-stratified sampling: the importance weights (M, M) are
    computed once for the batch size, as a hand-written loop would."""

    def __init__(self, encoder, decoder, lr, dataset_size: int, batch_size: int, alpha=1.0, beta=6.0, gamma=1.0):
        super().__init__(encoder, decoder, lr)
        self.alpha, self.beta, self.gamma = alpha, beta, gamma
        m, n = batch_size, dataset_size
        w = torch.full((m, m), 1 / (m - 1), dtype=torch.float64)
        rows = torch.arange(m)
        w[rows, rows] = 1 / n
        w[rows, (rows + 1) % m] = (n - m + 1) / (n * (m - 1))
        self.log_w = w.log().float()  # (M, M)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        mu, logvar, std = self.posterior(x)
        z = mu + std * torch.randn_like(std)  # (B, L)
        recon = bernoulli_nll(self.decode_logits(z, x), x)
        # [i, j, d] = log q(z_id | x_j)
        log_q = -0.5 * (((z[:, None] - mu[None]) / std[None]).square() + logvar[None] + LOG_2PI)  # (B, B, L)
        log_w = self.log_w[: len(x), : len(x)]
        log_q_zx = log_q.diagonal(dim1=0, dim2=1).sum(0)  # (B,)
        log_qz = torch.logsumexp(log_w + log_q.sum(-1), dim=1)  # (B,)
        log_qz_dims = torch.logsumexp(log_w[..., None] + log_q, dim=1)  # (B, L)
        log_pz_dims = -0.5 * (z.square() + LOG_2PI)  # (B, L)
        mi, tc = log_q_zx - log_qz, log_qz - log_qz_dims.sum(-1)
        dwkl = (log_qz_dims - log_pz_dims).sum(-1)
        return (recon + self.alpha * mi + self.beta * tc + self.gamma * dwkl).mean()


class IWAELoop(HandLoop):
    """Burda et al. (2016): K reparameterised samples per example, the IWAE gradient."""

    def __init__(self, encoder, decoder, lr, num_samples: int = 5):
        super().__init__(encoder, decoder, lr)
        self.k = num_samples

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        mu, logvar, std = self.posterior(x)
        eps = torch.randn(self.k, *mu.shape, dtype=mu.dtype, device=mu.device)  # (K, B, L)
        z = mu + std * eps
        log_px = -bernoulli_nll(self.decode_logits(z, x), x)  # (K, B)
        log_qz = -0.5 * (eps.square() + logvar + LOG_2PI).sum(-1)  # (K, B)
        log_w = log_px + standard_normal_log_prob(z) - log_qz
        return -(torch.logsumexp(log_w, dim=0) - math.log(self.k)).mean()


class FactorVAELoop(HandLoop):
    """Kim & Mnih (2018): ELBO + gamma * D's log-ratio at z (D frozen), then D's own Adam step
    on z against its dimension-wise permutation (the same batch, detached)."""

    def __init__(self, encoder, decoder, lr, discriminator: nn.Module, gamma=35.0, d_lr=1e-4, d_betas=(0.5, 0.9)):
        super().__init__(encoder, decoder, lr)
        self.discriminator, self.gamma = discriminator, gamma
        self.d_optimizer = torch.optim.Adam(discriminator.parameters(), lr=d_lr, betas=d_betas, fused=True)
        self.d_params = list(discriminator.parameters())

    def vae_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar, std = self.posterior(x)
        z = mu + std * torch.randn_like(std)
        kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(1)
        for p in self.d_params:  # D is a constant in the VAE's loss: no gradient of its weights
            p.requires_grad_(False)
        logits = self.discriminator(z)
        for p in self.d_params:
            p.requires_grad_(True)
        tc = logits[:, 0] - logits[:, 1]
        return (bernoulli_nll(self.decode_logits(z, x), x) + kl + self.gamma * tc).mean(), z

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        return self.vae_loss(x)[0]

    def step(self, x: torch.Tensor) -> None:
        loss, z = self.vae_loss(binarize(x))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        z = z.detach()
        permuted = z.gather(0, torch.rand_like(z).argsort(dim=0))
        logits = self.discriminator(torch.cat([z, permuted]))
        labels = torch.arange(2, device=z.device).repeat_interleave(len(z))  # (2B,): 0 for q(z), 1 for permuted
        d_loss = F.cross_entropy(logits, labels)
        self.d_optimizer.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_optimizer.step()
