"""The training run that `train.py` launches: instantiate, fit, test the best checkpoint, record."""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

import vaelab
from vaelab.config import schema, targets
from vaelab.errors import ConfigError, NotFinite, root_cause
from vaelab.runs import collector, executions, lock, nvml, rundir, signals
from vaelab.runs.checkpoint import load_weights, read_checkpoint, stored_config
from vaelab.runs.compiled import compile_training
from vaelab.runs.io import make_dir, write_json, write_text
from vaelab.runs.resume import check_resumable
from vaelab.runs.stopping import check_stopping

log = logging.getLogger(__name__)


def git_commit() -> str | None:
    """The commit of the source tree vaelab runs from, if it is a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def portable_config(cfg: DictConfig) -> dict[str, Any]:
    """The config as a checkpoint keeps it: interpolations stay, so that an override when the
    model is loaded again (vaelab-eval ... model.latent_dim=8) flows through as it did in
    training; resolved are only the values that depend on the run's surroundings: `paths`
    (Hydra's run directory) and `data.shape` (which may be read from the data file)."""
    portable = copy.deepcopy(cfg)
    with open_dict(portable):
        portable.paths = OmegaConf.to_container(cfg.paths, resolve=True)
        portable.data.shape = list(cfg.data.shape)
    return OmegaConf.to_container(portable, resolve=False)


def run_info(cfg: DictConfig) -> dict[str, Any]:
    """What a checkpoint and the run directory keep about how the run was made."""
    return {
        "config": portable_config(cfg),
        "vaelab_version": vaelab.__version__,
        "git_commit": git_commit(),
    }


def resume_path(cfg: DictConfig, output_dir: Path) -> Path | None:
    """The checkpoint to resume from: ckpt_path, where "last" is this run directory's last.ckpt
    (with ckpt_path=last Hydra runs in the earlier run's directory: see vaelab.runs.rundir). A job that
    SLURM runs again runs in the directory it ran in before and continues from that directory's
    own checkpoint, whatever ckpt_path says (rundir.requeue_checkpoint)."""
    if rundir.requeued() and (own := rundir.requeue_checkpoint(output_dir)) is not None:
        log.info("SLURM job %s, run again: resuming from %s", rundir.slurm_job(), own)
        if own.name.startswith("hpc_ckpt_"):
            log.warning(
                "%s was saved by Lightning in the middle of a training step: the run continues from it, "
                "but not exactly as a run never interrupted would (no last.ckpt was written before)",
                own,
            )
        return own
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path is None:
        return None
    return output_dir / "checkpoints" / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)


def check_resume(cfg: DictConfig, path: Path, model) -> None:
    """Before any data loads: the checkpoint is readable, trustworthy, was made by the same
    settings (bar those a resume may change) and holds weights of this model's shape."""
    checkpoint = read_checkpoint(path)
    if "migrated_from" in checkpoint["vaelab"]:
        raise ConfigError(
            f"ckpt_path={path}: made by {checkpoint['vaelab']['migrated_from']}: it can be evaluated and sampled "
            f"(vaelab-eval, vaelab-sample), not resumed; start a new run without ckpt_path"
        )
    # Only this command's trust=[...] counts: a checkpoint's own stored `trust` is data like the rest.
    trust = targets.Trust.of(cfg.get("trust"))
    check_resumable(stored_config(checkpoint, path, trust=trust), cfg, path)
    load_weights(model, checkpoint, path)


@contextlib.contextmanager
def loggers_starting(loggers: list[Any]):
    """Start the loggers' runs in a thread while the block runs (the data loads): W&B's start
    takes seconds, mostly importing and setting up its own modules. The block's end waits for
    it; an error in either ends the loggers' runs as failed and is raised."""
    errors: list[BaseException] = []

    def start() -> None:
        try:
            for logger in loggers:
                start_run(logger)
        except BaseException as err:
            errors.append(err)

    thread = threading.Thread(target=start, name="vaelab-start-loggers", daemon=True)
    thread.start()
    try:
        yield
    except BaseException:
        thread.join()
        finish_loggers(loggers, {}, exit_code=1)
        raise
    thread.join()
    if errors:
        finish_loggers(loggers, {}, exit_code=1)
        raise errors[0]


