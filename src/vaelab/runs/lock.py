"""One process at a time in a run directory: the lock file `run.lock`, taken first thing in
vaelab.runs.train.train and removed when the run ends (finished, failed, Ctrl-C or SIGTERM).

Two `train.py ... ckpt_path=last` started together on the same killed run would both resume it
and both write into its directory: duplicate rows in history.jsonl, two writers of last.ckpt and
metrics.json, two resumes in provenance.json. So the run holds its directory through run.lock,
which names the holder (pid, host, since when, SLURM job); a second process is refused in one
line naming the holder and what to do.

The lock appears whole or not at all: written to a temporary file, then hard-linked to run.lock
(a link is atomic and fails when the name exists, on NFS too). A lock that outlived its holder
(SIGKILL, a lost node) is taken over, with a warning in the log:
- the holder ran on this host and its pid is not running (or is now another process: its start
  time differs);
- this is a SLURM job run again (requeue, preemption: SLURM_RESTART_COUNT > 0) and the holder was
  an earlier attempt of the same job, which SLURM ended before starting this one, on any host;
- the holder ran on another host and stopped refreshing the lock: while it runs, a daemon thread
  touches run.lock every HEARTBEAT_S seconds; a lock untouched for STALE_AFTER_S is stale.

What is written before the lock: Hydra resolves the run directory and, before vaelab's code
runs, writes its record of the command there (`.hydra/` for a new run, `.hydra/resumed/<date>_<time>/`
for a resume) and opens the job log (`train.log`, appended to). A refused process leaves only those.

Under DDP only the launching process holds the lock (`launching_process`): the other ranks run
the same code in the same directory and must not be refused by their own run's lock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vaelab.errors import VaelabError
from vaelab.runs import rundir
from vaelab.runs.io import disk_full_named

log = logging.getLogger(__name__)

LOCK_FILE = "run.lock"
HEARTBEAT_S = 30.0
# Ten missed heartbeats: a busy file server or a paused VM must not make a live run look dead.
STALE_AFTER_S = 300.0

# Set to a process's rank by torchrun, Lightning's DDP launcher (for the processes it starts),
# SLURM's srun, MPI and jsrun; absent or 0 in the process that launched the run.
RANK_VARIABLES = (
    "RANK",
    "LOCAL_RANK",
    "NODE_RANK",
    "GROUP_RANK",
    "SLURM_PROCID",
    "JSM_NAMESPACE_RANK",
    "OMPI_COMM_WORLD_RANK",
    "PMI_RANK",
)


class RunLocked(VaelabError, ValueError):
    """Another live process holds the run directory (printed as one line, see vaelab.errors)."""


def launching_process() -> bool:
    """Whether this process holds the run directory's lock: not a DDP rank other than the first."""
    return all(os.environ.get(name, "0") in ("", "0") for name in RANK_VARIABLES)


def _proc_start(pid: int) -> str | None:
    """When process `pid` started (clock ticks since boot, /proc/<pid>/stat field 22), if Linux says."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    return stat.rsplit(")", 1)[1].split()[19]


def _alive(pid: Any, started: Any) -> bool:
    """Whether the holder `pid` (a process on this host) still runs."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    # The same pid with another start time: the system gave the dead holder's pid to a new process.
    now = _proc_start(pid)
    return started is None or now is None or now == started


def _job(slurm_job: Any) -> str | None:
    """The SLURM job without its step: every step of an earlier attempt ended with it."""
    return slurm_job.split(" step=")[0] if isinstance(slurm_job, str) else None


def _restarts() -> int:
    count = os.environ.get("SLURM_RESTART_COUNT", "")
    return int(count) if count.isdigit() else 0


def _me() -> dict[str, Any]:
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "proc_start": _proc_start(pid),
        "slurm_job": rundir.slurm_job(),
        "slurm_restart": _restarts(),
        "token": uuid.uuid4().hex,  # tells this lock from a later one of the same pid
    }


def _gone(holder: dict[str, Any], age_s: float, stale_after_s: float) -> str | None:
    """Why the lock's holder no longer runs, or None when it may."""
    job = _job(rundir.slurm_job())
    if job and rundir.requeued() and _job(holder.get("slurm_job")) == job:
        if holder.get("slurm_restart", 0) < _restarts():
            return f"it was attempt {holder.get('slurm_restart', 0)} of SLURM job {job}, which SLURM ran again"
    if holder.get("host") == socket.gethostname():
        if not _alive(holder.get("pid"), holder.get("proc_start")):
            return f"process {holder.get('pid')} is not running on this host"
        return None
    if age_s > stale_after_s:
        return f"not refreshed for {age_s:.0f} s (a live run refreshes it every {HEARTBEAT_S:.0f} s)"
    return None


