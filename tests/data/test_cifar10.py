"""CIFAR10 reads tiny binary batch files written here byte by byte; nothing touches the network."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision.datasets.utils
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.conftest import CONF
from vaelab.data import CIFAR10
from vaelab.data.cifar10 import MD5, URL

ROOT = Path(__file__).resolve().parents[2]
TRAIN = [f"data_batch_{i}.bin" for i in range(1, 6)]
TEST = "test_batch.bin"


def pixel(record: int, c: int, row: int, col: int) -> int:
    """A distinct value per record, channel, row and column, so any mix-up shows."""
    return (record * 11 + c * 85 + row * 7 + col * 3) % 256


def record_bytes(record: int) -> bytes:
    label = record % 10
    image = [pixel(record, c, r, k) for c in range(3) for r in range(32) for k in range(32)]  # channel-major
    return bytes([label, *image])


def write_batches(folder: Path, per_file: int = 2, test: int = 3) -> None:
    """Train records are numbered 0..5*per_file-1 across the five files; test ones from 100."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(TRAIN):
        (folder / name).write_bytes(b"".join(record_bytes(i * per_file + j) for j in range(per_file)))
    (folder / TEST).write_bytes(b"".join(record_bytes(100 + j) for j in range(test)))


def expected_image(record: int) -> torch.Tensor:
    idx = torch.arange(32)
    c, r, k = torch.meshgrid(torch.arange(3), idx, idx, indexing="ij")
    return ((record * 11 + c * 85 + r * 7 + k * 3) % 256).float() / 255.0


def test_records_come_back_exactly(tmp_path):
    write_batches(tmp_path / "cifar-10-batches-bin")
    loaded = CIFAR10(str(tmp_path), download=False).load()
    x, y = loaded["train"]
    assert x.shape == (10, 3, 32, 32) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and y.tolist() == [i % 10 for i in range(10)]  # files in order 1..5
    for i in range(10):
        assert torch.equal(x[i], expected_image(i))
    # Channel-major: byte 1 + 1024 is green (0, 0); byte 1 + 1 is red (0, 1); byte 1 + 32 is red (1, 0).
    raw = (tmp_path / "cifar-10-batches-bin" / TRAIN[0]).read_bytes()
    assert round(x[0, 1, 0, 0].item() * 255) == raw[1 + 1024]
    assert round(x[0, 0, 0, 1].item() * 255) == raw[1 + 1]
    assert round(x[0, 0, 1, 0].item() * 255) == raw[1 + 32]
    assert round(x[1, 2, 31, 31].item() * 255) == raw[3073 + 3072]
    xt, yt = loaded["test"]
    assert xt.shape == (3, 3, 32, 32) and yt.tolist() == [0, 1, 2]
    assert torch.equal(xt[2], expected_image(102))


def test_setup_splits_and_batch(tmp_path):
    write_batches(tmp_path)  # directly in data_dir, not in the subfolder
    dm = CIFAR10(str(tmp_path), download=False, val_size=3, batch_size=4, seed=7, shape=[3, 32, 32])
    dm.setup()
    sizes = {k: len(v[0]) for k, v in dm.splits.items()}
    assert sizes == {"train": 7, "val": 3, "test": 3}
    # Train and val partition the train files; each image still matches its label.
    x = torch.cat([dm.splits["train"][0], dm.splits["val"][0]])
    y = torch.cat([dm.splits["train"][1], dm.splits["val"][1]])
    assert sorted(y.tolist()) == list(range(10))
    for xi, yi in zip(x, y):
        assert torch.equal(xi, expected_image(int(yi)))
    again = CIFAR10(str(tmp_path), download=False, val_size=3, seed=7)
    again.setup()
    assert torch.equal(again.splits["val"][1], dm.splits["val"][1])
    xb, yb = next(iter(dm.train_dataloader()))
    assert xb.shape == (4, 3, 32, 32) and yb.shape == (4,)
    assert 0.0 <= xb.min() and xb.max() <= 1.0
    assert CIFAR10(str(tmp_path)).val_size == 5000


def test_truncated_file_is_named(tmp_path):
    folder = tmp_path / "cifar-10-batches-bin"
    write_batches(folder)
    bad = folder / TRAIN[2]
    bad.write_bytes(bad.read_bytes()[:-100])
    with pytest.raises(ValueError, match="data_batch_3.bin.*not a whole number"):
        CIFAR10(str(tmp_path), download=False).load()


