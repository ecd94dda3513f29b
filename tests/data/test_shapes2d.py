"""shapes2d: the rasteriser puts each shape where its factors say; the data module; a training run."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers.factor_images import angle_error, axis_angle, moments
from vaelab.config.schema import ConfigError, validate
from vaelab.data import Shapes2D
from vaelab.data import shapes2d as S
from vaelab.data.shapes2d import Shapes2DSource
from vaelab.runs.train import train


@functools.cache
def heart_region(n: int = 1000):
    """The heart curve's region on an n x n float64 grid over [-1.5, 1.5]^2: (inside, x, y, cell area)."""
    t = np.linspace(-1.5, 1.5, n)
    x, y = np.meshgrid(t, t)
    return (x**2 + y**2 - 1) ** 3 - x**2 * y**3 <= 0, x, y, (t[1] - t[0]) ** 2


def numpy_render(factors: np.ndarray, resolution: int) -> np.ndarray:
    """The module docstring's maths, in float64 on the whole canvas: an independent rasteriser."""
    f = np.asarray(factors)
    s, a = S.SCALES[f[:, 1]], S.ANGLES[f[:, 2]]
    cx, cy = (S.MARGIN + S.POSITIONS[f[:, k]] * (1 - 2 * S.MARGIN) for k in (3, 4))
    p = (np.arange(resolution) + 0.5) / resolution
    dx = p[None, None, :] - cx[:, None, None]
    dy = cy[:, None, None] - p[None, :, None]
    c, sn, s = np.cos(a)[:, None, None], np.sin(a)[:, None, None], s[:, None, None]
    u, v = (c * dx + sn * dy) / s, (c * dy - sn * dx) / s
    square = np.maximum(abs(u), abs(v)) <= S.SQUARE_HALF
    ellipse = (u / S.ELLIPSE_AXES[0]) ** 2 + (v / S.ELLIPSE_AXES[1]) ** 2 <= 1
    hx, hy = u / S.HEART_UNIT, v / S.HEART_UNIT + S.HEART_CENTROID_Y
    heart = (hx**2 + hy**2 - 1) ** 3 - hx**2 * hy**3 <= 0
    return np.choose(f[:, 0, None, None], [square, ellipse, heart]).astype(np.float32)


def test_factor_grid_sampling_and_indices():
    src = Shapes2DSource()
    assert src.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert src.factor_sizes == (3, 6, 40, 32, 32) and src.num_combinations == 737_280
    assert np.allclose(S.SCALES, [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]) and S.ANGLES.max() < 2 * math.pi
    f = src.sample_factors(5000, np.random.default_rng(3))
    assert f.shape == (5000, 5) and f.dtype == np.int64
    assert (f.min(0) == 0).all() and (f.max(0) == np.array(src.factor_sizes) - 1).all()
    assert np.array_equal(f, src.sample_factors(5000, np.random.default_rng(3)))
    # Combination index <-> factors: numpy's C-order unravel is the independent reference.
    index = torch.randint(0, src.num_combinations, (1000,))
    factors = src.factors_of(index)
    assert np.array_equal(factors.numpy(), np.stack(np.unravel_index(index.numpy(), src.factor_sizes), 1))
    assert torch.equal(src.index_of(factors), index)
    with pytest.raises(ValueError, match=r"out of range.*'scale': 6"):
        src.render(np.array([[0, 6, 0, 0, 0]]))
    with pytest.raises(ValueError, match=r"shape \[2, 4\]; need \(n, 5\)"):
        src.render(np.zeros((2, 4), dtype=np.int64))


def test_heart_centroid_constant():
    inside, x, y, _ = heart_region()
    assert (y * inside).sum() / inside.sum() == pytest.approx(S.HEART_CENTROID_Y, abs=1e-3)
    # Every shape fits in RADIUS at scale 1, so the box test and the margins hold.
    r_heart = np.hypot(x, y - S.HEART_CENTROID_Y)[inside].max() * S.HEART_UNIT
    assert max(S.SQUARE_HALF * math.sqrt(2), S.ELLIPSE_AXES[0], r_heart) < S.RADIUS < S.MARGIN