def _create(path: Path, me: dict[str, Any]) -> bool:
    """Create the lock holding `me`, whole; False if a lock is there."""
    with disk_full_named(path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(me, sort_keys=True) + "\n")
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            return True
        finally:
            os.unlink(tmp)


def _remove_if_unchanged(path: Path, seen: bytes) -> bool:
    """Remove the stale lock whose content was `seen`, unless another process replaced it since
    (it took the lock over first): moving it aside is atomic, so of two processes taking over the
    same stale lock only one removes it, and the other then finds the winner's lock."""
    aside = path.with_name(f".{path.name}.{uuid.uuid4().hex}.stale")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return False
    if aside.read_bytes() == seen:
        aside.unlink()
        return True
    # A live lock, made between our read and the move: put it back.
    with contextlib.suppress(FileExistsError):
        os.link(aside, path)
    aside.unlink()
    return False


def _read(path: Path) -> tuple[bytes, dict[str, Any], float] | None:
    """The lock's content, as read and parsed, and its age in seconds; None if there is none."""
    try:
        raw = path.read_bytes()
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        holder = json.loads(raw)
    except ValueError:
        holder = None
    return raw, holder if isinstance(holder, dict) else {}, age


def _refusal(run: Path, path: Path, holder: dict[str, Any]) -> RunLocked:
    if not holder:
        return RunLocked(
            f"paths.output_dir={run}: in use (its lock {path} is unreadable and less than {STALE_AFTER_S:.0f} s "
            "old); wait for the run writing there to end, or delete the lock if no run is"
        )
    pid, host = holder.get("pid"), holder.get("host")
    job = f", SLURM {_job(holder['slurm_job'])}" if holder.get("slurm_job") else ""
    return RunLocked(
        f"paths.output_dir={run}: in use by pid {pid} on host {host} since {holder.get('since')}{job}; "
        f"wait for that run to end or stop it (kill {pid} on {host}), then run the command again; "
        f"if that process is gone, delete {path}"
    )


def acquire(run: Path, stale_after_s: float = STALE_AFTER_S) -> dict[str, Any]:
    """Take the run directory's lock, taking over a stale one; raise RunLocked if it is held.
    Returns the record written into the lock."""
    path = run / LOCK_FILE
    me = _me()
    for _ in range(20):  # each round either takes the lock or sees another process take it
        if _create(path, me):
            return me
        found = _read(path)
        if found is None:
            continue  # released meanwhile
        seen, holder, age = found
        reason = _gone(holder, age, stale_after_s)
        if reason is None:
            raise _refusal(run, path, holder)
        if _remove_if_unchanged(path, seen):
            log.warning(
                "%s: took over the lock of pid %s on host %s (since %s): %s",
                run,
                holder.get("pid"),
                holder.get("host"),
                holder.get("since"),
                reason,
            )
    raise _refusal(run, path, (_read(path) or (b"", {}, 0.0))[1])


def _holds(path: Path, me: dict[str, Any]) -> bool:
    found = _read(path)
    return found is not None and found[1].get("token") == me["token"]


def release(run: Path, me: dict[str, Any]) -> None:
    """Remove the lock if it is still this process's own."""
    path = run / LOCK_FILE
    if _holds(path, me):
        path.unlink(missing_ok=True)
    else:
        log.warning("%s: the lock %s is no longer this run's (taken over?): left as it is", run, path)


def _heartbeat(path: Path, me: dict[str, Any], stop: threading.Event, interval_s: float) -> None:
    while not stop.wait(interval_s):
        try:
            if not _holds(path, me):
                log.error("%s was taken over by another process: two runs may now write into %s", path, path.parent)
                return
            os.utime(path)
        except OSError as err:  # a file server away for a moment: try again next time
            log.warning("could not refresh %s: %s", path, err)


@contextlib.contextmanager
def hold(run: Path, heartbeat_s: float = HEARTBEAT_S, stale_after_s: float = STALE_AFTER_S) -> Iterator[None]:
    """Hold the run directory's lock while the block runs, refreshing it every `heartbeat_s`."""
    me = acquire(run, stale_after_s)
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeat, args=(run / LOCK_FILE, me, stop, heartbeat_s), name="vaelab-run-lock", daemon=True
    )
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        release(run, me)
