"""Histograms of each OOD score per data set (in-distribution test vs each OOD set), as PNG
files and, for a W&B logger, as wandb.Image.

One figure per score: the data sets overlaid as step histograms of densities over shared
bins, so sets of different sizes compare and a shift between them is what the AUROC measures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BINS = 60


def histogram(score: str, values: dict[str, np.ndarray], path: Path) -> Path:
    """One PNG at `path`: the distribution of `score` in each data set of `values` (name -> (N,))."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pooled = np.concatenate([v for v in values.values() if len(v)])
    # Shared bins over the central 99.8% of all values: a few extreme scores would squeeze the rest.
    lo, hi = np.percentile(pooled, [0.1, 99.9])
    if not hi > lo:
        lo, hi = pooled.min() - 0.5, pooled.max() + 0.5  # all equal: a bin around the value
    edges = np.linspace(lo, hi, BINS + 1)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=100)
    for name, v in values.items():
        density, _ = np.histogram(np.clip(v, lo, hi), bins=edges, density=True)
        ax.stairs(density, edges, linewidth=1.5, label=f"{name} ({len(v)})")
    ax.set_xlabel(score)
    ax.set_ylabel("density")
    ax.set_title(f"OOD score {score} (higher = more out-of-distribution)")
    ax.legend()
    # Fixed margins: tight_layout would draw the figure once more, doubling the time of a plot.
    fig.subplots_adjust(left=0.11, right=0.97, top=0.92, bottom=0.12)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def histograms(scores: dict[str, dict[str, np.ndarray]], out_dir: Path) -> dict[str, Path]:
    """scores[set][score] = (N,) -> {score: PNG path} in out_dir, named ood_hist_<score>.png."""
    names = dict.fromkeys(s for per_set in scores.values() for s in per_set)  # scores, in order
    paths = {}
    for score in names:
        values = {name: per_set[score] for name, per_set in scores.items() if score in per_set}
        paths[score] = histogram(score, values, Path(out_dir) / f"ood_hist_{score}.png")
    return paths


def wandb_images(paths: dict[str, Path], prefix: str = "ood/hist") -> dict:
    """{<prefix>/<score>: wandb.Image} of the saved histograms."""
    import wandb

    return {f"{prefix}/{score}": wandb.Image(str(path), caption=score) for score, path in paths.items()}


def log_histograms(logger, paths: dict[str, Path]) -> dict:
    """Send the histograms to W&B: `logger` is Lightning's WandbLogger or a wandb run. Other
    loggers (CSV, TensorBoard) take none; the PNG files are on disk either way."""
    from lightning.pytorch.loggers import Logger, WandbLogger

    if isinstance(logger, Logger) and not isinstance(logger, WandbLogger):
        return {}
    run = logger.experiment if isinstance(logger, WandbLogger) else logger
    images = wandb_images(paths)
    run.log(images)
    return images
