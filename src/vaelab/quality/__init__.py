"""Sample quality: how close a model's samples are to the test data, in a feature space.

`report(samples, reference, classifier=net)` gives, in the domain feature space of a small
classifier trained on the data set (`feature_net`, vaelab.quality.classifier):
    quality/fd_classifier           Fréchet distance (vaelab.quality.frechet; NOT comparable to Inception FID)
    quality/kid_classifier_mean     KID, mean and std over subsets (vaelab.quality.kid)
    quality/kid_classifier_std
    quality/precision, quality/recall   Kynkäänniemi et al. 2019, k = 3 (vaelab.quality.precision_recall)
and, with features="inception" or "both", quality/fid_inception (vaelab.quality.inception:
needs torch-fidelity and the Inception-v3 weights file).
All of them depend on the number of samples (FD and FID are biased in N): compare numbers
computed with the same N and the same reference. The reference should be grey-level images, as
the samples (likelihood means) are: `grey_splits(datamodule, "test")["test"][0]` gives the test
split without the binarisation of a Bernoulli benchmark.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from vaelab.errors import ConfigError
from vaelab.quality.classifier import FeatureNet, TrainSetup, embed, feature_net, grey_splits
from vaelab.quality.frechet import frechet_distance
from vaelab.quality.inception import inception_fid
from vaelab.quality.kid import SUBSET_SIZE, SUBSETS, kernel_distance
from vaelab.quality.precision_recall import K, precision_recall
from vaelab.runs.io import make_dir, write_json

__all__ = ["FEATURES", "FeatureNet", "TrainSetup", "feature_net", "grey_splits", "report"]

FEATURES = ("classifier", "inception", "both")


def report(
    samples: torch.Tensor,
    reference: torch.Tensor,
    *,
    features: str = "classifier",
    classifier: FeatureNet | None = None,
    inception_weights: str | os.PathLike | None = None,
    k: int = K,
    kid_subsets: int = SUBSETS,
    kid_subset_size: int = SUBSET_SIZE,
    seed: int = 0,
    out_dir: str | os.PathLike | None = None,
) -> dict[str, float]:
    """Quality of `samples` (Ns, *shape) against `reference` (Nr, *shape), e.g. the test split.

    Images must be in the data's range (what the classifier was trained on; [0, 1] for
    Inception). With out_dir, the numbers are also written to out_dir/quality.json."""
    if features not in FEATURES:
        raise ConfigError(f"quality.features={features}: must be one of {', '.join(FEATURES)}")
    if samples.shape[1:] != reference.shape[1:]:
        raise ConfigError(
            f"quality: samples of shape {list(samples.shape[1:])} cannot be compared with reference data of shape "
            f"{list(reference.shape[1:])}"
        )
    if min(len(samples), len(reference)) <= k:
        raise ConfigError(
            f"quality: {len(samples)} samples and {len(reference)} reference examples; each needs more than k={k}"
        )
    out: dict[str, float] = {}
    if features in ("classifier", "both"):
        if classifier is None:
            raise ConfigError(f"quality.features={features} needs the domain classifier (quality.feature_net)")
        f_real, f_gen = embed(classifier, reference), embed(classifier, samples)  # (Nr, d), (Ns, d) float64
        kid_mean, kid_std = kernel_distance(f_real, f_gen, kid_subsets, kid_subset_size, seed)
        precision, recall = precision_recall(f_real, f_gen, k)
        out |= {
            "quality/fd_classifier": frechet_distance(f_real, f_gen),
            "quality/kid_classifier_mean": kid_mean,
            "quality/kid_classifier_std": kid_std,
            "quality/precision": precision,
            "quality/recall": recall,
        }
    if features in ("inception", "both"):
        out["quality/fid_inception"] = inception_fid(samples, reference, inception_weights)
    if out_dir is not None:
        write_json(Path(make_dir(out_dir, "quality.out_dir")) / "quality.json", out)
    return out
