"""colour_objects: each factor changes what it should, in colours computed independently (colorsys)."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest
import torch

from tests.helpers.factor_images import moments
from vaelab.data import ColourObjects
from vaelab.data import colour_objects as C
from vaelab.data.colour_objects import ColourObjectsSource
from vaelab.data.shapes2d import MARGIN, Shapes2DSource


def test_factors_colours_and_positions():
    src = ColourObjectsSource(32)
    assert src.factor_names == ("shape", "scale", "posX", "posY", "hue", "background")
    assert src.factor_sizes == (3, 4, 10, 10, 8, 4) and src.num_combinations == 38_400
    f = src.sample_factors(300, np.random.default_rng(0))
    x = src.render(f)
    assert x.shape == (300, 3, 32, 32) and x.dtype == torch.float32
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0  # the declared value_range, both ends reached
    for i in range(0, 300, 7):
        grey = C.BACKGROUNDS[f[i, 5]]
        rgb = np.array(colorsys.hsv_to_rgb(C.HUES[f[i, 4]], 1.0, 1.0), dtype=np.float32)
        pixels = x[i].reshape(3, -1).T.numpy()  # (R * R, 3)
        obj = np.abs(pixels - rgb).max(1) < 1e-6
        bg = np.abs(pixels - np.float32(grey)).max(1) < 1e-6
        assert (obj | bg).all() and obj.any() and bg.any()  # every pixel is the object's colour or the background
        # The object's mask is shapes2d's shape at orientation 0, its centre of mass at its position.
        mo = moments(torch.from_numpy(obj.reshape(1, 32, 32)))
        centre = MARGIN + C.POSITIONS[f[i, 2:4]] * (1 - 2 * MARGIN)
        assert mo["col"][0] == pytest.approx(centre[0] * 32 - 0.5, abs=0.6)
        assert mo["row"][0] == pytest.approx(centre[1] * 32 - 0.5, abs=0.6)


def test_hue_and_background_change_only_their_pixels():
    src = ColourObjectsSource(32)
    base = np.array([[2, 3, 4, 5, 0, 1]])
    hue, bg = base.copy(), base.copy()
    hue[0, 4], bg[0, 5] = 3, 3
    a, b, c = (src.render(f)[0] for f in (base, hue, bg))
    mask = (a != b).any(0)
    assert mask.any() and torch.equal(mask, (a != c).any(0).logical_not())
    assert torch.equal(a, src.render(base)[0])  # deterministic
    assert ColourObjectsSource(16).render(base).shape == (1, 3, 16, 16)


def test_data_module():
    dm = ColourObjects(resolution=16, train_size=500, val_size=0.01, test_size=200, eval_batch_size=100)
    dm.setup()
    assert {s: len(x) for s, (x, _) in dm.splits.items()} == {"test": 200, "val": 384, "train": 500}
    assert dm.shape == (3, 16, 16) and torch.equal(dm.splits["val"][1], dm.factors["val"][:, 0])
    xb, _ = next(iter(dm.loader("val", train=False)))
    assert torch.equal(xb, dm.source.render(dm.factors["val"][:100]))
    assert isinstance(dm.source, ColourObjectsSource) and not isinstance(dm.source, Shapes2DSource)