@pytest.mark.parametrize("resolution", [64, 32, 13])
def test_matches_an_independent_float64_rasteriser(resolution):
    src = Shapes2DSource(resolution)
    f = src.sample_factors(150, np.random.default_rng(resolution))
    f[:40, 3:] = [[0, 0], [31, 31], [0, 31], [31, 0]] * 10  # the corners of the position range
    ours, ref = src.render(f)[:, 0].numpy(), numpy_render(f, resolution)
    assert ours.shape == ref.shape == (150, resolution, resolution) and set(np.unique(ours)) <= {0.0, 1.0}
    # float32 against float64: only pixel centres on a boundary may differ.
    assert (ours != ref).sum() <= 0.002 * ref.sum()
    assert (ours.sum((1, 2)) > 0).all()


def test_centre_of_mass_is_the_position():
    for resolution in (64, 32):
        src = Shapes2DSource(resolution)
        f = src.sample_factors(200, np.random.default_rng(0))
        mo = moments(src.render(f)[:, 0])
        centre = S.MARGIN + S.POSITIONS[f[:, 3:]] * (1 - 2 * S.MARGIN)  # (n, 2) in image widths
        assert np.abs(mo["col"] - (centre[:, 0] * resolution - 0.5)).max() < 0.6
        assert np.abs(mo["row"] - (centre[:, 1] * resolution - 0.5)).max() < 0.6


def test_area_follows_scale_squared():
    """Mean pixel area over positions and orientations against each shape's exact area (s R)^2 A."""
    inside, _, _, cell = heart_region()
    exact = {
        0: (2 * S.SQUARE_HALF) ** 2,
        1: math.pi * S.ELLIPSE_AXES[0] * S.ELLIPSE_AXES[1],
        2: inside.sum() * cell * S.HEART_UNIT**2,
    }
    src, rng = Shapes2DSource(64), np.random.default_rng(1)
    for shape, unit_area in exact.items():
        f = src.sample_factors(6 * 40, rng)
        f[:, 0], f[:, 1] = shape, np.repeat(np.arange(6), 40)
        area = src.render(f).sum((1, 2, 3)).view(6, 40).double().mean(1).numpy()
        assert np.all(np.diff(area) > 0)
        assert area == pytest.approx(unit_area * (S.SCALES * 64) ** 2, rel=0.04)
        assert area / area[-1] == pytest.approx(S.SCALES**2, rel=0.04)


def test_orientation_recovered_from_moments():
    src = Shapes2DSource(64)
    grid = np.array([(sc, o) for sc in range(6) for o in range(40)])
    f = np.column_stack([np.ones(len(grid), int), grid, np.full((len(grid), 2), 16)])
    # Ellipse: its long axis (u, horizontal at 0) by the second moments, modulo pi (its symmetry).
    mo = moments(src.render(f)[:, 0])
    assert angle_error(axis_angle(mo), S.ANGLES[f[:, 2]], math.pi).max() < math.radians(6)
    # Heart: wider than tall, so its long axis is u too; modulo pi by the second moments, and the
    # sign by the third moment along its symmetry axis (more mass towards the lobes: E[v^3] < 0).
    f[:, 0] = 2
    big = f[:, 1] >= 4  # at scale >= 0.9; smaller hearts are too few pixels for a third moment
    mo = moments(src.render(f[big])[:, 0])
    axis = axis_angle(mo)
    up = (-np.sin(axis), np.cos(axis))
    third = (mo["m"] * (mo["dx"] * up[0][:, None, None] + mo["dy"] * up[1][:, None, None]) ** 3).sum((1, 2))
    full = np.where(third < 0, axis, axis + math.pi)
    assert angle_error(full, S.ANGLES[f[big, 2]], 2 * math.pi).max() < math.radians(12)


def test_symmetries_and_the_three_shapes_differ():
    src = Shapes2DSource(64)
    base = np.array([[0, 5, 3, 16, 16]])

    def image(shape, orientation):
        f = base.copy()
        f[0, 0], f[0, 2] = shape, orientation
        return src.render(f)[0, 0]

    def differ(a, b):
        return int((a != b).sum())

    area = float(image(0, 3).sum())
    # A quarter turn leaves the square, a half turn the ellipse, nothing short of a full turn the heart.
    assert differ(image(0, 3), image(0, 13)) <= 0.05 * area < differ(image(0, 3), image(0, 8))
    assert differ(image(1, 3), image(1, 23)) <= 0.05 * area < differ(image(1, 3), image(1, 13))
    assert differ(image(2, 3), image(2, 23)) > 0.15 * area
    shapes = [image(k, 3) for k in range(3)]
    assert min(differ(shapes[i], shapes[j]) for i, j in [(0, 1), (0, 2), (1, 2)]) > 0.2 * area


