"""How well a score separates in-distribution from out-of-distribution examples: AUROC and AUPR.

Convention: OOD is the positive class, and a higher score means more out-of-distribution,
for every score of vaelab.ood.scores (nll, bpd: higher = less likely = OOD; typicality: farther
from the typical set = OOD; complexity: more bits than PNG needs = OOD). AUROC = 0.5 is
chance; AUROC < 0.5 means the score ranks OOD inputs as *more* in-distribution than the real
ones (the Nalisnick et al. 2019a effect for nll). AUPR is the average precision with OOD as
the positive class; its chance level is the share of OOD examples.

torchmetrics' binary_auroc / binary_average_precision read predictions outside [0, 1] as
logits and apply a sigmoid first: an nll of 200 or 201 nats both become 1.0 in float and the
AUROC collapses to 0.5. Both metrics depend only on the order of the scores, so we hand them
the dense ranks of the scores scaled to [0, 1] (float64): the same order, the same ties, and
nothing for the sigmoid to touch.
"""

from __future__ import annotations

import torch
from torchmetrics.functional.classification import binary_auroc, binary_average_precision

from vaelab.errors import ConfigError


def order_preserving_unit(scores: torch.Tensor) -> torch.Tensor:
    """Dense ranks of `scores` mapped to [0, 1], float64: equal scores stay equal, order is kept."""
    _, rank = torch.unique(scores.double(), sorted=True, return_inverse=True)  # 0 .. n_unique - 1
    top = int(rank.max()) if len(rank) else 0
    return rank.double() / max(top, 1)


def auroc_aupr(in_scores: torch.Tensor, out_scores: torch.Tensor) -> tuple[float, float]:
    """(AUROC, AUPR) of telling out_scores (positives) from in_scores (negatives), each (N_i,)."""
    scores = torch.cat([in_scores.double(), out_scores.double()])
    if not torch.isfinite(scores).all():
        raise ConfigError("OOD scores must be finite to rank them; got NaN or infinite values")
    target = torch.cat([torch.zeros(len(in_scores)), torch.ones(len(out_scores))]).long()
    preds = order_preserving_unit(scores)
    return float(binary_auroc(preds, target)), float(binary_average_precision(preds, target))
