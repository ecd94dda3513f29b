"""Callbacks, referenced from `conf/callbacks/*.yaml`."""

from vaelab.callbacks.history import MetricsHistory
from vaelab.callbacks.images import ImageGrids
from vaelab.callbacks.pruning import OptunaPruning
from vaelab.callbacks.throughput import Throughput

__all__ = ["ImageGrids", "MetricsHistory", "OptunaPruning", "Throughput"]
