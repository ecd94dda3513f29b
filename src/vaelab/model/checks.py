"""One batch through each part of the model before the first training step.

A researcher's encoder, decoder, prior or objective that does not fit the interfaces
(vaelab.model.interfaces, vaelab.priors.base, vaelab.objectives.base) would otherwise fail deep
inside a training step, or worse, broadcast silently into a wrong loss. `check_parts` runs one
small batch through each part and says, in one line, which module gave what instead of what.
It draws its random numbers from a forked generator and runs in eval mode without gradients,
so the run that follows is exactly the run it would have been.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.distributions import Distribution

from vaelab.errors import ConfigError


class PartError(ConfigError):
    """A part of the model that does not fit its interface (one line)."""


def _named(module: Any, where: str) -> str:
    return f"{where} ({type(module).__module__}.{type(module).__qualname__})"


def _shape(value: Any) -> str:
    """What came, said briefly: a tensor's shape, a tuple's shapes, or the type."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)}: ({', '.join(_shape(v) for v in value)})"
    return f"a {type(value).__name__}"


def check_vae(vae: nn.Module, x: torch.Tensor) -> None:
    """Encoder, decoder and prior of `vae` (a vaelab.model.VAE) on a batch x (B, *data_shape)."""
    b, latent = x.shape[0], vae.latent_dim
    out = vae.encoder(x)
    if not (isinstance(out, tuple | list) and len(out) == 2 and all(isinstance(t, torch.Tensor) for t in out)):
        raise PartError(
            f"{_named(vae.encoder, 'model.encoder')}: must return (mu, logvar), each of shape (B, latent_dim) = "
            f"({b}, {latent}); it returned {_shape(out)}"
        )
    if any(tuple(t.shape) != (b, latent) for t in out):
        raise PartError(
            f"{_named(vae.encoder, 'model.encoder')}: mu and logvar must each be of shape (B, latent_dim) = "
            f"({b}, {latent}); it returned {_shape(tuple(out))}"
        )
    z = out[0].float()
    params = vae.decoder(z)
    expected = (b, vae.likelihood.params_per_dim, *vae.data_shape)
    if not isinstance(params, torch.Tensor) or tuple(params.shape) != expected:
        raise PartError(
            f"{_named(vae.decoder, 'model.decoder')}: must return the likelihood's parameters of shape "
            f"(B, params_per_dim, *data_shape) = {expected} (likelihood={vae.likelihood.name} takes "
            f"{vae.likelihood.params_per_dim} per dimension); it returned {_shape(params)}"
        )
    prior = vae.prior_dist()
    if not isinstance(prior, Distribution) or tuple(prior.event_shape) != (latent,) or tuple(prior.batch_shape):
        got = (
            f"batch shape {tuple(prior.batch_shape)}, event shape {tuple(prior.event_shape)}"
            if isinstance(prior, Distribution)
            else _shape(prior)
        )
        raise PartError(
            f"{_named(vae.prior, 'model.prior')}: must give a torch Distribution with batch shape () and "
            f"event shape (latent_dim,) = ({latent},); it gave {got}"
        )


def check_whole_vae(vae: nn.Module, x: torch.Tensor) -> None:
    """A model given whole (model.vae, e.g. a hierarchical VAE): its ELBO's parts per example."""
    recon, kl, _, _ = vae.elbo_sample(x)
    b = x.shape[0]
    if not all(isinstance(t, torch.Tensor) and tuple(t.shape) == (b,) for t in (recon, kl)):
        raise PartError(
            f"{_named(vae, 'model.vae')}: elbo_sample(x) must give recon and kl of shape (B,) = ({b},); "
            f"it gave {_shape((recon, kl))}"
        )


def check_objective(objective: nn.Module, vae: nn.Module, x: torch.Tensor) -> None:
    """The objective's loss on a batch is one number (a scalar tensor)."""
    step = objective(vae, x, 1.0)
    loss = getattr(step, "loss", step)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
        raise PartError(
            f"{_named(objective, 'model.objective')}: its loss must be a scalar tensor (the batch's mean, "
            f"nats per example); it gave {_shape(loss)}"
        )


def check_parts(system: nn.Module, x: torch.Tensor) -> None:
    """Every part of `system` (a vaelab.system.VAESystem) on a small batch x, before training."""
    x = x[:4]
    training = system.training
    devices = [x.device.index or 0] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        system.eval()
        try:
            (check_vae if hasattr(system.vae, "encoder") else check_whole_vae)(system.vae, x)
            check_objective(system.objective, system.vae, x)
        finally:
            system.train(training)
