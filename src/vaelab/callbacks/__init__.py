"""Callbacks, referenced from `conf/callbacks/*.yaml`."""

from vaelab.callbacks.disentanglement import Disentanglement
from vaelab.callbacks.history import MetricsHistory
from vaelab.callbacks.images import ImageGrids
from vaelab.callbacks.progress import ProgressBar
from vaelab.callbacks.pruning import OptunaPruning
from vaelab.callbacks.throughput import Throughput

__all__ = ["ImageGrids", "MetricsHistory", "OptunaPruning", "ProgressBar", "Throughput"]
__all__ += ["Disentanglement"]  # scores on data with ground-truth factors
