"""Run directories: a fresh one for every run, or the earlier one that `ckpt_path=last` resumes.

conf/hydra/default.yaml sets
    hydra.run.dir: ${vaelab.run_dir:<runs folder>,${ckpt_path},${hydra:overrides.task}}
so Hydra itself runs the job in the directory chosen here:
- normally a new `<runs folder>/<date>_<time>`, claimed with an atomic mkdir (a suffix
  _1, _2, ... when two runs start in the same second), so a run never writes into an
  earlier run's directory;
- with ckpt_path=last, the most recent earlier run of the same command (the same
  overrides, ckpt_path aside) that left a checkpoints/last.ckpt: the resumed run continues
  in that directory, with that checkpoint and (see vaelab.logger.wandb) its W&B run;
- in a SLURM job that SLURM runs again (requeued by Lightning's SIGUSR1 handler or by
  submitit, preempted, a node lost: the same job id, SLURM_RESTART_COUNT > 0), the directory
  where that job ran the same command: each run notes its SLURM job in `slurm_job.txt`, and
  vaelab.runs.train resumes from that directory's own checkpoint (`requeue_checkpoint`).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import yaml

from vaelab.errors import MissingFile
from vaelab.runs.io import append_line, make_dir
from vaelab.runs.resume import may_change

# Hydra may resolve hydra.run.dir more than once in a process; the choice must not change.
_chosen: dict[tuple, str] = {}
_chosen_records: dict[str, str] = {}


def _same_command(overrides: list[str]) -> list[str]:
    """The overrides that decide what a run trains: those a resume may change are left out."""
    return sorted(o for o in overrides if not may_change(o.lstrip("+~").split("=", 1)[0]))


def _resumable(runs: Path) -> list[tuple[Path, list[str]]]:
    """(run directory, its recorded overrides) of every run under `runs` with a last.ckpt, newest first."""
    found = []
    for ckpt in sorted(runs.glob("*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime, reverse=True):
        recorded = ckpt.parent.parent / ".hydra" / "overrides.yaml"
        try:
            overrides = yaml.safe_load(recorded.read_text()) or []
        except (OSError, yaml.YAMLError):
            continue
        found.append((ckpt.parent.parent, [str(o) for o in overrides]))
    return found


def find_resumable(runs: Path, overrides: list[str]) -> Path | None:
    """The newest run directory under `runs` made by the same command that has a last.ckpt."""
    wanted = _same_command(overrides)
    return next((run for run, recorded in _resumable(runs) if _same_command(recorded) == wanted), None)


def _no_resumable(runs: Path, overrides: list[str]) -> MissingFile:
    wanted = _same_command(overrides)
    newest = _resumable(runs)[:1]
    differs = ""
    if newest:
        run, recorded = newest[0]
        theirs = _same_command(recorded)
        diff = [o for o in wanted if o not in theirs] + [f"(no {o})" for o in theirs if o not in wanted]
        differs = f" (the newest, {run.name}, differs in {' '.join(diff)}: a resume may not change those)"
    return MissingFile(
        f"ckpt_path=last: no earlier run of this command left a checkpoints/last.ckpt under {runs}{differs}; "
        f"give ckpt_path=PATH/TO/last.ckpt to resume another run"
    )


def new_run_dir(runs: Path) -> Path:
    make_dir(runs, "the runs folder of paths.log_dir")
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    for i in range(1000):
        candidate = runs / (stamp if i == 0 else f"{stamp}_{i}")
        try:
            candidate.mkdir()  # atomic: fails if another run took the name first
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run directory under {runs}")


# ---------------------------------------------------------------------------- SLURM requeue

#: In a run directory: the SLURM jobs that ran there, one a line (a later job may resume the run).
JOB_FILE = "slurm_job.txt"


def slurm_job() -> str | None:
    """This process's SLURM job, "cluster=C job=J step=S": J as `scontrol requeue` names it
    (an array task <array job>_<task>, as Lightning's requeue handler does); the job step
    (each `srun` in a batch script is one, numbered in order, again so after a requeue) when
    set. None outside SLURM."""
    env = os.environ
    if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
        job = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
    else:
        job = env.get("SLURM_JOB_ID")
    if not job:
        return None
    step = env.get("SLURM_STEP_ID")
    return f"cluster={env.get('SLURM_CLUSTER_NAME') or '-'} job={job}" + (f" step={step}" if step else "")


def requeued() -> bool:
    """SLURM runs a requeued or preempted job again under the same job id, with
    SLURM_RESTART_COUNT set to the number of restarts."""
    count = os.environ.get("SLURM_RESTART_COUNT", "")
    return count.isdigit() and int(count) > 0


def find_job_run(runs: Path, job: str, overrides: list[str]) -> Path | None:
    """The run directory under `runs` where SLURM job `job` ran the same command (overrides,
    ckpt_path aside: a sbatch script may run several commands in one job step); the latest
    noted if several."""
    wanted = _same_command(overrides)
    found = []
    for noted in runs.glob(f"*/{JOB_FILE}"):
        try:
            jobs = noted.read_text().splitlines()
            recorded = yaml.safe_load((noted.parent / ".hydra" / "overrides.yaml").read_text()) or []
        except (OSError, yaml.YAMLError):
            continue
        if job in jobs and _same_command([str(o) for o in recorded]) == wanted:
            found.append(noted)
    return max(found, key=lambda p: p.stat().st_mtime).parent if found else None


def note_job(run: Path, job: str) -> None:
    """Note in `run` that SLURM job `job` runs there. Only the job's first task (SLURM_PROCID 0)
    writes: under DDP every task resolves a run directory, and after a requeue all of them must
    find the one whose checkpoints rank zero wrote."""
    if os.environ.get("SLURM_PROCID", "0") != "0":
        return
    path = run / JOB_FILE
    if not path.is_file() or job not in path.read_text().splitlines():
        append_line(path, job)


def requeue_checkpoint(run: Path) -> Path | None:
    """What a requeued job resumes from in its run directory: checkpoints/last.ckpt, else the
    newest of Lightning's hpc_ckpt_<n>.ckpt, else nothing (a fresh start in that directory).

    last.ckpt comes first although an hpc checkpoint is usually newer: ModelCheckpoint writes
    last.ckpt between training steps (every validation and `callbacks.step_checkpoint.
    every_n_train_steps`), so the run continues exactly as one never interrupted; Lightning's
    SIGUSR1 handler saves hpc_ckpt_<n>.ckpt from inside the signal handler, in the middle of a
    step (the batch in flight is counted as fetched but not trained, the random state is
    mid-step), so resuming from it skips that batch and shifts every later random draw."""
    last = run / "checkpoints" / "last.ckpt"
    if last.is_file():
        return last
    hpc = [(int(m[1]), p) for p in run.glob("hpc_ckpt_*.ckpt") if (m := re.fullmatch(r"hpc_ckpt_(\d+)\.ckpt", p.name))]
    return max(hpc)[1] if hpc else None


def run_dir(runs: str, ckpt_path: str | None, overrides) -> str:
    """OmegaConf resolver `vaelab.run_dir`: see the module docstring."""
    overrides = [str(o) for o in (overrides or [])]
    key = (runs, str(ckpt_path), tuple(overrides))
    if key not in _chosen:
        job = slurm_job()
        again = find_job_run(Path(runs), job, overrides) if job and requeued() else None
        if again is not None:
            _chosen[key] = str(again)
        elif ckpt_path == "last":
            found = find_resumable(Path(runs), overrides)
            if found is None:
                raise _no_resumable(Path(runs), overrides)
            _chosen[key] = str(found)
        else:
            _chosen[key] = str(new_run_dir(Path(runs)))
        if job:
            note_job(Path(_chosen[key]), job)
    return _chosen[key]


def record_dir(run_dir: str) -> str:
    """OmegaConf resolver `vaelab.record_dir`: where Hydra writes its record of the command
    (config, overrides) inside the run directory. `.hydra` for a new run; a resumed run keeps
    that original record and gets `.hydra/resumed/<date>_<time>` for its own."""
    if run_dir not in _chosen_records:
        original = Path(run_dir) / ".hydra" / "overrides.yaml"
        _chosen_records[run_dir] = (
            f".hydra/resumed/{time.strftime('%Y-%m-%d_%H-%M-%S')}" if original.is_file() else ".hydra"
        )
    return _chosen_records[run_dir]