def test_deterministic_and_batch_independent(monkeypatch):
    src = Shapes2DSource(32)
    f = src.sample_factors(300, np.random.default_rng(5))
    once = src.render(f)
    assert torch.equal(once, src.render(torch.from_numpy(f)))
    # In another order, in chunks of 64, one at a time (other sorting by shape): the same images.
    perm = np.random.default_rng(6).permutation(300)
    monkeypatch.setattr(S, "CHUNK", 64)
    assert torch.equal(src.render(f[perm]), once[perm])
    assert torch.equal(torch.cat([src.render(f[i : i + 1]) for i in range(0, 300, 37)]), once[::37])
    assert src.render(np.zeros((0, 5), dtype=np.int64)).shape == (0, 1, 32, 32)


def test_data_module_splits_and_loaders():
    dm = Shapes2D(resolution=16, train_size=300, val_size=100, test_size=0.0002, batch_size=64, eval_batch_size=40)
    dm.setup("fit")
    index = {s: dm.source.index_of(f) for s, f in dm.factors.items()}
    assert {s: len(i) for s, i in index.items()} == {"test": 147, "val": 100, "train": 300}
    assert len(torch.cat(list(index.values())).unique()) == 547  # disjoint splits
    for split, (x, y) in dm.splits.items():
        assert x.shape == (len(index[split]), 1, 16, 16) and torch.equal(y, dm.factors[split][:, 0])
    assert dm.shape == (1, 16, 16) and dm.data_range("test") == (0.0, 1.0)
    x = dm.splits["val"][0]  # indexed like a tensor of images
    assert torch.equal(x[3], dm.source.render(dm.factors["val"][3:4])[0]) and x[2:5].shape == (3, 1, 16, 16)
    xb, yb = next(iter(dm.loader("val", train=False)))  # in order: the first 40 of the val split
    assert torch.equal(xb, dm.source.render(dm.factors["val"][:40])) and torch.equal(yb, dm.factors["val"][:40, 0])
    batches = list(dm.train_dataloader())
    assert [len(b[0]) for b in batches] == [64] * 4 + [44]
    # Same seed, same splits; another seed, others.
    again = Shapes2D(resolution=16, train_size=300, val_size=100, test_size=0.0002)
    again.setup("test")
    assert torch.equal(again.factors["test"], dm.factors["test"])
    other = Shapes2D(resolution=16, train_size=300, val_size=100, test_size=0.0002, seed=1)
    other.setup()
    assert not torch.equal(other.factors["test"], dm.factors["test"])
    with pytest.raises(
        ValueError, match=r"data.train_size=737000, data.val_size=100, data.test_size=1000: .* at most 737280"
    ):
        Shapes2D(train_size=737_000, val_size=100, test_size=1000).setup()


def test_configs_and_their_ranges(cfg_factory):
    for source in ("colour_objects", "dsprites"):  # shapes2d's is validated by the training run below
        assert validate(cfg_factory(f"data={source}"))["data"]["train_size"] in (None, 100_000)
    bad = ("data.resolution=4", "data.train_size=0", "data.binarize=dynamic")
    with pytest.raises(ConfigError) as err:
        validate(cfg_factory("data=shapes2d", *bad))
    assert str(err.value).count("data.") == 3 and "data.resolution=4: must be >= 8" in str(err.value)


def test_trains_end_to_end(cfg_factory):
    cfg = cfg_factory(
        "data=shapes2d",
        "data.resolution=32",
        "data.train_size=256",
        "data.val_size=64",
        "data.test_size=64",
        "data.batch_size=32",
        "data.eval_batch_size=64",
        "callbacks=none",
    )
    metrics = train(cfg)
    on_disk = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert on_disk["test/loss"] == pytest.approx(metrics["test/loss"])
    assert metrics["test/elbo"] == pytest.approx(-(metrics["test/recon"] + metrics["test/kl"]), rel=1e-5)
    assert math.isfinite(metrics["test/nll"]) and metrics["test/kl"] >= 0
