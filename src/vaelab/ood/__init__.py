"""Out-of-distribution evaluation of a trained VAE: per-example scores, AUROC/AUPR, histograms.

    report(vae, in_test, in_val, {"mnist": x_mnist}, num_samples=100, batch_size=500, out_dir=d)

scores the in-distribution test split and each other data set with nll, bpd, typicality and
the PNG input-complexity correction (vaelab.ood.scores), measures how well each score tells
each set from the test split (vaelab.ood.detection: AUROC, AUPR; OOD = positive, higher score
= more OOD), writes `ood_scores.npz` (per-example scores, keys "<set>/<score>", plain float64
arrays readable with allow_pickle=False) and one histogram per score (vaelab.ood.plots) into
out_dir, and prints a table. All tensors are in the model's data space: see vaelab.ood.inputs
for how a data set gets there (binarisation, resizing).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from vaelab.data.shapes import check_compatible
from vaelab.errors import ConfigError
from vaelab.ood import scores as S
from vaelab.ood.detection import auroc_aupr
from vaelab.ood.inputs import check_fits, in_distribution, ood_test_split
from vaelab.ood.plots import histograms, log_histograms

__all__ = ["report", "in_distribution", "ood_test_split"]

VAL = "val"  # the in-distribution validation split's name in the outputs


def _check(vae, in_test, in_val, others: dict, in_name: str, typicality_batch: int) -> None:
    shape = vae.data_shape
    check_compatible(shape, in_test.shape[1:], f"ood: the in-distribution {in_name} split")
    check_compatible(shape, in_val.shape[1:], "ood: the in-distribution val split")
    for name, x in others.items():
        if name in (in_name, VAL) or not name or "/" in name:
            raise ConfigError(f"ood={name}: a data set may not be named {in_name!r}, {VAL!r}, '' or contain '/'")
        check_fits(shape, x.shape[1:], f"ood={name}", resize_to_model=False)
    for name, x in [(in_name, in_test), (VAL, in_val), *others.items()]:
        if len(x) == 0:
            raise ConfigError(f"ood={name}: the data set has no examples")
    smallest = min(len(x) for x in [in_test, *others.values()])
    if typicality_batch > smallest:
        raise ConfigError(
            f"ood_typicality_batch={typicality_batch}: larger than the smallest data set ({smallest} examples)"
        )


def _png_applicable(vae, sets: list[torch.Tensor]) -> str | None:
    """None if PNG complexity applies to these inputs, else why not."""
    if not vae.is_image or vae.data_shape[0] not in S.PNG_MODES:
        return f"the model's inputs {list(vae.data_shape)} are not 1- or 3-channel images"
    lo, hi = min(float(x.min()) for x in sets), max(float(x.max()) for x in sets)
    if lo < 0 or hi > 1:
        return f"the inputs span [{lo:g}, {hi:g}], not [0, 1], so they have no 8-bit form"
    return None


def report(
    vae,
    in_test: torch.Tensor,
    in_val: torch.Tensor,
    others: dict[str, torch.Tensor],
    *,
    num_samples: int,
    batch_size: int,
    out_dir: Path,
    logger=None,
    seed: int = 0,
    typicality_batch: int = 1,
    in_name: str = "test",
) -> dict[str, float]:
    """Score, compare, save and print; returns flat metrics
    ood/<set>/<score>/auroc, ood/<set>/<score>/aupr (each OOD set), ood/<set>/nll_mean and
    ood/<set>/bpd_mean (each OOD set, the in-distribution split `in_name`, and "val", whose
    nll_mean is the typicality test's H). typicality_batch = M > 1 adds the score
    typicality_m<M> on disjoint batches of M examples (Nalisnick et al. 2019b's test)."""
    _check(vae, in_test, in_val, others, in_name, typicality_batch)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    num_dims = math.prod(vae.data_shape)
    sets = {in_name: in_test, **others}
    no_png = _png_applicable(vae, [in_val, *sets.values()])

    # Each set is scored with the same seed: identical inputs get identical scores.
    def nll(x):
        return S.nll(vae, x, num_samples=num_samples, batch_size=batch_size, seed=seed)

    val_nll = nll(in_val)
    entropy = float(val_nll.mean())  # H: the typical -log p(x) of in-distribution data
    per_set: dict[str, dict[str, torch.Tensor]] = {}
    for name, x in sets.items():
        n = nll(x)
        b = S.bpd(n, num_dims)
        scores = {"nll": n, "bpd": b, "typicality": S.typicality(n, entropy)}
        if typicality_batch > 1:
            scores[f"typicality_m{typicality_batch}"] = S.typicality_batches(n, entropy, typicality_batch, seed)
        if no_png is None:
            scores["complexity"] = S.complexity(b, S.png_bpd(x))
        per_set[name] = scores

    metrics: dict[str, float] = {}
    for name, scores in [(VAL, {"nll": val_nll, "bpd": S.bpd(val_nll, num_dims)}), *per_set.items()]:
        metrics[f"ood/{name}/nll_mean"] = float(scores["nll"].mean())
        metrics[f"ood/{name}/bpd_mean"] = float(scores["bpd"].mean())
    for name in others:
        for score, values in per_set[name].items():
            auroc, aupr = auroc_aupr(per_set[in_name][score], values)
            metrics[f"ood/{name}/{score}/auroc"], metrics[f"ood/{name}/{score}/aupr"] = auroc, aupr

    arrays = {f"{name}/{score}": v.numpy() for name, sc in per_set.items() for score, v in sc.items()}
    np.savez(out_dir / "ood_scores.npz", **{f"{VAL}/nll": val_nll.numpy()}, **arrays)
    paths = histograms({name: {k: v.numpy() for k, v in sc.items()} for name, sc in per_set.items()}, out_dir)
    if logger is not None:
        log_histograms(logger, paths)
    print(table(metrics, in_name, list(others), list(per_set[in_name]), num_samples, no_png))
    return metrics


def table(
    metrics: dict[str, float], in_name: str, others: list[str], scores: list[str], k: int, no_png: str | None
) -> str:
    """The metrics as text: mean nll/bpd per set, then AUROC and AUPR per score and OOD set."""
    width = max(12, *(len(s) + 2 for s in [in_name, VAL, *others, *scores]))
    rows = [f"OOD detection, K = {k} (OOD = positive class, higher score = more OOD)"]
    rows.append(f"{'set':<{width}}{'nll (nats)':>12}{'bpd':>10}")
    for name in [VAL, in_name, *others]:
        rows.append(f"{name:<{width}}{metrics[f'ood/{name}/nll_mean']:>12.3f}{metrics[f'ood/{name}/bpd_mean']:>10.4f}")
    if others:
        rows.append(f"{'set':<{width}}{'score':<{width}}{'AUROC':>8}{'AUPR':>8}")
        for name in others:
            for score in scores:
                a, p = metrics[f"ood/{name}/{score}/auroc"], metrics[f"ood/{name}/{score}/aupr"]
                rows.append(f"{name:<{width}}{score:<{width}}{a:>8.4f}{p:>8.4f}")
    if no_png:
        rows.append(f"complexity not computed: {no_png}")
    return "\n".join(rows)
