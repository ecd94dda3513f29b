"""Which RUNNING trials were left by workers that are gone: only those are failed."""

from __future__ import annotations

import subprocess
import sys
import time

import optuna
from optuna.trial import TrialState

from vaelab.hparams_search.workers import HEARTBEAT, WORKER, claim, fail_lost, heartbeat, me


def test_only_the_trials_of_gone_workers_are_failed(tmp_path):
    study = optuna.create_study(
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "study.log")))
    )
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = me().rpartition(":")[0]
    now = time.time()
    workers = {
        "mine": (me(), now - 1000),  # this process: never lost, whatever its heartbeat
        "dead process here": (f"{host}:{dead.stdout.strip()}", now),  # exited above: lost at once
        "live elsewhere": ("node7:123", now - 50),  # another machine, heard from 50 s ago
        "silent elsewhere": ("node7:456", now - 500),  # another machine, silent longer than the grace
    }
    trials = {}
    for name, (worker, beat) in workers.items():
        trials[name] = study.ask()
        trials[name].set_user_attr(WORKER, worker)
        trials[name].set_user_attr(HEARTBEAT, beat)
    failed = fail_lost(study, grace_period=180)
    assert sorted(failed) == sorted([trials["dead process here"].number, trials["silent elsewhere"].number])
    states = {name: study.trials[t.number].state for name, t in trials.items()}
    assert states == {
        "mine": TrialState.RUNNING,
        "dead process here": TrialState.FAIL,
        "live elsewhere": TrialState.RUNNING,
        "silent elsewhere": TrialState.FAIL,
    }


def test_the_heartbeat_is_recorded_while_the_trials_run(tmp_path):
    study = optuna.create_study(
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "s.log")))
    )
    trial = study.ask()
    claim([trial])
    first = study.trials[0].user_attrs[HEARTBEAT]
    with heartbeat([trial], interval=0.2):
        time.sleep(1.0)
    beats = study.trials[0].user_attrs[HEARTBEAT]
    assert study.trials[0].user_attrs[WORKER] == me()
    assert 0.5 < beats - first < 2.0  # the last beat came within the block, after the first interval
