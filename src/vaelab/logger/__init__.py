"""Logger factories for `conf/logger/*.yaml` (CSV and TensorBoard use Lightning's classes directly)."""

from vaelab.logger.wandb import wandb_logger

__all__ = ["wandb_logger"]
