"""Callbacks, referenced from `conf/callbacks/*.yaml`."""

from vaelab.callbacks.history import MetricsHistory
from vaelab.callbacks.images import ImageGrids

__all__ = ["ImageGrids", "MetricsHistory"]
