"""Callbacks, referenced from `conf/callbacks/*.yaml`."""

from vaelab.callbacks.images import ImageGrids

__all__ = ["ImageGrids"]
