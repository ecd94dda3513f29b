"""Likelihoods for data in [0, 1]: Bernoulli and continuous Bernoulli, both in logits form."""

from __future__ import annotations

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

    def base(self, params: torch.Tensor) -> TorchBernoulli:
        # validate_args=False: grey levels are allowed (see above) and checks cost time each step.
        return TorchBernoulli(logits=params[:, 0], validate_args=False)


class ContinuousBernoulli(Likelihood):
    """The normalised continuous Bernoulli density on [0, 1] (Loaiza-Ganem & Cunningham, 2019)."""

    support = (0.0, 1.0)

    def base(self, params: torch.Tensor) -> TorchContinuousBernoulli:
        return TorchContinuousBernoulli(logits=params[:, 0], validate_args=False)
