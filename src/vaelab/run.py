"""The training run that `train.py` launches: instantiate, fit, test the best checkpoint, record."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

import vaelab
from vaelab.checkpoint import load_weights, read_checkpoint
from vaelab.errors import root_cause

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


def resume_checkpoint(ckpt_path: str | None, output_dir: Path, model) -> str | None:
    """The checkpoint to resume from, checked before any data loads: it must exist, be readable
    and hold weights of this model's shape. "last" is this run directory's last.ckpt (with
    ckpt_path=last Hydra runs in the earlier run's directory: see vaelab.rundir)."""
    if ckpt_path is None:
        return None
    path = output_dir / "checkpoints" / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
    load_weights(model, read_checkpoint(path), path)
    return str(path)


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a dict-of-configs group (callbacks, logger); null entries are off."""
    if not group:
        return []
    return [instantiate(c) for c in group.values() if c is not None and "_target_" in c]


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit, then test the best checkpoint; returns the final metrics (also in metrics.json).

    status.json in the run directory says how the run ended: finished, or failed and why.
    """
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        metrics = _train(cfg, output_dir)
    except BaseException as err:
        state = "interrupted" if isinstance(err, KeyboardInterrupt) else "failed"
        write_rank_zero(output_dir / "status.json", {"state": state, "error": str(root_cause(err))})
        raise
    write_rank_zero(output_dir / "status.json", {"state": "finished"})
    return metrics


def _train(cfg: DictConfig, output_dir: Path) -> dict[str, float]:
    L.seed_everything(cfg.seed, workers=True)
    info = run_info(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    if rank_zero_only.rank == 0:
        (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(resolved))
    provenance = {k: info[k] for k in ("vaelab_version", "git_commit")} | {"argv": sys.argv, "torch": torch.__version__}
    write_rank_zero(output_dir / "provenance.json", provenance)

    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    model.run_info = info
    ckpt_path = resume_checkpoint(cfg.get("ckpt_path"), output_dir, model)
    # Get and load the data now, so that a likelihood that cannot model it fails before training
    # starts. Only the first process downloads; under DDP the others start after it got here.
    if rank_zero_only.rank == 0:
        datamodule.prepare_data()
    datamodule.setup("fit")
    model.likelihood.check_data_range(*datamodule.data_range, where=f"the training data (data={cfg.data._target_})")

    loggers = instantiate_all(cfg.get("logger"))
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=instantiate_all(cfg.get("callbacks")), logger=loggers or False
    )
    # The run config in the dashboard is the resolved Hydra config, plus where the code came from.
    hparams = {**resolved, "vaelab_version": info["vaelab_version"], "git_commit": info["git_commit"]}
    for logger in loggers:
        logger.log_hyperparams(hparams)
    try:
        metrics = fit_and_test(cfg, trainer, model, datamodule, ckpt_path, output_dir)
    except BaseException:
        finish_loggers(loggers, {}, exit_code=1)
        raise
    write_rank_zero(output_dir / "metrics.json", metrics)
    log.info("metrics: %s", json.dumps(metrics, indent=2, sort_keys=True))
    finish_loggers(loggers, metrics, exit_code=0)
    return metrics


def fit_and_test(cfg, trainer: L.Trainer, model, datamodule, ckpt_path: str | None, output_dir: Path) -> dict[str, Any]:
    try:
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except FloatingPointError as err:
        last = output_dir / "checkpoints" / "last.ckpt"
        kept = f"the last good checkpoint is {last}" if last.is_file() else "no checkpoint was saved before"
        raise FloatingPointError(f"{err}; training stopped, {kept}") from err
    metrics: dict[str, Any] = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    if cfg.get("test"):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if not best:
            log.warning("no best checkpoint was saved: testing the weights as they are")
        for results in trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=True):
            metrics.update(results)
        metrics.update({f"test/{k}": v for k, v in model.latent_report.get("test", {}).items()})
        metrics["best_checkpoint"] = best or None
    return metrics


def write_rank_zero(path: Path, content: dict[str, Any]) -> None:
    """Write a JSON file once, from the first process (under DDP every process runs this code)."""
    if rank_zero_only.rank == 0:
        path.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


def finish_loggers(loggers: list[Any], metrics: dict[str, Any], exit_code: int) -> None:
    """Close W&B runs (a sweep's next job must start a new one) with the final metrics in the summary."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger) and logger._experiment is not None:
            logger.experiment.summary.update({k: v for k, v in metrics.items() if isinstance(v, float)})
            logger.experiment.finish(exit_code=exit_code)
