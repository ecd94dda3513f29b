"""vaelab-compare's plots of a disentanglement study (experiment=disentanglement_study), drawn
when the runs have disentanglement scores (vaelab.callbacks.Disentanglement):

- disentanglement_vs_strength.png: each score against the regularisation strength of its
  objective (beta of the beta-VAE and beta-TCVAE, gamma of FactorVAE, lambda_od of DIP-VAE,
  the capacity C of the capacity objective; log axis), one panel per score, one line per
  objective through the mean over seeds, the band from the lowest to the highest seed; as
  Locatello et al. (2019), "Challenging Common Assumptions in the Unsupervised Learning of
  Disentangled Representations", Fig. 6-7;
- rank_correlation.png: the Spearman rank correlation between every two scores across all
  runs, as their Fig. 2: rho = the Pearson correlation of the runs' ranks under each score
  (scipy.stats.spearmanr, ties ranked by their mean).

A run's objective and strength come from its resolved config.yaml (run.py writes it), else
from its overrides (`objective=...`, `objective.beta=...`; the objective train.yaml defaults to
is the ELBO).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from vaelab.compare.plots import pyplot
from vaelab.compare.runs import number, yaml_file
from vaelab.metrics.names import SCORE_KEYS as DISENTANGLEMENT

# Objective class -> (its conf/objective name, the setting a study sweeps).
STRENGTH = {
    "vaelab.objectives.ELBO": ("elbo", "beta"),
    "vaelab.objectives.BetaTCVAE": ("beta_tcvae", "beta"),
    "vaelab.objectives.FactorVAE": ("factor_vae", "gamma"),
    "vaelab.objectives.DIPVAE": ("dip_vae", "lambda_od"),
    "vaelab.objectives.Capacity": ("capacity", "max_capacity"),
}
BY_NAME = dict(STRENGTH.values())
DEFAULT_OBJECTIVE = "elbo"  # conf/train.yaml's


def regularisation(run: dict[str, Any]) -> tuple[str, str, float] | None:
    """(objective, knob, strength) of a run, e.g. ("factor_vae", "gamma", 35.0); DIP-VAE's
    objective names its variant ("dip_vae_ii"). None for an objective without a strength (IWAE)
    or a strength that is not a positive number (a log axis has no place for it)."""
    objective = yaml_file(run["dir"] / "config.yaml")
    objective = objective.get("objective") if isinstance(objective, dict) else None
    if isinstance(objective, dict) and "_target_" in objective:
        if objective["_target_"] not in STRENGTH:
            return None
        name, knob = STRENGTH[objective["_target_"]]
        value = number(objective.get(knob))
        if name == "dip_vae" and isinstance(objective.get("variant"), str):
            name = f"dip_vae_{objective['variant']}"
    else:
        name = run["knobs"].get("objective", DEFAULT_OBJECTIVE)
        if name not in BY_NAME:
            return None
        knob = BY_NAME[name]
        value = None
    if value is None:
        try:
            value = float(run["knobs"][f"objective.{knob}"])
        except (KeyError, ValueError):
            return None
    return (name, knob, value) if value > 0 and np.isfinite(value) else None


def scores_found(runs: list[dict[str, Any]], split: str) -> list[str]:
    """The `<split>/<score>` keys some run that is not broken has, in DISENTANGLEMENT's order."""
    keys = [f"{split}/{s}" for s in DISENTANGLEMENT]
    return [k for k in keys if any(number(r["metrics"].get(k)) is not None for r in runs if r["state"] != "broken")]


def strength_curves(runs: list[dict[str, Any]], metric: str) -> dict[str, dict[float, list[float]]]:
    """{"objective (knob)": {strength: [the metric of each run (seed) there]}} over the runs that
    are not broken and have the metric and a strength."""
    curves: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        value, where = number(r["metrics"].get(metric)), regularisation(r)
        if r["state"] != "broken" and value is not None and where is not None:
            curves[f"{where[0]} ({where[1]})"][where[2]].append(value)
    return {name: dict(points) for name, points in curves.items()}


