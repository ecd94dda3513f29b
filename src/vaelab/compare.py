"""vaelab-compare: one table and a few plots for the runs of one or more sweeps, offline.

    vaelab-compare SWEEP_DIR [SWEEP_DIR ...] [--metric test/nll] [--mode min|max] [--out DIR]

Reads every run directory below the given folders (a directory with `.hydra/overrides.yaml`:
Hydra multirun jobs, Optuna trials, or single runs), and writes into --out (default
SWEEP_DIR/comparison):
- comparison.md and comparison.csv: one row per run (its overrides, its state, its final
  metrics), best first by --metric; a run whose files cannot be read (an empty status.json,
  metrics.json that is not JSON, ...) is listed last as `broken`, with the reason;
- <metric>_vs_<knob>.png for every knob the runs differ in;
- val_curves.png: the validation curve of every run (from its history.jsonl), overlaid.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path
from typing import Any

import yaml

from vaelab.errors import exit_code
from vaelab.io import disk_full_named

COLUMNS = ("val/loss", "val/elbo", "val/nll", "test/elbo", "test/nll", "test/bpd", "test/active_units")


class Problems(list):
    """What is wrong with a run's files, each as "<file>: <what>"; `fatal` ones make the run broken."""

    def __init__(self):
        super().__init__()
        self.fatal = False

    def add(self, message: str, fatal: bool = True) -> None:
        self.append(message)
        self.fatal = self.fatal or fatal


def _read_text(path: Path, name: str, problems: Problems) -> str | None:
    """The file's text, or None (and a problem) if it cannot be read or is empty."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        problems.add(f"{name}: not UTF-8 text")
        return None
    except OSError as err:
        problems.add(f"{name}: cannot read ({type(err).__name__}: {err.strerror or err})")
        return None
    if not text.strip():
        problems.add(f"{name}: empty")
        return None
    return text


def _json_error(err: json.JSONDecodeError, with_line: bool = True) -> str:
    where = f"line {err.lineno} column {err.colno}" if with_line else f"column {err.colno}"
    return f"not JSON ({err.msg}: {where})"


def _read_json_object(path: Path, problems: Problems) -> dict[str, Any]:
    """metrics.json or status.json as a dict; {} if absent, or broken (then a problem says why)."""
    if not path.exists():
        return {}
    text = _read_text(path, path.name, problems)
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        problems.add(f"{path.name}: {_json_error(err)}")
        return {}
    if not isinstance(value, dict):
        problems.add(f"{path.name}: not a JSON object (it holds a {type(value).__name__})")
        return {}
    return value


def _read_overrides(path: Path, problems: Problems) -> dict[str, str] | None:
    """The run's knobs from .hydra/overrides.yaml (a YAML list of key=value), or None if unreadable."""
    name = ".hydra/overrides.yaml"
    text = _read_text(path, name, problems)
    if text is None:
        return None
    try:
        overrides = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problems.add(f"{name}: not YAML ({getattr(err, 'problem', None) or type(err).__name__}{where})")
        return None
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        problems.add(f"{name}: not a list of overrides (key=value strings)")
        return None
    return dict(o.lstrip("+~").split("=", 1) for o in overrides if "=" in o)


def _read_history(path: Path, problems: Problems) -> list[dict[str, Any]]:
    """The rows of history.jsonl, the last one per epoch (a resumed run may repeat an epoch).

    A last line that is not JSON is what a run killed mid-write leaves: the rows before it are
    kept and the problem noted, without making the run broken. A bad line before the last does."""
    if not path.exists():
        return []
    if path.is_file() and path.stat().st_size == 0:  # its first row could not be written
        problems.add("history.jsonl: empty", fatal=False)
        return []
    text = _read_text(path, "history.jsonl", problems)
    if text is None:
        return []
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    rows = []
    for i, (n, line) in enumerate(lines):
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            if i == len(lines) - 1:
                problems.add(
                    f"history.jsonl line {n}: {_json_error(err, with_line=False)}, the last line, cut short; "
                    f"kept the {len(rows)} rows before it",
                    fatal=False,
                )
                break
            problems.add(f"history.jsonl line {n}: {_json_error(err, with_line=False)}")
            return []
        if not isinstance(row, dict) or not isinstance(row.get("epoch"), int):
            problems.add(f'history.jsonl line {n}: not an object with an integer "epoch"')
            return []
        rows.append(row)
    return list({row["epoch"]: row for row in rows}.values())


