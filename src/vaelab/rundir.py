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

# Hydra may resolve hydra.run.dir more than once in a process; the choice must not change.
_chosen: dict[tuple, str] = {}


def _same_command(overrides: list[str]) -> list[str]:
    return sorted(o for o in overrides if not o.lstrip("+~").startswith("ckpt_path="))


def find_resumable(runs: Path, overrides: list[str]) -> Path | None:
    """The newest run directory under `runs` made by the same overrides that has a last.ckpt."""
    wanted = _same_command(overrides)
    candidates = sorted(runs.glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True)
    for ckpt in candidates:
        recorded = ckpt.parent.parent / ".hydra" / "overrides.yaml"
        if recorded.is_file() and _same_command(yaml.safe_load(recorded.read_text()) or []) == wanted:
            return ckpt.parent.parent
    return None


def new_run_dir(runs: Path) -> Path:
    runs.mkdir(parents=True, exist_ok=True)
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
                raise FileNotFoundError(
                    f"ckpt_path=last: no earlier run of this command (overrides: {' '.join(_same_command(overrides)) or 'none'}) "
                    f"left a checkpoints/last.ckpt under {runs}; give ckpt_path=PATH/TO/last.ckpt instead"
                )
            _chosen[key] = str(found)
        else:
            _chosen[key] = str(new_run_dir(Path(runs)))
    return _chosen[key]
