"""What a resumed run may change: how long it trains and how it is watched, never what it trains.

`train.py ... ckpt_path=...` restores the model, the optimiser, the loops and the random state
from the checkpoint, so a setting that shaped those (a learning rate, beta, the data, the
batch size) cannot take a new value on resume without the record lying about what ran. Such a
change is refused in one line naming the key; the settings below may change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from vaelab.config.schema import interpolated_paths, is_copy
from vaelab.errors import ConfigError

# Dotted prefixes of the settings a resumed run may change.
MAY_CHANGE = (
    "ckpt_path",
    "trust",
    "paths",
    "task_name",
    "tags",
    "test",
    "optimized_metric",
    "logger",
    "eval",
    # How long: a finished run may be trained further (the optimiser and its schedule stay compared).
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.max_time",
    "trainer.min_epochs",
    "trainer.limit_test_batches",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.default_root_dir",
    # How the same step is computed (torch.compile or eager), not what it computes.
    "trainer.compile",
    "callbacks.rich_progress_bar",
    "callbacks.images",
    # Scores computed beside training, not training itself.
    "callbacks.disentanglement",
    "callbacks.step_checkpoint.every_n_train_steps",
    # Where the same data is found, not which data.
    "data.data_dir",
    "data.search_dirs",
    "data.download",
    "data.eval_batch_size",
)


# Compared even where they copy a setting that may change: the optimiser and its schedule are
# restored from the checkpoint, so e.g. a cosine T_max that follows trainer.max_epochs cannot
# take the new length (the run would decay to 0 at the old end and climb back).
ALWAYS_COMPARED = ("optimizer", "scheduler")


# Settings added after checkpoints were first written, with the value an older run had in effect.
ADDED = {"trainer.steps_per_execution": 1}


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict) and tree:
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out |= _flat(value, f"{prefix}.{key}" if prefix else str(key))
        return out
    return {prefix: tree}


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def may_change(key: str) -> bool:
    return _under(key, MAY_CHANGE)


def changed_settings(stored: DictConfig, current: DictConfig) -> list[tuple[str, Any, Any]]:
    """(key, value in the checkpoint's run, value now) for every setting that differs and may not.
    A setting that only repeats another (an interpolation, e.g. model.num_iw_samples) is judged at its source."""
    old = ADDED | _flat(OmegaConf.to_container(stored, resolve=True))
    new = ADDED | _flat(OmegaConf.to_container(current, resolve=True))
    copies = interpolated_paths(current)
    changed = []
    for key in sorted(old.keys() | new.keys()):
        if may_change(key) or (is_copy(key, copies) and not _under(key, ALWAYS_COMPARED)):
            continue
        if old.get(key, "(unset)") != new.get(key, "(unset)"):
            changed.append((key, old.get(key, "(unset)"), new.get(key, "(unset)")))
    return changed


def check_resumable(stored: DictConfig, current: DictConfig, path: str | Path) -> None:
    """Refuse, in one line, a resume that changes a setting the checkpoint has already fixed."""
    changed = changed_settings(stored, current)
    if changed:
        key, was, now = changed[0]
        more = f" (and {len(changed) - 1} more: {', '.join(k for k, _, _ in changed[1:4])})" if len(changed) > 1 else ""
        raise ConfigError(
            f"ckpt_path={path}: {key}={now} differs from the checkpoint's run ({key}={was}){more}; a resumed run "
            f"continues that run and may only change {', '.join(MAY_CHANGE[1:])}. "
            f"Drop the override to resume, or start a new run without ckpt_path"
        )
