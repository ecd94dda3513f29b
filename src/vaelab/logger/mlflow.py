"""MLflow, self-hosted: Lightning's MLFlowLogger with a tracking store vaelab chooses.

The tracking URI is `tracking_uri`, else MLFLOW_TRACKING_URI, else an SQLite database in the log
directory, `sqlite:///<log_dir>/mlflow.db`, with the artifacts beside it in <log_dir>/mlartifacts
(MLflow's file store, ./mlruns, is deprecated: vaelab refuses it). A tracking server
(`mlflow server`, http://HOST:PORT) keeps the artifacts where it was told to.

A run records the resolved config as params (flattened), the curves per step and per epoch,
the image grids (vaelab.callbacks.pictures), and at its end metrics.json and config.yaml as
artifacts. In a multirun every job is a run nested under the sweep's parent run
(vaelab.logger.mlflow_sweep), tagged with the sweep and named by its swept overrides. A resumed
run (ckpt_path=last) is a new MLflow run.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator

from vaelab.errors import ConfigError
from vaelab.logger.sweep import sweep_context

# Stores that keep runs in a database or behind a server; not `file:` (deprecated) or a bare path.
SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks")
PARENT_FILE = "mlflow_parent_run_id.txt"
SWEEP_TAG = "vaelab.sweep"


def _store(uri: str) -> str:
    """`uri` if it names a store vaelab uses (SCHEMES), else a ValueError saying what is allowed."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0] if ":" in uri else ""
    if scheme not in SCHEMES:
        raise ValueError(
            "must be a database (sqlite:///FILE, postgresql://...) or a tracking server (http://HOST:PORT); "
            "MLflow's file store is deprecated"
        )
    return uri


#: A tracking URI setting: checked with the rest of the config, before any work (vaelab.config.components).
TrackingUri = Annotated[str, AfterValidator(_store)]


def resolve_tracking_uri(uri: str | None, log_dir: str | os.PathLike) -> str:
    """The tracking URI to use (see the module docstring); one line for a store vaelab does not use."""
    setting = "logger.mlflow.tracking_uri" if uri else "MLFLOW_TRACKING_URI"
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(log_dir).resolve()}/mlflow.db"
    try:
        return _store(uri)
    except ValueError as err:
        raise ConfigError(f"{setting}={uri}: {err}") from None


def artifact_location(uri: str, log_dir: str | os.PathLike) -> str | None:
    """Where a new experiment keeps artifacts: beside a local SQLite database; a server decides its own."""
    return str(Path(log_dir).resolve() / "mlartifacts") if uri.startswith("sqlite:") else None


def experiment_id(client, name: str, location: str | None) -> str:
    """The id of the experiment `name`, made if there is none (as MLFlowLogger makes it)."""
    found = client.get_experiment_by_name(name)
    if found is not None and found.lifecycle_stage != "deleted":
        return found.experiment_id
    return client.create_experiment(name=name, artifact_location=location)


def parent_run_id() -> str | None:
    """The sweep's parent run, when this is a job of a multirun that made one (mlflow_sweep)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    # mode is None in a config Hydra composed for a plain compose() call (no run, no multirun).
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    path = Path(HydraConfig.get().sweep.dir) / PARENT_FILE
    return path.read_text().strip() if path.is_file() else None


def mlflow_logger(
    log_dir: str,
    experiment_name: str = "vaelab",
    run_name: str | None = None,
    tracking_uri: TrackingUri | None = None,
    tags=(),
    log_model: bool = False,
):
    """Lightning's MLFlowLogger into `tracking_uri` (default: <log_dir>/mlflow.db); in a multirun,
    nested under the sweep's parent run and named by the job's swept overrides."""
    if importlib.util.find_spec("mlflow") is None:
        raise ConfigError("logger=mlflow: MLflow is not installed; pip install 'vaelab[mlflow]'")
    from vaelab.logger.mlflow_run import VaelabMLFlowLogger

    uri = resolve_tracking_uri(tracking_uri, log_dir)
    group, overrides, name = sweep_context(run_name)
    run_tags: dict[str, Any] = {str(t): "" for t in tags}
    if overrides:
        run_tags["vaelab.overrides"] = " ".join(overrides)
    if group:
        run_tags[SWEEP_TAG] = group
    if parent := parent_run_id():
        run_tags["mlflow.parentRunId"] = parent
    return VaelabMLFlowLogger(
        experiment_name=experiment_name,
        run_name=name,
        tracking_uri=uri,
        tags=run_tags,
        log_model=log_model,
        artifact_location=artifact_location(uri, log_dir),
    )


def log_image(logger, key: str, image, step: int) -> None:
    """An image grid (C, H, W) in [0, 1] into the run's images at `step` (MLflow's image view)."""
    array = image.detach().float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).cpu().numpy()
    logger.experiment.log_image(logger.run_id, array.squeeze(-1) if array.shape[-1] == 1 else array, key=key, step=step)


def finish(logger, output_dir: Path | None, failed: bool, state: str | None = None) -> None:
    """The run's end: metrics.json and config.yaml of `output_dir` as artifacts, `state` as a tag, the status."""
    from vaelab.logger.mlflow_run import run_started

    if not run_started(logger):  # the run failed before its logger started: nothing to end
        return
    for name in ("metrics.json", "config.yaml"):
        if output_dir is not None and (output_dir / name).is_file():
            logger.experiment.log_artifact(logger.run_id, str(output_dir / name))
    if state is not None:
        logger.experiment.set_tag(logger.run_id, "state", state)
    logger.finalize("failed" if failed else "success")
