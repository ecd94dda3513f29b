"""vaelab-compare: one table and a few plots for the runs of one or more sweeps, offline.

    vaelab-compare SWEEP_DIR [SWEEP_DIR ...] [--metric test/nll] [--mode min|max] [--out DIR]
                   [--split test|val] [--curve val/elbo]

Reads every run directory below the given folders (a directory with `.hydra/overrides.yaml`:
Hydra multirun jobs, Optuna trials, or single runs), and writes into --out (default
SWEEP_DIR/comparison):
- comparison.md and comparison.csv: one row per run (its overrides, its state, its final
  metrics, its rate and distortion), best first by --metric; a run whose files cannot be read
  (an empty status.json, metrics.json that is not JSON, ...) is listed last as `broken`, with
  the reason;
- <metric>_vs_<knob>.png for every knob the runs differ in;
- rate_distortion.png: the rate-distortion plane of Alemi et al. (2018), "Fixing a Broken
  ELBO", Fig. 1: every run a point (R, D) of --split, with
      rate        R = E_x KL(q(z|x) || p(z))      (`<split>/kl`, nats)
      distortion  D = E_x E_q(z|x)[-log p(x|z)]   (`<split>/recon`, nats)
  and the iso-ELBO lines D + R = -ELBO = const: runs on one line have the same ELBO, however
  they split it between rate and distortion (beta trades one for the other);
- val_curves.png: one validation curve of every run (from its history.jsonl), overlaid:
  --curve, else the val/ metric the sweep optimised (an Optuna study's, or `optimized_metric`
  when the command set it), else val/elbo, which every objective logs alike (val/loss holds
  beta * KL and the objective's own terms, so it is not comparable across them);
- when the runs have disentanglement scores (data with ground-truth factors): the scores as
  `<split>/mig` ... columns (selectable with --metric, --mode max), and the plots of a
  disentanglement study, disentanglement_vs_strength.png and rank_correlation.png
  (vaelab.compare_study).
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
# Disentanglement scores (vaelab.callbacks.Disentanglement), shown as `<split>/<score>` columns when
# runs have them; their plots: vaelab.compare_study. The names of
# vaelab.metrics.disentanglement.SCORE_KEYS, written out: importing that package loads torch and
# scikit-learn (6 s), which vaelab-compare does not need (tests/test_compare.py keeps them equal).
DISENTANGLEMENT = (
    "mig",
    "sap",
    "dci_disentanglement",
    "dci_completeness",
    "dci_informativeness",
    "factor_vae_score",
    "beta_vae_score",
)
SPLITS = ("test", "val")
# The default curve when the sweep optimised no val/ metric; val/loss for runs older than val/elbo.
CURVES = ("val/elbo", "val/loss")
# A Hydra sweeper that only enumerates overrides: its runs' `optimized_metric` is conf/train.yaml's
# default, which nothing optimised.
GRID_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


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


def _yaml_error(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
    return f"not YAML ({getattr(err, 'problem', None) or type(err).__name__}{where})"


def _check_config(path: Path, problems: Problems) -> None:
    """.hydra/config.yaml, the config the run was composed from, when there: one that is not a
    YAML mapping makes the run broken (what ran cannot be told)."""
    name = ".hydra/config.yaml"
    if not path.exists():
        return
    text = _read_text(path, name, problems)
    if text is None:
        return
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as err:
        problems.add(f"{name}: {_yaml_error(err)}")
        return
    if not isinstance(config, dict):
        problems.add(f"{name}: not a YAML mapping of settings (it holds a {type(config).__name__})")


def _read_overrides(path: Path, problems: Problems) -> dict[str, str] | None:
    """The run's knobs from .hydra/overrides.yaml (a YAML list of key=value), or None if unreadable."""
    name = ".hydra/overrides.yaml"
    text = _read_text(path, name, problems)
    if text is None:
        return None
    try:
        overrides = yaml.safe_load(text)
    except yaml.YAMLError as err:
        problems.add(f"{name}: {_yaml_error(err)}")
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


