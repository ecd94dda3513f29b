"""`data=shapes2d`: vaelab's procedural look-alike of dSprites, drawn by a vectorised rasteriser.

dSprites (Matthey et al., 2017; Higgins et al., 2017) is the 737,280 binary 64x64 images of
every combination of shape {square, ellipse, heart}, 6 scales (0.5..1), 40 orientations and
32 x 32 positions. This source has the same factor grid but draws its own images: the shapes'
sizes and the position range are vaelab's, orientations are 2 pi k / 40 (dSprites' 40 angles
span [0, 2 pi] inclusive, so its first and last are the same: google-deepmind/dsprites-dataset
issue 7), so scores on it are not dSprites' scores.

The rasteriser tests each pixel centre p (in image widths; x right, y down) against an implicit
shape in the shape's own frame: (u, v) = R(-theta) (p_x - c_x, c_y - p_y) / s, i.e. the shape
is rotated counterclockwise by theta on screen, scaled by s, centred at c (the centroid of
every shape, so the centre of mass of an image is its position). Inside tests, at scale 1:
  square   max(|u|, |v|) <= a
  ellipse  (u / a)^2 + (v / b)^2 <= 1
  heart    (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0  with  (x, y) = (u / k, v / k + y0)
(a classic implicit heart curve, shifted by its centroid y0 and scaled by k). Every shape fits in a
circle of radius 0.18 at scale 1, so with centres in [MARGIN, 1 - MARGIN] none is clipped.
Rendering is deterministic from the factors on a given device (float32 arithmetic).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from vaelab.config.types import Resolution
from vaelab.data.factors import FactorDataModule, FactorSource

SHAPES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1.0, 6)  # as dSprites
ANGLES = 2 * math.pi * np.arange(40) / 40  # [0, 2 pi), 9 degrees apart
POSITIONS = np.linspace(0.0, 1.0, 32)  # as dSprites; mapped to centres in [MARGIN, 1 - MARGIN]
MARGIN = 0.2

SQUARE_HALF = 0.125  # half the side: 16 px at 64x64, scale 1
ELLIPSE_AXES = (0.17, 0.085)  # semi-axes, 2:1, the long one along u (horizontal at theta = 0)
HEART_UNIT = 0.135  # image widths per unit of the heart curve
# Centroid height of the region (x^2 + y^2 - 1)^3 <= x^2 y^3 (x-centroid 0 by symmetry), from a
# 4000 x 4000 grid over [-1.5, 1.5]^2; tests/data/test_shapes2d.py checks it independently.
HEART_CENTROID_Y = 0.29347

CHUNK = 1024  # images rendered at once: bounds the (chunk, box, box) temporaries to a few MB each
RADIUS = 0.18  # every shape at scale 1 lies within this distance of its centre (image widths)


def _square(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.maximum(u.abs(), v.abs()) <= SQUARE_HALF


def _ellipse(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return (u / ELLIPSE_AXES[0]).square_() + (v / ELLIPSE_AXES[1]).square_() <= 1


def _heart(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    x2 = (u / HEART_UNIT).square_()
    y = v / HEART_UNIT + HEART_CENTROID_Y
    r = x2 + y.square() - 1
    return r * r * r <= x2 * y * y * y  # r.pow(3) is several times slower than two products


INSIDE = (_square, _ellipse, _heart)  # in the order of SHAPES


def box_size(resolution: int) -> int:
    """Side in pixels of a box that holds any shape (diameter 2 RADIUS) wherever its centre falls."""
    return min(resolution, math.ceil(2 * RADIUS * resolution) + 3)


def shape_masks(
    shape: torch.Tensor, x: torch.Tensor, y: torch.Tensor, angle: torch.Tensor, scale: torch.Tensor, resolution: int
) -> torch.Tensor:
    """Masks (n, R, R), float32 0/1, of shapes (n,) long (index into SHAPES) with centres (x, y) (n,)
    in image widths (y down), counterclockwise rotations `angle` (n,) and scales (n,) <= 1, on their device.

    Only a box of box_size(R) pixels around each centre is tested (a seventh of a 64x64 image):
    every pixel outside it is farther than RADIUS from the centre, hence outside the shape."""
    n, device, size = len(x), x.device, box_size(resolution)
    out = torch.zeros(n * resolution * resolution, device=device)
    local = torch.arange(size, device=device)
    # Sorted by shape, each shape's examples are one contiguous slice: no gathers per shape.
    order = torch.argsort(shape, stable=True)
    for start in range(0, n, CHUNK):
        idx = order[start : start + CHUNK]  # (m,) original positions
        cx, cy, a, s = x[idx], y[idx], angle[idx], scale[idx]
        # Box corners (first column, first row), clamped into the image: (m,) long.
        c0 = (cx * resolution - size / 2).round().long().clamp(0, resolution - size)
        r0 = (cy * resolution - size / 2).round().long().clamp(0, resolution - size)
        cols, rows = c0[:, None] + local, r0[:, None] + local  # (m, box) pixel indices
        dx = ((cols + 0.5) / resolution - cx[:, None]).unsqueeze(1)  # (m, 1, box)
        dy = (cy[:, None] - (rows + 0.5) / resolution).unsqueeze(2)  # (m, box, 1): upwards
        cos, sin, inv = a.cos().view(-1, 1, 1), a.sin().view(-1, 1, 1), s.reciprocal().view(-1, 1, 1)
        u, v = (cos * dx + sin * dy) * inv, (cos * dy - sin * dx) * inv  # (m, box, box): the shape's frame
        mask = torch.empty(u.shape, device=device)
        counts = torch.bincount(shape[idx], minlength=len(INSIDE)).tolist()
        first = 0
        for inside, count in zip(INSIDE, counts):
            if count:
                mask[first : first + count] = inside(u[first : first + count], v[first : first + count])
            first += count
        # Flat pixel indices of each box in the output (m, box, box); boxes of different images
        # never share a pixel, and scatter_ is 3x faster than index_put_ here on the CPU.
        flat = (idx * resolution * resolution).view(-1, 1, 1) + rows.unsqueeze(2) * resolution + cols.unsqueeze(1)
        out.scatter_(0, flat.view(-1), mask.view(-1))
    return out.view(n, resolution, resolution)


def centre(position: torch.Tensor) -> torch.Tensor:
    """Position values in [0, 1] -> centres in image widths, in [MARGIN, 1 - MARGIN]."""
    return MARGIN + position * (1 - 2 * MARGIN)


class Shapes2DSource(FactorSource):
    """shape, scale, orientation, posX, posY (dSprites' order) -> binary images (n, 1, R, R)."""

    factor_names = ("shape", "scale", "orientation", "posX", "posY")
    factor_sizes = (len(SHAPES), len(SCALES), len(ANGLES), len(POSITIONS), len(POSITIONS))

    def __init__(self, resolution: int = 64):
        self.resolution = int(resolution)
        self.image_shape = (1, self.resolution, self.resolution)
        self.values = [torch.tensor(v, dtype=torch.float32) for v in (SCALES, ANGLES, POSITIONS, POSITIONS)]

    def render(self, factors: np.ndarray | torch.Tensor) -> torch.Tensor:
        f = self.check_factors(factors)
        scale, angle, px, py = (v.to(f.device)[f[:, i + 1]] for i, v in enumerate(self.values))
        masks = shape_masks(f[:, 0], centre(px), centre(py), angle, scale, self.resolution)
        return masks.unsqueeze(1)


class Shapes2D(FactorDataModule):
    """`data=shapes2d`: Shapes2DSource at `resolution` (64; 32 for quick CPU runs, same factor grid)."""

    def __init__(self, resolution: Resolution = 64, **kwargs):
        super().__init__(**kwargs)
        self.resolution = int(resolution)

    def make_source(self) -> Shapes2DSource:
        return Shapes2DSource(self.resolution)
