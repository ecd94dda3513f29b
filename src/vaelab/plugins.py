"""Lightning plugins of vaelab's, referenced from `conf/trainer/*.yaml`."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from lightning.pytorch.plugins.io import AsyncCheckpointIO, TorchCheckpointIO

from vaelab.errors import CheckpointError
from vaelab.runs.callback_state import inside
from vaelab.runs.io import disk_full_named, write_bytes

__all__ = ["AtomicCheckpointIO", "AtomicWriter"]


class RefusedRemoval(CheckpointError):
    """A checkpoint removal that vaelab does not carry out (see AtomicWriter.remove_checkpoint)."""


def _folder_of(path: Any) -> tuple[Any, str, str]:
    """(file system, its path of `path`, the key of the folder holding it): a local folder by its
    real path (symlinks followed), a remote one by protocol and path."""
    fs, fs_path = url_to_fs(str(path))
    parent = os.path.dirname(fs_path)
    if isinstance(fs, LocalFileSystem):
        return fs, fs_path, os.path.realpath(parent or ".")
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return fs, fs_path, f"{protocol}://{parent}"


def launcher_weights(fs: Any, fs_path: str) -> bool:
    """Whether `fs_path` is the file through which Lightning's spawn and fork launchers
    (trainer.strategy=ddp_spawn, ddp_fork) hand rank 0's weights back: `.temp.ckpt` in a fresh
    `tempfile.mkdtemp()` folder, written by the worker process and removed from this one."""
    if not isinstance(fs, LocalFileSystem) or os.path.basename(fs_path) != ".temp.ckpt":
        return False
    folder = os.path.dirname(os.path.realpath(fs_path))
    return os.path.basename(folder).startswith("tmp") and os.path.dirname(folder) == os.path.realpath(
        tempfile.gettempdir()
    )


class AtomicWriter(TorchCheckpointIO):
    """Lightning's TorchCheckpointIO, but a local checkpoint is written by write_bytes: a crash or
    a full disk never leaves a truncated .ckpt, and a full disk raises DiskFullError naming it.

    Lightning's own save goes through an fsspec transaction, which for a local path writes the
    temporary file in the system temp directory and moves it: across file systems that move is
    a copy into the target, which a full disk cuts short. Remote (fsspec URL) paths and
    storage_options are left to Lightning.
    """

    def __init__(self, stop_after_failure: bool = False):
        super().__init__()
        # In the background, checkpoints queued after a failed write are not attempted, and the
        # first failure is the one reported (it names the file the disk filled up on).
        self.stop_after_failure, self.failure = stop_after_failure, None
        # The folders this process wrote checkpoints into: the only ones it removes from.
        self.folders: set[str] = set()

    def claim(self, path: Any) -> None:
        """Note that a checkpoint is written to `path` (before it is, from the training thread)."""
        self.folders.add(_folder_of(path)[2])

    def remove_checkpoint(self, path: Any) -> None:
        """Remove one checkpoint file, as ModelCheckpoint asks for an old top-k or last one.

        Lightning's own removal is `fs.rm(path, recursive=True)`, for any path that ModelCheckpoint's
        record names, and a resumed run restores that record from the checkpoint. Here only a file
        (a symlink itself, not its target) is removed, never a folder, and only in a folder this
        process has written a checkpoint into; anything else is refused in one line.
        """
        fs, fs_path, folder = _folder_of(path)
        if not inside(folder, self.folders) and not launcher_weights(fs, fs_path):
            raise RefusedRemoval(
                f"refused to remove {path}: vaelab removes checkpoints only in the folders this run wrote them "
                f"into ({', '.join(sorted(self.folders)) or 'none yet'})"
            )
        if isinstance(fs, LocalFileSystem):
            if os.path.isdir(fs_path) and not os.path.islink(fs_path):
                raise RefusedRemoval(f"refused to remove {path}: a folder, not a checkpoint file")
            if os.path.lexists(fs_path):
                os.unlink(fs_path)
        elif fs.isfile(fs_path):
            fs.rm_file(fs_path)

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if self.failure is not None:
            raise self.failure
        self.claim(path)
        try:
            self._save(checkpoint, path, storage_options)
        except BaseException as err:
            if self.stop_after_failure:
                self.failure = err
            raise

    def _save(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None) -> None:
        fs, local_path = url_to_fs(str(path))
        if storage_options is not None or not isinstance(fs, LocalFileSystem):
            super().save_checkpoint(checkpoint, path, storage_options=storage_options)
            return
        target = Path(local_path)
        # Serialized in memory first, as Lightning does: torch.save into a file turns an
        # out-of-space error into an opaque RuntimeError ("unexpected pos ...").
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        with disk_full_named(target):
            target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(target, buffer.getbuffer())


class AtomicCheckpointIO(AsyncCheckpointIO):
    """The trainer's checkpoint plugin: atomic writes (AtomicWriter), by default in the background.

    Lightning's AsyncCheckpointIO copies the checkpoint's tensors on the training thread (a few
    milliseconds) and serialises and writes the copy in a worker thread, one checkpoint at a time
    and in order; the fit waits for the last write before it ends. Saving in the loop cost about
    60 ms a checkpoint here (serialising 13 MB, writing, fsync), twice an epoch with the step
    checkpoint. A write that fails (a full disk) is reported at the next save or when the fit ends.
    `background=False` writes in the loop.
    """

    def __init__(self, background: bool = True):
        self.background = bool(background)
        super().__init__(AtomicWriter(stop_after_failure=self.background))

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        self.checkpoint_io.claim(path)  # now, not when the background thread gets to it
        if not self.background:
            self.checkpoint_io.save_checkpoint(checkpoint, path, storage_options=storage_options)
            return
        super().save_checkpoint(checkpoint, path, storage_options=storage_options)