def _yaml_file(path: Path) -> Any:
    """A YAML file's content, or None if it is absent or unreadable (only the curve's default needs it)."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None


def _get(tree: Any, *keys: str) -> Any:
    for key in keys:
        tree = tree.get(key) if isinstance(tree, dict) else None
    return tree


def sweep_metric(run_dir: Path, knobs: dict[str, str]) -> str | None:
    """The metric the sweep that made this run optimised: `optimized_metric` in its .hydra/config.yaml
    when an optimising sweeper ran it (Optuna: the study's metric, which train.py returns) or the
    command set it; None for a grid sweep or a single run, whose value is only train.yaml's default."""
    metric = _get(_yaml_file(run_dir / ".hydra" / "config.yaml"), "optimized_metric")
    if not isinstance(metric, str):
        return None
    sweeper = _get(_yaml_file(run_dir / ".hydra" / "hydra.yaml"), "hydra", "sweeper", "_target_")
    optimising = isinstance(sweeper, str) and sweeper != GRID_SWEEPER
    return metric if optimising or "optimized_metric" in knobs else None


def read_run(run_dir: Path) -> dict[str, Any]:
    """One run's overrides, metrics, state and history; a run whose files are broken gets state "broken"."""
    problems = Problems()
    knobs = _read_overrides(run_dir / ".hydra" / "overrides.yaml", problems)
    _check_config(run_dir / ".hydra" / "config.yaml", problems)
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
        "error": str(status.get("error", status.get("reason", ""))),
        "problems": list(problems),
        "history": history,
        "optimized": sweep_metric(run_dir, knobs or {}),
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


def choose_curve(runs: list[dict[str, Any]], curve: str | None = None) -> str:
    """The history metric val_curves.png shows: `curve` if some run's history has it (else a
    ValueError listing what the histories have), or else the val/ metric the sweep optimised,
    val/elbo, val/loss: the first some history has."""
    found = {k for r in runs for row in r["history"] for k in row if k not in ("epoch", "step")}
    if curve is not None:
        if curve not in found:
            raise ValueError(
                f"--curve {curve}: no run's history has it; curves found: {', '.join(sorted(found)) or 'none'}"
            )
        return curve
    optimised = {r["optimized"] for r in runs if r["optimized"] and r["optimized"].startswith("val/")}
    candidates = [*(optimised if len(optimised) == 1 else ()), *CURVES]  # runs that disagree: none of theirs
    return next((c for c in candidates if c in found), CURVES[0])


def _number(value: Any) -> float | None:
    """A finite metric as a float; None for a missing, non-numeric, NaN or infinite one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def run_label(run: dict[str, Any], knobs: list[str]) -> str:
    """The run's swept overrides, `objective.beta=4 model.latent_dim=2`; its directory name if none."""
    return " ".join(f"{k}={run['knobs'].get(k, '(default)')}" for k in knobs) or run["dir"].name


def plane_points(runs: list[dict[str, Any]], split: str = "test", knobs: list[str] | None = None):
    """[(label, R, D)]: every run that is not broken and has finite `<split>/kl` (the rate R) and
    `<split>/recon` (the distortion D), in the runs' order; failed and broken runs have no point."""
    knobs = swept_knobs(runs) if knobs is None else knobs
    points = []
    for r in runs:
        rate, distortion = _number(r["metrics"].get(f"{split}/kl")), _number(r["metrics"].get(f"{split}/recon"))
        if r["state"] != "broken" and rate is not None and distortion is not None:
            points.append((run_label(r, knobs), rate, distortion))
    return points


def iso_elbo_levels(points, intervals: int = 4) -> list[float]:
    """Round values c of -ELBO = D + R for the lines D + R = c: evenly spaced by a step of 1, 2,
    2.5 or 5 times a power of ten (about `intervals` steps across the points), the first at or
    below the smallest R + D of the points, the last at or above the largest; [] without points."""
    sums = [rate + distortion for _, rate, distortion in points]
    if not sums:
        return []
    low, high = min(sums), max(sums)
    span = high - low if high > low else max(abs(high), 1.0) / 10  # one point: lines around it
    power = 10.0 ** math.floor(math.log10(span / intervals))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= span / intervals)
    digits = max(0, 1 - math.floor(math.log10(step)))  # enough for 2.5 * 10^k, to drop float noise
    first, last = math.floor(low / step), math.ceil(high / step)
    first -= round(first * step, digits) > low  # rounding must not lift a line above a point
    last += round(last * step, digits) < high
    last += last == first  # at least two lines
    return [round(k * step, digits) for k in range(first, last + 1)]


def sort_key(run: dict[str, Any], metric: str, mode: str) -> tuple[int, float]:
    if run["state"] == "broken":
        return (2, 0.0)  # last, whatever its metrics
    value = run["metrics"].get(metric)
    if not isinstance(value, (int, float)) or math.isnan(value):
        return (1, 0.0)
    return (0, value if mode == "min" else -value)


def note(run: dict[str, Any]) -> str:
    said = run["state"] in ("failed", "pruned") and run["error"]  # why it failed, or when its pruner stopped it
    return "; ".join([*([run["error"]] if said else []), *run["problems"]])


def write_tables(runs, knobs, metric, out: Path, split: str = "test") -> None:
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
    pruned = [r for r in runs if r["state"] == "pruned" and r["error"]]  # Optuna trials stopped early
    if pruned:
        lines += ["", "Pruned runs:", *[f"- {r['dir']}: {r['error']}" for r in pruned]]
    broken = [r for r in runs if r["state"] == "broken"]
    if broken:
        lines += ["", "Broken runs (files unreadable, left out of the plots):"]
        lines += [f"- {r['dir']}: {'; '.join(r['problems'])}" for r in broken]
    noted = [r for r in runs if r["state"] != "broken" and r["problems"]]
    if noted:
        lines += ["", "Notes:", *[f"- {r['dir']}: {'; '.join(r['problems'])}" for r in noted]]
    intro = (
        f"Runs sorted by {metric}. Rate R = {plane[0]}, distortion D = {plane[1]} (nats; -ELBO = D + R): "
        "rate_distortion.png"
    )
    (out / "comparison.md").write_text(intro + "\n\n" + "\n".join(lines) + "\n")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot(runs, knobs, metric, out: Path) -> list[Path]:
    """<metric>_vs_<knob>.png for every swept knob."""
    plt = _pyplot()
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
    return written


