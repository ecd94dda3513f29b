"""Sample quality as vaelab-eval and vaelab-sample compute it (conf/quality): samples against the
grey-level images of a split, in the feature spaces `quality.features` names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vaelab.quality import feature_net, grey_splits, report


def score_samples(samples: torch.Tensor, datamodule, split: str, settings: dict[str, Any], cache_dir: Path, out: Path):
    """quality/* of `samples` (N, *shape) against N images of `split` (a seeded subset when the
    split is larger: the Fréchet distance is biased in N, so both sides have the same size)."""
    features = settings["features"]
    net, accuracy = None, None
    if features in ("classifier", "both"):
        with torch.enable_grad():  # training it, if not cached, needs gradients (the apps sample without)
            net, accuracy = feature_net(datamodule, settings["cache_dir"] or cache_dir)
    reference = grey_splits(datamodule, "test" if split == "test" else "fit")[split][0]
    if len(reference) > len(samples):
        pick = torch.randperm(len(reference), generator=torch.Generator().manual_seed(settings["seed"]))
        reference = reference[pick[: len(samples)]]
    metrics = report(
        samples.cpu(),
        reference,
        features=features,
        classifier=net,
        inception_weights=settings["inception_weights"],
        k=settings["k"],
        kid_subsets=settings["kid_subsets"],
        kid_subset_size=settings["kid_subset_size"],
        seed=settings["seed"],
        out_dir=out,
    )
    if accuracy is not None:
        metrics["quality/classifier_test_accuracy"] = accuracy
    return metrics
