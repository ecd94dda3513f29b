"""Metrics (torchmetrics) for VAEs, and their names.

The metric classes load on first use (PEP 562), so that `vaelab.metrics.names`, which
vaelab-compare reads, imports no torch.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ELBO", "NLL", "LatentUsage"]


def __getattr__(name: str) -> Any:
    if name in ("ELBO", "NLL"):
        from vaelab.metrics import elbo

        return getattr(elbo, name)
    if name == "LatentUsage":
        from vaelab.metrics.latent import LatentUsage

        return LatentUsage
    raise AttributeError(f"module 'vaelab.metrics' has no attribute {name!r}")
