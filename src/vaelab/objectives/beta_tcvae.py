"""beta-TCVAE (Chen et al., 2018, "Isolating Sources of Disentanglement in VAEs"): the KL term
split into three parts, each with its own weight (eq. 2),

    E_p(x)[KL(q(z|x) || p(z))] = KL(q(z, x) || q(z) p(x))            index-code MI
                               + KL(q(z) || prod_j q(z_j))           total correlation (TC)
                               + sum_j KL(q(z_j) || p(z_j))          dimension-wise KL (DWKL)

    loss = E[-log p(x|z)] + alpha * MI + beta * kl_weight * TC + gamma * DWKL

The KL schedule's factor `kl_weight` scales the TC weight beta only (the term beta-TCVAE is about);
alpha = beta = gamma = 1 is the ELBO. The aggregate posterior q(z) = (1/N) sum_n q(z|x_n) and its
marginals q(z_j) are estimated at the batch's own samples z_i ~ q(z|x_i) from the M posteriors of
the batch, N the training-set size:

    mws  minibatch-weighted sampling (Section 4):
             log q(z_i) ~ log sum_j q(z_i|x_j) - log(N M)
         The paper's estimator. With the own term small, sum_j q(z_i|x_j) ~ M q(z_i), so its
         log q(z) and each log q(z_j) are low by log N: MI is high by log N, TC high by
         (L - 1) log N, DWKL low by L log N (constants: no effect on gradients; the logged
         terms carry them, their sum does not).
    mss  minibatch-stratified sampling (appendix): importance weights w_ij summing to 1 over j,
             log q(z_i) ~ log sum_j w_ij q(z_i|x_j),
             w_ii = 1/N,  w_i,i+1 = (N - M + 1) / (N (M - 1)),  w_ij = 1/(M - 1) otherwise,
         a consistent estimate (exact for M = N up to the one down-weighted example). The
         authors' code strides its weight matrix by M, not M + 1: 1/N lands in column 0 of
         every row instead of on the diagonal (rtqichen/beta-tcvae PR #1,
         YannDubs/disentangling-vae#58). Here w_ii is on the diagonal, w_i,i+1 wraps to column 0.

The same weights give log q(z_j) from the one-dimensional posteriors q(z_ij|x_j). DWKL needs the
prior's marginals p(z_j): a factorised prior (prior=standard).
"""

from __future__ import annotations

import logging
import math
from typing import Literal

import torch
from torch.distributions import Distribution, Independent, Normal

from vaelab.config.types import NonNegFloat
from vaelab.errors import ConfigError
from vaelab.objectives.base import Objective, Step

log = logging.getLogger(__name__)

SAMPLING = ("mws", "mss")


class BetaTCVAE(Objective):
    needs_one_gaussian_posterior = True

    def __init__(
        self,
        alpha: NonNegFloat = 1.0,
        beta: NonNegFloat = 6.0,
        gamma: NonNegFloat = 1.0,
        sampling: Literal["mws", "mss"] = "mws",
    ):
        super().__init__()
        if sampling not in SAMPLING:
            raise ConfigError(f"sampling must be one of {SAMPLING}, got {sampling!r}")
        self.alpha, self.beta, self.gamma, self.sampling = float(alpha), float(beta), float(gamma), sampling
        # N, stored with the weights so that evaluating a checkpoint uses the N it was trained with
        # (0 = not known yet).
        self.register_buffer("num_examples", torch.tensor(0))
        self._warned = False

    @property
    def dataset_size(self) -> int | None:
        return int(self.num_examples) or None

    @dataset_size.setter
    def dataset_size(self, value: int | None) -> None:
        # The system sets this in setup(); Objective.dataset_size is a plain class attribute.
        self.num_examples.fill_(int(value or 0))

    def check_model(self, vae) -> None:
        super().check_model(vae)
        with torch.no_grad():  # the prior's form, before any work (a VampPrior runs the encoder once)
            factorised_marginals(vae.prior_dist())

    def forward(self, model, x: torch.Tensor, kl_weight: float = 1.0) -> Step:
        recon, kl, q, z = model.elbo_sample(x)
        n = self.dataset_size
        if n is None:
            n = x.shape[0]
            if not self._warned:
                log.warning("objective=beta_tcvae: the training-set size is unknown; estimating q(z) with N = M")
                self._warned = True
        mu, logvar = q.base_dist.loc, 2 * q.base_dist.scale.log()
        mi, tc, dwkl = decompose_kl(z, mu, logvar, model.prior_dist(), n, self.sampling)  # each (B,)
        per_example = recon + self.alpha * mi + self.beta * kl_weight * tc + self.gamma * dwkl
        mi, tc, dwkl, loss = (t.mean() for t in (mi, tc, dwkl, per_example))  # the only reduction over the batch
        return Step(loss, recon, kl, q, z, {"mi": mi, "tc": tc, "dwkl": dwkl})


