"""FactorVAE (Kim & Mnih, 2018, "Disentangling by Factorising"): the ELBO plus a penalty on the
total correlation of the aggregate posterior q(z) = E_data[q(z|x)], estimated by a discriminator.

    TC(z) = KL(q(z) || q̄(z)),   q̄(z) = prod_j q(z_j)
    loss  = E_q[-log p(x|z)] + KL(q(z|x) || p(z)) + gamma * TC(z)                  (eq. 2)
(the KL term carries the KL schedule's factor, 1 in the paper), averaged over the batch.

TC has no closed form; the density-ratio trick estimates it (Sec. 3). A discriminator D(z) =
P(z came from q(z) rather than from q̄(z)) that is optimal, D* = q / (q + q̄), gives
    TC(z) = E_q(z)[log q(z) / q̄(z)] ~ E_q(z)[log D(z) / (1 - D(z))]                 (eq. 3)
and with two logits (l_0: "from q(z)", l_1: "from q̄(z)"), log D / (1 - D) = l_0 - l_1. The
VAE's loss uses it at the ELBO's own sample z ~ q(z|x), with D's parameters as constants: the
gradient reaches the encoder through z, and D is never trained to lower the TC.

Samples of q̄(z) come from permuting each latent dimension independently across a batch
(Algorithm 1, `permute_dims`). D learns to tell z (class 0) from permuted samples (class 1):
    L_D = 1/2 [CE(D(z), 0) + CE(D(permute_dims(z')), 1)]                           (Algorithm 2)
with its own Adam, after each VAE step; the system runs the two updates with Lightning's
manual optimisation (`adversarial = True`). Each backward pass uses one network's parameters
only, so under DDP the strategy must find unused parameters (the schema says so).

Algorithm 2 draws z' from a second batch; vaelab permutes the same batch's samples, detached
(as disentanglement_lib does). The expected L_D is a sum of per-sample terms, so it depends
only on each sample's own distribution: reusing the batch leaves D's objective and its optimum
D* unchanged, costs no second encoder pass, and gives each class all B samples. Splitting the
batch in two halves would only make the two classes' minibatch terms independent, at B/2
samples each (and leave nothing to permute in a batch of one).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from pydantic import Field
from torch import nn
from torch.distributions import Categorical

from vaelab.config.types import NonNegFloat, PosFloat, PosInt, Share
from vaelab.objectives.base import Objective, Step

# The two classes of the discriminator: samples of q(z), samples of q̄(z).
JOINT, PERMUTED = 0, 1


class FactorVAE(Objective):
    needs_one_gaussian_posterior = True
    adversarial = True

    def __init__(
        self,
        latent_dim: PosInt,
        gamma: NonNegFloat = 35.0,
        discriminator_hidden: Annotated[Sequence[PosInt], Field(min_length=1)] = (1000,) * 6,
        discriminator_lr: PosFloat = 1e-4,
        discriminator_betas: Annotated[Sequence[Share], Field(min_length=2, max_length=2)] = (0.5, 0.9),
    ):
        super().__init__()
        self.gamma = float(gamma)
        self.discriminator_lr = float(discriminator_lr)
        self.discriminator_betas = tuple(float(b) for b in discriminator_betas)
        self.discriminator = mlp_discriminator(int(latent_dim), [int(h) for h in discriminator_hidden])

    def log_ratio(self, z: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        """log D(z) / (1 - D(z)) = l_0 - l_1 for z (B, L): (B,), D's estimate of log q(z) / q̄(z).
        frozen: D's parameters enter as constants, so a loss on the result has a gradient in z only."""
        if frozen:
            params = {name: p.detach() for name, p in self.discriminator.named_parameters()}
            logits = torch.func.functional_call(self.discriminator, params, (z,))  # (B, 2)
        else:
            logits = self.discriminator(z)  # (B, 2)
        return logits[:, JOINT] - logits[:, PERMUTED]

    def forward(self, model, x: torch.Tensor, kl_weight: float = 1.0) -> Step:
        recon, kl, q, z = model.elbo_sample(x)
        # (B,): differentiable in the encoder through z; D is a fixed function here (the VAE's
        # backward leaves D's .grad untouched and costs no gradient of D's weights).
        tc = self.log_ratio(z, frozen=True)
        loss = (recon + kl_weight * kl + self.gamma * tc).mean()  # the only reduction over the batch
        return Step(loss, recon, kl, q, z, {"tc": tc.detach().mean()})

    def discriminator_step(self, model, x: torch.Tensor, step: Step) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """D's loss on the VAE step's samples (detached: this step must not reach the encoder)."""
        return self.discriminator_loss(step.z.detach())

    def discriminator_loss(self, z: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """L_D = 1/2 [CE(D(z), 0) + CE(D(permute_dims(z)), 1)] for samples z (B, L) of q(z),
        with D's accuracy on both classes and its TC estimate on z."""
        b = z.shape[0]
        both = torch.cat([z, permute_dims(z)])  # (2B, L): q(z) samples, then q̄(z) samples
        labels = torch.cat([z.new_full((b,), JOINT), z.new_full((b,), PERMUTED)]).long()  # (2B,)
        logits = self.discriminator(both)  # (2B, 2)
        # Both classes have B rows, so the mean over 2B rows is the average of the two CE means.
        loss = -Categorical(logits=logits).log_prob(labels).mean()
        accuracy = (logits.argmax(-1) == labels).float().mean()
        tc = (logits[:b, JOINT] - logits[:b, PERMUTED]).mean()
        return loss, {"disc_acc": accuracy.detach(), "tc": tc.detach()}

    def discriminator_optimizer(self) -> torch.optim.Optimizer:
        """Adam over the discriminator's parameters only (the paper: lr 1e-4, betas (0.5, 0.9)),
        fused into one kernel for its 6 M parameters, as the model's optimiser is (optimizer.fused)."""
        return torch.optim.Adam(
            self.discriminator.parameters(), lr=self.discriminator_lr, betas=self.discriminator_betas, fused=True
        )


def mlp_discriminator(latent_dim: int, hidden: Sequence[int]) -> nn.Sequential:
    """latent_dim -> hidden... (LeakyReLU 0.2, as in the paper) -> 2 logits."""
    layers: list[nn.Module] = []
    width = latent_dim
    for h in hidden:
        layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
        width = h
    layers.append(nn.Linear(width, 2))
    return nn.Sequential(*layers)


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Algorithm 1: each column of z (B, L) permuted independently across the batch, (B, L).
    Each column keeps its values (the marginals q(z_j)), their pairing across columns is broken:
    the rows are (approximately) samples of q̄(z) = prod_j q(z_j)."""
    keys = torch.rand(z.shape, generator=generator, device=z.device)  # (B, L)
    order = keys.argsort(dim=0)  # column j: a uniform random permutation of 0..B-1
    return z.gather(0, order)
