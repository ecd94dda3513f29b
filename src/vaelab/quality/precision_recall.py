"""Improved precision and recall of generated samples (Kynkäänniemi et al., 2019, "Improved Precision and
Recall Metric for Assessing Generative Models", eq. 1-3).

Each set's manifold is the union of balls around its points, each ball's radius the distance
to the point's k-th nearest neighbour within its own set (k = 3 as in the paper):
    f(phi, Phi) = 1 if ||phi - phi'|| <= NND_k(phi') for some phi' in Phi, else 0       (eq. 1)
    precision = mean over generated phi_g of f(phi_g, Phi_real)                         (eq. 2)
    recall    = mean over real phi_r of f(phi_r, Phi_gen)                               (eq. 3)
Precision: how much of what the model generates looks real; recall: how much of the real data
the model covers. A model that repeats one mode well has high precision and low recall.
The balls of real outliers are wide, so precision is lenient: uniform noise scored 0.34 against
5000 Fashion-MNIST test images in the classifier's feature space (recall 0.0; two halves of
the test split 0.87 / 0.88). Read precision next to recall and FD, not alone.

Distances by torch.cdist in float64, `chunk` rows at a time: memory is chunk x N distances
(1024 x 10000 x 8 bytes = 80 MB), whatever N. The generated-to-real distance matrix is
computed once and read both ways (rows for precision, columns for recall).
"""

from __future__ import annotations

import torch

from vaelab.errors import ConfigError

K = 3
CHUNK = 1024


def knn_radii(features: torch.Tensor, k: int = K, chunk: int = CHUNK) -> torch.Tensor:
    """Distance from each point (N, d) to its k-th nearest neighbour in the same set, (N,).

    The point itself is at distance 0 and is the first of the k+1 smallest distances of its row,
    so the (k+1)-th smallest is the k-th neighbour other than itself (an exact duplicate counts
    as a neighbour at distance 0)."""
    if not 1 <= k < len(features):
        raise ConfigError(f"quality.k={k}: needs 1 <= k < the number of examples ({len(features)})")
    f = features.to(torch.float64)
    radii = [torch.cdist(f[i : i + chunk], f).kthvalue(k + 1, dim=1).values for i in range(0, len(f), chunk)]
    return torch.cat(radii)


def precision_recall(
    real: torch.Tensor, generated: torch.Tensor, k: int = K, chunk: int = CHUNK
) -> tuple[float, float]:
    """(precision, recall) of `generated` (Ng, d) against `real` (Nr, d), each in [0, 1]."""
    real, generated = real.to(torch.float64), generated.to(torch.float64)
    r_real, r_gen = knn_radii(real, k, chunk), knn_radii(generated, k, chunk)  # (Nr,), (Ng,)
    inside_real = torch.zeros(len(generated), dtype=torch.bool)  # generated point in the real manifold
    inside_gen = torch.zeros(len(real), dtype=torch.bool)  # real point in the generated manifold
    for i in range(0, len(generated), chunk):
        d = torch.cdist(generated[i : i + chunk], real)  # (c, Nr)
        inside_real[i : i + chunk] = (d <= r_real[None, :]).any(dim=1)
        inside_gen |= (d <= r_gen[i : i + chunk, None]).any(dim=0)
    return float(inside_real.double().mean()), float(inside_gen.double().mean())
