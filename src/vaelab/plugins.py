"""Lightning plugins of vaelab's, referenced from `conf/trainer/*.yaml`."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from fsspec.core import url_to_fs
from fsspec.implementations.local import LocalFileSystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

from vaelab.io import disk_full_named, write_bytes

__all__ = ["AtomicCheckpointIO"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's TorchCheckpointIO, but a local checkpoint is written by write_bytes: a crash or
    a full disk never leaves a truncated .ckpt, and a full disk raises DiskFullError naming it.

    Lightning's own save goes through an fsspec transaction, which for a local path writes the
    temporary file in the system temp directory and moves it: across file systems that move is
    a copy into the target, which a full disk cuts short. Remote (fsspec URL) paths and
    storage_options are left to Lightning.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
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
