"""Fréchet distance between Gaussians fitted to two feature sets (Heusel et al., 2017, eq. 6; Dowson & Landau, 1982).

    FD = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})

with mu and S the mean and unbiased covariance of each set's features (N, d). In vaelab's
domain feature space (vaelab.quality.classifier) it is reported as `fd_classifier`: the same
formula as FID, in a different space, so its values are NOT comparable to Inception FID.

Computed by torchmetrics' FrechetInceptionDistance with `feature=` the identity on features
we extracted once (they also serve KID and precision/recall), in float64: its states are
float64 and it returns the features' dtype. We checked it against our own float64 formula
(Tr (S1 S2)^{1/2} from eigvalsh of the symmetric S1^{1/2} S2 S1^{1/2}, two-pass torch.cov):
equal to 1e-10 relative on random data, and 2.0957884 against 2.0957857 (1e-6, its one-pass
covariance) on Fashion-MNIST features; the tests check it against closed forms and scipy.
A set against itself gives |FD| ~ 1e-12, which round-off can make negative: clamped to 0.
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from vaelab.errors import ConfigError


class GivenFeatures(nn.Identity):
    """The identity as torchmetrics' `feature=`: the inputs are the features (N, d) already.
    `num_features` spares torchmetrics probing the module with a dummy image."""

    def __init__(self, num_features: int):
        super().__init__()
        self.num_features = int(num_features)


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """The Fréchet distance between Gaussians fitted to feature sets (Na, d) and (Nb, d), Na, Nb >= 2."""
    if features_a.ndim != 2 or features_a.shape[1:] != features_b.shape[1:]:
        raise ConfigError(
            f"the Fréchet distance needs two feature sets (N, d) of the same d, got {list(features_a.shape)} "
            f"and {list(features_b.shape)}"
        )
    if min(len(features_a), len(features_b)) < 2:
        raise ConfigError(f"the Fréchet distance needs N >= 2 in each set, got {len(features_a)} and {len(features_b)}")
    fd = FrechetInceptionDistance(feature=GivenFeatures(features_a.shape[1]))
    fd.update(features_a.detach().to(torch.float64), real=True)
    fd.update(features_b.detach().to(torch.float64), real=False)
    return max(float(fd.compute()), 0.0)
