"""Who runs a trial, and whether it still does: several sweeper processes (workers, on one
machine or many) share a study, so a RUNNING trial may be another worker's live trial or the
remains of a killed one. Only the second kind is failed.

Every trial records its worker (`vaelab_worker`: host and process id) and, every
`heartbeat_interval` seconds while it runs, the time (`vaelab_heartbeat`), as Optuna user
attributes: the same on every storage (Optuna's own heartbeat exists only for RDB storages, not
for the journal file). A RUNNING trial is lost when its worker's process is gone from this host,
or, from anywhere, when its heartbeat is older than `grace_period` seconds; a lost trial is
marked FAIL, and like every trial it counts towards n_trials (Optuna keeps it; a killed trial's
settings are not retried by themselves).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import optuna
from optuna.trial import TrialState

log = logging.getLogger(__name__)

WORKER = "vaelab_worker"
HEARTBEAT = "vaelab_heartbeat"


def me() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(trials: Sequence[optuna.trial.Trial]) -> None:
    for trial in trials:
        trial.set_user_attr(WORKER, me())
        trial.set_user_attr(HEARTBEAT, time.time())


def process_gone(worker: str) -> bool:
    """True only when the worker ran on this host and its process no longer exists."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:  # it exists, as another user's
        return False
    return False


def fail_lost(study: optuna.Study, grace_period: float) -> list[int]:
    """Mark FAIL the RUNNING trials whose worker is gone; their numbers."""
    failed = []
    now = time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = str(trial.user_attrs.get(WORKER, ""))
        if worker == me():
            continue
        beat = trial.user_attrs.get(HEARTBEAT)
        if not isinstance(beat, (int, float)):  # a trial made by another tool: its start
            beat = trial.datetime_start.timestamp() if trial.datetime_start else now
        if process_gone(worker) or now - beat > grace_period:
            try:
                study.tell(trial.number, state=TrialState.FAIL)
            except ValueError:  # its worker or another finished it meanwhile
                continue
            failed.append(trial.number)
            log.warning("Trial %d was left running by worker %s, which is gone: marked failed", trial.number, worker)
    return failed


@contextmanager
def heartbeat(trials: Sequence[optuna.trial.Trial], interval: float) -> Iterator[None]:
    """Record the trials' heartbeat every `interval` seconds while the block runs."""
    stop = threading.Event()

    def beat() -> None:
        alive = list(trials)
        while alive and not stop.wait(interval):
            for trial in list(alive):
                try:
                    trial.set_user_attr(HEARTBEAT, time.time())
                except Exception as err:  # failed by another worker as lost: say so, beat no more
                    log.warning("Trial %d: no heartbeat recorded (%s)", trial.number, err)
                    alive.remove(trial)

    thread = threading.Thread(target=beat, name="optuna-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
