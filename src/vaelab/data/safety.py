"""Checks on what a data setting points at and what a data file claims, before anything is read.

A data path may come from a checkpoint (vaelab-eval reads the run's config), so it is a claim,
not a trusted value: `refuse_special` keeps readers out of /proc, /sys, /dev and any other
pseudo filesystem, symlinks resolved. A file's header is a claim too: `check_fits` compares
the memory a load would take with the memory available, so a header promising (1e12, 784)
is one line instead of an ArrayMemoryError. Messages name the file and what was wrong, never
the file's bytes: `error_kind` gives an exception's type (and an OS error's errno text),
not parser messages, which quote what they could not parse.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vaelab.errors import DataError

# Pseudo filesystems: their "files" are kernel state or devices, never data. /dev/shm is a
# RAM disk people keep data on: it is judged by its filesystem type like any other folder.
SPECIAL_DIRS = ("/proc", "/sys", "/dev")
RAM_DISK = "/dev/shm"
PSEUDO_FS = {
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "bpf",
    "pstore", "configfs", "fusectl", "mqueue", "hugetlbfs", "binfmt_misc", "efivarfs", "selinuxfs", "nsfs",
    "rpc_pipefs",
}  # fmt: skip


def error_kind(err: BaseException) -> str:
    """What went wrong reading a file, without the file's bytes (parsers quote what they reject)."""
    if isinstance(err, OSError) and err.strerror:  # errno text: "Permission denied", ...
        return f"{type(err).__name__}: {err.strerror}"
    return type(err).__name__


def mounts() -> list[tuple[str, str]]:
    """(mount point, filesystem type) of every mount, longest mount point first; [] off Linux."""
    try:
        return parse_mounts(Path("/proc/self/mounts").read_text())
    except OSError:
        return []


def parse_mounts(text: str) -> list[tuple[str, str]]:
    """/proc/self/mounts' lines (device, mount point, type, ...) as (mount point, type), longest first."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 3:  # a space in a mount point is written \040
            found.append((re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), fields[1]), fields[2]))
    return sorted(found, key=lambda m: len(m[0]), reverse=True)


def special(real: str, table: list[tuple[str, str]]) -> str | None:
    """Why the resolved path `real` is not data ("under /proc", "on a sysfs filesystem"), or None."""
    for top in SPECIAL_DIRS:
        inside = real == top or real.startswith(top + "/")
        if inside and not (real == RAM_DISK or real.startswith(RAM_DISK + "/")):
            return f"under {top}"
    for point, fs in table:
        if real == point or real.startswith(point.rstrip("/") + "/"):
            return f"on a {fs} filesystem" if fs in PSEUDO_FS else None
    return None


def refuse_special(setting: str, path: Path, table: list[tuple[str, str]] | None = None) -> Path:
    """`path` resolved (symlinks followed); refused in one line if it is in a pseudo filesystem."""
    real = os.path.realpath(path)
    why = special(real, mounts() if table is None else table)
    if why:
        shown = f" (resolves to {real})" if real != str(path) else ""
        raise DataError(
            f"{setting}={path}{shown} is {why}, which holds kernel state or devices, not data; "
            "give a regular file or folder"
        )
    return Path(real)


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None  # absent, or "max" (no limit)


def _stat(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def available_memory() -> int | None:
    """Bytes this process can still allocate: the smaller of the machine's MemAvailable and its
    memory cgroup's limit less usage (page cache that can be dropped not counted as used);
    None where neither is known (not Linux)."""
    room = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                room.append(int(line.split()[1]) * 1024)
        cgroups = Path("/proc/self/cgroup").read_text().splitlines()
    except (OSError, ValueError, IndexError):
        cgroups = []
    for line in cgroups:
        number, controllers, rel = line.split(":", 2)
        if number == "0":  # cgroup v2
            base, names = Path("/sys/fs/cgroup"), ("memory.max", "memory.current", "memory.stat", "inactive_file")
        elif "memory" in controllers.split(","):  # cgroup v1
            base = Path("/sys/fs/cgroup/memory")
            names = ("memory.limit_in_bytes", "memory.usage_in_bytes", "memory.stat", "total_inactive_file")
        else:
            continue
        for d in (base / rel.lstrip("/"), base):  # inside a cgroup namespace, ours is the root
            limit, used = _read_int(d / names[0]), _read_int(d / names[1])
            if limit is not None and used is not None:
                if limit < 1 << 60:  # v1 writes "no limit" as a huge number
                    room.append(max(0, limit - used + _stat(d / names[2], names[3])))
                break
    return min(room) if room else None


def size_text(n: int | float) -> str:
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError


def check_fits(what: str, needed: int, available: int | None = None) -> None:
    """Refuse, in one line starting with `what` (the file and its claim), a load needing more
    memory than is available. `available` defaults to `available_memory()`."""
    available = available_memory() if available is None else available
    if available is not None and needed > available:
        raise DataError(
            f"{what}: loading it needs about {size_text(needed)} of memory ({needed} bytes), "
            f"but {size_text(available)} is available"
        )
