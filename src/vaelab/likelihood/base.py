"""The likelihood p(x|z): turns decoder output into a `torch.distributions` object.

A decoder emits `params_per_dim` (P) numbers per data dimension, laid out as
(B, P, *data_shape). A likelihood reads them and returns a distribution whose
event covers every data dimension, so `log_prob(x)` is already summed over the
data and has shape (B,). That `Independent` wrapper is the one place where the
per-dimension terms are reduced.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import Distribution, Independent

from vaelab.errors import ConfigError


class Likelihood(nn.Module):
    """Base class. Subclasses set `params_per_dim` and `support` and build `base`."""

    #: How many decoder outputs per data dimension (1 for a mean, 2 for mean and scale).
    params_per_dim: int = 1
    #: Closed interval of data values this likelihood is a density/mass on; None = all reals.
    support: tuple[float, float] | None = None

    def base(self, *params: torch.Tensor) -> Distribution:
        """Per-dimension distribution from `params_per_dim` tensors, each (*batch, *data_shape)."""
        raise NotImplementedError

    def forward(self, params: torch.Tensor, event_dims: int | None = None) -> Distribution:
        """params: (*batch, P, *data_shape), where data_shape has `event_dims` dimensions
        (default: everything after (B, P)). Returns a distribution with batch shape `batch`."""
        event_dims = params.dim() - 2 if event_dims is None else event_dims
        dist = self.base(*params.unbind(dim=params.dim() - event_dims - 1))
        # The data dimensions are one event: log_prob sums over them.
        return Independent(dist, reinterpreted_batch_ndims=event_dims, validate_args=False)

    def check_data_range(self, low: float, high: float, where: str = "the data") -> None:
        """Fail early, naming the likelihood, when it cannot model values in [low, high]."""
        if self.support is None:
            return
        lo, hi = self.support
        if low < lo or high > hi or not (math.isfinite(low) and math.isfinite(high)):
            raise ConfigError(
                f"likelihood={self.name} models data in [{lo:g}, {hi:g}], but {where} spans "
                f"[{low:g}, {high:g}]. Scale the data into [{lo:g}, {hi:g}] (for arrays: data.scale) "
                f"or choose likelihood=gaussian, gaussian_learned or laplace."
            )

    def check_data(self, x: torch.Tensor, where: str = "the data") -> None:
        """Fail early when a value of x is one this likelihood cannot model; a range says it all
        for most likelihoods (check_data_range), a likelihood on a grid checks every value."""

    @property
    def name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        return f"params_per_dim={self.params_per_dim}, support={self.support}"


def params_per_dim(target: str) -> int:
    """OmegaConf resolver: the decoder width a likelihood class needs, from its `_target_`. The
    name is judged as any `_target_` is (vaelab.config.targets): in a checkpoint's config only
    vaelab's likelihoods and trusted packages' are looked up, before anything is imported."""
    from vaelab.config import targets

    found = targets.target_of(target, "likelihood", "", targets.current_trust())
    width = getattr(found, "params_per_dim", None)
    if not (isinstance(found, type) and isinstance(width, int) and width >= 1):
        raise targets.RefusedTarget(
            f"likelihood._target_={target!r}: not a likelihood class (a vaelab.likelihood.Likelihood, "
            "with params_per_dim decoder outputs per data dimension)"
        )
    return width
