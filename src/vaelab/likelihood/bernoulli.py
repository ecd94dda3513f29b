"""Likelihoods for data in [0, 1]: Bernoulli and continuous Bernoulli, both in logits form."""

from __future__ import annotations

import math

import torch
from torch.distributions import Bernoulli as TorchBernoulli
from torch.distributions import ContinuousBernoulli as TorchContinuousBernoulli

from vaelab.likelihood.base import Likelihood


class Bernoulli(Likelihood):
    """p(x|z) = prod_d Bernoulli(x_d; sigmoid(logit_d)).

    A proper probability mass on binary data (use data.binarize=dynamic|static).
    On grey levels in [0, 1] the log-probability is the binary cross-entropy, which is
    not a normalised density: use ContinuousBernoulli or a Gaussian there.
    torch computes log_prob from logits with a stable BCE-with-logits.
    """

    support = (0.0, 1.0)

    def base(self, logits: torch.Tensor) -> TorchBernoulli:
        # validate_args=False: grey levels are allowed (see above) and checks cost time each step.
        return TorchBernoulli(logits=logits, validate_args=False)


class _ContinuousBernoulliLogits(TorchContinuousBernoulli):
    """torch's continuous Bernoulli with its log-normaliser computed from the logits.

    torch computes log C from probabilities clamped to [eps, 1 - eps] in float32, which
    freezes C beyond |logit| ~ 15 (off by 0.2 nats per pixel at logit 20). With
    lambda = sigmoid(l), C(lambda) = 2 atanh(1 - 2 lambda) / (1 - 2 lambda) = l / tanh(l / 2),
    so log C = log|l| - log tanh(|l| / 2), and log 2 + l^2 / 12 near l = 0.
    """

    def _cont_bern_log_norm(self) -> torch.Tensor:
        a = self.logits.abs()
        small = a < 1e-2
        safe = torch.where(small, torch.ones_like(a), a)
        # log tanh(a/2) = log(1 - e^-a) - log(1 + e^-a), stable for large a
        log_tanh = torch.log(-torch.expm1(-safe)) - torch.log1p(torch.exp(-safe))
        return torch.where(small, math.log(2.0) + a.square() / 12.0, torch.log(safe) - log_tanh)


class ContinuousBernoulli(Likelihood):
    """The normalised continuous Bernoulli density on [0, 1] (Loaiza-Ganem & Cunningham, 2019)."""

    support = (0.0, 1.0)

    def base(self, logits: torch.Tensor) -> TorchContinuousBernoulli:
        return _ContinuousBernoulliLogits(logits=logits, validate_args=False)
