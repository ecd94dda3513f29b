"""Fréchet distance between Gaussians fitted to two feature sets (Heusel et al., 2017, eq. 6; Dowson & Landau, 1982).

    FD = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})

with mu and S the mean and unbiased covariance of each set's features (N, d). In vaelab's
domain feature space (vaelab.quality.classifier) it is reported as `fd_classifier`: the same
formula as FID, in a different space, so its values are NOT comparable to Inception FID.

Tr (S1 S2)^{1/2} is computed as sum_i sqrt(lambda_i) over the eigenvalues of the symmetric
positive semi-definite M = S1^{1/2} S2 S1^{1/2}, which has the same eigenvalues as S1 S2
(similar matrices); `eigvalsh` of a symmetric matrix gives real eigenvalues, and the tiny
negative ones that round-off leaves for rank-deficient covariances (ReLU features with dead
units) are clamped to 0. All in float64, covariances by torch.cov (two-pass, no
sum-of-squares cancellation). torchmetrics' FrechetInceptionDistance with `feature=` gives the
same number to ~1e-4 relative on Fashion-MNIST features, but computes Tr (S1 S2)^{1/2} from
the general eigenvalues of the non-symmetric S1 S2 and returns it in the features' dtype
(float32); a set against itself then gives ~1e-5 rather than ~1e-12.
"""

from __future__ import annotations

import torch


def gaussian_fit(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean (d,), unbiased covariance (d, d)) of features (N, d), in float64."""
    f = features.detach().to(torch.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"the Fréchet distance needs features shaped (N >= 2, d), got {list(f.shape)}")
    return f.mean(0), torch.cov(f.T)


def psd_sqrt(s: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a symmetric PSD matrix (d, d): V diag(sqrt(max(w, 0))) V^T."""
    w, v = torch.linalg.eigh(s)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def frechet_gaussians(mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor, s2: torch.Tensor) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}) for N(mu1, S1) and N(mu2, S2), float64."""
    r1 = psd_sqrt(s1)
    m = r1 @ s2 @ r1
    m = (m + m.T) / 2  # exactly symmetric for eigvalsh
    tr_sqrt = torch.linalg.eigvalsh(m).clamp(min=0).sqrt().sum()
    fd = (mu1 - mu2).square().sum() + s1.trace() + s2.trace() - 2 * tr_sqrt
    return float(fd.clamp(min=0))  # >= 0 in exact arithmetic; round-off can give -1e-13


def frechet_distance(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """The Fréchet distance between Gaussians fitted to two feature sets (Na, d) and (Nb, d)."""
    if features_a.shape[1:] != features_b.shape[1:]:
        raise ValueError(
            f"the Fréchet distance needs features of the same size, got {list(features_a.shape)} and {list(features_b.shape)}"
        )
    return frechet_gaussians(*gaussian_fit(features_a), *gaussian_fit(features_b))
