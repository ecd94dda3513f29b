"""ArrayData and array_shape on small .npy/.npz files written here."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import numpy.lib.format as npy_format
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.conftest import CONF
from vaelab.data import ArrayData
from vaelab.data.array import array_shape
from vaelab.data.safety import available_memory

ROOT = Path(__file__).resolve().parents[2]


class Trap:
    """Unpickling this creates a file: proof that a pickle was (or was not) run."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def sizes(dm) -> dict[str, int]:
    return {k: len(v[0]) for k, v in dm.splits.items()}


def test_npy_vectors(tmp_path):
    data = np.random.default_rng(0).normal(size=(20, 5)).astype(np.float32)
    np.save(tmp_path / "v.npy", data)
    dm = ArrayData(str(tmp_path / "v.npy"), batch_size=8, shape=[5])
    x, y = dm.load()["all"]
    assert torch.equal(x, torch.from_numpy(data)) and y.tolist() == [-1] * 20
    dm.setup()
    assert sizes(dm) == {"train": 14, "val": 2, "test": 4}  # test 20% of 20, val 10% of the other 16
    xb, yb = next(iter(dm.train_dataloader()))
    assert xb.shape == (8, 5) and yb.shape == (8,)
    assert array_shape(str(tmp_path / "v.npy")) == [5] == list(dm.shape)


def test_npy_grey_bytes_with_scale(tmp_path):
    data = np.arange(10 * 4 * 6, dtype=np.uint8).reshape(10, 4, 6)
    np.save(tmp_path / "g.npy", data)
    dm = ArrayData(str(tmp_path / "g.npy"), scale=255, val_size=2, test_size=2)
    x, _ = dm.load()["all"]
    assert x.shape == (10, 1, 4, 6) and x.dtype == torch.float32
    assert torch.equal(x[:, 0], torch.from_numpy(data.astype(np.float32) / np.float32(255)))
    assert float(x.max()) == pytest.approx(239 / 255)
    dm.setup()
    assert sizes(dm) == {"train": 6, "val": 2, "test": 2}
    assert array_shape(str(tmp_path / "g.npy"), None) == [1, 4, 6] == list(dm.shape)