def read_run(run_dir: Path) -> dict[str, Any]:
    """One run's overrides, metrics, state and history; a run whose files are broken gets state "broken"."""
    problems = Problems()
    knobs = _read_overrides(run_dir / ".hydra" / "overrides.yaml", problems)
    metrics = _read_json_object(run_dir / "metrics.json", problems)
    status = _read_json_object(run_dir / "status.json", problems)
    history = _read_history(run_dir / "history.jsonl", problems)
    state = status.get("state") or ("finished" if metrics else "incomplete")
    if problems.fatal:
        state = "broken"
    return {
        "dir": run_dir,
        "knobs": knobs or {},
        "knobs_read": knobs is not None,
        "metrics": metrics,
        "state": str(state),
        "error": str(status.get("error", "")),
        "problems": list(problems),
        "history": history,
    }


def find_runs(folders: list[Path]) -> list[dict[str, Any]]:
    runs = []
    for folder in folders:
        if not folder.exists():
            raise FileNotFoundError(f"{folder}: no such directory")
        if not folder.is_dir():
            raise NotADirectoryError(f"{folder}: not a directory; give a sweep folder (or any folder holding runs)")
        for overrides in sorted(folder.glob("**/.hydra/overrides.yaml")):
            runs.append(read_run(overrides.parent.parent))
    if not runs:
        raise FileNotFoundError(f"no run directories (with .hydra/overrides.yaml) below {', '.join(map(str, folders))}")
    return runs


def swept_knobs(runs: list[dict[str, Any]]) -> list[str]:
    runs = [r for r in runs if r["knobs_read"]]
    keys = sorted({k for r in runs for k in r["knobs"]})
    return [k for k in keys if len({r["knobs"].get(k) for r in runs}) > 1]


def metrics_found(runs: list[dict[str, Any]]) -> set[str]:
    """Every metric some run has, in its metrics.json or its history."""
    found = {k for r in runs for k in r["metrics"]}
    return found | {k for r in runs for row in r["history"] for k in row if k not in ("epoch", "step")}


def check_metric(runs: list[dict[str, Any]], metric: str) -> None:
    found = metrics_found(runs)
    if metric not in found:
        raise ValueError(f"--metric {metric}: no run has it; metrics found: {', '.join(sorted(found)) or 'none'}")


def sort_key(run: dict[str, Any], metric: str, mode: str) -> tuple[int, float]:
    if run["state"] == "broken":
        return (2, 0.0)  # last, whatever its metrics
    value = run["metrics"].get(metric)
    if not isinstance(value, (int, float)) or math.isnan(value):
        return (1, 0.0)
    return (0, value if mode == "min" else -value)


def note(run: dict[str, Any]) -> str:
    return "; ".join([*([run["error"]] if run["state"] == "failed" and run["error"] else []), *run["problems"]])


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
    notes = [note(r) for r in runs]
    with (out / "comparison.csv").open("w", newline="") as f:
        csv.writer(f).writerows([[*header, "note"], *[[*row, n] for row, n in zip(rows, notes)]])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    failed = [r for r in runs if r["state"] == "failed" and r["error"]]
    if failed:
        lines += ["", "Failed runs:", *[f"- {r['dir']}: {r['error']}" for r in failed]]
    broken = [r for r in runs if r["state"] == "broken"]
    if broken:
        lines += ["", "Broken runs (files unreadable, left out of the plots):"]
        lines += [f"- {r['dir']}: {'; '.join(r['problems'])}" for r in broken]
    noted = [r for r in runs if r["state"] != "broken" and r["problems"]]
    if noted:
        lines += ["", "Notes:", *[f"- {r['dir']}: {'; '.join(r['problems'])}" for r in noted]]
    (out / "comparison.md").write_text(f"Runs sorted by {metric}\n\n" + "\n".join(lines) + "\n")


def plot(runs, knobs, metric, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    runs = [r for r in runs if r["state"] != "broken"]
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
        points = [(row["epoch"], row[curve]) for row in r["history"] if isinstance(row.get(curve), (int, float))]
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
    check_metric(runs, metric)  # before anything is written
    runs.sort(key=lambda r: sort_key(r, metric, mode))
    knobs = swept_knobs(runs)
    out_dir = Path(out) if out else Path(folders[0]) / "comparison"
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"--out {out_dir}: not a directory")
    with disk_full_named(out_dir):
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
    # A user error (bad folder, unknown metric, full disk): one line, exit code 1.
    return exit_code(compare, args.folders, args.metric, args.mode, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