def rank_correlation(runs: list[dict[str, Any]], split: str = "test") -> tuple[list[str], np.ndarray, int] | None:
    """(scores, Spearman's rho (S, S), number of runs) over the runs that are not broken and have
    every score some run has; None with fewer than 3 such runs. A score that is the same in every
    run has no ranks to correlate: its row and column are NaN."""
    names = scores_found(runs, split)
    table = [[number(r["metrics"].get(k)) for k in names] for r in runs if r["state"] != "broken"]
    table = np.array([row for row in table if None not in row], dtype=np.float64)  # (runs, scores)
    if len(names) < 2 or len(table) < 3:
        return None
    from scipy.stats import spearmanr

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant score: scipy warns and gives NaN, shown as n/a
        rho = np.atleast_2d(spearmanr(table).statistic)
    if rho.shape != (len(names), len(names)):  # two scores: scipy gives their one coefficient
        rho = np.array([[1.0, rho.item()], [rho.item(), 1.0]])
    constant = table.std(axis=0) == 0
    rho[constant, :], rho[:, constant] = np.nan, np.nan
    return names, rho, len(table)


def plot_strength(runs: list[dict[str, Any]], split: str, out: Path) -> Path | None:
    """disentanglement_vs_strength.png; None (nothing written) if no run has a score and a strength."""
    found = {m: strength_curves(runs, m) for m in scores_found(runs, split)}  # each run's config read once a score
    curves = {m: c for m, c in found.items() if c}
    metrics = list(curves)
    if not metrics:
        return None
    plt = pyplot()
    cols = min(4, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), dpi=100, squeeze=False)
    colours = {name: f"C{i}" for i, name in enumerate(sorted({n for c in curves.values() for n in c}))}
    for ax, metric in zip(axes.flat, metrics):
        for label, points in sorted(curves[metric].items()):
            xs = sorted(points)
            values = [np.asarray(points[x]) for x in xs]  # (seeds,) per strength
            mean = [v.mean() for v in values]
            ax.plot(xs, mean, marker="o", ms=3, color=colours[label], label=label)
            ax.fill_between(xs, [v.min() for v in values], [v.max() for v in values], color=colours[label], alpha=0.2)
        ax.set_xscale("log")
        # The strengths the runs used, as plain numbers: a log axis's minor labels (2x10^0, 3x10^0,
        # ...) overlap over a decade or two.
        strengths = sorted({x for points in curves[metric].values() for x in points})
        ax.set_xticks(strengths, [f"{x:g}" for x in strengths])
        ax.xaxis.set_minor_formatter("")
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("regularisation strength", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.flat[len(metrics) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    for ax in axes.flat[1 : len(metrics)]:  # an objective missing from the first panel still gets its entry
        seen.update({lab: h for h, lab in zip(*ax.get_legend_handles_labels())})
    fig.legend(seen.values(), seen.keys(), loc="lower right", fontsize=7, frameon=False)
    fig.suptitle(f"{split} scores against the strength (line: mean over seeds; band: min to max)", fontsize=10)
    fig.tight_layout()
    path = out / "disentanglement_vs_strength.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_rank_correlation(runs: list[dict[str, Any]], split: str, out: Path) -> Path | None:
    """rank_correlation.png: Spearman's rho between the scores, numbers in the cells; None
    (nothing written) with fewer than 3 runs that have every score."""
    found = rank_correlation(runs, split)
    if found is None:
        return None
    names, rho, n = found
    plt = pyplot()
    size = 1.0 + 0.75 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1.2, size), dpi=100)
    image = ax.imshow(np.ma.masked_invalid(rho), cmap="RdBu_r", vmin=-1, vmax=1)
    short = [name.split("/", 1)[1] for name in names]
    ax.set_xticks(range(len(names)), short, rotation=40, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), short, fontsize=8)
    for i in range(len(names)):
        for j in range(len(names)):
            text = "n/a" if np.isnan(rho[i, j]) else f"{rho[i, j]:.2f}"
            ax.text(
                j, i, text, ha="center", va="center", fontsize=7, color="white" if abs(rho[i, j]) > 0.6 else "black"
            )
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_title(f"Spearman rank correlation of the {split} scores over {n} runs", fontsize=9)
    fig.tight_layout()
    path = out / "rank_correlation.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_study(runs: list[dict[str, Any]], split: str, out: Path) -> list[Path]:
    """The study's plots that the runs have data for (none without disentanglement scores)."""
    return [p for p in (plot_strength(runs, split, out), plot_rank_correlation(runs, split, out)) if p is not None]
