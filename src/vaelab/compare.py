"""vaelab-compare: one table and a few plots for the runs of one or more sweeps, offline.

    vaelab-compare SWEEP_DIR [SWEEP_DIR ...] [--metric test/nll] [--mode min|max] [--out DIR]

Reads every run directory below the given folders (a directory with `.hydra/overrides.yaml`:
Hydra multirun jobs, Optuna trials, or single runs), and writes into --out (default
SWEEP_DIR/comparison):
- comparison.md and comparison.csv: one row per run (its overrides, its state, its final
  metrics), best first by --metric;
- <metric>_vs_<knob>.png for every knob the runs differ in;
- val_curves.png: the validation curve of every run (from its history.jsonl), overlaid.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path
from typing import Any

import yaml

COLUMNS = ("val/loss", "val/elbo", "val/nll", "test/elbo", "test/nll", "test/bpd", "test/active_units")


def read_run(run_dir: Path) -> dict[str, Any]:
    overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or []
    knobs = dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)
    metrics: dict[str, Any] = {}
    if (run_dir / "metrics.json").is_file():
        metrics = json.loads((run_dir / "metrics.json").read_text())
    status = json.loads((run_dir / "status.json").read_text()) if (run_dir / "status.json").is_file() else {}
    state = status.get("state") or ("finished" if metrics else "incomplete")
    history = []
    if (run_dir / "history.jsonl").is_file():
        rows = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines() if line.strip()]
        history = list({row["epoch"]: row for row in rows}.values())  # a resumed run may repeat an epoch
    return {
        "dir": run_dir,
        "knobs": knobs,
        "metrics": metrics,
        "state": state,
        "error": status.get("error", ""),
        "history": history,
    }


def find_runs(folders: list[Path]) -> list[dict[str, Any]]:
    runs = []
    for folder in folders:
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: no such directory")
        for overrides in sorted(folder.glob("**/.hydra/overrides.yaml")):
            runs.append(read_run(overrides.parent.parent))
    if not runs:
        raise FileNotFoundError(f"no run directories (with .hydra/overrides.yaml) below {', '.join(map(str, folders))}")
    return runs


def swept_knobs(runs: list[dict[str, Any]]) -> list[str]:
    keys = sorted({k for r in runs for k in r["knobs"]})
    return [k for k in keys if len({r["knobs"].get(k) for r in runs}) > 1]


def sort_key(run: dict[str, Any], metric: str, mode: str) -> tuple[int, float]:
    value = run["metrics"].get(metric)
    if not isinstance(value, (int, float)) or math.isnan(value):
        return (1, 0.0)
    return (0, value if mode == "min" else -value)


def write_tables(runs, knobs, metric, out: Path) -> None:
    columns = [metric, *[c for c in COLUMNS if c != metric and any(c in r["metrics"] for r in runs)]]
    header = ["run", "state", *knobs, *columns]
    rows = []
    for r in runs:
        values = [r["metrics"].get(c, "") for c in columns]
        rows.append(
            [
                str(r["dir"]),
                r["state"],
                *[r["knobs"].get(k, "") for k in knobs],
                *[f"{v:.4f}" if isinstance(v, float) else v for v in values],
            ]
        )
    with (out / "comparison.csv").open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    failed = [r for r in runs if r["state"] == "failed" and r["error"]]
    if failed:
        lines += ["", "Failed runs:", *[f"- {r['dir']}: {r['error']}" for r in failed]]
    (out / "comparison.md").write_text(f"Runs sorted by {metric}\n\n" + "\n".join(lines) + "\n")


def plot(runs, knobs, metric, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    done = [r for r in runs if isinstance(r["metrics"].get(metric), (int, float))]
    for knob in knobs:
        fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
        values = [r["knobs"].get(knob, "(default)") for r in done]
        try:
            xs = [float(v) for v in values]
        except ValueError:  # categorical knob (likelihood=..., model=...)
            order = sorted(set(values))
            xs = [order.index(v) for v in values]
            ax.set_xticks(range(len(order)), order, rotation=20)
        ax.scatter(xs, [r["metrics"][metric] for r in done])
        ax.set_xlabel(knob)
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} against {knob}")
        fig.tight_layout()
        written.append(out / f"{metric.replace('/', '_')}_vs_{knob.replace('/', '_')}.png")
        fig.savefig(written[-1])
        plt.close(fig)
    curve = metric if metric.startswith("val/") else "val/loss"
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for r in runs:
        points = [(row["epoch"], row[curve]) for row in r["history"] if curve in row]
        if points:
            label = " ".join(f"{k}={r['knobs'].get(k, '')}" for k in knobs) or r["dir"].name
            ax.plot(*zip(*points), marker=".", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(curve)
    ax.set_title("validation curves")
    if ax.lines:
        ax.legend(fontsize=7)
    fig.tight_layout()
    written.append(out / "val_curves.png")
    fig.savefig(written[-1])
    plt.close(fig)
    return written


def compare(folders: list[str], metric: str = "test/nll", mode: str = "min", out: str | None = None) -> Path:
    runs = find_runs([Path(f) for f in folders])
    runs.sort(key=lambda r: sort_key(r, metric, mode))
    knobs = swept_knobs(runs)
    out_dir = Path(out) if out else Path(folders[0]) / "comparison"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_tables(runs, knobs, metric, out_dir)
    plot(runs, knobs, metric, out_dir)
    print((out_dir / "comparison.md").read_text())
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vaelab-compare", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="sweep directories (or any folders holding run directories)")
    parser.add_argument("--metric", default="test/nll", help="sort by this metrics.json key (default test/nll)")
    parser.add_argument("--mode", choices=("min", "max"), default="min", help="min: lower is better")
    parser.add_argument("--out", default=None, help="where to write (default FIRST_FOLDER/comparison)")
    args = parser.parse_args(argv)
    try:
        compare(args.folders, args.metric, args.mode, args.out)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
