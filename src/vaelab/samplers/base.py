"""What a sampler implements: where vaelab-sample draws latent codes from (sampler=NAME)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch.distributions import Distribution


@runtime_checkable
class Sampler(Protocol):
    #: Whether `fit` reads the training split (vaelab-sample then loads the data).
    needs_data: bool

    def fit(self, model: Any, datamodule: Any) -> Sampler:
        """Fit to the model (a vaelab.model.VAE) and its training data; returns itself."""
        ...

    def distribution(self, model: Any, temperature: float = 1.0) -> Distribution:
        """A distribution over z with event shape (L,), whose draws the model decodes."""
        ...
