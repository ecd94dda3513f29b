"""AUROC and AUPR of OOD scores equal scikit-learn's, whatever the scale of the scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from vaelab.ood.detection import auroc_aupr, order_preserving_unit


def _sklearn(in_scores: np.ndarray, out_scores: np.ndarray) -> tuple[float, float]:
    y = np.r_[np.zeros(len(in_scores)), np.ones(len(out_scores))]
    s = np.r_[in_scores, out_scores]
    return roc_auc_score(y, s), average_precision_score(y, s)


@pytest.mark.parametrize(
    "loc, scale, rounding",
    [
        (0.0, 1.0, None),  # scores like logits
        (250.0, 1.0, None),  # nll in nats: a sigmoid of these is 1.0 in float for all of them
        (3.0, 1.0, 1),  # many ties
    ],
)
def test_auroc_and_aupr_equal_sklearn_on_random_scores(loc, scale, rounding):
    rng = np.random.default_rng(0)
    for n_in, n_out, shift in [(300, 200, 0.4), (50, 400, -0.8), (100, 100, 0.0)]:
        a = rng.normal(loc, scale, n_in)
        b = rng.normal(loc + shift, scale, n_out)
        if rounding is not None:
            a, b = a.round(rounding), b.round(rounding)
        b32 = torch.tensor(b, dtype=torch.float32)  # either precision is taken
        auroc, aupr = auroc_aupr(torch.tensor(a), b32)
        b = b32.double().numpy()
        ref_auroc, ref_aupr = _sklearn(a, b)
        assert auroc == pytest.approx(ref_auroc, abs=1e-6)
        assert aupr == pytest.approx(ref_aupr, abs=1e-6)


def test_a_set_against_itself_is_chance_and_separated_sets_are_perfect():
    x = torch.randn(500, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 300
    assert auroc_aupr(x, x)[0] == pytest.approx(0.5, abs=1e-12)
    assert auroc_aupr(x, x + 100) == pytest.approx((1.0, 1.0))
    assert auroc_aupr(x, x - 100)[0] == pytest.approx(0.0)


def test_ranks_keep_order_and_ties_in_the_unit_interval():
    s = torch.tensor([5.0, -2.0, 5.0, 1e6, 0.5])
    u = order_preserving_unit(s)
    assert u.tolist() == [2 / 3, 0.0, 2 / 3, 1.0, 1 / 3]


def test_non_finite_scores_are_refused():
    with pytest.raises(ValueError, match="finite"):
        auroc_aupr(torch.tensor([1.0, float("nan")]), torch.tensor([2.0]))
