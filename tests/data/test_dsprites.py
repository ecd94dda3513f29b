"""The dSprites reader on a small file with dSprites' keys written here (a pickled `metadata` included)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import numpy.lib.format as npy_format
import pytest
import torch

from tests.helpers.factor_images import Trap
from vaelab.data import DSprites
from vaelab.data.dsprites import FILE, URL, DSpritesSource, read_packed

SIZES = (1, 3, 2, 4, 2, 3)  # color, shape, scale, orientation, posX, posY: 144 images


def write_dsprites(directory, marker, drop: int = 0, scale: int = 1, **replace) -> tuple[np.ndarray, np.ndarray]:
    """dSprites' arrays for the grid SIZES, rows shuffled, metadata a pickle that would create `marker`."""
    rng = np.random.default_rng(0)
    classes = np.stack(np.unravel_index(rng.permutation(np.prod(SIZES)), SIZES), 1).astype(np.int64)[drop:]
    imgs = (rng.random((len(classes), 64, 64)) < 0.2).astype(np.uint8) * scale
    arrays = {
        "metadata": np.array({"description": Trap(marker)}, dtype=object),
        "imgs": imgs,
        "latents_classes": classes,
        "latents_values": classes.astype(np.float64) / 10,
    }
    directory.mkdir(exist_ok=True)
    np.savez_compressed(directory / FILE, **{**arrays, **replace})
    return imgs, classes


def test_reads_images_by_factors_without_unpickling(tmp_path):
    marker = tmp_path / "unpickled"
    imgs, classes = write_dsprites(tmp_path / "d", marker)
    src = DSpritesSource(tmp_path / "d" / FILE)
    assert src.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert src.factor_sizes == SIZES[1:] and src.image_shape == (1, 64, 64)
    # Every combination, looked up by its factors, is the file's row with those latents_classes.
    row_of = {tuple(c[1:]): i for i, c in enumerate(classes)}
    factors = np.stack(np.unravel_index(np.arange(144), SIZES[1:]), 1)
    expected = np.stack([imgs[row_of[tuple(f)]] for f in factors])[:, None].astype(np.float32)
    assert torch.equal(src.render(factors), torch.from_numpy(expected))
    with np.load(tmp_path / "d" / FILE, allow_pickle=False) as npz:  # in chunks that do not divide 144
        assert np.array_equal(read_packed(npz, tmp_path / "d" / FILE, chunk=50), np.packbits(imgs, axis=-1))
    assert not marker.exists()
    # The trap is live: unpickling the metadata entry would have run it.
    np.load(tmp_path / "d" / FILE, allow_pickle=True)["metadata"]
    assert marker.exists()


def test_missing_file_says_what_to_download_and_where(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        DSprites(data_dir=str(tmp_path / "nowhere")).setup()
    message = str(err.value)
    assert "\n" not in message and URL in message and FILE in message and str(tmp_path / "nowhere") in message


@pytest.mark.parametrize(
    "problem, kwargs, match",
    [
        ("not binary", {"scale": 255}, r"values up to 255; dSprites images are 0/1"),
        ("a combination missing", {"drop": 1}, r"not every combination of \(3, 2, 4, 2, 3\) exactly once"),
        ("pickled classes", {"latents_classes": "trap"}, r"latents_classes is an object array.*allow_pickle"),
        ("no images", {"imgs": np.zeros(3)}, r"imgs has dtype float64 and shape \[3\]"),
    ],
)
def test_bad_files_are_refused(tmp_path, problem, kwargs, match):
    marker = tmp_path / "unpickled"
    trap = np.array([Trap(marker)], dtype=object)
    write_dsprites(tmp_path / "d", marker, **{k: trap if isinstance(v, str) else v for k, v in kwargs.items()})
    with pytest.raises(ValueError, match=match) as err:
        DSprites(data_dir=str(tmp_path / "d")).setup()
    assert str(err.value).startswith(f"data.data_dir={tmp_path / 'd'}: {FILE}: ")
    assert not marker.exists()


def test_data_module(tmp_path):
    write_dsprites(tmp_path / "d", tmp_path / "unpickled")
    dm = DSprites(data_dir=str(tmp_path / "d"), train_size=None, val_size=20, test_size=0.1, eval_batch_size=16)
    dm.setup("fit")
    assert {s: len(x) for s, (x, _) in dm.splits.items()} == {"test": 14, "val": 20, "train": 110}
    assert dm.shape == (1, 64, 64) and torch.equal(dm.splits["train"][1], dm.factors["train"][:, 0])
    xb, yb = next(iter(dm.loader("test", train=False)))
    assert torch.equal(xb, dm.source.render(dm.factors["test"][:14])) and xb.shape == (14, 1, 64, 64)


def test_a_header_claiming_more_images_than_the_file_holds(tmp_path):
    """imgs' header claims 10^9 images the archive does not hold: one line, before any allocation."""
    write_dsprites(tmp_path / "d", tmp_path / "unpickled")
    path = tmp_path / "d" / FILE
    with zipfile.ZipFile(path) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries.items():
            if name == "imgs.npy":
                header = io.BytesIO()
                npy_format.write_array_header_1_0(
                    header, {"descr": "|u1", "fortran_order": False, "shape": (10**9, 64, 64)}
                )
                data = header.getvalue() + data[len(header.getvalue()) :]
            z.writestr(name, data)
    with pytest.raises(ValueError) as err:
        DSprites(data_dir=str(tmp_path / "d")).setup()
    (line,) = str(err.value).splitlines()
    assert (
        f"{FILE}: not a valid .npy/.npz file, truncated or corrupt: imgs: header claims shape [1000000000, 64, 64]"
        in line
    )
