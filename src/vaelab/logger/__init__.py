"""Logger factories for `conf/logger/*.yaml` (CSV uses Lightning's class directly; TensorBoard, tensorboard.py):
W&B (wandb), MLflow (mlflow, and mlflow_sweep for a multirun's parent run); sweep: what a run
knows of its Hydra sweep (group, tags, name)."""

from vaelab.logger.mlflow import mlflow_logger
from vaelab.logger.wandb import wandb_logger

__all__ = ["mlflow_logger", "wandb_logger"]
