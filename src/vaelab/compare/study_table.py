"""study.md and study.csv: a disentanglement study's scores per setting over its seeds, and where
each run's validation curve stops changing.

One row per setting (objective and strength, as vaelab.compare.study places runs), with every
score the runs have as the mean over seeds ± their sample standard deviation (ddof = 1; one seed:
its value), as Locatello et al. (2019) report a setting. study.csv also has each score's minimum
and maximum.

Where the curve settles: a study should train "as many steps as the scores need", so each run's
validation curve (`curve`, e.g. val/mig of the fast suite) gets the first validation step from
which every later value is within ±tol (`settle_tol`, in the curve's units) of the run's last
value. A curve that only its last value is within tol of had not settled when the run ended:
"not by <last step>".
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from vaelab.compare.runs import number, validation
from vaelab.compare.study import BY_NAME, regularisation, scores_found


def curve_points(run: dict[str, Any], curve: str) -> list[tuple[int, float]]:
    """[(step, value)] of `curve` in the run's history, in the order validated (the epoch stands in
    for the step in rows without one)."""
    points = [(validation(row)[1], number(row.get(curve))) for row in run["history"]]
    return [(x, v) for x, v in points if v is not None]


def settle_step(points: list[tuple[int, float]], tol: float) -> tuple[int, bool] | None:
    """(step, settled): the first step from which every later value is within ±tol of the last;
    settled is False if that is the last step itself (the curve still moved at the end). None
    without points."""
    if not points:
        return None
    last = points[-1][1]
    first = len(points) - 1
    while first > 0 and abs(points[first - 1][1] - last) <= tol:
        first -= 1
    return points[first][0], first < len(points) - 1


def settle_text(found: tuple[int, bool] | None) -> str:
    if found is None:
        return "n/a"
    step, settled = found
    return f"{step}" if settled else f"not by {step}"


def seed_order(run: dict[str, Any]) -> tuple[float, str]:
    """Runs by their `seed=` override (runs without one last), then by directory."""
    try:
        seed = float(run["knobs"].get("seed"))
    except (TypeError, ValueError):
        seed = float("inf")
    return (seed if seed == seed else float("inf"), str(run["dir"]))


def study_rows(runs: list[dict[str, Any]], split: str, curve: str, tol: float) -> tuple[list[str], list[dict]]:
    """(scores, rows): a row per setting, in order of objective and strength, with each score's
    values over the setting's finished runs (seeds, in seed order) and each one's settle step of `curve`."""
    scores = scores_found(runs, split)
    settings: dict[tuple[str, str, float], list[dict[str, Any]]] = {}
    for r in runs:
        where = regularisation(r) if r["state"] == "finished" else None  # not one still training, failed or broken
        if where is not None:
            settings.setdefault(where, []).append(r)
    rows = []
    for (objective, knob, strength), members in sorted(settings.items(), key=_study_order):
        members.sort(key=seed_order)
        values = {s: [v for r in members if (v := number(r["metrics"].get(s))) is not None] for s in scores}
        settles = [settle_step(curve_points(r, curve), tol) for r in members]
        rows.append(
            {"objective": objective, "knob": knob, "strength": strength, "runs": len(members)}
            | {"values": values, "settles": settles}
        )
    return scores, rows


def _study_order(item) -> tuple[int, str, float]:
    """The objectives in vaelab.compare.study's order (the plain ELBO first), then by strength."""
    objective, _, strength = item[0]
    names = list(BY_NAME)
    rank = next((i for i, n in enumerate(names) if objective == n or objective.startswith(f"{n}_")), len(names))
    return rank, objective, strength


def mean_sd(values: list[float]) -> tuple[float, float] | None:
    """(mean, sample standard deviation, ddof = 1; 0 for one value); None without values."""
    if not values:
        return None
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def _cell(values: list[float]) -> str:
    found = mean_sd(values)
    if found is None:
        return ""
    mean, sd = found
    return f"{mean:.3f} ± {sd:.3f}" if len(values) > 1 else f"{mean:.3f}"


def write_study_table(runs: list[dict[str, Any]], split: str, curve: str, out: Path, tol: float) -> Path | None:
    """study.md and study.csv in `out`; None (nothing written) if no run has a score and a strength."""
    scores, rows = study_rows(runs, split, curve, tol)
    rows = [row for row in rows if any(row["values"].values())]
    if not rows:
        return None
    settle = f"{curve} settles at (step, each seed; ±{tol:g})"
    header = ["objective", "strength", "seeds", *scores, settle]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table = []
    for row in rows:
        settles = ", ".join(settle_text(s) for s in row["settles"])
        cells = [_cell(row["values"][s]) for s in scores]
        lines.append(
            f"| {row['objective']} | {row['knob']} = {row['strength']:g} | {row['runs']} | "
            + " | ".join(cells)
            + f" | {settles} |"
        )
        stats = []
        for s in scores:
            v = row["values"][s]
            found = mean_sd(v)
            stats += [*(found or ("", "")), min(v, default=""), max(v, default="")]
        table.append([row["objective"], row["knob"], row["strength"], row["runs"], *stats, settles])
    intro = (
        f"The {split} scores of each setting: mean ± sample standard deviation over its seeds (one seed: its "
        f"value). The last column: the first validation step from which every later {curve} is within "
        f"±{tol:g} of the run's last ('not by N': still moving at its last validation, N)."
    )
    (out / "study.md").write_text(intro + "\n\n" + "\n".join(lines) + "\n")
    stat_names = [f"{s} {stat}" for s in scores for stat in ("mean", "sd", "min", "max")]
    with (out / "study.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["objective", "knob", "strength", "seeds", *stat_names, settle], *table])
    return out / "study.md"
