"""Preemption on SLURM: a job that SLURM runs again continues where it stopped.

The SLURM side is simulated: the job's environment variables, the SIGUSR1 that SLURM sends
before a time limit (`sbatch --signal=USR1@...`), and a stand-in `scontrol` on PATH that does
what `scontrol requeue` does to a running job (note the call, SIGTERM the job). Everything
else is real: train.py, Lightning's own SLURM signal handling, W&B (offline).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, compose_config
from tests.helpers import warm
from vaelab.runs.train import train

# The SLURM job as Lightning's SLURMEnvironment.detect() sees one: SLURM_NTASKS set, a job name
# other than "bash" or "interactive" (those mean an interactive shell, no requeue).
JOB = {
    "SLURM_JOB_ID": "4242",
    "SLURM_JOB_NAME": "vae-preempt",
    "SLURM_CLUSTER_NAME": "testcluster",
    "SLURM_NTASKS": "1",
    "SLURM_PROCID": "0",
    "SLURM_LOCALID": "0",
    "SLURM_NODEID": "0",
}

# `scontrol requeue <job>` puts a running job back in the queue by ending it (SIGTERM, then SIGKILL).
FAKE_SCONTROL = """#!/bin/sh
echo "$@" >> "$SCONTROL_CALLS"
kill -TERM $PPID
"""

ARGS = [
    "data=digits",
    "data.batch_size=32",
    "model.latent_dim=4",
    "model.encoder.hidden=[32]",
    "trainer.max_epochs=2",
    "trainer.enable_model_summary=false",
    "eval.num_samples=4",
    "callbacks.step_checkpoint.every_n_train_steps=5",
    "++callbacks.rich_progress_bar=null",
]
STEPS = 2 * 41  # 2 epochs of ceil(1294 training digits / 32)


@pytest.fixture
def job_env(tmp_path, monkeypatch) -> dict[str, str]:
    """The environment of the SLURM job's process (only the subprocess gets the SLURM variables)."""
    for name in [n for n in os.environ if n.startswith("SLURM_")]:
        monkeypatch.delenv(name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "scontrol").write_text(FAKE_SCONTROL)
    (bin_dir / "scontrol").chmod(0o755)
    env = {**os.environ, **JOB, "WANDB_MODE": "offline", "SCONTROL_CALLS": str(tmp_path / "scontrol_calls")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    # One thread per process: the machine's cores are shared, and the uninterrupted run that the
    # result is compared with runs in this process with one thread too (equal sums, equal order).
    env["OMP_NUM_THREADS"] = "1"
    env.pop("HYDRA_FULL_ERROR", None)
    return env


def train_py(tmp_path: Path) -> list[str]:
    return [
        sys.executable,
        "train.py",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.data_dir={tmp_path / 'data'}",
        "logger=wandb",
        *ARGS,
    ]


@pytest.mark.slow
def test_sigusr1_requeue_resumes_in_the_same_directory_and_w_and_b_run(tmp_path, job_env):
    log = tmp_path / "first_attempt.err"  # a file, not a pipe: the progress bar must never block on it
    with log.open("w") as stderr:
        first = warm.Popen(train_py(tmp_path), cwd=ROOT, env=job_env, stdout=stderr, stderr=stderr)
        deadline = time.time() + 120
        while not list(tmp_path.glob("logs/train/runs/*/checkpoints/last.ckpt")):
            assert first.poll() is None and time.time() < deadline, log.read_text()[-2000:]
            time.sleep(0.01)
        first.send_signal(signal.SIGUSR1)  # what SLURM sends signal_delay_s before the time limit
        first.wait(timeout=120)
    err = log.read_text()
    (run,) = tmp_path.glob("logs/train/runs/*")

    # Lightning's handler saved its hpc checkpoint in the run directory and asked SLURM to requeue
    # the job; the SIGTERM that the requeue sends stopped training at the next batch boundary.
    assert (tmp_path / "scontrol_calls").read_text() == "requeue 4242\n"
    assert (run / "hpc_ckpt_1.ckpt").is_file()
    assert first.returncode == 130 and "Traceback" not in err, err[-2000:]
    assert json.loads((run / "status.json").read_text()) == {"state": "terminated", "signal": "SIGTERM"}
    last = run / "checkpoints" / "last.ckpt"
    stopped_at = torch.load(last, weights_only=True)["global_step"]
    assert 0 < stopped_at < STEPS and not (run / "metrics.json").exists()

    # SLURM starts the same command again: the same job id, SLURM_RESTART_COUNT=1.
    again = warm.run(
        train_py(tmp_path),
        cwd=ROOT,
        env={**job_env, "SLURM_RESTART_COUNT": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    assert list(tmp_path.glob("logs/train/runs/*")) == [run]
    assert json.loads((run / "status.json").read_text()) == {"state": "finished"}
    (resume,) = json.loads((run / "provenance.json").read_text())["resumes"]
    assert resume["resumed_from"] == str(last) and resume["slurm_job"] == "cluster=testcluster job=4242"
    run_id = (run / "wandb_run_id.txt").read_text().strip()
    attempts = sorted(p.name for p in (run / "wandb").glob("offline-run-*"))
    assert len(attempts) == 2 and all(name.endswith(f"-{run_id}") for name in attempts)
    rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [0, 1]

    # ... and ends as the same command never interrupted, here in-process with one thread too.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected = train(compose_config(tmp_path / "straight", *ARGS, "logger=none"))
    finally:
        torch.set_num_threads(threads)
    got = json.loads((run / "metrics.json").read_text())
    for key, value in expected.items():
        if key != "best_checkpoint":
            assert got[key] == pytest.approx(value, rel=1e-6), key


def test_a_requeued_job_resumes_its_own_checkpoint_through_the_resume_checks(cfg_factory, monkeypatch):
    # The first attempt: one epoch (cfg_factory: tiny, 3 batches), in the run directory `run`.
    cfg = cfg_factory("callbacks.step_checkpoint.every_n_train_steps=2")
    train(cfg)
    run = Path(cfg.paths.output_dir)
    for name in [n for n in os.environ if n.startswith("SLURM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    # Run again in that directory, without ckpt_path: its last.ckpt is checked as ckpt_path=last
    # would be, so a changed setting is refused before anything runs ...
    with pytest.raises(ValueError, match=r"last.ckpt: optimizer.lr=0.1 differs from the checkpoint's run"):
        train(cfg_factory("callbacks.step_checkpoint.every_n_train_steps=2", "optimizer.lr=0.1"))
    # ... and the same settings (a longer run may be asked for) continue it.
    train(cfg_factory("callbacks.step_checkpoint.every_n_train_steps=2", "trainer.max_epochs=2"))
    provenance = json.loads((run / "provenance.json").read_text())
    (resume,) = provenance["resumes"]
    assert resume["resumed_from"] == str(run / "checkpoints" / "last.ckpt")
    assert resume["slurm_job"] == "cluster=- job=77"
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 1
