"""Likelihoods p(x|z), one per `conf/likelihood/*.yaml`."""

from vaelab.likelihood.base import Likelihood, params_per_dim
from vaelab.likelihood.bernoulli import Bernoulli, ContinuousBernoulli
from vaelab.likelihood.discretized_logistic import DiscretizedLogistic, DiscretizedLogisticMixture
from vaelab.likelihood.location_scale import Gaussian, GaussianLearned, Laplace

__all__ = [
    "Likelihood",
    "params_per_dim",
    "Bernoulli",
    "ContinuousBernoulli",
    "DiscretizedLogistic",
    "DiscretizedLogisticMixture",
    "Gaussian",
    "GaussianLearned",
    "Laplace",
]
