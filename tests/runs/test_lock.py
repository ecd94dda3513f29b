"""vaelab.runs.lock: one process at a time in a run directory.

In-process: the holders are real processes (a `sleep` that runs, a `true` that has ended), the
lock files as another host or an earlier SLURM attempt would have left them. One test starts
two real train.py processes resuming the same killed run.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT
from tests.helpers import warm
from vaelab.runs import lock
from vaelab.runs.train import train


def write_lock(run: Path, age_s: float = 0.0, **holder) -> Path:
    path = run / lock.LOCK_FILE
    path.write_text(json.dumps({"host": socket.gethostname(), "since": "2026-01-01T00:00:00+0000", **holder}))
    os.utime(path, (time.time() - age_s, time.time() - age_s))
    return path


@pytest.fixture
def sleeper():
    proc = subprocess.Popen(["sleep", "60"])
    yield proc
    proc.kill()
    proc.wait()


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_live_holder_refuses_the_run_before_it_writes_and_a_dead_one_is_taken_over(cfg_factory, sleeper, caplog):
    cfg = cfg_factory()
    run = Path(cfg.paths.output_dir)
    run.mkdir(parents=True)
    path = write_lock(run, pid=sleeper.pid)
    with pytest.raises(lock.RunLocked) as refused:
        train(cfg)
    line = str(refused.value)
    assert "\n" not in line and f"in use by pid {sleeper.pid} on host {socket.gethostname()} since 2026-01-01" in line
    assert f"kill {sleeper.pid}" in line and f"delete {path}" in line
    assert [p.name for p in run.iterdir()] == [lock.LOCK_FILE]  # no status.json, config, provenance

    sleeper.kill()
    sleeper.wait()
    with caplog.at_level(logging.WARNING, logger="vaelab.runs.lock"):
        train(cfg)
    assert f"took over the lock of pid {sleeper.pid}" in caplog.text and "is not running" in caplog.text
    assert json.loads((run / "status.json").read_text()) == {"state": "finished"}
    assert not path.exists()  # released at the end


def test_stale_locks_are_taken_over_and_live_ones_kept(tmp_path, sleeper, monkeypatch):
    def taken(**holder) -> bool:
        write_lock(tmp_path, **holder)
        try:
            with lock.hold(tmp_path):
                assert json.loads((tmp_path / lock.LOCK_FILE).read_text())["pid"] == os.getpid()
            return True
        except lock.RunLocked:
            return False

    assert taken(pid=dead_pid())
    assert not taken(pid=sleeper.pid)
    # The dead holder's pid now runs another program (started at another time).
    assert taken(pid=sleeper.pid, proc_start="1")
    assert not taken(pid=sleeper.pid, proc_start=lock._proc_start(sleeper.pid))
    # Another host: stale only when its heartbeat stopped for longer than the timeout.
    assert not taken(host="elsewhere", pid=1, age_s=lock.STALE_AFTER_S - 30)
    assert taken(host="elsewhere", pid=1, age_s=lock.STALE_AFTER_S + 30)
    unreadable = tmp_path / lock.LOCK_FILE
    unreadable.write_text('{"pid": 12')  # damaged: judged by its mtime alone
    with pytest.raises(lock.RunLocked, match="is unreadable"):
        lock.acquire(tmp_path)
    os.utime(unreadable, (0, 0))
    assert lock.release(tmp_path, lock.acquire(tmp_path)) is None and not unreadable.exists()
    # A SLURM job run again takes over its earlier attempt's lock, from any host, at once.
    for name in [n for n in os.environ if n.startswith("SLURM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    earlier = {"host": "node7", "pid": 1, "slurm_job": "cluster=- job=77 step=0", "slurm_restart": 0}
    assert not taken(**earlier)  # not run again: a concurrent process of the same job
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert taken(**earlier)
    assert not taken(**{**earlier, "slurm_job": "cluster=- job=78"})


def test_the_heartbeat_refreshes_the_lock(tmp_path):
    with lock.hold(tmp_path, heartbeat_s=0.05):
        path = tmp_path / lock.LOCK_FILE
        os.utime(path, (0, 0))
        time.sleep(0.5)
        assert time.time() - path.stat().st_mtime < 5
    assert not path.exists()


def test_only_the_launching_process_holds_the_lock(monkeypatch):
    for name in lock.RANK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert lock.launching_process()
    monkeypatch.setenv("SLURM_PROCID", "0")
    assert lock.launching_process()
    for name in ("LOCAL_RANK", "NODE_RANK", "RANK", "SLURM_PROCID"):
        monkeypatch.setenv(name, "1")
        assert not lock.launching_process(), name
        monkeypatch.setenv(name, "0")


@pytest.mark.slow
def test_a_sigterm_then_two_processes_resuming_the_run_one_runs_the_other_is_refused(tmp_path):
    env = {**os.environ, "WANDB_MODE": "offline"}
    env.pop("HYDRA_FULL_ERROR", None)
    args = [
        sys.executable,
        "train.py",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.data_dir={tmp_path / 'data'}",
        "data=digits",
        "logger=none",
        "trainer=cpu",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=20",
        "trainer.limit_val_batches=2",
        "trainer.limit_test_batches=2",
        "trainer.enable_model_summary=false",
        "eval.num_samples=2",
        "model.latent_dim=4",
        "callbacks.step_checkpoint.every_n_train_steps=5",
        "++callbacks.rich_progress_bar=null",
    ]
    first = warm.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not list(tmp_path.glob("logs/train/runs/*/checkpoints/last.ckpt")):
        assert first.poll() is None and time.time() < deadline
        time.sleep(0.02)
    # SIGTERM, as `timeout`, `kill` and SLURM's time limit send it: recorded as terminated, the lock
    # released, last.ckpt resumable (a SIGKILL's dead-pid lock is taken over: tested in-process).
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=120) == 130
    (run,) = tmp_path.glob("logs/train/runs/*")
    assert json.loads((run / "status.json").read_text()) == {"state": "terminated", "signal": "SIGTERM"}
    assert not (run / lock.LOCK_FILE).exists() and not (run / "metrics.json").exists()
    assert 0 < torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] < 3 * 20

    resumes = [
        warm.Popen(
            [*args, "ckpt_path=last"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    ended = sorted(((p.wait(timeout=300), p.stderr.read()) for p in resumes), key=lambda e: e[0])
    assert [code for code, _ in ended] == [0, 1], ended[1][1][-2000:]
    last = ended[1][1].strip().splitlines()[-1]
    assert last.startswith(f"error: paths.output_dir={run}: in use by pid ") and "then run the command again" in last
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1, 2]
    assert len(json.loads((run / "provenance.json").read_text())["resumes"]) == 1
    assert json.loads((run / "status.json").read_text()) == {"state": "finished"}
    assert not (run / lock.LOCK_FILE).exists()
