"""The importance-weighted bound (Burda et al., 2016, "Importance Weighted Autoencoders", eq. 8):
    L_K(x) = E[ log (1/K) sum_k w_k ],   w_k = p(x|z_k) p(z_k) / q(z_k|x),   z_1..z_K ~ q(z|x),
    log p(x) >= L_{K+1}(x) >= L_K(x) >= L_1(x) = ELBO(x)        (Burda et al., Theorem 1)
estimated with one set of K reparameterised samples per example; loss = -mean_x L_K.

Two gradient estimators, with w~_k = w_k / sum_j w_j the normalised weights:
  "iwae"  autograd of the estimate (Burda et al., eq. 14): sum_k w~_k d log w_k, where the
          encoder's part includes the score term -d log q_phi(z_k|x)/d phi, whose variance
          grows with K (Rainforth et al., 2018).
  "dreg"  doubly reparameterised (Tucker et al., 2019, "Doubly Reparameterized Gradient
          Estimators for Monte Carlo Objectives", eqs. 5-6): the score term is rewritten by
          reparameterisation, leaving for the encoder phi
              sum_k w~_k^2 (d log w_k / d z_k) (d z_k / d phi),
          with log q evaluated at stop-gradient parameters; the model theta (decoder,
          likelihood, prior) keeps the IWAE gradient sum_k w~_k d log w_k / d theta.

How "dreg" is built (one loss whose autograd gradient is exactly that):
  * z = mu + sigma * eps (K, B, L) is cut from the encoder: zs = stop_gradient(z), and
    log w_k = log p(x|zs_k) + log p(zs_k) - log q_{stop_gradient(phi)}(zs_k|x).
    The bound L = logsumexp_k(log w_k) - log K then has the value of L_K and the gradient
    sum_k w~_k d log w_k / d theta: the model's IWAE gradient, nothing for phi through z or q.
  * g_k = d log w_k / d z_k (taken with torch.autograd.grad at zs; log w_k depends on z_k
    alone, so the gradient of sum_k log w_k is g_k row by row) enters the zero-valued path
    term  P = sum_k w~_k^2 <g_k, z_k> - (the same, detached),  with w~ and g constants, so
    dP/dphi = sum_k w~_k^2 g_k dz_k/dphi: eq. 6, and dP/dtheta = 0.
  * loss = -mean_x (L + P): its value is -L_K, its gradient DReG's.
  A parameter used by both the encoder and the prior (the VampPrior's encoder) gets its
  prior-direct part with weights w~ through L, and its path part with w~^2 through P: only the
  score term of q is what Tucker et al. rewrite, so that is the right split.

The ELBO's parts for the metrics come from the first sample z_1: recon = -log p(x|z_1),
kl = KL(q || p) (closed form or at z_1). The KL schedule's factor is not used: the bound has
no separate KL term to anneal (Burda et al. train without warm-up).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch.distributions import Independent

from vaelab.config.types import PosInt
from vaelab.errors import ConfigError
from vaelab.model.distributions import diagonal_normal
from vaelab.objectives.base import Objective, Step

ESTIMATORS = ("iwae", "dreg")


class IWAE(Objective):
    compilable = True

    def __init__(self, num_samples: PosInt = 5, estimator: Literal["iwae", "dreg"] = "iwae"):
        super().__init__()
        if estimator not in ESTIMATORS:
            raise ConfigError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
        self.num_samples, self.estimator = int(num_samples), estimator

    def check_model(self, vae) -> None:
        if self.estimator == "dreg" and getattr(vae, "hierarchical", False):
            raise ConfigError(
                "objective.estimator=dreg: DReG is written for a one-layer Gaussian q(z|x); "
                "with a hierarchical model use objective.estimator=iwae"
            )

    def forward(self, model, x: torch.Tensor, kl_weight: float | torch.Tensor = 1.0) -> Step:
        # DReG only when a gradient is wanted: in evaluation both estimators are the same number.
        if self.estimator == "dreg" and torch.is_grad_enabled():
            return self._dreg(model, x)
        draws = model.importance_sample(x, self.num_samples)  # log_w (K, B), over the joint q(z|x)
        bound = torch.logsumexp(draws.log_w, dim=0) - math.log(self.num_samples)  # (B,): L_K per example
        loss = -bound.mean()  # the only reduction over the batch
        return Step(loss, draws.recon, draws.kl, draws.q, draws.z, {"iw_bound": bound.mean().detach()})

    def _dreg(self, model, x: torch.Tensor) -> Step:
        q, prior = model.encode(x), model.prior_dist()  # q: batch (B,), event (L,)
        z = q.rsample((self.num_samples,))  # (K, B, L), differentiable in mu and sigma
        zs = z.detach().requires_grad_()
        # p(x|z) has batch shape (K, B): x (B, ...) broadcasts against it.
        log_px = model.decode(zs).log_prob(x)  # (K, B)
        log_w = log_px + prior.log_prob(zs) - stop_gradient(q).log_prob(zs)  # (K, B)
        bound = torch.logsumexp(log_w, dim=0) - math.log(self.num_samples)  # (B,): L_K per example
        loss = -(bound + path_term(log_w, zs, z)).mean()

        z1 = z[0]  # (B, L): the ELBO's parts at the first sample
        return Step(loss, -log_px[0], model.kl(q, z1, prior), q, z1, {"iw_bound": bound.mean().detach()})


def stop_gradient(q: Independent) -> Independent:
    """q(z|x) with its parameters detached: the same density, no gradient to the encoder."""
    loc, scale = q.base_dist.loc.detach(), q.base_dist.scale.detach()
    return diagonal_normal(loc, scale)


def path_term(log_w: torch.Tensor, zs: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Zero-valued, per example (B,), with gradient sum_k w~_k^2 (d log w_k/d z_k)(d z_k/d phi)
    (Tucker et al., 2019, eq. 6). log_w (K, B) is computed at zs (K, B, L), the detached copy of
    the reparameterised sample z (K, B, L)."""
    weights = torch.softmax(log_w.detach(), dim=0)  # (K, B): w~_k, constants
    (grad_z,) = torch.autograd.grad(log_w.sum(), zs, retain_graph=True)  # (K, B, L): d log w_k / d z_k
    path = (weights.square() * (grad_z * z).sum(-1)).sum(0)  # (B,)
    return path - path.detach()
