"""vaelab.runs.rundir under SLURM: a job that SLURM runs again finds the run directory it ran in.

In-process: the resolver is called as Hydra calls it, with the SLURM variables a job sees
(SLURM_JOB_ID, SLURM_ARRAY_*, SLURM_PROCID, SLURM_RESTART_COUNT) set per "process".
tests/test_preemption.py runs the whole requeue through train.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from vaelab.runs import rundir


@pytest.fixture
def slurm(monkeypatch):
    """slurm(**variables): this process is in a SLURM job with exactly these SLURM_* variables;
    Hydra's per-process memory of the chosen directory is forgotten, as in a new process."""

    def enter(**variables: str) -> None:
        for name in [n for n in os.environ if n.startswith("SLURM_")]:
            monkeypatch.delenv(name)
        for name, value in variables.items():
            monkeypatch.setenv(f"SLURM_{name}", value)
        rundir._chosen.clear()
        rundir._chosen_records.clear()

    enter()
    yield enter
    rundir._chosen.clear()
    rundir._chosen_records.clear()


def resolve(runs: Path, overrides: list[str], ckpt_path: str | None = None) -> Path:
    """What Hydra does at the start of `python train.py <overrides>`: resolve the run directory
    and write its record of the command there."""
    run = Path(rundir.run_dir(str(runs), ckpt_path, overrides))
    record = run / rundir.record_dir(str(run))
    record.mkdir(parents=True, exist_ok=True)
    if not (record / "overrides.yaml").exists():
        (record / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    return run


def test_the_slurm_job_is_named_as_scontrol_requeue_names_it(slurm):
    assert rundir.slurm_job() is None and not rundir.requeued()
    slurm(JOB_ID="4242")
    assert rundir.slurm_job() == "cluster=- job=4242"
    # An array task is <array job>_<task> (its own SLURM_JOB_ID is another number).
    slurm(JOB_ID="5000", ARRAY_JOB_ID="4999", ARRAY_TASK_ID="3", CLUSTER_NAME="alps", STEP_ID="0")
    assert rundir.slurm_job() == "cluster=alps job=4999_3 step=0"
    for count, again in (("0", False), ("2", True), ("", False), ("x", False)):
        slurm(JOB_ID="4242", RESTART_COUNT=count)
        assert rundir.requeued() is again, count


def test_a_requeued_job_runs_where_it_ran_and_nowhere_else(slurm, tmp_path):
    runs, command = tmp_path / "runs", ["objective.beta=2"]
    outside = resolve(runs, command)
    slurm()
    assert resolve(runs, command) != outside  # outside SLURM: a new directory each time

    slurm(JOB_ID="4242", PROCID="0")
    first = resolve(runs, command)
    assert (first / rundir.JOB_FILE).read_text() == "cluster=- job=4242\n"
    slurm(JOB_ID="4242", PROCID="0", RESTART_COUNT="1")
    assert resolve(runs, command) == first
    # Its record of the command stays; the requeued attempt's own goes beside it.
    assert (first / ".hydra" / "resumed").is_dir()
    slurm(JOB_ID="4242", PROCID="0", RESTART_COUNT="2")
    assert resolve(runs, [*command, "trainer.max_epochs=9"]) == first  # a setting a resume may change
    assert (first / rundir.JOB_FILE).read_text() == "cluster=- job=4242\n"

    # Not the same job, not the same command, or not run again: a directory of its own.
    for variables, overrides in (
        ({"JOB_ID": "4243", "RESTART_COUNT": "1"}, command),
        ({"JOB_ID": "4242", "RESTART_COUNT": "1", "CLUSTER_NAME": "other"}, command),
        ({"JOB_ID": "4242", "RESTART_COUNT": "1"}, ["objective.beta=4"]),
        ({"JOB_ID": "4242"}, command),
    ):
        slurm(**variables)
        assert resolve(runs, overrides) != first, (variables, overrides)


def test_a_job_that_ran_the_command_twice_resumes_the_latest(slurm, tmp_path):
    runs, command = tmp_path / "runs", ["seed=1"]
    slurm(JOB_ID="7")
    resolve(runs, command)
    slurm(JOB_ID="7")  # the batch script's second run of the same command
    later = resolve(runs, command)
    os.utime(later / rundir.JOB_FILE, (2e9, 2e9))  # noted last, whatever the clock's resolution
    slurm(JOB_ID="7", RESTART_COUNT="1")
    assert resolve(runs, command) == later


def test_every_task_of_a_requeued_ddp_job_finds_rank_zeros_directory(slurm, tmp_path):
    runs, command = tmp_path / "runs", ["trainer=ddp"]
    made = {}
    for rank in ("1", "0", "2"):  # each task resolves its own directory on the first attempt
        slurm(JOB_ID="88", STEP_ID="0", PROCID=rank)
        made[rank] = resolve(runs, command)
    assert len(set(made.values())) == 3
    assert [p.parent.name for p in runs.glob(f"*/{rundir.JOB_FILE}")] == [made["0"].name]
    for rank in ("2", "0", "1"):
        slurm(JOB_ID="88", STEP_ID="0", PROCID=rank, RESTART_COUNT="1")
        assert resolve(runs, command) == made["0"], rank


def test_a_requeued_ckpt_path_last_run_returns_to_the_run_it_resumed(slurm, tmp_path):
    runs, command = tmp_path / "runs", ["objective.beta=2"]
    old = resolve(runs, command)  # an earlier run, outside SLURM, that left a last.ckpt
    (old / "checkpoints").mkdir()
    (old / "checkpoints" / "last.ckpt").write_bytes(b"")
    resolve(runs, command)  # a newer one of another attempt, without a checkpoint
    slurm(JOB_ID="31")
    assert resolve(runs, [*command, "ckpt_path=last"], ckpt_path="last") == old
    assert (old / rundir.JOB_FILE).read_text() == "cluster=- job=31\n"
    slurm(JOB_ID="31", RESTART_COUNT="1")
    assert resolve(runs, [*command, "ckpt_path=last"], ckpt_path="last") == old


def test_the_requeue_checkpoint_is_last_ckpt_else_lightnings_newest_hpc_checkpoint(tmp_path):
    assert rundir.requeue_checkpoint(tmp_path) is None
    for n in (2, 10, 9):  # Lightning numbers them 1, 2, ...: the highest is the newest
        (tmp_path / f"hpc_ckpt_{n}.ckpt").write_bytes(b"")
    (tmp_path / "hpc_ckpt_x.ckpt").write_bytes(b"")
    assert rundir.requeue_checkpoint(tmp_path) == tmp_path / "hpc_ckpt_10.ckpt"
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert rundir.requeue_checkpoint(tmp_path) == tmp_path / "checkpoints" / "last.ckpt"
