"""What a logger's run knows of the Hydra sweep it belongs to: the sweep's group name, the job's
overrides as tags, and a readable run name from the overrides that differ within the sweep
(`beta=4,latent_dim=32`), for W&B and MLflow alike.

Which keys a sweep varies: the sweep overrides of its command line (`objective.beta=1,4`, kept
by Hydra's basic sweeper in SWEEP_DIR/multirun.yaml) and the search space of an Optuna sweep
(`hydra.sweeper.params`). A single run's name stays the task name.
"""

from __future__ import annotations

import os
from pathlib import Path

# The overrides that only say where files go: neither tags nor names.
PLUMBING = ("paths.", "hydra.")


def sweep_group(job_name: str, sweep_dir: str | os.PathLike) -> str:
    """The group of a sweep's runs: the task name and the sweep directory's name."""
    return f"{job_name}-{os.path.basename(os.path.normpath(sweep_dir))}"


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def swept_keys(sweep_dir: str | os.PathLike, sweeper_params) -> set[str]:
    """The keys the sweep in `sweep_dir` varies (see the module docstring)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    keys = {str(k) for k in (sweeper_params or {})}
    multirun = Path(sweep_dir) / "multirun.yaml"
    if multirun.is_file():
        task = OmegaConf.select(OmegaConf.load(multirun), "hydra.overrides.task") or []
        try:
            overrides = OverridesParser.create().parse_overrides([str(o) for o in task])
        except Exception:  # Hydra checked these on the command line: only a damaged file gets here
            overrides = []
        keys |= {o.get_key_element().lstrip("+~") for o in overrides if o.is_sweep_override()}
    return keys


def short_names(keys: list[str]) -> dict[str, str]:
    """{key: its last part} (`objective.beta` -> `beta`), the whole key where two would clash."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def run_name(overrides: list[str], swept: set[str], default: str) -> str:
    """`beta=4,latent_dim=32`: the job's overrides of the swept keys, short names; `default`
    when the sweep varies nothing the job overrides."""
    chosen = [o for o in overrides if _key(o) in swept and not _key(o).startswith(PLUMBING)]
    names = short_names([_key(o) for o in chosen])
    return ",".join(f"{names[_key(o)]}={o.split('=', 1)[1]}" for o in chosen) or default


def sweep_context(default_name: str | None = None) -> tuple[str | None, list[str], str | None]:
    """(group, tags, name) from Hydra: in a multirun, the group is the sweep (task name and sweep
    directory) and the name shows the job's swept overrides; the tags are the job's overrides.
    Outside a multirun: (None, tags, default_name)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None, [], default_name
    hydra = HydraConfig.get()
    tags = [o[:64] for o in hydra.overrides.task if not o.startswith(PLUMBING)]  # W&B: 64 chars a tag
    if hydra.mode != RunMode.MULTIRUN:
        return None, tags, default_name
    swept = swept_keys(hydra.sweep.dir, hydra.sweeper.get("params"))
    name = run_name(list(hydra.overrides.task), swept, default_name or hydra.job.name)
    return sweep_group(hydra.job.name, hydra.sweep.dir), tags, name
