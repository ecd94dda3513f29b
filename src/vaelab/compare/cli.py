"""vaelab-compare: one table and a few plots for the runs of one or more sweeps, offline.

    vaelab-compare folders=SWEEP_DIR|[DIR1,DIR2] [metric=test/nll] [mode=min|max] [out=DIR]
                   [split=test|val] [curve=val/elbo] [settle_tol=0.03]

A Hydra app (conf/compare.yaml; `python compare.py` runs the same). Reads every run directory
below the given folders (a directory with `.hydra/overrides.yaml`: Hydra multirun jobs, Optuna
trials, or single runs), and writes into `out` (default FIRST_FOLDER/comparison):
- comparison.md and comparison.csv: one row per run (its folder below the folders' common
  parent, so that a table kept with its runs reads the same on any machine; its overrides, its
  state, its final metrics, its rate and distortion), best first by `metric`; a run whose files cannot be read
  (an empty status.json, metrics.json that is not JSON, ...) is listed last as `broken`, with
  the reason;
- <metric>_vs_<knob>.png for every knob the runs differ in;
- rate_distortion.png: the rate-distortion plane of Alemi et al. (2018), "Fixing a Broken
  ELBO", Fig. 1: every run a point (R, D) of `split`, with
      rate        R = E_x KL(q(z|x) || p(z))      (`<split>/kl`, nats)
      distortion  D = E_x E_q(z|x)[-log p(x|z)]   (`<split>/recon`, nats)
  and the iso-ELBO lines D + R = -ELBO = const: runs on one line have the same ELBO, however
  they split it between rate and distortion (beta trades one for the other);
- val_curves.png: one validation curve of every run (from its history.jsonl), overlaid:
  `curve`, else the val/ metric the sweep optimised (an Optuna study's, or `optimized_metric`
  when the command set it), else val/elbo, which every objective logs alike (val/loss holds
  beta * KL and the objective's own terms, so it is not comparable across them);
- when the runs have disentanglement scores (data with ground-truth factors): the scores as
  `<split>/mig` ... columns (selectable with metric=..., mode=max), and the plots of a
  disentanglement study, disentanglement_vs_strength.png and rank_correlation.png
  (vaelab.compare.study), and study.md and study.csv: each setting's scores over its seeds and
  where each run's `curve` settled, within ±`settle_tol` of its last value
  (vaelab.compare.study_table).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

from vaelab.compare.plots import plane_points, plot, plot_curves, plot_plane
from vaelab.compare.runs import SPLITS, check_metric, choose_curve, find_runs, note, sort_key, swept_knobs
from vaelab.conf import CONF_DIR
from vaelab.config import schema
from vaelab.config.composition import task_started
from vaelab.errors import ConfigError, NotAFolder, reported
from vaelab.metrics.names import SCORE_KEYS
from vaelab.runs.io import disk_full_named

COLUMNS = ("val/loss", "val/elbo", "val/nll", "test/elbo", "test/nll", "test/bpd", "test/active_units")
# Disentanglement scores (vaelab.callbacks.Disentanglement), shown as `<split>/<score>` columns when
# runs have them; their plots: vaelab.compare.study.
DISENTANGLEMENT = SCORE_KEYS
# study.md's default ±tolerance of a settled curve, in its units: for val/mig about a tenth of the
# spread of test MIG across the disentanglement study's settings (0.13-0.39 at seed 0).
SETTLE_TOL = 0.03


def run_names(runs, folders: list[str]) -> dict[Path, str]:
    """Each run's folder below the compared folders' common parent (its own name if that is the run)."""
    base = Path(os.path.commonpath([Path(f).resolve() for f in folders]))
    names = {}
    for r in runs:
        below = r["dir"].resolve().relative_to(base)
        names[r["dir"]] = str(below) if below.parts else r["dir"].resolve().name
    return names


def write_tables(runs, knobs, metric, out: Path, split: str = "test", names: dict[Path, str] | None = None) -> None:
    name = (names or {}).get
    plane = (f"{split}/kl", f"{split}/recon")  # the rate R and the distortion D
    scores = (f"{split}/{s}" for s in DISENTANGLEMENT)
    candidates = [c for c in (*COLUMNS, *plane, *scores) if c != metric]
    columns = [metric, *dict.fromkeys(c for c in candidates if any(c in r["metrics"] for r in runs))]
    header = ["run", "state", *knobs, *columns]
    rows = []
    for r in runs:
        values = [r["metrics"].get(c, "") for c in columns]
        rows.append(
            [
                name(r["dir"], str(r["dir"])),
                r["state"],
                *[r["knobs"].get(k, "") for k in knobs],
                *[f"{v:.4f}" if isinstance(v, float) else v for v in values],
            ]
        )
    notes = [note(r) for r in runs]
    with (out / "comparison.csv").open("w", newline="") as f:
        csv.writer(f).writerows([[*header, "note"], *[[*row, n] for row, n in zip(rows, notes)]])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    failed = [r for r in runs if r["state"] == "failed" and r["error"]]
    if failed:
        lines += ["", "Failed runs:", *[f"- {name(r['dir'], r['dir'])}: {r['error']}" for r in failed]]
    pruned = [r for r in runs if r["state"] == "pruned" and r["error"]]  # Optuna trials stopped early
    if pruned:
        lines += ["", "Pruned runs:", *[f"- {name(r['dir'], r['dir'])}: {r['error']}" for r in pruned]]
    broken = [r for r in runs if r["state"] == "broken"]
    if broken:
        lines += ["", "Broken runs (files unreadable, left out of the plots):"]
        lines += [f"- {name(r['dir'], r['dir'])}: {'; '.join(r['problems'])}" for r in broken]
    noted = [r for r in runs if r["state"] != "broken" and r["problems"]]
    if noted:
        lines += ["", "Notes:", *[f"- {name(r['dir'], r['dir'])}: {'; '.join(r['problems'])}" for r in noted]]
    intro = (
        f"Runs sorted by {metric}. Rate R = {plane[0]}, distortion D = {plane[1]} (nats; -ELBO = D + R): "
        "rate_distortion.png"
    )
    (out / "comparison.md").write_text(intro + "\n\n" + "\n".join(lines) + "\n")


def compare(
    folders: list[str],
    metric: str = "test/nll",
    mode: str = "min",
    out: str | None = None,
    split: str = "test",
    curve: str | None = None,
    settle_tol: float = SETTLE_TOL,
) -> Path:
    if split not in SPLITS:
        raise ConfigError(f"split={split}: must be one of {', '.join(SPLITS)}")
    runs = find_runs([Path(f) for f in folders])
    check_metric(runs, metric)  # before anything is written
    curve = choose_curve(runs, curve)
    runs.sort(key=lambda r: sort_key(r, metric, mode))
    knobs = swept_knobs(runs)
    out_dir = Path(out) if out else Path(folders[0]) / "comparison"
    if out_dir.exists() and not out_dir.is_dir():
        raise NotAFolder(f"out={out_dir}: not a directory")
    with disk_full_named(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        write_tables(runs, knobs, metric, out_dir, split, run_names(runs, folders))
        plot(runs, knobs, metric, out_dir)
        plot_curves(runs, knobs, curve, out_dir)
        plot_plane(plane_points(runs, split, knobs), split, out_dir)
        # numpy and the study's tables load when a comparison is drawn, not for --help.
        from vaelab.compare.study import plot_study
        from vaelab.compare.study_table import write_study_table

        plot_study(runs, split, out_dir)
        write_study_table(runs, split, curve, out_dir, settle_tol)
    print((out_dir / "comparison.md").read_text())
    return out_dir


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="compare")
def app(cfg: DictConfig) -> None:
    task_started()  # Hydra composed the config: see vaelab.config.composition.run
    with reported():  # a user error (bad folder, unknown metric or curve, full disk): one line, exit code 1
        settings = schema.validate(cfg, schema.CompareApp)
        folders = settings.pop("folders")
        compare([folders] if isinstance(folders, str) else folders, **settings)


def main(argv: list[str] | None = None) -> int:
    """The console script vaelab-compare (and compare.py): the Hydra app on argv (default sys.argv[1:])."""
    import sys

    from vaelab.cli.apps import run_app

    words = sys.argv[1:] if argv is None else list(argv)
    if positional := [w for w in words if "=" not in w and not w.startswith("-")]:
        # The command line before vaelab-compare was a Hydra app: say how to write it now.
        print(
            f"error: vaelab-compare {positional[0]}: settings are key=value; give the folders as "
            f"folders={positional[0]} (several: folders=[DIR1,DIR2]), and metric=, mode=, out=, curve= likewise",
            file=sys.stderr,
        )
        return 1
    return run_app(app, "compare", words)


if __name__ == "__main__":
    raise SystemExit(main())