def decompose_kl(
    z: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    prior: Distribution,
    dataset_size: int,
    sampling: str = "mws",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-example estimates (B,) of (MI, TC, DWKL) at samples z (B, L) of the posteriors
    q(z|x_i) = N(mu_i, diag(exp(logvar_i))); their sum is log q(z|x) - log p(z) exactly."""
    prior_dims = factorised_marginals(prior)  # batch (L,)
    q_dims = Normal(mu, torch.exp(0.5 * logvar), validate_args=False)  # batch (B, L)
    log_q_zx = q_dims.log_prob(z).sum(-1)  # (B,): log q(z_i|x_i)
    # [i, j, d] = log q(z_id | x_j): every sample under every posterior of the batch.
    log_q_pairs = q_dims.log_prob(z.unsqueeze(1))  # (B, B, L)
    log_w = log_importance_weights(z.shape[0], dataset_size, sampling).to(z)  # (B, B)
    log_qz = torch.logsumexp(log_w + log_q_pairs.sum(-1), dim=1)  # (B,): log q(z_i)
    log_qz_dims = torch.logsumexp(log_w.unsqueeze(-1) + log_q_pairs, dim=1)  # (B, L): log q(z_ij)
    log_pz_dims = prior_dims.log_prob(z)  # (B, L): log p(z_ij)
    mi = log_q_zx - log_qz
    tc = log_qz - log_qz_dims.sum(-1)
    dwkl = (log_qz_dims - log_pz_dims).sum(-1)
    return mi, tc, dwkl


def log_importance_weights(batch_size: int, dataset_size: int, sampling: str) -> torch.Tensor:
    """log w_ij (M, M), float64: the weight of posterior j in the estimate of q(z_i)."""
    m = int(batch_size)
    # A batch holds at most the N examples it is drawn from (guards a large evaluation batch).
    n = max(int(dataset_size), m)
    if sampling == "mws" or m == 1:  # one example: both are q(z_i|x_i) / N
        return torch.full((m, m), -(math.log(n) + math.log(m)), dtype=torch.float64)
    if sampling != "mss":
        raise ConfigError(f"sampling must be one of {SAMPLING}, got {sampling!r}")
    w = torch.full((m, m), 1 / (m - 1), dtype=torch.float64)
    rows = torch.arange(m)
    w[rows, rows] = 1 / n  # the example z_i was drawn from
    w[rows, (rows + 1) % m] = (n - m + 1) / (n * (m - 1))  # the stratum's one down-weighted example
    return w.log()


def factorised_marginals(prior: Distribution) -> Distribution:
    """The prior's one-dimensional marginals p(z_j), batch shape (L,)."""
    if not (isinstance(prior, Independent) and prior.reinterpreted_batch_ndims == 1):
        raise ConfigError(
            "objective=beta_tcvae needs a factorised prior p(z) = prod_j p(z_j) for its dimension-wise KL "
            f"(got {type(prior).__name__}); use prior=standard"
        )
    return prior.base_dist