def start_run(logger, patience_s: float = 180.0) -> None:
    """Create the logger's run (its `experiment` property does). A run resumed right after its
    process was killed may find W&B's service of the killed process still holding the run id
    ("run ID ... is in use") until it notices the death: wait for it, up to `patience_s` (on a
    loaded machine that took more than a minute)."""
    waited = 0.0
    while True:
        try:
            logger.experiment  # noqa: B018 (the property creates the run)
            return
        except Exception as err:
            if "is in use" not in str(err) or waited >= patience_s:
                raise
        time.sleep(1.0)
        waited += 1.0


def check_data_fits(likelihood, datamodule, split: str, data_cfg: DictConfig) -> None:
    """One line unless `likelihood` can model the split (set up): its range, and every value where
    the likelihood needs it (8-bit levels). Dynamically binarised training data are seen as 0/1,
    not as the grey levels held, so only their range is checked."""
    from vaelab.data.interfaces import ChecksData

    if not isinstance(datamodule, ChecksData):  # a researcher's data module that cannot say: trust it
        return
    where = f"the {split} split (data={data_cfg._target_})"
    likelihood.check_data_range(*datamodule.data_range(split), where=where)
    x = datamodule.splits[split][0]
    if isinstance(x, torch.Tensor) and not (split == "train" and data_cfg.get("binarize") == "dynamic"):
        likelihood.check_data(x, where=where)


