"""The checkpoint callbacks' records in a checkpoint: checked against a strict shape, and kept
only where they name files in this run's own checkpoint folders.

Lightning's ModelCheckpoint saves a record (`ModelCheckpoint.state_dict`: best, last and
top-k paths) in every checkpoint and restores it on resume; later it deletes the worst of the
top k, and a previous last checkpoint, by the paths in that record, removing any path whose
protocol is not `file` without asking. A checkpoint is data from anywhere, so a crafted record
could delete any file or folder. Two layers stop that:

1. `check_records` (when any checkpoint is read): every record has only ModelCheckpoint's keys,
   every path in it is a plain local path (no `local://`, `file://`, `s3://`), and, where the
   record names its folder, inside that folder; otherwise the checkpoint is refused in one line.
2. `confine_records` (when Lightning restores a resumed run, from `VAESystem.on_load_checkpoint`):
   a record naming any file whose real path (symlinks followed) is not inside one of this run's
   checkpoint folders is dropped, so Lightning starts that callback's bookkeeping afresh.

A third layer, in vaelab.plugins, removes only files, never recursively, and only in folders
the run has written checkpoints into.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from vaelab.errors import CheckpointError

# ModelCheckpoint.state_dict's keys (Lightning 2.x): a record holding any other key is not one.
RECORD_KEYS = frozenset(
    {
        "monitor",
        "best_model_score",
        "best_model_path",
        "current_score",
        "dirpath",
        "best_k_models",
        "kth_best_model_path",
        "kth_value",
        "last_model_path",
    }
)
PATH_KEYS = ("best_model_path", "kth_best_model_path", "last_model_path")
# A URL scheme (`file:`, `local:`, `s3:`, ...): fsspec would resolve it to another file system.
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


class RefusedRecord(CheckpointError):
    """A checkpoint's callback record that names files it may not (see the module docstring)."""


def is_record(name: str, state: Any) -> bool:
    """Whether the callback state `name: state` is (or claims to be) a ModelCheckpoint record."""
    if str(name).startswith("ModelCheckpoint"):
        return True
    return isinstance(state, dict) and bool({"dirpath", "best_k_models", *PATH_KEYS} & set(state))


def named_files(state: dict[str, Any]) -> list[Any]:
    """Every file a record names (empty paths left out)."""
    files = [state.get(key) for key in PATH_KEYS]
    best = state.get("best_k_models")
    files += list(best) if isinstance(best, dict) else []
    return [f for f in files if f not in (None, "")]


def check_records(callbacks: Any, source: str) -> None:
    """Refuse, in one line, a checkpoint whose callback records are not of ModelCheckpoint's
    shape: only its keys, plain local paths, and every file inside the record's own folder."""
    if callbacks is None:
        return
    if not isinstance(callbacks, dict):
        raise RefusedRecord(f"{source}: refused: its callback states are a {type(callbacks).__name__}, not a dict")
    for name, state in callbacks.items():
        if not is_record(name, state):
            continue
        where = f"{source}: refused: the record of {name}"
        if not isinstance(state, dict):
            raise RefusedRecord(f"{where} is a {type(state).__name__}, not a dict")
        unknown = sorted(map(str, set(state) - RECORD_KEYS))
        if unknown:
            raise RefusedRecord(f"{where} holds {', '.join(unknown)}: not keys of a ModelCheckpoint record")
        if not isinstance(state.get("best_k_models", {}), dict):
            raise RefusedRecord(f"{where} holds best_k_models that is not a dict of paths")
        dirpath = state.get("dirpath")
        for file in [dirpath] * (dirpath is not None) + named_files(state):
            if not isinstance(file, str) or URL.match(file) or "\0" in file:
                raise RefusedRecord(f"{where} names {file!r}: only plain local paths are allowed, not URLs")
        if dirpath is not None:
            root = os.path.normpath(dirpath)
            for file in named_files(state):
                if not inside(os.path.normpath(os.path.join(root, file)), [root]):
                    raise RefusedRecord(f"{where} names {file}, outside its folder {root}")


def inside(path: str, roots: Iterable[str]) -> bool:
    """Whether `path` is one of `roots` or below one (all absolute, or all relative to one place)."""
    for root in roots:
        try:
            if os.path.commonpath([root, path]) == root:
                return True
        except ValueError:  # one absolute, one relative
            continue
    return False


def confine_records(callbacks: dict[str, Any], folders: Iterable[str | os.PathLike | None]) -> list[str]:
    """Drop, in place, every record naming a file whose real path is outside `folders` (this
    run's checkpoint folders); return the names of the records dropped. A dropped record
    restores as a fresh callback's: no best, no top k, no last checkpoint."""
    roots = [os.path.realpath(folder) for folder in folders if folder]
    dropped = []
    for name, state in callbacks.items():
        if not (is_record(name, state) and isinstance(state, dict)):
            continue
        if all(inside(os.path.realpath(str(file)), roots) for file in named_files(state)):
            continue
        for key in ("kth_best_model_path", "kth_value", "best_k_models", "last_model_path", "current_score"):
            state.pop(key, None)
        # Lightning reads these two unconditionally: a fresh callback's values.
        state.update(best_model_path="", best_model_score=None)
        dropped.append(name)
    return dropped
