"""report(): the five numbers in the digits feature space, their ordering on real data, and bad input in one line."""

from __future__ import annotations

import json

import pytest
import torch

from vaelab.quality import report
from vaelab.quality.classifier import grey_splits

KEYS = {
    "quality/fd_classifier",
    "quality/kid_classifier_mean",
    "quality/kid_classifier_std",
    "quality/precision",
    "quality/recall",
}


@pytest.fixture(scope="module")
def halves(digits_net):
    """Two random halves of the grey digits test split (180 and 179 images)."""
    x = grey_splits(digits_net[0], "test")["test"][0]
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    return x[perm[:180]], x[perm[180:]]


def test_real_halves_near_noise_far(digits_net, halves, tmp_path):
    net = digits_net[1]
    ref, other = halves
    same = report(other, ref, classifier=net, kid_subsets=20, out_dir=tmp_path / "q")
    itself = report(ref, ref, classifier=net, kid_subsets=20)
    noise = report(
        torch.rand(180, 1, 8, 8, generator=torch.Generator().manual_seed(1)), ref, classifier=net, kid_subsets=20
    )
    assert set(same) == set(noise) == KEYS
    assert json.loads((tmp_path / "q" / "quality.json").read_text()) == same
    assert itself["quality/fd_classifier"] < 1e-6 and itself["quality/precision"] == itself["quality/recall"] == 1.0
    # Another sample of the same distribution is far closer than noise, by every measure.
    assert noise["quality/fd_classifier"] > 5 * same["quality/fd_classifier"]
    assert noise["quality/kid_classifier_mean"] > 5 * abs(same["quality/kid_classifier_mean"])
    assert same["quality/precision"] > 0.8 and same["quality/recall"] > 0.8
    # Noise covers none of the real data; but k-NN balls around the real outliers are wide in
    # 128 dimensions, so some noise lands inside them (0.56 here): precision drops, not to 0.
    assert noise["quality/recall"] < 0.05 and noise["quality/precision"] < 0.7 * same["quality/precision"]


def test_bad_input_one_line(digits_net, halves, tmp_path):
    net = digits_net[1]
    ref, other = halves
    with pytest.raises(ValueError, match="quality.features=pixels: must be one of classifier, inception, both"):
        report(other, ref, features="pixels", classifier=net)
    with pytest.raises(ValueError, match=r"samples of shape \[1, 8, 9\]"):
        report(torch.zeros(10, 1, 8, 9), ref, classifier=net)
    with pytest.raises(ValueError, match="needs the domain classifier"):
        report(other, ref)
    with pytest.raises(ValueError, match="more than k=3"):
        report(other[:3], ref, classifier=net)
    with pytest.raises(FileNotFoundError, match="quality.inception_weights="):
        report(other, ref, features="inception", inception_weights=tmp_path / "absent.pth")
