"""Helpers for the tests of data with ground-truth factors: image moments in float64, a pickle trap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


class Trap:
    """Unpickling this creates a file: proof that a pickle was (or was not) run."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def moments(masks: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
    """Area, centre of mass (column, row, in pixels) and central moments of 0/1 masks (n, H, W),
    in float64, with dx to the right and dy upwards (so angles are counterclockwise on screen)."""
    m = np.asarray(masks, dtype=np.float64)
    rows, cols = np.indices(m.shape[1:], dtype=np.float64)
    area = m.sum((1, 2))
    col = (m * cols).sum((1, 2)) / area
    row = (m * rows).sum((1, 2)) / area
    dx = cols[None] - col[:, None, None]
    dy = row[:, None, None] - rows[None]

    def mean(f):
        return (m * f).sum((1, 2)) / area

    return {
        "area": area,
        "col": col,
        "row": row,
        "xx": mean(dx * dx),
        "yy": mean(dy * dy),
        "xy": mean(dx * dy),
        "dx": dx,
        "dy": dy,
        "m": m,
    }


def axis_angle(mo: dict[str, np.ndarray]) -> np.ndarray:
    """Angle of the principal (largest-variance) axis, modulo pi, from the second moments."""
    return 0.5 * np.arctan2(2 * mo["xy"], mo["xx"] - mo["yy"])


def angle_error(estimate: np.ndarray, truth: np.ndarray, period: float) -> np.ndarray:
    """|estimate - truth| modulo `period`, in (-period / 2, period / 2], absolute."""
    return np.abs((estimate - truth + period / 2) % period - period / 2)
