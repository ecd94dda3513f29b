"""Priors p(z), one per `conf/prior/*.yaml`: modules whose forward gives a torch Distribution
with event shape (latent_dim,)."""

from vaelab.priors.mog import MixtureOfGaussians
from vaelab.priors.standard import StandardNormal
from vaelab.priors.vamp import VampPrior

__all__ = ["StandardNormal", "MixtureOfGaussians", "VampPrior"]
