"""`data=colour_objects`: an RGB object on a grey background, six ground-truth factors.

A colour counterpart of shapes2d with factors that dSprites lacks (hue, background), in the
spirit of 3D Shapes (Burgess & Kim, 2018) but drawn by the shapes2d rasteriser, so it needs no
download: shape {square, ellipse, heart} (upright), 4 scales (0.6..1), 10 x 10 positions,
8 object hues (HSV (k / 8, 1, 1): full saturation and value) and 4 background grey levels
(0..0.6, so every object stands out). 38,400 combinations; each image is
  x = b + m (c - b)   (3, R, R)
with m the shape's 0/1 mask (shapes2d.shape_masks), c the object's RGB and b the grey level.
"""

from __future__ import annotations

import numpy as np
import torch

from vaelab.config.types import Resolution
from vaelab.data.factors import FactorDataModule, FactorSource
from vaelab.data.shapes2d import SHAPES, centre, shape_masks

SCALES = np.linspace(0.6, 1.0, 4)
POSITIONS = np.linspace(0.0, 1.0, 10)
HUES = np.arange(8) / 8
BACKGROUNDS = np.linspace(0.0, 0.6, 4)


class ColourObjectsSource(FactorSource):
    """shape, scale, posX, posY, hue, background -> RGB images (n, 3, R, R) in [0, 1]."""

    factor_names = ("shape", "scale", "posX", "posY", "hue", "background")
    factor_sizes = (len(SHAPES), len(SCALES), len(POSITIONS), len(POSITIONS), len(HUES), len(BACKGROUNDS))

    def __init__(self, resolution: int = 64):
        from matplotlib.colors import hsv_to_rgb  # here: importing vaelab.data stays light

        self.resolution = int(resolution)
        self.image_shape = (3, self.resolution, self.resolution)
        self.values = [torch.tensor(v, dtype=torch.float32) for v in (SCALES, POSITIONS, POSITIONS)]
        hsv = np.stack([HUES, np.ones_like(HUES), np.ones_like(HUES)], axis=1)
        self.palette = torch.tensor(hsv_to_rgb(hsv), dtype=torch.float32)  # (hues, 3) RGB
        self.greys = torch.tensor(BACKGROUNDS, dtype=torch.float32)

    def render(self, factors: np.ndarray | torch.Tensor) -> torch.Tensor:
        f = self.check_factors(factors)
        device = f.device
        scale, px, py = (v.to(device)[f[:, i + 1]] for i, v in enumerate(self.values))
        zero = torch.zeros(len(f), device=device)
        mask = shape_masks(f[:, 0], centre(px), centre(py), zero, scale, self.resolution).unsqueeze(1)  # (n, 1, R, R)
        colour = self.palette.to(device)[f[:, 4]].view(-1, 3, 1, 1)  # (n, 3, 1, 1)
        grey = self.greys.to(device)[f[:, 5]].view(-1, 1, 1, 1)  # (n, 1, 1, 1)
        return torch.addcmul(grey, mask, colour - grey)  # b + m (c - b): (n, 3, R, R), one allocation


class ColourObjects(FactorDataModule):
    """`data=colour_objects`: ColourObjectsSource at `resolution` (64; 32 for quick CPU runs)."""

    def __init__(self, resolution: Resolution = 64, **kwargs):
        super().__init__(**kwargs)
        self.resolution = int(resolution)

    def make_source(self) -> ColourObjectsSource:
        return ColourObjectsSource(self.resolution)
