"""Reading the run directories of sweeps (vaelab-compare, the end-of-multirun callback, the
study plots): each run's overrides, state, metrics and curves, or `broken` with the reason."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import yaml

from vaelab.errors import ConfigError, MissingFile, NotAFolder

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
    """The rows of history.jsonl, the last one per validation (a resumed run may repeat one): a
    validation is its step, or its epoch in a row without one. Runs that validate several times an
    epoch (`trainer.val_check_interval`) have several rows per epoch, all kept.

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
    return list({validation(row): row for row in rows}.values())


def validation(row: dict[str, Any]) -> tuple[str, int]:
    """Which validation a history row records: ("step", its step), or ("epoch", its epoch) without one."""
    step = row.get("step")
    return ("step", step) if isinstance(step, int) and not isinstance(step, bool) else ("epoch", row["epoch"])


def yaml_file(path: Path) -> Any:
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
    metric = _get(yaml_file(run_dir / ".hydra" / "config.yaml"), "optimized_metric")
    if not isinstance(metric, str):
        return None
    sweeper = _get(yaml_file(run_dir / ".hydra" / "hydra.yaml"), "hydra", "sweeper", "_target_")
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
            raise MissingFile(f"{folder}: no such directory")
        if not folder.is_dir():
            raise NotAFolder(f"{folder}: not a directory; give a sweep folder (or any folder holding runs)")
        for overrides in sorted(folder.glob("**/.hydra/overrides.yaml")):
            runs.append(read_run(overrides.parent.parent))
    if not runs:
        raise MissingFile(f"no run directories (with .hydra/overrides.yaml) below {', '.join(map(str, folders))}")
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
        raise ConfigError(f"metric={metric}: no run has it; metrics found: {', '.join(sorted(found)) or 'none'}")


def choose_curve(runs: list[dict[str, Any]], curve: str | None = None) -> str:
    """The history metric val_curves.png shows: `curve` if some run's history has it (else a
    ValueError listing what the histories have), or else the val/ metric the sweep optimised,
    val/elbo, val/loss: the first some history has."""
    found = {k for r in runs for row in r["history"] for k in row if k not in ("epoch", "step")}
    if curve is not None:
        if curve not in found:
            raise ConfigError(
                f"curve={curve}: no run's history has it; curves found: {', '.join(sorted(found)) or 'none'}"
            )
        return curve
    optimised = {r["optimized"] for r in runs if r["optimized"] and r["optimized"].startswith("val/")}
    candidates = [*(optimised if len(optimised) == 1 else ()), *CURVES]  # runs that disagree: none of theirs
    return next((c for c in candidates if c in found), CURVES[0])


def number(value: Any) -> float | None:
    """A finite metric as a float; None for a missing, non-numeric, NaN or infinite one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def run_label(run: dict[str, Any], knobs: list[str]) -> str:
    """The run's swept overrides, `objective.beta=4 model.latent_dim=2`; its directory name if none."""
    return " ".join(f"{k}={run['knobs'].get(k, '(default)')}" for k in knobs) or run["dir"].name


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
