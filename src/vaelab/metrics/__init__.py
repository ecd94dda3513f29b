"""Metrics (torchmetrics) for VAEs."""

from vaelab.metrics.elbo import ELBO, NLL
from vaelab.metrics.latent import LatentUsage

__all__ = ["ELBO", "NLL", "LatentUsage"]
