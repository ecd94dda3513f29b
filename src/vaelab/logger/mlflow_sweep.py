"""The MLflow parent run of a multirun: a Hydra callback (conf/logger/mlflow.yaml puts it in
`hydra.callbacks`) that, in the sweeper's process, starts one run named after the sweep before
any job and writes its id to SWEEP_DIR/mlflow_parent_run_id.txt; every job's run is nested under
it (vaelab.logger.mlflow.parent_run_id). The parent ends FINISHED when the multirun ends, FAILED
when a job failed (Hydra then skips on_multirun_end: the end is recorded at exit). A sweep run
again in the same directory (an Optuna study resumed) reuses its parent.
"""

from __future__ import annotations

import atexit
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback

from vaelab.logger.mlflow import PARENT_FILE, SWEEP_TAG, artifact_location, experiment_id, resolve_tracking_uri
from vaelab.logger.sweep import sweep_group

log = logging.getLogger(__name__)


class MLflowSweepRun(Callback):
    """Starts the sweep's parent run at on_multirun_start and ends it with the multirun."""

    def __init__(self) -> None:
        self.client = None
        self.run_id: str | None = None

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        settings = (config.get("logger") or {}).get("mlflow")
        if not settings:  # the logger was swapped out on the command line
            return
        import mlflow

        sweep_dir = Path(str(config.hydra.sweep.dir)).resolve()
        uri = resolve_tracking_uri(settings.get("tracking_uri"), settings.log_dir)
        self.client = mlflow.MlflowClient(uri)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        path = sweep_dir / PARENT_FILE
        if path.is_file():
            self.run_id = path.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
        else:
            group = sweep_group(config.hydra.job.name, sweep_dir)
            where = experiment_id(self.client, settings.experiment_name, artifact_location(uri, settings.log_dir))
            run = self.client.create_run(
                where, run_name=group, tags={SWEEP_TAG: group, "vaelab.sweep_dir": str(sweep_dir)}
            )
            self.run_id = run.info.run_id
            path.write_text(self.run_id + "\n")
        log.info("MLflow: the sweep's parent run is %s (%s)", self.run_id, uri)
        atexit.register(self.end, "FAILED")

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        atexit.unregister(self.end)
        self.end("FINISHED")

    def end(self, status: str) -> None:
        if self.client is not None and self.run_id is not None:
            self.client.set_terminated(self.run_id, status)
            self.run_id = None
