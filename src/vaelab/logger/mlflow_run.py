"""The MLflow run of a vaelab run: Lightning's MLFlowLogger, which knows whether it made its run.

MLflow makes a run at the logger's first use (`experiment`). A vaelab run that fails before that
(a bad batch at the first step, a refused checkpoint) must not leave an empty MLflow run behind
when it ends: vaelab.logger.mlflow.finish reads `run_started`.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import MLFlowLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment


class VaelabMLFlowLogger(MLFlowLogger):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Whether this logger's run was made (by the first use of `experiment`).
        self.run_started = False

    @property
    @rank_zero_experiment
    def experiment(self):
        client = MLFlowLogger.experiment.fget(self)
        self.run_started = True
        return client


def run_started(logger: MLFlowLogger) -> bool:
    """Whether the logger made its run: vaelab's logger knows; Lightning's own is taken as started."""
    return logger.run_started if isinstance(logger, VaelabMLFlowLogger) else True
