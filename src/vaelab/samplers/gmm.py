"""Ex-post density estimation (Ghosh et al., 2020, "From Variational to Deterministic
Autoencoders", Sec. 4): sample from a density fitted, after training, to the codes of the
training data instead of from p(z), which the aggregate posterior q(z) = E_x q(z|x) need not
fill (holes between classes, mass the decoder never saw). Here that density is a Gaussian
mixture with full covariances,
    q_GMM(z) = sum_k w_k N(z; m_k, S_k),
fitted by EM (scikit-learn's GaussianMixture, seeded) to the posterior means mu(x) of the train
split. At temperature T each component's standard deviation is scaled by T (S_k -> T^2 S_k).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.distributions import Categorical, Distribution, MixtureSameFamily, MultivariateNormal

from vaelab.config.types import PosInt, Seed
from vaelab.errors import ConfigError


class GMMSampler:
    needs_data = True

    def __init__(self, n_components: PosInt = 10, seed: Seed = 0):
        self.n_components, self.seed = int(n_components), int(seed)
        # The fitted mixture, float64: weights (K,), means (K, L), covariances (K, L, L).
        self.weights: torch.Tensor | None = None
        self.means: torch.Tensor | None = None
        self.covariances: torch.Tensor | None = None

    @torch.no_grad()
    def fit(self, model, datamodule) -> GMMSampler:
        """Fit to mu(x) over the train split, as the model saw it in training (one binarisation
        draw per image when the data are binarised per batch)."""
        codes = [model.encode(x.to(model.device)).mean.double().cpu() for x, _ in datamodule.loader("train", True)]
        return self.fit_codes(torch.cat(codes))  # (N, L)

    def fit_codes(self, codes: torch.Tensor) -> GMMSampler:
        """Fit the mixture to codes (N, L)."""
        from sklearn.mixture import GaussianMixture

        n = codes.shape[0]
        if n < self.n_components:
            raise ConfigError(
                f"sampler.n_components={self.n_components}: the train split has only {n} examples to fit them to"
            )
        gm = GaussianMixture(self.n_components, covariance_type="full", random_state=self.seed)
        gm.fit(codes.double().numpy())
        self.weights = torch.from_numpy(np.asarray(gm.weights_, dtype=np.float64))  # (K,)
        self.means = torch.from_numpy(np.asarray(gm.means_, dtype=np.float64))  # (K, L)
        self.covariances = torch.from_numpy(np.asarray(gm.covariances_, dtype=np.float64))  # (K, L, L)
        return self

    def distribution(self, model=None, temperature: float = 1.0) -> Distribution:
        """The fitted mixture with each component's standard deviation scaled by T: batch (), event (L,)."""
        if self.means is None:
            raise RuntimeError("GMMSampler.distribution before fit")
        scale_tril = temperature * torch.linalg.cholesky(self.covariances)  # (K, L, L): T S^(1/2)
        components = MultivariateNormal(self.means, scale_tril=scale_tril)  # batch (K,), event (L,)
        return MixtureSameFamily(Categorical(probs=self.weights), components)
