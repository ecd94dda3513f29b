"""Metrics (torchmetrics) for VAEs."""

from vaelab.metrics.elbo import ELBO, NLL

__all__ = ["ELBO", "NLL"]
