"""Pictures of a VAE: slerp/lerp paths, interpolation and traversal decoding, grid geometry,
the 2-D projection of the latent map, and PNG output.

Most grids are checked on a "readable" VAE whose decoder writes z_d into pixel row d of an
8x8 image (value 0.5 + z_d / 8, with a Gaussian likelihood so that decode(z).mean is exactly
that), so the latent point behind every tile of a grid can be read back from the pixels.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers.models import _images, _mlp_vae
from vaelab.callbacks import pictures
from vaelab.likelihood import Gaussian
from vaelab.model import VAE
from vaelab.model.views import lerp, slerp
from vaelab.priors import StandardNormal

IMG = (1, 8, 8)
PAD = 1


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


# =========================================================================== a readable model


class LinearEncoder(nn.Module):
    """mu = x.flatten() @ A^T, logvar = 0."""

    def __init__(self, latent_dim: int, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("A", torch.randn(latent_dim, math.prod(IMG), generator=g) * 0.1)

    def forward(self, x):
        mu = x.flatten(1) @ self.A.T
        return mu, torch.zeros_like(mu)


class RowDecoder(nn.Module):
    """z (N, L) -> (N, 1, 1, 8, 8): pixel row d (d < L) is 0.5 + z_d / 8, the other rows 0.5."""

    def forward(self, z):
        out = torch.full((z.shape[0], 1, *IMG), 0.5)
        out[:, 0, 0, : z.shape[1], :] = 0.5 + z[:, :, None] / 8
        return out


def _readable_vae(latent_dim: int = 4) -> VAE:
    model = VAE(
        encoder=LinearEncoder(latent_dim),
        decoder=RowDecoder(),
        likelihood=Gaussian(scale=0.1),
        prior=StandardNormal(latent_dim),
        data_shape=IMG,
        latent_dim=latent_dim,
    )
    return model.eval()


def _read_z(tile: np.ndarray, latent_dim: int) -> np.ndarray:
    """The latent point behind one (3, 8, 8) tile of the readable decoder."""
    assert np.allclose(tile, tile[:1], atol=0)  # grey: three equal channels
    rows = tile[0]
    assert np.allclose(rows, rows[:, :1], atol=1e-7)  # each row is constant
    assert np.allclose(rows[latent_dim:], 0.5, atol=1e-7)
    return (rows[:latent_dim, 0] - 0.5) * 8


def _tile(grid: torch.Tensor, i: int, j: int, h: int = 8, w: int = 8) -> np.ndarray:
    """Tile (row i, column j) of a make_grid grid with padding PAD."""
    y, x = PAD + i * (h + PAD), PAD + j * (w + PAD)
    return _np(grid[:, y : y + h, x : x + w])


def _grid_size(rows: int, cols: int, h: int = 8, w: int = 8) -> tuple[int, int]:
    return rows * h + (rows + 1) * PAD, cols * w + (cols + 1) * PAD


def _check_picture(img: torch.Tensor, h: int, w: int) -> None:
    assert img.dtype == torch.float32
    assert img.shape == (3, h, w)
    assert torch.isfinite(img).all()
    assert img.min() >= 0 and img.max() <= 1


# =========================================================================== lerp / slerp


def _angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    cos = np.sum(u * v, -1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    return np.arccos(np.clip(cos, -1, 1))


def test_slerp_endpoints_norm_and_constant_angular_speed():
    g = torch.Generator().manual_seed(0)
    L, steps = 7, 9
    a = torch.randn(L, generator=g)
    b = torch.randn(L, generator=g)
    b = b * a.norm() / b.norm()  # equal norms
    omega = _angle(_np(a), _np(b))
    assert 0.5 < omega < 2.6  # a genuine arc, not nearly (anti)parallel
    t = torch.linspace(0, 1, steps)[:, None]
    path = slerp(a, b, t)
    assert path.shape == (steps, L)
    torch.testing.assert_close(path[0], a, rtol=0, atol=1e-6)
    torch.testing.assert_close(path[-1], b, rtol=0, atol=1e-6)
    p = _np(path)
    np.testing.assert_allclose(np.linalg.norm(p, axis=-1), np.linalg.norm(_np(a)), rtol=1e-5)
    # The angle to a grows linearly: t * omega, i.e. equal angular steps.
    np.testing.assert_allclose(_angle(p, _np(a)[None]), _np(t[:, 0]) * omega, atol=1e-4)
    np.testing.assert_allclose(_angle(p[1:], p[:-1]), omega / (steps - 1), atol=1e-4)
    # Stays in the plane of a and b: p = alpha a + beta b, with Shoemake's coefficients.
    tt = _np(t)
    want = (np.sin((1 - tt) * omega) * _np(a) + np.sin(tt * omega) * _np(b)) / np.sin(omega)
    np.testing.assert_allclose(p, want, atol=1e-5)
    # lerp, by contrast, cuts the chord: shorter in the middle.
    mid = _np(lerp(a, b, torch.tensor(0.5)))
    np.testing.assert_allclose(np.linalg.norm(mid), np.linalg.norm(_np(a)) * math.cos(omega / 2), rtol=1e-5)


def test_lerp_is_the_straight_line():
    a, b = torch.tensor([1.0, -2.0, 3.0]), torch.tensor([0.5, 4.0, -1.0])
    t = torch.tensor([[0.0], [0.25], [1.0]])
    want = (1 - _np(t)) * _np(a) + _np(t) * _np(b)
    np.testing.assert_allclose(_np(lerp(a, b, t)), want, atol=1e-6)


@pytest.mark.parametrize("delta", [0.0, 1e-6, 1e-5])
def test_slerp_nearly_parallel_falls_back_to_lerp(delta):
    a = torch.tensor([1.0, 2.0, -0.5, 0.3])
    b = 1.7 * a + delta * torch.tensor([0.0, 1.0, 0.0, -1.0])  # same direction, other norm
    t = torch.linspace(0, 1, 5)[:, None]
    got = slerp(a, b, t)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, lerp(a, b, t), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[0], a, rtol=0, atol=1e-6)
    torch.testing.assert_close(got[-1], b, rtol=0, atol=1e-6)


def test_slerp_broadcasts_batches_over_steps():
    g = torch.Generator().manual_seed(1)
    B, L, steps = 4, 5, 6
    a, b = torch.randn(B, 1, L, generator=g), torch.randn(B, 1, L, generator=g)
    b[2] = 3 * a[2]  # one parallel pair among the batch: lerp only there
    t = torch.linspace(0, 1, steps).view(1, steps, 1)
    path = slerp(a, b, t)
    assert path.shape == (B, steps, L)
    assert torch.isfinite(path).all()
    for i in range(B):
        # Each batch element is the unbatched slerp of its own pair.
        torch.testing.assert_close(path[i], slerp(a[i, 0], b[i, 0], t[0]), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(path[i, 0], a[i, 0], rtol=0, atol=1e-6)
        torch.testing.assert_close(path[i, -1], b[i, 0], rtol=0, atol=1e-6)
    torch.testing.assert_close(path[2], lerp(a[2], b[2], t[0]), rtol=1e-5, atol=1e-5)


# =========================================================================== VAE.interpolate / traverse


@pytest.mark.parametrize("mode", ["linear", "spherical"])
def test_interpolate_shapes_endpoints_and_path(mode):
    vae = _mlp_vae(data_shape=list(IMG))
    vae.eval()
    b, steps = 3, 5
    xa, xb = _images(b, IMG, seed=1), _images(b, IMG, seed=2)
    path = vae.interpolate(xa, xb, steps=steps, mode=mode)
    assert path.shape == (b, steps, *IMG)
    torch.testing.assert_close(path[:, 0], vae.reconstruct(xa), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(path[:, -1], vae.reconstruct(xb), rtol=1e-5, atol=1e-5)


def test_spherical_interpolate_decodes_the_great_circle():
    vae = _readable_vae(latent_dim=4)
    b, steps = 3, 7
    xa, xb = _images(b, IMG, seed=3), _images(b, IMG, seed=4)
    with torch.no_grad():
        za, zb = _np(vae.encoder(xa)[0]), _np(vae.encoder(xb)[0])
    path = _np(vae.interpolate(xa, xb, steps=steps, mode="spherical"))
    z = (path[:, :, 0, :4, 0] - 0.5) * 8  # (b, steps, L) read back from the images
    t = np.linspace(0, 1, steps)
    for i in range(b):
        omega = _angle(za[i], zb[i])
        want = (np.sin((1 - t[:, None]) * omega) * za[i] + np.sin(t[:, None] * omega) * zb[i]) / np.sin(omega)
        np.testing.assert_allclose(z[i], want, atol=1e-4)
    lin = _np(vae.interpolate(xa, xb, steps=steps, mode="linear"))
    zl = (lin[:, :, 0, :4, 0] - 0.5) * 8
    np.testing.assert_allclose(zl, (1 - t[None, :, None]) * za[:, None] + t[None, :, None] * zb[:, None], atol=1e-5)


def test_interpolate_rejects_unknown_mode():
    vae = _readable_vae()
    x = _images(2, IMG)
    with pytest.raises(ValueError, match="linear") as info:
        vae.interpolate(x, x, steps=3, mode="cubic")
    assert "spherical" in str(info.value) and "cubic" in str(info.value)


def test_traverse_changes_one_coordinate_per_row():
    vae = _readable_vae(latent_dim=4)
    x = _images(1, IMG, seed=5)
    with torch.no_grad():
        mu = _np(vae.encoder(x)[0][0])
    dims, values = [2, 0], torch.tensor([-2.0, 0.0, 1.5])
    out = vae.traverse(x, dims, values)
    assert out.shape == (2, 3, *IMG)
    z = (_np(out)[:, :, 0, :4, 0] - 0.5) * 8
    for i, d in enumerate(dims):
        want = np.tile(mu, (3, 1))
        want[:, d] = _np(values)
        np.testing.assert_allclose(z[i], want, atol=1e-5)


# =========================================================================== grids


def test_reconstructions_grid():
    vae = _readable_vae()
    x = _images(5, IMG, seed=6)
    img = pictures.reconstructions(vae, x)
    _check_picture(img, *_grid_size(2, 5))
    assert img.shape == (3, 2 * 8 + 3 * 1, 5 * 8 + 6 * 1)
    recon = vae.reconstruct(x)
    for j in range(5):
        np.testing.assert_allclose(_tile(img, 0, j), np.repeat(_np(x[j]), 3, 0), atol=1e-7)
        np.testing.assert_allclose(_tile(img, 1, j), np.repeat(_np(recon[j]), 3, 0), atol=1e-7)
    # The padding is grey 0.5.
    np.testing.assert_allclose(_np(img[:, 0, :]), 0.5)
    np.testing.assert_allclose(_np(img[:, :, 0]), 0.5)


def test_reconstructions_of_an_mlp_vae_are_in_unit_interval():
    vae = _mlp_vae(data_shape=list(IMG))
    vae.eval()
    img = pictures.reconstructions(vae, _images(4, IMG))
    _check_picture(img, *_grid_size(2, 4))


@pytest.mark.parametrize("n, cols, rows", [(6, 2, 3), (9, 3, 3), (2, 1, 2)])
def test_samples_grid(n, cols, rows):
    vae = _readable_vae(latent_dim=3)
    g = torch.Generator().manual_seed(n)
    z = torch.rand(n, 3, generator=g) * 6 - 3
    img = pictures.samples(vae, z)
    _check_picture(img, *_grid_size(rows, cols))
    for k in range(n):
        np.testing.assert_allclose(_read_z(_tile(img, k // cols, k % cols), 3), _np(z[k]), atol=1e-5)


def test_one_sample_is_the_bare_image():
    """make_grid returns a single image as it is, without the padding frame."""
    vae = _readable_vae(latent_dim=3)
    z = torch.tensor([[1.0, -2.0, 0.5]])
    img = pictures.samples(vae, z)
    _check_picture(img, 8, 8)
    np.testing.assert_allclose(_read_z(_np(img), 3), _np(z[0]), atol=1e-5)


def test_samples_clamp_means_outside_unit_interval():
    vae = _readable_vae(latent_dim=2)
    z = torch.tensor([[10.0, -10.0], [0.0, 0.0]])  # 0.5 +- 1.25: outside [0, 1]
    img = pictures.samples(vae, z)
    _check_picture(img, *_grid_size(2, 1))  # nrow = int(sqrt(2)) = 1
    top = _tile(img, 0, 0)[0]
    assert np.all(top[0] == 1.0) and np.all(top[1] == 0.0)


@pytest.mark.parametrize("mode", ["linear", "spherical"])
def test_interpolations_grid(mode):
    vae = _readable_vae(latent_dim=4)
    pairs, steps = 3, 4
    xa, xb = _images(pairs, IMG, seed=7), _images(pairs, IMG, seed=8)
    img = pictures.interpolations(vae, xa, xb, steps=steps, mode=mode)
    _check_picture(img, *_grid_size(pairs, steps + 2))
    path = vae.interpolate(xa, xb, steps=steps, mode=mode)
    for p in range(pairs):
        np.testing.assert_allclose(_tile(img, p, 0), np.repeat(_np(xa[p]), 3, 0), atol=1e-7)
        np.testing.assert_allclose(_tile(img, p, steps + 1), np.repeat(_np(xb[p]), 3, 0), atol=1e-7)
        for s in range(steps):
            np.testing.assert_allclose(_tile(img, p, 1 + s), np.repeat(_np(path[p, s]), 3, 0), atol=1e-7)
    # The decoded path starts and ends at the reconstructions.
    np.testing.assert_allclose(_tile(img, 0, 1), np.repeat(_np(vae.reconstruct(xa[:1])[0]), 3, 0), atol=1e-6)
    np.testing.assert_allclose(_tile(img, 0, steps), np.repeat(_np(vae.reconstruct(xb[:1])[0]), 3, 0), atol=1e-6)


@pytest.mark.parametrize("as_list", [True, False])
def test_traversals_rows_follow_decreasing_kl(as_list):
    vae = _readable_vae(latent_dim=4)
    x = _images(1, IMG, seed=9)
    with torch.no_grad():
        mu = _np(vae.encoder(x)[0][0])
    kl = [0.1, 5.0, 0.0, 2.0]
    order = list(np.argsort(-np.asarray(kl), kind="stable"))
    assert order == [1, 3, 0, 2]
    steps = 7
    img = pictures.traversals(vae, x, kl if as_list else torch.tensor(kl), steps=steps)
    _check_picture(img, *_grid_size(4, steps))
    values = np.linspace(-3, 3, steps)
    for i, d in enumerate(order):
        for j, v in enumerate(values):
            want = mu.copy()
            want[d] = v  # only coordinate order[i] changes along row i
            np.testing.assert_allclose(_read_z(_tile(img, i, j), 4), want, atol=1e-5)
    # The same grid as traverse() in that order, laid out one dimension per row.
    grid = pictures._grid(vae.traverse(x, order, torch.linspace(-3, 3, steps)).flatten(0, 1), nrow=steps)
    torch.testing.assert_close(img, grid)


def test_latent_traversals_vary_every_latent_around_each_inputs_code():
    """Row j * N + i: latent j of input i's code set to -2.5 ... 2.5, the others at the code."""
    vae = _readable_vae(latent_dim=4)
    x = torch.cat([_images(1, IMG, seed=s) for s in (11, 12, 13)])
    with torch.no_grad():
        mu = _np(vae.encoder(x)[0])
    img = pictures.latent_traversals(vae, x, steps=5)
    _check_picture(img, *_grid_size(4 * 3, 5))
    for j in range(4):
        for i in range(3):
            zs = np.stack([_read_z(_tile(img, j * 3 + i, c), 4) for c in range(5)])
            np.testing.assert_allclose(zs[:, j], np.linspace(-2.5, 2.5, 5), atol=1e-5)
            np.testing.assert_allclose(
                np.delete(zs, j, axis=1), np.delete(np.tile(mu[i], (5, 1)), j, axis=1), atol=1e-5
            )