def instantiate_all(group: DictConfig | None, name: str) -> list[Any]:
    """Instantiate every entry of a dict-of-configs group (callbacks, logger); null entries are off."""
    if not group:
        return []
    return [targets.instantiate(c, path=f"{name}.{k}") for k, c in group.items() if c is not None and "_target_" in c]


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit, then test the best checkpoint; returns the final metrics (also in metrics.json).

    status.json in the run directory says how the run ended: finished, interrupted, terminated
    (by SIGTERM: vaelab.runs.signals), or failed and why. One process at a time runs in a run
    directory: a second one is refused before it writes anything (vaelab.runs.lock).
    """
    collector.imported()  # torch and Lightning are in: not walked again (vaelab.runs.collector)
    output_dir = make_dir(cfg.paths.output_dir, "paths.output_dir")
    # Under DDP only the launching process holds the lock: the other ranks share its directory.
    held = lock.hold(output_dir) if lock.launching_process() else contextlib.nullcontext()
    with signals.sigterm_terminates(), held:
        return _recorded(cfg, output_dir)


def _recorded(cfg: DictConfig, output_dir: Path) -> dict[str, float]:
    status = output_dir / "status.json"
    try:
        model, ckpt_path = preflight(cfg, output_dir)
    except BaseException as err:
        # A refused resume leaves the record of the run it would have continued as it was.
        if not (cfg.get("ckpt_path") and status.is_file()):
            record_failure(status, err)
        raise
    try:
        metrics = _train(cfg, output_dir, model, ckpt_path)
    except BaseException as err:
        record_failure(status, err)
        raise
    write_rank_zero(status, {"state": "finished"})
    return metrics


def record_failure(status: Path, err: BaseException) -> None:
    if pruned(err):
        write_rank_zero(status, {"state": "pruned", "reason": str(err)})
        return
    if isinstance(err, signals.Terminated):
        write_rank_zero(status, {"state": "terminated", "signal": err.signal})
        return
    state = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
    write_rank_zero(status, {"state": state, "error": str(root_cause(err))})


def pruned(err: BaseException) -> bool:
    """The run was a trial that its Optuna study's pruner stopped (vaelab.callbacks.pruning). Only
    a run that imported Optuna can have been pruned: others need not import it to know."""
    optuna = sys.modules.get("optuna")
    return optuna is not None and isinstance(err, optuna.TrialPruned)


def preflight(cfg: DictConfig, output_dir: Path) -> tuple[Any, Path | None]:
    """Every check that needs no data, before anything is written: each _target_ on vaelab's
    list, each value in its range, and the checkpoint to resume from (readable, trustworthy,
    made by the same settings, weights of this model's shape). Returns (model, resume path)."""
    tree = schema.validate(cfg)
    check_stopping(tree)
    targets.check(tree)
    L.seed_everything(cfg.seed, workers=True)  # before the model's weights are drawn
    model = targets.instantiate(cfg.model, path="model")
    ckpt_path = resume_path(cfg, output_dir)
    if ckpt_path is not None:
        check_resume(cfg, ckpt_path, model)
    return model, ckpt_path


def _train(cfg: DictConfig, output_dir: Path, model, ckpt_path: Path | None) -> dict[str, float]:
    info = run_info(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    if rank_zero_only.rank == 0:
        write_text(output_dir / "config.yaml", OmegaConf.to_yaml(resolved))
    write_rank_zero(output_dir / "provenance.json", provenance(info, output_dir, ckpt_path))

    loggers = instantiate_all(cfg.get("logger"), "logger")
    with loggers_starting(loggers):
        datamodule = targets.instantiate(cfg.data, path="data")
        executions.configure(model, datamodule, int(cfg.trainer.get("steps_per_execution", 1)))
        model.run_info = info
        # Get and load the data now, so that a likelihood that cannot model it fails before training
        # starts. Only the first process downloads; under DDP the others start after it got here.
        if rank_zero_only.rank == 0:
            datamodule.prepare_data()
        datamodule.setup("fit")
        for split in ("train", "val", "test") if cfg.get("test") else ("train", "val"):
            check_data_fits(model.vae.likelihood, datamodule, split, cfg.data)

    trainer: L.Trainer = targets.instantiate(
        cfg.trainer,
        path="trainer",
        callbacks=instantiate_all(cfg.get("callbacks"), "callbacks"),
        logger=loggers or False,
    )
    compile_training(model, cfg.trainer.get("compile", False))
    # The run config in the dashboard is the resolved Hydra config, plus where the code came from.
    hparams = {**resolved, "vaelab_version": info["vaelab_version"], "git_commit": info["git_commit"]}
    for logger in loggers:
        logger.log_hyperparams(hparams)
    nvml.skip_absent_nvml()  # Lightning's import asked for an NVML probe in every optimiser step
    collector.started()  # an entry point paused the collector for the start (vaelab.runs.collector)
    try:
        metrics = fit_and_test(cfg, trainer, model, datamodule, ckpt_path and str(ckpt_path), output_dir)
    except BaseException as err:
        # A pruned trial's W&B run ends as finished, its summary's state saying "pruned".
        stopped = pruned(err)
        state = "pruned" if stopped else None
        finish_loggers(loggers, {}, exit_code=0 if stopped else 1, state=state, output_dir=output_dir)
        raise
    write_rank_zero(output_dir / "metrics.json", metrics)
    log.info("metrics: %s", json.dumps(metrics, indent=2, sort_keys=True))
    end = {"output_dir": output_dir, "step": trainer.global_step, "optimized_metric": cfg.get("optimized_metric")}
    finish_loggers(loggers, metrics, exit_code=0, **end)
    return metrics


def fit_and_test(cfg, trainer: L.Trainer, model, datamodule, ckpt_path: str | None, output_dir: Path) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():
            # Lightning warns at each step checkpoint of a manually optimised system (FactorVAE)
            # that it holds the weights after the step's update: so does every checkpoint here,
            # with the optimiser's state after the same update, which is what an exact resume needs.
            warnings.filterwarnings("ignore", message="Using ModelCheckpoint with manual optimization")
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SystemExit as err:
        # Lightning stops at the end of a batch on SIGTERM (SIGTERMException, a SystemExit) ...
        signals.raise_if_received()
        # ... and turns Ctrl-C into a graceful shutdown that ends in sys.exit(1): say what it was.
        if trainer.interrupted:
            raise KeyboardInterrupt from err
        raise
    except FloatingPointError as err:
        last = output_dir / "checkpoints" / "last.ckpt"
        kept = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint was saved before"
        raise NotFinite(f"{err}; training stopped, {kept}") from err
    # A SIGTERM in the last batch lets fitting end; Lightning forgets it when testing starts.
    signals.raise_if_received()
    metrics: dict[str, Any] = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    if cfg.get("test"):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if not best:
            log.warning("no best checkpoint was saved: testing the weights as they are")
        for results in trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=True):
            # "step": the loggers' x value with several steps per Lightning step (VAESystem._step_axis).
            metrics.update({k: v for k, v in results.items() if k != "step"})
        metrics.update({f"test/{k}": v for k, v in model.latent_report.get("test", {}).items()})
        metrics["best_checkpoint"] = best or None
    if (compiled := getattr(model, "compiled_loss", None)) is not None:
        metrics["train/compile_seconds"] = compiled.compile_seconds
    for callback in trainer.callbacks:  # what produced a callback's numbers (vaelab.callbacks.Disentanglement)
        metrics.update(getattr(callback, "metrics_record", {}))
    return metrics


def provenance(info: dict[str, Any], output_dir: Path, ckpt_path: Path | None) -> dict[str, Any]:
    """What made this run: versions, command line and SLURM job. A run resumed in its own
    directory (ckpt_path=last, a requeued SLURM job) keeps the original record and appends the
    resume, with the checkpoint it resumed from, to `resumes`."""
    now = {k: info[k] for k in ("vaelab_version", "git_commit")} | {"argv": sys.argv, "torch": torch.__version__}
    now["time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if job := rundir.slurm_job():
        now["slurm_job"] = job
    if ckpt_path is not None:
        now["resumed_from"] = str(ckpt_path)
    path = output_dir / "provenance.json"
    if ckpt_path is None or not path.is_file():
        return now
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):  # damaged by the crash that made this resume necessary
        recorded = {"unreadable_record": path.read_bytes()[:2000].decode(errors="replace")}
    return recorded | {"resumes": [*recorded.get("resumes", []), now]}


def write_rank_zero(path: Path, content: dict[str, Any]) -> None:
    """Write a JSON file once, from the first process (under DDP every process runs this code)."""
    if rank_zero_only.rank == 0:
        write_json(path, content)


def finish_loggers(
    loggers: list[Any],
    metrics: dict[str, Any],
    exit_code: int,
    state: str | None = None,
    output_dir: Path | None = None,
    step: int = 0,
    optimized_metric: str | None = None,
) -> None:
    """End the loggers' runs (a sweep's next job must start new ones): W&B's with the final metrics
    in the summary (and the checkpoints, with log_model), MLflow's with metrics.json and config.yaml of `output_dir` as artifacts,
    TensorBoard's with the hyperparameters and the final metrics (its HParams view) at `step`."""
    from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger, WandbLogger

    from vaelab.logger import mlflow, tensorboard, wandb_run

    for logger in loggers:
        if isinstance(logger, WandbLogger):
            wandb_run.finish(logger, metrics, exit_code, state, output_dir)
        elif isinstance(logger, MLFlowLogger) and rank_zero_only.rank == 0:
            mlflow.finish(logger, output_dir, failed=exit_code != 0, state=state)
        elif isinstance(logger, TensorBoardLogger) and rank_zero_only.rank == 0:
            tensorboard.finish(logger, metrics, step, optimized_metric)
