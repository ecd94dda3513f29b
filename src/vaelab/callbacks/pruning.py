"""Pruning of Optuna trials: after each validation, report the optimised metric to the trial's
study and stop the run when the study's pruner says so (Optuna's median rule, Hyperband, ...).

`OptunaPruning(monitor)` is added by conf/hparams_search/optuna.yaml with monitor =
`optimized_metric`. After the k-th validation (k = epochs trained, with one validation an
epoch) it calls trial.report(value, step=k) and, if trial.should_prune(), raises
optuna.TrialPruned: the run's status.json then says "pruned" (vaelab.runs.train), and the sweeper tells
the study the trial was pruned. The median pruner (Optuna's MedianPruner) stops a trial at step
k when its best value over steps 1..k is worse than the median of the completed trials' values at
step k (the median stopping rule of Golovin et al., 2017, "Google Vizier", Sec. 3.2.2; only after
n_startup_trials completed trials and from step n_warmup_steps on); Hyperband (Li et al., 2018,
"Hyperband: A Novel Bandit-Based Approach to Hyperparameter Optimization", Alg. 1) runs
successive halving (keep the best 1/eta at each rung of steps) over several brackets.

Outside a trial of vaelab's sweeper (a plain run with the same config) it does nothing. Under DDP
rank zero reports and decides, and every rank stops together.
"""

from __future__ import annotations

import logging

import lightning as L

from vaelab.errors import ConfigError

log = logging.getLogger(__name__)


class OptunaPruning(L.Callback):
    def __init__(self, monitor: str) -> None:
        self.monitor = monitor
        self.trial = None
        self.validations = 0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit" or not trainer.is_global_zero:
            return
        from vaelab.hparams_search.trial import current_trial

        self.trial = current_trial()
        if self.trial is None:
            log.info("Not a trial of vaelab's Optuna sweeper: nothing is reported or pruned")

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self.validations += 1
        verdict = self.judge(trainer) if self.trial is not None else None
        if trainer.world_size > 1:
            verdict = trainer.strategy.broadcast(verdict, src=0)
        if verdict is None:
            return
        kind, message = verdict
        if kind == "error":
            raise ConfigError(message)
        import optuna

        raise optuna.TrialPruned(message)

    def judge(self, trainer: L.Trainer) -> tuple[str, str] | None:
        """On rank zero: report this validation's value; ("prune", why), ("error", why) or None."""
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            found = sorted(k for k in trainer.callback_metrics if k.startswith("val/"))
            return "error", f"optimized_metric={self.monitor}: not a validation metric; they are {', '.join(found)}"
        value = float(value)
        self.trial.report(value, step=self.validations)
        if not self.trial.should_prune():
            return None
        pruner = type(self.trial.study.pruner).__name__
        return "prune", (
            f"trial {self.trial.number} pruned by {pruner} at validation {self.validations} "
            f"(epoch {trainer.current_epoch}): {self.monitor}={value:.6g}"
        )