def test_traversals_span_and_max_dims():
    vae = _readable_vae(latent_dim=4)
    x = _images(1, IMG, seed=10)
    kl = torch.tensor([0.1, 5.0, 0.0, 2.0])
    img = pictures.traversals(vae, x, kl, steps=5, span=2.0, max_dims=2)
    _check_picture(img, *_grid_size(2, 5))
    for i, d in enumerate([1, 3]):
        zs = np.stack([_read_z(_tile(img, i, j), 4) for j in range(5)])
        np.testing.assert_allclose(zs[:, d], np.linspace(-2, 2, 5), atol=1e-5)
        others = np.delete(zs, d, axis=1)
        assert np.ptp(others, axis=0).max() < 1e-6
    # Default: steps=11 columns over -3..3, and all 4 dims when fewer than max_dims=16.
    img = pictures.traversals(vae, x, kl)
    _check_picture(img, *_grid_size(4, 11))
    np.testing.assert_allclose(_read_z(_tile(img, 0, 0), 4)[1], -3.0, atol=1e-5)
    np.testing.assert_allclose(_read_z(_tile(img, 0, 10), 4)[1], 3.0, atol=1e-5)


def test_latent_plane_layout():
    vae = _readable_vae(latent_dim=2)
    n = 4
    img = pictures.latent_plane(vae, n=n)
    _check_picture(img, 4 * 8 + 5, 4 * 8 + 5)
    v = np.linspace(-3, 3, n)
    for i in range(n):
        for j in range(n):
            # z_1 grows to the right, z_2 upwards (the top row has the largest z_2).
            np.testing.assert_allclose(_read_z(_tile(img, i, j), 2), [v[j], v[n - 1 - i]], atol=1e-5)
    img = pictures.latent_plane(vae, n=3, span=1.0)
    np.testing.assert_allclose(_read_z(_tile(img, 0, 2), 2), [1.0, 1.0], atol=1e-5)


