"""What every objective gives the system: the loss to minimise and what to log beside it.

An objective is a small `nn.Module` (it may own parameters, e.g. FactorVAE's discriminator)
whose forward takes the model (vaelab.model.VAE), a batch x (B, *data_shape) and the KL
schedule's factor at this step (a float; a 0-d tensor for a compilable objective under
trainer.compile), and returns a `Step`. Whatever it optimises, it also returns
the ELBO's parts (beta = 1, the model's prior) at its own sample of z, so `val/elbo`, `val/kl`
and `val/recon` mean the same thing for every objective.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.distributions import Distribution

from vaelab.errors import ConfigError


@dataclass
class Step:
    loss: torch.Tensor  # scalar: what the optimiser minimises, nats per example
    recon: torch.Tensor  # (B,): -log p(x|z) at one z ~ q(z|x)
    kl: torch.Tensor  # (B,): KL(q(z|x) || p(z)), closed form or the estimate at that z
    q: Distribution  # q(z|x), batch (B,), event (L,): for the latent-usage metrics
    z: torch.Tensor | None = None  # (B, L): the sample the terms were computed at
    terms: dict[str, torch.Tensor] = field(default_factory=dict)  # objective-specific scalars to log


class Objective(nn.Module):
    #: True when the objective trains a second network with its own optimiser (FactorVAE): the
    #: system then runs Lightning's manual optimisation, and the objective provides
    #: `discriminator_step(model, x, step) -> (loss, terms)` and `discriminator_optimizer()`.
    adversarial = False
    #: The number of training examples, set by the system before fitting: estimators of the
    #: aggregate posterior q(z) from a minibatch (beta-TCVAE) need it.
    dataset_size: int | None = None
    #: The training step, set by the system before each training step: objectives with their own
    #: schedule (Burgess et al.'s capacity) read it; a resumed run restores it with the trainer.
    global_step: int = 0
    #: True when the objective reads q(z|x) as one diagonal Gaussian over all of z, through its
    #: means and variances (beta-TCVAE, FactorVAE, DIP-VAE): a hierarchical model is refused.
    needs_one_gaussian_posterior = False
    #: True when the objective's forward may be compiled for training (trainer.compile,
    #: vaelab.runs.compiled): it takes the KL weight as a float or a 0-d tensor, and reads no Python
    #: number that changes from step to step (each would be a recompile).
    compilable = False

    def check_model(self, vae: nn.Module) -> None:
        """One line, before any work, when this objective cannot train `vae` (the system calls it)."""
        if self.needs_one_gaussian_posterior and getattr(vae, "hierarchical", False):
            raise ConfigError(
                f"objective {type(self).__name__} reads q(z|x) as one diagonal Gaussian over all latents, "
                f"but the model ({type(vae).__name__}) has {len(vae.group_sizes)} groups of latents, each "
                "conditioned on those above: use objective=elbo or objective=iwae"
            )

    def forward(self, model: nn.Module, x: torch.Tensor, kl_weight: float = 1.0) -> Step:
        raise NotImplementedError
