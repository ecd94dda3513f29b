"""z ~ the model's own prior p(z), at a temperature: its standard deviation scaled by T
(N(0, T^2 I) for the standard normal prior, each component's for the mixtures; see
`tempered` in vaelab.priors). T < 1 trades diversity for typical-looking samples."""

from __future__ import annotations

from torch.distributions import Distribution


class PriorSampler:
    needs_data = False

    def fit(self, model, datamodule=None) -> PriorSampler:
        return self

    def distribution(self, model, temperature: float = 1.0) -> Distribution:
        """p_T(z) of `model` (a vae: vaelab.model.VAE, a hierarchical one with every group's
        scale times T); a VampPrior reads the model's encoder."""
        return model.prior_dist(temperature)
