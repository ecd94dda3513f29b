"""The VAE system: encoder, reparameterised posterior, decoder likelihood, objective, metrics.

Notation (Kingma & Welling, 2014, "Auto-Encoding Variational Bayes"):
    q(z|x) = N(mu(x), diag(exp(logvar(x))))           the encoder's posterior
    p(z)   = N(0, I)                                  the prior
    p(x|z)                                            the likelihood, from the decoder
    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z))    <= log p(x)
The optimised loss is the beta-VAE objective (Higgins et al., 2017):
    loss = -E_q[log p(x|z)] + beta * KL,
summed over data and latent dimensions and averaged over the batch, in nats per example.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import lightning as L
import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal, kl_divergence

from vaelab.likelihood import Likelihood
from vaelab.metrics import ELBO, NLL, LatentUsage

log = logging.getLogger(__name__)

# Safe range for the encoder's log-variance: exp(-12) ~ 6e-6 and exp(8) ~ 3e3 are far
# outside what ordinary training reaches, but keep exp() and the KL finite.
LOGVAR_RANGE = (-12.0, 8.0)


class VAE(L.LightningModule):
    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        likelihood: Likelihood,
        data_shape: Sequence[int],
        latent_dim: int,
        beta: float = 1.0,
        kl_warmup_steps: int = 0,
        optimizer: Callable[..., torch.optim.Optimizer] | None = None,
        scheduler: Callable[..., Any] | None = None,
        num_iw_samples: int = 100,
        iw_rows_per_chunk: int = 4096,
        active_threshold: float = 0.01,
        min_active_share: float = 0.5,
        check_finite: bool = True,
        val_iw_samples: int = 0,
    ):
        super().__init__()
        self.encoder, self.decoder, self.likelihood = encoder, decoder, likelihood
        self.data_shape = tuple(int(s) for s in data_shape)
        self.latent_dim = int(latent_dim)
        self.beta = float(beta)
        self.kl_warmup_steps = int(kl_warmup_steps)
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.num_iw_samples = int(num_iw_samples)
        self.iw_rows_per_chunk = int(iw_rows_per_chunk)
        self.is_image = len(self.data_shape) == 3
        # The prior's parameters are buffers so that they follow the module's device.
        self.register_buffer("prior_loc", torch.zeros(self.latent_dim), persistent=False)
        self.register_buffer("prior_scale", torch.ones(self.latent_dim), persistent=False)
        self.metrics = nn.ModuleDict({s: ELBO(beta=self.beta) for s in ("val", "test")})
        self.latent_usage = nn.ModuleDict({s: LatentUsage(self.latent_dim, active_threshold) for s in ("val", "test")})
        self.nll = nn.ModuleDict(
            {s: NLL(num_dims=math.prod(self.data_shape) if self.is_image else None) for s in ("val", "test")}
        )
        # Importance samples for val/nll at every validation (0 = off): costs K decoder passes per image.
        self.val_iw_samples = int(val_iw_samples)
        self.min_active_share = float(min_active_share)
        self.check_finite = bool(check_finite)
        #: Per-dimension latent statistics of the last validation/test: {"val": {...}, "test": {...}}.
        self.latent_report: dict[str, dict[str, list[float]]] = {}
        #: What built this model (resolved config, versions); stored in every checkpoint.
        self.run_info: dict[str, Any] = {}

    # ----------------------------------------------------------------- inference

    def forward(self, x: torch.Tensor) -> Distribution:
        """Inference only: the posterior q(z|x) for a batch x of shape (B, *data_shape)."""
        return self.encode(x)

    @property
    def prior(self) -> Distribution:
        return Independent(Normal(self.prior_loc, self.prior_scale), 1)

    def encode(self, x: torch.Tensor) -> Distribution:
        """q(z|x): a diagonal Gaussian with batch shape (B,) and event shape (latent_dim,)."""
        mu, logvar = (t.float() for t in self.encoder(x))  # float32 even under bf16 autocast
        logvar = logvar.clamp(*LOGVAR_RANGE)
        # Normal.rsample is the reparameterisation z = mu + exp(logvar / 2) * eps, eps ~ N(0, I).
        return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)

    def decode(self, z: torch.Tensor) -> Distribution:
        """p(x|z) for z of shape (*batch, latent_dim): batch shape `batch`, event shape data_shape."""
        params = self.decoder(z.reshape(-1, self.latent_dim)).float()  # (N, P, *data_shape); float32 densities
        params = params.view(*z.shape[:-1], *params.shape[1:])
        return self.likelihood(params, event_dims=len(self.data_shape))

    def elbo_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-example (recon, kl), each (B,): recon = -log p(x|z) at one z ~ q(z|x), KL in closed form."""
        recon, kl, _ = self._elbo(x)
        return recon, kl

    def _elbo(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Distribution]:
        q = self.encode(x)
        z = q.rsample()  # (B, latent_dim), differentiable in mu and logvar
        recon = -self.decode(z).log_prob(x)
        kl = kl_divergence(q, self.prior)
        return recon, kl, q

    @torch.no_grad()
    def log_marginal(self, x: torch.Tensor, num_samples: int | None = None) -> torch.Tensor:
        """Importance-weighted estimate of log p(x), shape (B,) (Burda et al., 2016, eq. 8):
            log p(x) ~ log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x),   z_k ~ q(z|x).
        The K samples are taken in chunks of about `iw_rows_per_chunk` decoded rows and
        combined with log-sum-exp, so memory stays bounded for any K. Chunks of a few thousand
        rows keep the decoder's output in cache: 4096 ran 1.7x faster than 32768 here.
        """
        k_total = int(num_samples or self.num_iw_samples)
        q = self.encode(x)
        chunk = max(1, self.iw_rows_per_chunk // x.shape[0])
        partial = []
        for start in range(0, k_total, chunk):
            z = q.sample((min(chunk, k_total - start),))  # (k, B, L)
            # p(x|z) has batch shape (k, B); x (B, ...) broadcasts against it without a copy.
            log_w = self.decode(z).log_prob(x) + self.prior.log_prob(z) - q.log_prob(z)  # (k, B)
            partial.append(torch.logsumexp(log_w, dim=0))
        return torch.logsumexp(torch.stack(partial), dim=0) - math.log(k_total)

    @torch.no_grad()
    def sample(self, n: int) -> torch.Tensor:
        """n draws z ~ p(z), decoded to the likelihood's mean: (n, *data_shape)."""
        z = self.prior.sample((n,))
        return self.decode(z).mean

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Mean of p(x|z) at the posterior mean z = mu(x): (B, *data_shape)."""
        return self.decode(self.encode(x).mean).mean

    @torch.no_grad()
    def interpolate(self, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 8, mode: str = "linear") -> torch.Tensor:
        """Decode paths between posterior means, straight ("linear") or along the great circle
        ("spherical", White 2016, which keeps the norm typical of N(0, I) draws): (B, steps, *data_shape)."""
        if mode not in ("linear", "spherical"):
            raise ValueError(f"interpolation mode must be 'linear' or 'spherical', got {mode!r}")
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

    # ----------------------------------------------------------------- training

    def current_beta(self) -> float:
        """beta, linearly warmed up from 0 over `kl_warmup_steps` (Bowman et al., 2016)."""
        if self.kl_warmup_steps <= 0 or not self.training:
            return self.beta
        return self.beta * min(1.0, self.global_step / self.kl_warmup_steps)

    def _shared_step(self, batch: Sequence[torch.Tensor], split: str) -> torch.Tensor:
        x = batch[0]
        recon, kl, q = self._elbo(x)
        loss = (recon + self.current_beta() * kl).mean()  # the only reduction over the batch
        if split == "train":
            if self.check_finite and not torch.isfinite(loss):
                term = "reconstruction term (recon)" if not torch.isfinite(recon).all() else "KL term"
                raise FloatingPointError(f"step {self.global_step}: the {term} of the loss is not finite")
            self._log_train_step(loss, recon, kl)
        else:
            self.metrics[split].update(recon, kl)
            self.latent_usage[split].update(q.base_dist.loc, 2 * q.base_dist.scale.log())
            k = self.num_iw_samples if split == "test" else self.val_iw_samples
            if k > 0:
                self.nll[split].update(self.log_marginal(x, k))
        return loss

    def _log_train_step(self, loss: torch.Tensor, recon: torch.Tensor, kl: torch.Tensor) -> None:
        """Per-step batch values (val/test are exact split means from torchmetrics instead)."""
        # Lightning sends step values to the loggers only every log_every_n_steps steps;
        # logging in between costs a millisecond a step (a fifth of an MLP step) for nothing.
        if (self.global_step + 1) % self.trainer.log_every_n_steps:
            return
        values = {"loss": loss, "elbo": -(recon + kl).mean(), "recon": recon.mean(), "kl": kl.mean()}
        self.log_dict(
            {f"train/{k}": v.detach() for k, v in values.items()},
            on_step=True,
            on_epoch=False,
            batch_size=recon.shape[0],
        )

    def training_step(self, batch, batch_idx):
        return self._shared_step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._shared_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._shared_step(batch, "test")

    def _log_split(self, split: str) -> None:
        values = {}
        metrics = [self.metrics[split], self.latent_usage[split]]
        if split == "test" or self.val_iw_samples > 0:
            metrics.append(self.nll[split])
        for metric in metrics:
            values.update({f"{split}/{k}": v for k, v in metric.compute().items()})
            metric.reset()
        # Per-dimension vectors go to the report (metrics.json), scalars to the loggers.
        self.latent_report[split] = {k.split("/")[1]: v.tolist() for k, v in values.items() if v.dim() > 0}
        self.log_dict({k: v for k, v in values.items() if v.dim() == 0}, prog_bar=split == "val")
        share = float(values[f"{split}/active_share"])
        if split == "test" and share < self.min_active_share:
            log.warning(
                "%s: only %d of %d latent units are active (variance of the posterior mean > %g): "
                "posterior collapse? (warning below eval.min_active_share=%g)",
                split,
                int(values[f"{split}/active_units"]),
                self.latent_dim,
                self.latent_usage[split].threshold,
                self.min_active_share,
            )

    def on_validation_epoch_end(self):
        self._log_split("val")

    def on_test_epoch_end(self):
        self._log_split("test")

    def on_after_backward(self) -> None:
        if not self.check_finite:
            return
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        norms = torch.stack(torch._foreach_norm(grads)) if grads else torch.zeros(0)
        if not torch.isfinite(norms).all():
            names = [n for n, p in self.named_parameters() if p.grad is not None]
            bad = names[int((~torch.isfinite(norms)).nonzero()[0])]
            raise FloatingPointError(f"step {self.global_step}: the gradient is not finite (first in {bad})")

    def configure_optimizers(self):
        if self.optimizer_factory is None:
            raise ValueError("model.optimizer is not set: give a partial optimizer config (see conf/model)")
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": self.scheduler_factory(optimizer=optimizer)}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["vaelab"] = self.run_info
        # The random state, so that a resumed run draws the same noise as one never interrupted.
        checkpoint["rng_state"] = torch.get_rng_state()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if "rng_state" in checkpoint:
            torch.set_rng_state(checkpoint["rng_state"])


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
