"""Logger factories for `conf/logger/*.yaml` (CSV and TensorBoard use Lightning's classes directly):
W&B (wandb), MLflow (mlflow, and mlflow_sweep for a multirun's parent run); sweep: what a run
knows of its Hydra sweep (group, tags, name)."""

from vaelab.logger.mlflow import mlflow_logger
from vaelab.logger.wandb import wandb_logger

__all__ = ["mlflow_logger", "wandb_logger"]
