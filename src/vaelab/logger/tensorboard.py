"""TensorBoard's HParams view of vaelab's runs: at a run's end, the hyperparameters together with
its final metrics, through Lightning's TensorBoardLogger.log_hyperparams(params, metrics).

With `default_hp_metric: false` (conf/logger/tensorboard.yaml) the start of the run writes no
hparams summary, so the one written here declares the columns: every final `val/*` and `test/*`
number. With `default_hp_metric: true` Lightning writes its summary with `hp_metric = -1` at the
start, and TensorBoard keeps a run's first: the one column is hp_metric, which the end sets to
the run's optimized_metric. `tensorboard --logdir <sweep dir>` then compares the sweep's runs.
"""

from __future__ import annotations

import math
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger


class VaelabTensorBoardLogger(TensorBoardLogger):
    """Lightning's TensorBoardLogger, whose `default_hp_metric` setting can be read back."""

    def __init__(self, *args: Any, default_hp_metric: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, default_hp_metric=default_hp_metric, **kwargs)
        self.default_hp_metric = bool(default_hp_metric)


def finish(logger, metrics: dict[str, Any], step: int, optimized_metric: str | None = None) -> None:
    """Log the hyperparameters recorded at the start (logger.hparams) with the final numbers."""
    final = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    if not final:  # a failed run: nothing to compare it by
        return
    # Lightning's own logger does not say: its default (true) is assumed, and its hp_metric set.
    if getattr(logger, "default_hp_metric", True) and optimized_metric in final:
        final["hp_metric"] = final[optimized_metric]
    logger.log_hyperparams(logger.hparams, final, step=step)
    logger.experiment.flush()