def test_latent_plane_needs_two_latent_dims():
    with pytest.raises(ValueError, match="model.latent_dim") as info:
        pictures.latent_plane(_readable_vae(latent_dim=3))
    assert "3" in str(info.value)


# =========================================================================== latent map


def test_project_2d_keeps_two_dims_unchanged():
    mu = torch.randn(20, 2, generator=torch.Generator().manual_seed(0)) * 3 + 5
    xy, axis = pictures.project_2d(mu)
    assert axis == "z"
    assert xy.shape == (20, 2)
    torch.testing.assert_close(xy, mu, rtol=0, atol=0)


def test_project_2d_pads_one_dim():
    mu = torch.arange(5.0)[:, None]
    xy, axis = pictures.project_2d(mu)
    assert axis == "z" and xy.shape == (5, 2)
    torch.testing.assert_close(xy[:, 0], mu[:, 0])
    assert torch.all(xy[:, 1] == 0)


def _plane_data(n: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points on a 2-D plane inside 5-D: offset + coefficients @ U^T, U orthonormal (5, 2)."""
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.normal(size=(5, 2)))
    coef = rng.normal(size=(n, 2)) * [3.0, 1.0]
    return rng.normal(size=5) + coef @ u.T, coef


def test_project_2d_pca_preserves_distances_on_a_plane():
    x, coef = _plane_data()
    mu = torch.tensor(x, dtype=torch.float32)
    xy, axis = pictures.project_2d(mu)
    assert axis == "PC" and xy.shape == (60, 2) and xy.dtype == torch.float32
    p = _np(xy)

    def dist(a):
        return np.linalg.norm(a[:, None] - a[None], axis=-1)

    np.testing.assert_allclose(dist(p), dist(x), atol=1e-4)
    # Centred, and PC 1 carries the larger spread (numpy's own eigendecomposition as reference).
    np.testing.assert_allclose(p.mean(0), 0, atol=1e-5)
    evals, evecs = np.linalg.eigh(np.cov(x, rowvar=False))
    top = evecs[:, ::-1][:, :2]
    ref = (x - x.mean(0)) @ top
    for k in range(2):  # each principal axis up to its sign
        sign = np.sign(np.dot(ref[:, k], p[:, k]))
        np.testing.assert_allclose(p[:, k], sign * ref[:, k], atol=1e-4)
    assert p[:, 0].var() > p[:, 1].var()


def test_project_2d_single_example_in_many_dims():
    mu = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]])
    xy, axis = pictures.project_2d(mu)
    assert axis == "PC"
    assert xy.shape == (1, 2)
    torch.testing.assert_close(xy, torch.zeros(1, 2))  # centred: the only point is the mean


def _capture_scatter(monkeypatch) -> list[np.ndarray]:
    import matplotlib.axes

    seen = []
    original = matplotlib.axes.Axes.scatter

    def spy(self, x, y, *args, **kwargs):
        seen.append(np.stack([np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)], axis=1))
        return original(self, x, y, *args, **kwargs)

    monkeypatch.setattr(matplotlib.axes.Axes, "scatter", spy)
    return seen


# latent_map passes cmap="tab10" also when there are no labels (c=None): matplotlib warns.
def test_latent_map_plots_coordinates_or_principal_components(monkeypatch):
    seen = _capture_scatter(monkeypatch)
    g = torch.Generator().manual_seed(2)
    mu2 = torch.randn(50, 2, generator=g)
    labels = torch.randint(0, 10, (50,), generator=g)
    img = pictures.latent_map(mu2, labels)
    assert img.dtype == torch.float32 and img.dim() == 3 and img.shape[0] == 3
    assert img.min() >= 0 and img.max() <= 1 and img.shape[1] > 100 and img.shape[2] > 100
    assert img.std() > 0.01  # not a blank image
    np.testing.assert_allclose(seen[-1], _np(mu2), atol=0)

    x, _ = _plane_data(40, seed=1)
    mu5 = torch.tensor(x, dtype=torch.float32)
    img5 = pictures.latent_map(mu5, labels=None)
    assert img5.shape[0] == 3 and img5.min() >= 0 and img5.max() <= 1
    pts = seen[-1]
    assert pts.shape == (40, 2)
    dist = lambda a: np.linalg.norm(a[:, None] - a[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(dist(pts), dist(x), atol=1e-4)

    # max_points keeps the first ones; all-negative labels mean "no labels".
    pictures.latent_map(mu2, torch.full((50,), -1), max_points=7)
    np.testing.assert_allclose(seen[-1], _np(mu2[:7]), atol=0)


# =========================================================================== save / evaluation_pictures


def test_save_writes_pngs_of_the_right_size(tmp_path):
    from PIL import Image

    g = torch.Generator().manual_seed(0)
    pics = {"a": torch.rand(3, 19, 46, generator=g), "b": torch.rand(3, 37, 37, generator=g)}
    paths = pictures.save(pics, tmp_path / "out", suffix="_test")
    assert [p.name for p in paths] == ["a_test.png", "b_test.png"]
    for image, path in zip(pics.values(), paths):
        assert path.is_file()
        with Image.open(path) as im:
            assert im.format == "PNG"
            assert im.size == (image.shape[2], image.shape[1])  # PIL: (W, H)
            arr = np.asarray(im.convert("RGB")).astype(np.float64)
        want = np.round(_np(image).transpose(1, 2, 0) * 255)
        assert np.abs(arr - want).max() <= 1


@pytest.mark.parametrize("latent_dim", [2, 4])
def test_evaluation_pictures_keys_and_shapes(latent_dim, tmp_path):
    vae = _readable_vae(latent_dim=latent_dim)
    x = _images(6, IMG, seed=11)
    with torch.no_grad():
        mu = vae.encoder(x)[0]
    labels = torch.arange(6) % 3
    kl = torch.arange(latent_dim, dtype=torch.float32)
    z = torch.randn(4, latent_dim, generator=torch.Generator().manual_seed(0))
    pics = pictures.evaluation_pictures(vae, x, mu, labels, kl, z, pairs=8)
    keys = {
        "reconstructions",
        "samples",
        "interpolations_linear",
        "interpolations_spherical",
        "traversals",
        "latent_map",
    }
    assert set(pics) == (keys | {"latent_plane"} if latent_dim == 2 else keys)
    for name, img in pics.items():
        assert img.dtype == torch.float32 and img.dim() == 3 and img.shape[0] == 3, name
        assert img.min() >= 0 and img.max() <= 1, name
    pairs = 3  # min(8, 6 // 2)
    assert pics["reconstructions"].shape[1:] == _grid_size(2, 2 * pairs)
    assert pics["samples"].shape[1:] == _grid_size(2, 2)
    assert pics["interpolations_linear"].shape[1:] == _grid_size(pairs, 10 + 2)
    assert pics["interpolations_spherical"].shape[1:] == _grid_size(pairs, 10 + 2)
    assert pics["traversals"].shape[1:] == _grid_size(latent_dim, 11)
    if latent_dim == 2:
        assert pics["latent_plane"].shape[1:] == _grid_size(15, 15)
    paths = pictures.save(pics, tmp_path)
    assert {p.stem for p in paths} == set(pics)
