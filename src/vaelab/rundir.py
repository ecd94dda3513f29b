"""Run directories: a fresh one for every run, or the earlier one that `ckpt_path=last` resumes.

conf/hydra/default.yaml sets
    hydra.run.dir: ${vaelab.run_dir:<runs folder>,${ckpt_path},${hydra:overrides.task}}
so Hydra itself runs the job in the directory chosen here:
- normally a new `<runs folder>/<date>_<time>`, claimed with an atomic mkdir (a suffix
  _1, _2, ... when two runs start in the same second), so a run never writes into an
  earlier run's directory;
- with ckpt_path=last, the most recent earlier run of the same command (the same
  overrides, ckpt_path aside) that left a checkpoints/last.ckpt: the resumed run continues
  in that directory, with that checkpoint and (see vaelab.logger.wandb) its W&B run.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from vaelab.io import make_dir
from vaelab.resume import may_change

# Hydra may resolve hydra.run.dir more than once in a process; the choice must not change.
_chosen: dict[tuple, str] = {}
_chosen_records: dict[str, str] = {}


def _same_command(overrides: list[str]) -> list[str]:
    """The overrides that decide what a run trains: those a resume may change are left out."""
    return sorted(o for o in overrides if not may_change(o.lstrip("+~").split("=", 1)[0]))


def _resumable(runs: Path) -> list[tuple[Path, list[str]]]:
    """(run directory, its recorded overrides) of every run under `runs` with a last.ckpt, newest first."""
    found = []
    for ckpt in sorted(runs.glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True):
        recorded = ckpt.parent.parent / ".hydra" / "overrides.yaml"
        try:
            overrides = yaml.safe_load(recorded.read_text()) or []
        except (OSError, yaml.YAMLError):
            continue
        found.append((ckpt.parent.parent, [str(o) for o in overrides]))
    return found


def find_resumable(runs: Path, overrides: list[str]) -> Path | None:
    """The newest run directory under `runs` made by the same command that has a last.ckpt."""
    wanted = _same_command(overrides)
    return next((run for run, recorded in _resumable(runs) if _same_command(recorded) == wanted), None)


def _no_resumable(runs: Path, overrides: list[str]) -> FileNotFoundError:
    wanted = _same_command(overrides)
    newest = _resumable(runs)[:1]
    differs = ""
    if newest:
        run, recorded = newest[0]
        theirs = _same_command(recorded)
        diff = [o for o in wanted if o not in theirs] + [f"(no {o})" for o in theirs if o not in wanted]
        differs = f" (the newest, {run.name}, differs in {' '.join(diff)}: a resume may not change those)"
    return FileNotFoundError(
        f"ckpt_path=last: no earlier run of this command left a checkpoints/last.ckpt under {runs}{differs}; "
        f"give ckpt_path=PATH/TO/last.ckpt to resume another run"
    )


def new_run_dir(runs: Path) -> Path:
    make_dir(runs, "the runs folder of paths.log_dir")
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    for i in range(1000):
        candidate = runs / (stamp if i == 0 else f"{stamp}_{i}")
        try:
            candidate.mkdir()  # atomic: fails if another run took the name first
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run directory under {runs}")


def run_dir(runs: str, ckpt_path: str | None, overrides) -> str:
    """OmegaConf resolver `vaelab.run_dir`: see the module docstring."""
    overrides = [str(o) for o in (overrides or [])]
    key = (runs, str(ckpt_path), tuple(overrides))
    if key not in _chosen:
        if ckpt_path == "last":
            found = find_resumable(Path(runs), overrides)
            if found is None:
                raise _no_resumable(Path(runs), overrides)
            _chosen[key] = str(found)
        else:
            _chosen[key] = str(new_run_dir(Path(runs)))
    return _chosen[key]


def record_dir(run_dir: str) -> str:
    """OmegaConf resolver `vaelab.record_dir`: where Hydra writes its record of the command
    (config, overrides) inside the run directory. `.hydra` for a new run; a resumed run keeps
    that original record and gets `.hydra/resumed/<date>_<time>` for its own."""
    if run_dir not in _chosen_records:
        original = Path(run_dir) / ".hydra" / "overrides.yaml"
        _chosen_records[run_dir] = (
            f".hydra/resumed/{time.strftime('%Y-%m-%d_%H-%M-%S')}" if original.is_file() else ".hydra"
        )
    return _chosen_records[run_dir]