def test_npz_images_with_labels(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.random((12, 3, 5, 5))  # float64: converted to float32
    y = np.arange(12) % 3
    np.savez_compressed(tmp_path / "d.npz", x=x, y=y, extra=np.zeros(3))
    dm = ArrayData(str(tmp_path / "d.npz"), val_size=2, test_size=2, seed=5, batch_size=3)
    loaded_x, loaded_y = dm.load()["all"]
    assert loaded_x.dtype == torch.float32 and torch.allclose(loaded_x, torch.from_numpy(x).float())
    assert loaded_y.tolist() == y.tolist()  # "y" found without labels_key
    dm.setup()
    assert sizes(dm) == {"train": 8, "val": 2, "test": 2}
    xb, yb = next(iter(dm.train_dataloader()))
    assert xb.shape == (3, 3, 5, 5) and yb.dtype == torch.int64
    assert array_shape(str(tmp_path / "d.npz")) == [3, 5, 5] == list(dm.shape)


def test_npz_named_keys(tmp_path):
    np.savez(tmp_path / "n.npz", images=np.ones((6, 7, 7), np.uint8), labels=np.arange(6, dtype=np.int32))
    dm = ArrayData(str(tmp_path / "n.npz"), key="images", labels_key="labels", scale=2.0, val_size=1, test_size=1)
    x, y = dm.load()["all"]
    assert x.shape == (6, 1, 7, 7) and torch.all(x == 0.5) and y.tolist() == list(range(6))
    assert array_shape(str(tmp_path / "n.npz"), "images") == [1, 7, 7]
    # The only array of an npz needs no key; "None"/"null" strings count as no key.
    np.savez(tmp_path / "one.npz", data=np.zeros((4, 2, 3, 3)))
    assert array_shape(str(tmp_path / "one.npz"), "null") == [2, 3, 3] == array_shape(str(tmp_path / "one.npz"), "None")


def test_array_shape_does_not_load(tmp_path, monkeypatch):
    np.save(tmp_path / "big.npy", np.zeros((50, 3, 8, 8), np.float32))
    np.savez(tmp_path / "big.npz", x=np.zeros((50, 8, 8), np.float32))

    def no_load(*args, **kwargs):
        raise AssertionError("array_shape loaded the data")

    monkeypatch.setattr(np, "load", no_load)
    assert array_shape(str(tmp_path / "big.npy")) == [3, 8, 8]
    assert array_shape(str(tmp_path / "big.npz")) == [1, 8, 8]


def test_missing_key_lists_keys(tmp_path):
    np.savez(tmp_path / "k.npz", a=np.zeros((4, 2)), b=np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"k\.npz.*set data\.key to one of: a, b"):
        array_shape(str(tmp_path / "k.npz"))
    with pytest.raises(ValueError, match=r"k\.npz: data\.key=c is not in the file; its arrays are: a, b"):
        ArrayData(str(tmp_path / "k.npz"), key="c").load()
    with pytest.raises(ValueError, match=r"data\.labels_key=z is not in the file; its arrays are: a, b"):
        ArrayData(str(tmp_path / "k.npz"), key="a", labels_key="z").load()


def test_truncated_and_corrupt_files_are_named(tmp_path):
    np.savez(tmp_path / "t.npz", x=np.arange(400, dtype=np.float32).reshape(100, 4))
    raw = (tmp_path / "t.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(raw[: len(raw) // 2])
    for call in (lambda: array_shape(str(tmp_path / "t.npz")), lambda: ArrayData(str(tmp_path / "t.npz")).load()):
        with pytest.raises(ValueError, match=r"data\.path=.*t\.npz: not a valid .npy/.npz file"):
            call()
    # Intact zip directory, damaged data: the CRC check fails while loading.
    corrupt = bytearray(raw)
    corrupt[len(raw) // 2] ^= 0xFF
    (tmp_path / "c.npz").write_bytes(bytes(corrupt))
    with pytest.raises(ValueError, match=r"c\.npz: not a valid .npy/.npz file.*BadZipFile"):
        ArrayData(str(tmp_path / "c.npz")).load()
    # A .npy whose header promises more data than the file holds.
    np.save(tmp_path / "s.npy", np.zeros((10, 10), np.float32))
    (tmp_path / "s.npy").write_bytes((tmp_path / "s.npy").read_bytes()[:-40])
    with pytest.raises(ValueError, match=r"s\.npy: not a valid .npy/.npz file"):
        ArrayData(str(tmp_path / "s.npy")).load()
    (tmp_path / "text.npy").write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"text\.npy: not a .npy or .npz file"):
        array_shape(str(tmp_path / "text.npy"))


@pytest.mark.parametrize("kind", ["npy", "npz"])
def test_object_arrays_are_never_unpickled(tmp_path, kind):
    marker = tmp_path / "pickle-ran"
    obj = np.array([Trap(marker), Trap(marker)], dtype=object)
    path = tmp_path / f"o.{kind}"
    np.save(path, obj, allow_pickle=True) if kind == "npy" else np.savez(path, x=obj)
    for call in (lambda: array_shape(str(path)), lambda: ArrayData(str(path)).load()):
        with pytest.raises(ValueError, match=r"o\.np[yz].*dtype object.*allow_pickle=False"):
            call()
    assert not marker.exists()


def test_bad_values_and_shapes(tmp_path):
    bad = np.ones((5, 3), np.float32)
    bad[2, 1] = np.nan
    bad[4, 0] = np.inf
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(ValueError, match=r"nan\.npy: 2 values are NaN or infinite"):
        ArrayData(str(tmp_path / "nan.npy"), val_size=1, test_size=1).load()
    for name, shape in (("flat", (7,)), ("five", (2, 1, 2, 2, 2))):
        np.save(tmp_path / f"{name}.npy", np.zeros(shape))
        with pytest.raises(ValueError, match=rf"{name}\.npy: array has shape {list(shape)}".replace("[", r"\[")):
            ArrayData(str(tmp_path / f"{name}.npy")).load()
    np.save(tmp_path / "str.npy", np.array([["a", "b"]]))
    with pytest.raises(ValueError, match=r"str\.npy: the array has dtype <U1; need numbers"):
        ArrayData(str(tmp_path / "str.npy")).load()
    np.savez(tmp_path / "lab.npz", x=np.zeros((4, 2)), y=np.zeros(3, np.int64))
    with pytest.raises(ValueError, match=r"lab\.npz: labels 'y' have shape \[3\]"):
        ArrayData(str(tmp_path / "lab.npz")).load()
    np.save(tmp_path / "ok.npy", np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"data\.key and data\.labels_key apply only to \.npz"):
        ArrayData(str(tmp_path / "ok.npy"), key="x").load()
    with pytest.raises(FileNotFoundError, match=r"data\.path=.*missing\.npy: no such file"):
        ArrayData(str(tmp_path / "missing.npy")).load()


def test_config_instantiates(tmp_path):
    np.savez(tmp_path / "c.npz", x=np.full((30, 6, 6), 255, np.uint8), y=np.arange(30) % 2)
    cfg = OmegaConf.create({"seed": 2, "data": OmegaConf.load(CONF / "data" / "array.yaml")})
    cfg.data.path, cfg.data.scale = str(tmp_path / "c.npz"), 255.0
    assert list(cfg.data.shape) == [1, 6, 6]  # the resolver registered when vaelab is imported
    dm = instantiate(cfg.data)
    assert isinstance(dm, ArrayData)
    dm.setup()
    assert sizes(dm) == {"train": 24, "val": 3, "test": 3} and dm.shape == (1, 6, 6)
    assert torch.all(dm.splits["train"][0] == 1.0)


def test_a_directory_is_named_as_one(tmp_path):
    folder = tmp_path / "dir.npz"  # even with a data-file name
    folder.mkdir()
    message = rf"^data\.path={folder}: is a directory; give a \.npy or \.npz file$"
    for call in (lambda: array_shape(str(folder)), lambda: ArrayData(str(folder)).load()):
        with pytest.raises(ValueError, match=message):
            call()
    # The config resolver reads the same header, so it says the same.
    cfg = OmegaConf.create({"path": str(folder), "shape": "${vaelab.array_shape:${path},null}"})
    with pytest.raises(ValueError, match=rf"data\.path={folder}: is a directory"):
        OmegaConf.to_container(cfg, resolve=True)


# ------------------------------------------------------------------ headers are claims, checked before loading


def write_header_only(path: Path, shape, descr: str = "<f8") -> None:
    """An .npy file whose header claims `shape` and that holds no data."""
    with path.open("wb") as f:
        npy_format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": tuple(shape)})


def test_a_header_claiming_more_than_the_file_holds(tmp_path):
    path = tmp_path / "huge.npy"
    write_header_only(path, (10**12, 784))
    for call in (lambda: array_shape(str(path)), lambda: ArrayData(str(path)).load()):
        with pytest.raises(ValueError) as err:
            call()
        (line,) = str(err.value).splitlines()
        assert line == (
            f"data.path={path}: not a valid .npy/.npz file, truncated or corrupt: header claims shape "
            "[1000000000000, 784] of float64 (6272000000000000 bytes) but holds 0 bytes"
        )
    # The same inside an .npz: the entry's size in the zip directory is what it can hold.
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as z:
        z.writestr("x.npy", path.read_bytes())
    with pytest.raises(
        ValueError, match=r"huge\.npz: .*corrupt: array 'x': header claims shape \[1000000000000, 784\]"
    ):
        ArrayData(str(tmp_path / "huge.npz")).load()


def test_an_array_larger_than_memory_is_refused_before_loading(tmp_path):
    """A real file (sparse: no disk used) holding all the data its header claims, more than memory."""
    available = available_memory()
    if available is None:
        pytest.skip("available memory is not known on this system")
    rows = available // 4096 + 1  # float32 rows of 1024: the data as stored alone exceed memory
    path = tmp_path / "big.npy"
    write_header_only(path, (rows, 1024), "<f4")
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size + rows * 4096)
    with pytest.raises(ValueError) as err:
        ArrayData(str(path)).load()
    (line,) = str(err.value).splitlines()
    assert line.startswith(f"data.path={path}: the array has shape [{rows}, 1024] of float32 ({rows * 4096} bytes")
    assert f"of memory ({2 * rows * 4096} bytes), but " in line and line.endswith("is available")


def test_errors_never_quote_the_file(tmp_path):
    """A file that is not an array (here a passwd-like text, and a damaged header) is named, not echoed."""
    secret = "root:x:0:0:SECRET-TOKEN"
    (tmp_path / "passwd").write_text(secret + "\n")
    npy = tmp_path / "bad.npy"
    npy.write_bytes(b"\x93NUMPY\x01\x00\x20\x00{'" + secret.encode() + b"': 1}      \n")
    real = [Path("/etc/passwd")] if Path("/etc/passwd").is_file() else []  # the reported case
    for path in (tmp_path / "passwd", npy, *real):
        for call in (array_shape, lambda p: ArrayData(p).load()):
            with pytest.raises(ValueError) as err:
                call(str(path))
            (line,) = str(err.value).splitlines()
            assert str(path) in line and "SECRET" not in line and "root:" not in line


@pytest.mark.parametrize("path", ["/proc/self/environ", "/dev/zero", "/sys/kernel/notes"])
def test_special_files_are_refused(tmp_path, path):
    link = tmp_path / "data.npy"
    link.symlink_to(path)
    for given in (path, str(link)):
        with pytest.raises(ValueError, match=r"holds kernel state or devices, not data") as err:
            ArrayData(given).load()
        assert len(str(err.value).splitlines()) == 1 and given in str(err.value)


def test_too_few_examples_are_refused_from_the_header(tmp_path):
    np.save(tmp_path / "two.npy", np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError) as err:
        ArrayData(str(tmp_path / "two.npy"), val_size=1, test_size=1).setup()
    assert str(err.value) == (
        f"data.path={tmp_path / 'two.npy'} holds 2 examples; data.test_size=1 and data.val_size=1 need at least 3 "
        "(one or more each for the test, validation and training splits)"
    )
