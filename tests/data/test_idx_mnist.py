"""IDX reading and the Fashion-MNIST / MNIST / digits data modules, on the real files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from vaelab.conf import CONF_DIR
from vaelab.data import MNIST, Digits, FashionMNIST
from vaelab.data.idx import read_idx
from vaelab.data.prepare import main as prepare_main

ROOT = Path(__file__).resolve().parents[2]


def write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_round_trip_and_header_checks(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", array)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), array)

    raw = gzip.decompress((tmp_path / "a.gz").read_bytes())
    (tmp_path / "short").write_bytes(raw[:-5])
    with pytest.raises(ValueError, match=r"short.*truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "bad.gz").write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"bad\.gz"):
        read_idx(tmp_path / "bad.gz")
    (tmp_path / "magic").write_bytes(b"\x01\x02\x08\x01" + raw[4:])
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "magic")


def test_real_mnist_test_split(mnist_test_split):
    images = read_idx(mnist_test_split / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(mnist_test_split / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert set(np.unique(labels)) == set(range(10))
    # Digits are bright strokes on a black background: the border is empty.
    assert images[:, 0, :].max() == 0 and images.mean() > 20


def test_fashion_mnist_splits_are_real_and_deterministic(fashion_mnist_dir, tmp_path):
    def make(seed):
        dm = FashionMNIST(
            data_dir=tmp_path, search_dirs=[fashion_mnist_dir], download=False, seed=seed, binarize="none"
        )
        dm.setup()
        return dm

    dm = make(0)
    sizes = {k: len(v[0]) for k, v in dm.splits.items()}
    assert sizes == {"train": 55000, "val": 5000, "test": 10000}
    assert dm.shape == (1, 28, 28) and dm.data_range("train") == (0.0, 1.0)
    assert torch.bincount(dm.splits["test"][1]).tolist() == [1000] * 10  # the real test split is balanced
    again, other = make(0), make(1)
    assert torch.equal(dm.splits["val"][0], again.splits["val"][0])
    assert not torch.equal(dm.splits["val"][1], other.splits["val"][1])
    # The real test images' values are the bytes over 255 in float32, bit for bit as numpy divides them.
    raw = read_idx(fashion_mnist_dir / "t10k-images-idx3-ubyte.gz")
    expected = torch.from_numpy(raw.astype(np.float32) / np.float32(255.0)).unsqueeze(1)
    assert torch.equal(dm.splits["test"][0], expected)


def test_dynamic_binarisation(fashion_mnist_dir, tmp_path):
    dm = FashionMNIST(
        data_dir=tmp_path, search_dirs=[fashion_mnist_dir], download=False, binarize="dynamic", batch_size=256
    )
    dm.setup()
    # Evaluation splits are binarised once, with a fixed seed, whatever the run's seed.
    test_x = dm.splits["test"][0]
    assert set(test_x.unique().tolist()) == {0.0, 1.0}
    other = FashionMNIST(data_dir=tmp_path, search_dirs=[fashion_mnist_dir], download=False, binarize="dynamic", seed=7)
    other.setup()
    assert torch.equal(test_x, other.splits["test"][0])
    # Training batches are fresh draws each epoch, reproducible for the same epoch.
    loader = dm.train_dataloader()

    def first_batch(epoch):
        loader.sampler.set_epoch(epoch)
        return next(iter(loader))

    (x0, y0), (x0b, y0b), (x1, _) = first_batch(0), first_batch(0), first_batch(1)
    assert set(x0.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(x0, x0b) and torch.equal(y0, y0b) and not torch.equal(x0, x1)
    # A fresh draw has the grey level as its mean: Bernoulli(p) averages to p.
    grey = dm.splits["train"][0][:20000]
    draws = torch.bernoulli(grey.expand(8, *grey.shape), generator=torch.Generator().manual_seed(0)).mean(0)
    assert (draws - grey).mean().abs() < 1e-3


def test_static_binarisation_is_fixed(tmp_path):
    dm = Digits(binarize="static", seed=3)
    dm.setup()
    assert set(dm.splits["train"][0].unique().tolist()) == {0.0, 1.0}
    assert dm.train_dataloader().transform is None


def test_missing_files_error_names_places_and_remedies(tmp_path):
    dm = MNIST(data_dir=tmp_path / "nowhere", search_dirs=[tmp_path / "also_not"], download=False)
    with pytest.raises(FileNotFoundError) as err:
        dm.setup()
    message = str(err.value)
    assert "nowhere" in message and "also_not" in message and "data.data_dir" in message
    fm = FashionMNIST(data_dir=tmp_path / "nowhere", search_dirs=[tmp_path / "x"], download=False)
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        fm.setup()


def test_mnist_module_on_the_real_test_split(mnist_dir):
    dm = MNIST(data_dir=mnist_dir, download=False, binarize="none", val_size=1000)
    dm.setup()
    assert [len(dm.splits[s][0]) for s in ("train", "val", "test")] == [9000, 1000, 10000]
    x, y = next(iter(dm.val_dataloader()))
    assert x.shape == (1000, 1, 28, 28) and y.dtype == torch.long


def test_shape_mismatch_is_named():
    with pytest.raises(ValueError, match="data.shape is \\[1, 28, 28\\]"):
        Digits(shape=[1, 28, 28]).setup()


def test_missing_files_without_search_dirs_still_say_how_to_get_them(tmp_path):
    """data.search_dirs=[] with data.download=false: the message, not an IndexError."""
    nowhere = tmp_path / "nowhere"
    dm = MNIST(data_dir=nowhere, search_dirs=[], download=False, shape=[1, 28, 28])
    with pytest.raises(FileNotFoundError) as err:
        dm.setup("fit")
    message = str(err.value)
    assert f"Looked in: {nowhere}, {nowhere / 'MNIST' / 'raw'}." in message
    assert "data.download=false" in message and f"into data.data_dir={nowhere}" in message
    fm = FashionMNIST(data_dir=nowhere, search_dirs=[], download=False, shape=[1, 28, 28])
    with pytest.raises(FileNotFoundError) as err:
        fm.setup("fit")
    assert (
        "apt-get install -y dataset-fashion-mnist (installs them in /usr/share/datasets/fashion-mnist) "
        "and add that directory to data.search_dirs" in str(err.value)
    )


def test_test_stage_reads_only_the_test_files(mnist_dir, mnist_test_split, tmp_path):
    """setup("test") on a dir holding only t10k-*: the real 10k test split, exactly as in a full setup."""
    test_only = tmp_path / "test_only"
    test_only.mkdir()
    for kind in ("images-idx3", "labels-idx1"):
        (test_only / f"t10k-{kind}-ubyte.gz").symlink_to(mnist_test_split / f"t10k-{kind}-ubyte.gz")
    real = read_idx(mnist_test_split / "t10k-images-idx3-ubyte.gz")  # (10000, 28, 28) uint8
    for binarize in ("none", "dynamic"):
        dm = MNIST(data_dir=test_only, download=False, shape=[1, 28, 28], search_dirs=[], binarize=binarize)
        dm.setup("test")
        assert list(dm.splits) == ["test"] and dm.shape == (1, 28, 28)
        x, y = dm.splits["test"]
        assert x.shape == (10000, 1, 28, 28) and y.shape == (10000,)
        full = MNIST(data_dir=mnist_dir, download=False, search_dirs=[], binarize=binarize, val_size=1000)
        full.setup("fit")
        assert torch.equal(x, full.splits["test"][0]) and torch.equal(y, full.splits["test"][1])
        if binarize == "none":
            assert torch.equal(x[:, 0], torch.from_numpy(real.astype(np.float32) / 255.0))
            assert dm.data_range("test") == (0.0, 1.0)
        else:
            assert set(x.unique().tolist()) == {0.0, 1.0}
        with pytest.raises(ValueError, match="train split is not loaded"):
            dm.data_range("train")
        # A later fit stage needs the train files, which this dir does not hold.
        with pytest.raises(FileNotFoundError) as err:
            dm.setup("fit")
        (line,) = str(err.value).splitlines()
        assert "train-images-idx3-ubyte, train-labels-idx1-ubyte)" in line and "t10k" not in line.split(")")[0]


def test_fit_stage_on_test_files_alone_names_the_train_files(mnist_test_split, tmp_path):
    for kind in ("images-idx3", "labels-idx1"):
        (tmp_path / f"t10k-{kind}-ubyte.gz").symlink_to(mnist_test_split / f"t10k-{kind}-ubyte.gz")
    for stage in ("fit", None):
        dm = MNIST(data_dir=tmp_path, download=False, shape=[1, 28, 28], search_dirs=[])
        with pytest.raises(FileNotFoundError) as err:
            dm.setup(stage)
        (line,) = str(err.value).splitlines()
        assert "files not found (train-images-idx3-ubyte, train-labels-idx1-ubyte)" in line
        assert dm.splits == {}


def link(src_dir, dst_dir, stems) -> None:
    dst_dir.mkdir(parents=True, exist_ok=True)
    for stem in stems:
        (dst_dir / f"{stem}.gz").symlink_to(src_dir / f"{stem}.gz")


ALL = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def test_a_partial_data_dir_is_never_completed_from_another(fashion_mnist_dir, tmp_path, capsys):
    """DIR lacks t10k-images: refused, naming it and DIR, though search_dirs holds it."""
    partial = tmp_path / "partial"
    link(fashion_mnist_dir, partial, [s for s in ALL if s != "t10k-images-idx3-ubyte"])
    for stage in ("fit", "test", None):
        dm = FashionMNIST(data_dir=partial, search_dirs=[fashion_mnist_dir], download=True)
        dm.prepare_data()  # download on, yet nothing is fetched beside a partial directory
        with pytest.raises(FileNotFoundError) as err:
            dm.setup(stage)
        (line,) = str(err.value).splitlines()
        assert f"files not found (t10k-images-idx3-ubyte) in {partial}," in line
        assert "all files of a data set are read from one directory" in line and dm.splits == {}
        assert not (partial / "FashionMNIST").exists()
    # The reported command, in-process: one line on stderr, exit code 1.
    code = prepare_main(
        ["data=fashion_mnist", f"data.data_dir={partial}", "data.download=false"], config_dir=str(CONF_DIR)
    )
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and line.startswith("error: data=FashionMNIST: files not found (t10k-images-idx3-ubyte)")
    # The same directory made whole is read, and its test images are the real ones.
    link(fashion_mnist_dir, partial, ["t10k-images-idx3-ubyte"])
    dm = FashionMNIST(data_dir=partial, search_dirs=[], download=False)
    dm.setup("test")
    assert dm.splits["test"][0].shape == (10000, 1, 28, 28)


def test_test_files_are_not_taken_from_a_search_dir(mnist_test_split, tmp_path):
    """data_dir holds the train files only: the test stage names the t10k files, not search_dirs' copies."""
    train_only, elsewhere = tmp_path / "train_only", tmp_path / "elsewhere"
    (train_only).mkdir()
    for kind in ("images-idx3", "labels-idx1"):
        (train_only / f"train-{kind}-ubyte.gz").symlink_to(mnist_test_split / f"t10k-{kind}-ubyte.gz")
    link(mnist_test_split, elsewhere, ALL[2:])
    dm = MNIST(data_dir=train_only, search_dirs=[elsewhere], download=False)
    with pytest.raises(
        FileNotFoundError, match=rf"files not found \(t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte\) in {train_only},"
    ):
        dm.setup("test")
    # With data_dir holding none of them, the search dir is the one source.
    dm = MNIST(data_dir=tmp_path / "empty", search_dirs=[elsewhere], download=False)
    dm.setup("test")
    assert dm.find("t10k-images-idx3-ubyte") == elsewhere / "t10k-images-idx3-ubyte.gz"