def test_bad_label_byte_is_named(tmp_path):
    write_batches(tmp_path)
    (tmp_path / TEST).write_bytes(bytes([10]) + record_bytes(0)[1:])
    with pytest.raises(ValueError, match=r"test_batch.bin: record 0 has a label byte outside 0-9"):
        CIFAR10(str(tmp_path), download=False).load()


def test_missing_files_without_download(tmp_path):
    dm = CIFAR10(str(tmp_path / "nowhere"), download=False)
    dm.prepare_data()  # download is off: does nothing
    with pytest.raises(FileNotFoundError) as err:
        dm.setup()
    msg = str(err.value)
    assert str(tmp_path / "nowhere") in msg and str(tmp_path / "nowhere" / "cifar-10-batches-bin") in msg
    assert "data.download=false" in msg and URL in msg and "test_batch.bin" in msg
    assert not (tmp_path / "nowhere").exists()


def test_failed_download_is_reported(tmp_path, monkeypatch):
    calls = []

    def offline(url, download_root, md5=None, **kwargs):
        calls.append((url, download_root, md5))
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets.utils, "download_and_extract_archive", offline)
    dm = CIFAR10(str(tmp_path), download=True)
    dm.prepare_data()
    assert calls == [(URL, str(tmp_path), MD5)]
    with pytest.raises(FileNotFoundError, match=r"Download failed \(OSError: network is unreachable\)"):
        dm.load()


def test_download_extracts_into_subfolder(tmp_path, monkeypatch):
    def fake(url, download_root, md5=None, **kwargs):  # what the real archive unpacks to
        write_batches(Path(download_root) / "cifar-10-batches-bin", per_file=1, test=1)

    monkeypatch.setattr(torchvision.datasets.utils, "download_and_extract_archive", fake)
    dm = CIFAR10(str(tmp_path), val_size=1)
    dm.prepare_data()
    dm.setup()
    assert {k: len(v[0]) for k, v in dm.splits.items()} == {"train": 4, "val": 1, "test": 1}


def test_config_instantiates(tmp_path):
    write_batches(tmp_path / "cifar10" / "cifar-10-batches-bin", per_file=3)
    cfg = OmegaConf.create(
        {"seed": 3, "paths": {"data_dir": str(tmp_path)}, "data": OmegaConf.load(CONF / "data" / "cifar10.yaml")}
    )
    cfg.data.download, cfg.data.val_size = False, 5
    dm = instantiate(cfg.data)
    assert isinstance(dm, CIFAR10) and dm.data_dir == tmp_path / "cifar10" and dm.binarize == "none"
    dm.setup()
    assert dm.shape == (3, 32, 32) and len(dm.splits["train"][0]) == 10


def test_test_stage_reads_only_the_test_batch(tmp_path):
    full_dir, test_dir = tmp_path / "full", tmp_path / "test_only"
    write_batches(full_dir)
    test_dir.mkdir()
    (test_dir / TEST).write_bytes((full_dir / TEST).read_bytes())
    dm = CIFAR10(str(test_dir), download=False, val_size=3, shape=[3, 32, 32])
    dm.setup("test")
    x, y = dm.splits["test"]
    assert list(dm.splits) == ["test"] and y.tolist() == [0, 1, 2]
    for i in range(3):
        assert torch.equal(x[i], expected_image(100 + i))
    full = CIFAR10(str(full_dir), download=False, val_size=3)
    full.setup("fit")
    assert torch.equal(x, full.splits["test"][0]) and torch.equal(y, full.splits["test"][1])
    # The train batches are asked for only when a stage needs them.
    with pytest.raises(FileNotFoundError) as err:
        dm.setup("fit")
    assert f"files not found ({', '.join(TRAIN)})" in str(err.value)


def test_batches_split_across_two_folders_are_refused(tmp_path):
    """Train batches in data_dir, the test batch only in its subfolder: refused, not mixed."""
    write_batches(tmp_path / "cifar-10-batches-bin")
    for name in TRAIN:
        (tmp_path / "cifar-10-batches-bin" / name).rename(tmp_path / name)
    for stage in ("fit", "test"):
        dm = CIFAR10(str(tmp_path), download=True)
        dm.prepare_data()  # no download beside a partial folder (none is attempted: no network here either)
        with pytest.raises(FileNotFoundError) as err:
            dm.setup(stage)
        (line,) = str(err.value).splitlines()
        assert f"files not found ({TEST}) in {tmp_path}, which holds the data set's other files" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*TRAIN, "cifar-10-batches-bin"])