def plot_curves(runs, knobs, curve: str, out: Path) -> Path:
    """val_curves.png: `curve` against the epoch, one line per run that is not broken."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    for r in runs:
        if r["state"] == "broken":
            continue
        points = [(row["epoch"], row[curve]) for row in r["history"] if isinstance(row.get(curve), (int, float))]
        if points:
            ax.plot(*zip(*points), marker=".", label=run_label(r, knobs))
    ax.set_xlabel("epoch")
    ax.set_ylabel(curve)
    ax.set_title(f"validation curves: {curve}")
    if ax.lines:
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "val_curves.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_plane(points, split: str, out: Path) -> Path:
    """rate_distortion.png: the points (label, R, D) and the iso-ELBO lines D = c - R (Alemi et al.,
    2018, Fig. 1), c from iso_elbo_levels."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5.5), dpi=100)
    if points:
        rates, distortions = [p[1] for p in points], [p[2] for p in points]
        ax.scatter(rates, distortions, zorder=3)
        for label, rate, distortion in points:
            ax.annotate(label, (rate, distortion), xytext=(4, 4), textcoords="offset points", fontsize=7)
        # The view: rate from 0 (R >= 0), a margin around the points; the lines are drawn across it.
        r_low, r_high = min(0.0, *rates), max(rates)
        r_high += (r_high - r_low) * 0.2 or 1.0
        d_low, d_high = min(distortions), max(distortions)
        margin = (d_high - d_low) * 0.15 or max(abs(d_high) * 0.05, 1.0)
        d_low, d_high = d_low - margin, d_high + margin
        ax.set_xlim(r_low, r_high)
        ax.set_ylim(d_low, d_high)
        ax.autoscale(False)
        for level in iso_elbo_levels(points):
            ax.plot([r_low, r_high], [level - r_low, level - r_high], "--", color="0.6", lw=0.8, zorder=1)
            left, right = max(r_low, level - d_high), min(r_high, level - d_low)  # where it runs in view
            if left < right:
                mid = (left + right) / 2
                ax.text(
                    mid,
                    level - mid,
                    f"-ELBO = {level:g}",
                    rotation=-45,
                    rotation_mode="anchor",
                    transform_rotates_text=True,  # -45 degrees in data units: along the line
                    ha="center",
                    va="bottom",
                    fontsize=7,
                    color="0.4",
                )
    else:
        ax.text(0.5, 0.5, f"no run has {split}/kl and {split}/recon", transform=ax.transAxes, ha="center")
    ax.set_xlabel("rate R = KL (nats)")
    ax.set_ylabel("distortion D = -E log p(x|z) (nats)")
    ax.set_title(f"rate-distortion plane ({split}); dashed: D + R = -ELBO")
    fig.tight_layout()
    path = out / "rate_distortion.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def compare(
    folders: list[str],
    metric: str = "test/nll",
    mode: str = "min",
    out: str | None = None,
    split: str = "test",
    curve: str | None = None,
) -> Path:
    if split not in SPLITS:
        raise ValueError(f"--split {split}: must be one of {', '.join(SPLITS)}")
    runs = find_runs([Path(f) for f in folders])
    check_metric(runs, metric)  # before anything is written
    curve = choose_curve(runs, curve)
    runs.sort(key=lambda r: sort_key(r, metric, mode))
    knobs = swept_knobs(runs)
    out_dir = Path(out) if out else Path(folders[0]) / "comparison"
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"--out {out_dir}: not a directory")
    with disk_full_named(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        write_tables(runs, knobs, metric, out_dir, split)
        plot(runs, knobs, metric, out_dir)
        plot_curves(runs, knobs, curve, out_dir)
        plot_plane(plane_points(runs, split, knobs), split, out_dir)
        from vaelab.compare_study import plot_study  # imports vaelab.compare: here, not at the top

        plot_study(runs, split, out_dir)
    print((out_dir / "comparison.md").read_text())
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vaelab-compare", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="sweep directories (or any folders holding run directories)")
    parser.add_argument("--metric", default="test/nll", help="sort by this metrics.json key (default test/nll)")
    parser.add_argument("--mode", choices=("min", "max"), default="min", help="min: lower is better")
    parser.add_argument("--out", default=None, help="where to write (default FIRST_FOLDER/comparison)")
    parser.add_argument("--split", choices=SPLITS, default="test", help="the rate-distortion plane's (default test)")
    parser.add_argument(
        "--curve", default=None, help="the history metric of val_curves.png (default: the optimised val/ one, val/elbo)"
    )
    args = parser.parse_args(argv)
    # A user error (bad folder, unknown metric or curve, full disk): one line, exit code 1.
    return exit_code(compare, args.folders, args.metric, args.mode, args.out, args.split, args.curve)


if __name__ == "__main__":
    raise SystemExit(main())
