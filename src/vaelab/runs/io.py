"""Files that are either whole or absent, and a full disk named in one line.

A run that dies while writing (a crash, a kill, a full disk) must not leave a truncated
checkpoint or an empty status.json under a name that looks valid. So vaelab writes such files
to a temporary file in the target's directory, flushes it to disk and only then renames it
onto the target: os.replace is atomic within one file system, so readers see the old file or
the new one, never a part. A record that grows (history.jsonl) gains whole lines or nothing.
A write that fails for lack of space raises DiskFullError naming the file, which
`vaelab.errors.reported()` prints as one line.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vaelab.errors import DiskFullError, NotAFolder

__all__ = [
    "append_line",
    "disk_full_named",
    "make_dir",
    "write_bytes",
    "write_json",
    "write_text",
]

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


@contextlib.contextmanager
def disk_full_named(path: str | os.PathLike) -> Iterator[None]:
    """Inside the block, an OSError for lack of space (disk full, quota) becomes DiskFullError naming `path`."""
    try:
        yield
    except DiskFullError:
        raise  # already names its file (a nested block)
    except OSError as err:
        if err.errno not in _NO_SPACE:
            raise
        full = DiskFullError(
            f"no space left on device while writing {Path(path).absolute()} "
            "(free some space, or point paths.log_dir elsewhere)"
        )
        # Set after construction so that str() stays the message alone, without an "[Errno 28]" prefix.
        full.errno = err.errno
        raise full from err


@functools.cache
def _umask() -> int:
    # The only way to read the umask is to set it; read it once (changing it is not thread-safe).
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_bytes(path: str | os.PathLike, data: bytes | memoryview) -> None:
    """Replace `path` with `data` atomically; on any failure `path` keeps its old content.

    Raises DiskFullError (an OSError) when the disk or quota is full.
    """
    path = Path(path)
    with disk_full_named(path):
        # In the same directory, so that the rename stays on one file system and is atomic;
        # a hidden name not ending in the target's suffix, so no glob for *.ckpt or *.json finds it.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                # mkstemp creates the file private (0600); give it the mode open() would have.
                os.fchmod(f.fileno(), 0o666 & ~_umask())
                f.write(data)
                f.flush()
                # On disk before the rename: a crash right after it must not expose an empty file.
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Replace `path` with `text` (UTF-8) atomically; see write_bytes."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, content: dict[str, Any]) -> None:
    """Replace `path` with `content` as indented, key-sorted JSON atomically; see write_bytes."""
    write_text(path, json.dumps(content, indent=2, sort_keys=True) + "\n")


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append `line` and a newline to `path` (created if missing), whole or not at all: a reader
    never sees half a row. Raises DiskFullError when the disk or quota is full."""
    data = (line + "\n").encode("utf-8")
    with disk_full_named(path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            end = os.lseek(fd, 0, os.SEEK_END)
            try:
                # One write of the whole line; the loop only continues after a short write
                # (the disk filled mid-line), and the next write then raises the real error.
                while data:
                    data = data[os.write(fd, data) :]
            except OSError:
                os.ftruncate(fd, end)  # drop the part of the line that was written
                raise
        finally:
            os.close(fd)


def make_dir(path: str | os.PathLike, setting: str) -> Path:
    """Create a directory (and its parents) that the run will write into, or say in one line,
    naming the setting, why it cannot be: a file in the way, no permission, a read-only disk."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotAFolder(f"{setting}={path}: a file is in the way; it must be a directory") from None
    except OSError as err:
        raise NotAFolder(f"{setting}={path}: cannot create the directory ({err.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise NotAFolder(f"{setting}={path}: the directory is not writable")
    return path