def test_idx_header_claims_are_checked_before_reading(tmp_path):
    """A tiny file claiming a huge shape: one line (truncated, or more than memory for a .gz), no allocation."""
    header = bytes([0, 0, 0x08, 3]) + struct.pack(">3I", 4_000_000_000, 4_000_000_000, 28)
    (tmp_path / "huge").write_bytes(header + b"\x00" * 10)
    with pytest.raises(ValueError) as err:
        read_idx(tmp_path / "huge")
    assert str(err.value) == (
        f"{tmp_path / 'huge'}: IDX header promises shape (4000000000, 4000000000, 28) "
        "(448000000000000000000 bytes) but the file holds only 10 bytes: the file is truncated or corrupt"
    )
    (tmp_path / "huge.gz").write_bytes(gzip.compress(header))  # the size a .gz unpacks to is known only by reading it
    with pytest.raises(ValueError) as err:
        read_idx(tmp_path / "huge.gz")
    (line,) = str(err.value).splitlines()
    assert line.startswith(f"{tmp_path / 'huge.gz'}: IDX header claims shape (4000000000, 4000000000, 28) (")
    assert "of memory" in line and line.endswith("is available")
    (tmp_path / "long").write_bytes(bytes([0, 0, 0x08, 1]) + struct.pack(">I", 3) + b"abcd")
    with pytest.raises(ValueError, match=r"long: .* \(3 bytes\) but the file holds more bytes"):
        read_idx(tmp_path / "long")


def test_idx_errors_never_quote_the_file(tmp_path):
    for name, content in [("secret.gz", b"root:x:0:0:SECRET"), ("secret", b"root:x:0:0:SECRET")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError) as err:
            read_idx(tmp_path / name)
        (line,) = str(err.value).splitlines()
        assert name in line and "root:x" not in line and "SECRET" not in line and "726f" not in line  # nor hex
