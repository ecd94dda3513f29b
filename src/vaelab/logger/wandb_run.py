"""The W&B run of a vaelab run, as its users expect to find it: Lightning's WandbLogger, whose run,
once made, gets vaelab's metric definitions, and which at the end logs the final numbers and,
with log_model, the checkpoints (vaelab.logger.wandb_checkpoints).

Metric definitions (wandb's define_metric): `val/*` are drawn against `epoch` (Lightning logs it
with them); the summary of `val/loss` and `val/nll` is their best (lowest) value, that of every
other `val/*` the last; `test/*` hold the final test numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment

# The summary of these holds their minimum over the epochs.
BEST_IS_MIN = ("val/loss", "val/nll")


def define_metrics(run) -> None:
    run.define_metric("epoch")
    run.define_metric("val/*", step_metric="epoch")
    for key in BEST_IS_MIN:
        run.define_metric(key, step_metric="epoch", summary="min")
    run.define_metric("test/*", summary="last")


class VaelabWandbLogger(WandbLogger):
    """WandbLogger with vaelab's metric definitions; `log_model` is vaelab's (best and last
    checkpoint as one model artifact, at the end), not Lightning's."""

    def __init__(self, *args: Any, log_model: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, log_model=False, **kwargs)
        self.log_checkpoints = bool(log_model)
        #: Whether this logger's run was made (by the first use of `experiment`).
        self.run_started = False

    @property
    @rank_zero_experiment
    def experiment(self):
        run = WandbLogger.experiment.fget(self)
        if not self.run_started:
            self.run_started = True
            if getattr(run, "define_metric", None) is not None:  # not Lightning's dummy on other ranks
                define_metrics(run)
        return run


def run_started(logger: WandbLogger) -> bool:
    """Whether the logger made its run: vaelab's logger knows; for Lightning's own, W&B's current run."""
    if isinstance(logger, VaelabWandbLogger):
        return logger.run_started
    import wandb

    return wandb.run is not None


def finish(
    logger: WandbLogger, metrics: dict[str, Any], exit_code: int, state: str | None, output_dir: Path | None
) -> None:
    """The end of a WandbLogger's run: the final numbers into the summary (not over the best of
    BEST_IS_MIN), the checkpoints if vaelab's log_model is on, then the run's end."""
    if not run_started(logger):  # the run failed before its logger started: nothing to end
        return
    run = logger.experiment
    run.summary.update({k: v for k, v in metrics.items() if isinstance(v, float) and k not in BEST_IS_MIN})
    if state is not None:
        run.summary["state"] = state
    if getattr(logger, "log_checkpoints", False) and exit_code == 0 and output_dir is not None:
        from vaelab.logger.wandb_checkpoints import log_checkpoints

        log_checkpoints(run, output_dir, metrics)
    run.finish(exit_code=exit_code)
