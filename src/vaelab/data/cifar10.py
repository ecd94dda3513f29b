"""CIFAR-10 from its binary batch files, found on disk or downloaded.

We read the *binary* version (`cifar-10-batches-bin`) with numpy: the python version is
pickled, and unpickling a downloaded file can run arbitrary code. Each record is 3073
bytes: 1 label byte (0-9), then the 32x32 image as 1024 red, 1024 green and 1024 blue
bytes, each plane row-major, so a record reshapes directly to (3, 32, 32).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaelab.config.types import Bool
from vaelab.data.base import Split
from vaelab.data.files import FileDataModule
from vaelab.errors import DataError

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
FOLDER = "cifar-10-batches-bin"  # what the archive extracts to
FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
RECORD = 1 + 3 * 32 * 32
NUM_CLASSES = 10


def read_records(path: str | Path) -> np.ndarray:
    """The records of one binary batch file, checked: uint8 (N, 3073), label byte first."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0 or size % RECORD:
        raise DataError(
            f"{path}: {size} bytes is not a whole number of CIFAR-10 records ({RECORD} bytes each): "
            "the file is truncated or not from the binary version (cifar-10-batches-bin)"
        )
    records = np.fromfile(path, dtype=np.uint8).reshape(-1, RECORD)
    bad = np.flatnonzero(records[:, 0] >= NUM_CLASSES)
    if len(bad):  # the record's number, not its bytes: errors never quote a file
        raise DataError(
            f"{path}: record {bad[0]} has a label byte outside 0-9 (the CIFAR-10 classes): the file is corrupt"
        )
    return records


def to_split(records: np.ndarray) -> Split:
    """x (N, 3, 32, 32) float in [0, 1], y (N,) long, from uint8 records (N, 3073)."""
    x = torch.from_numpy(records[:, 1:].reshape(-1, 3, 32, 32)).float().div_(255.0)
    return x, torch.from_numpy(records[:, 0].astype(np.int64))


class CIFAR10(FileDataModule):
    """Krizhevsky's 32x32 colour images, 10 classes: 50k train (5k held out for validation) / 10k test.

    Reads all batch files from `data_dir` or else `data_dir/cifar-10-batches-bin` (the first
    holding any of them); downloads the binary archive into `data_dir` only when neither holds any.
    """

    split_files = FILES

    def __init__(self, data_dir: str, download: Bool = True, **kwargs):
        kwargs.setdefault("val_size", 5000)
        super().__init__(data_dir, download, **kwargs)

    @property
    def dirs(self) -> list[Path]:
        return [self.data_dir, self.data_dir / FOLDER]

    def fetch(self) -> None:
        from torchvision.datasets.utils import download_and_extract_archive

        download_and_extract_archive(URL, download_root=str(self.data_dir), md5=MD5)

    def how_to_get(self, missing: list[str]) -> list[str]:
        return [
            f"download {URL} (the binary version, not the python one), and extract it into "
            f"data.data_dir={self.data_dir} (tar xzf cifar-10-binary.tar.gz -C {self.data_dir})"
        ]

    def read(self, split: str) -> Split:
        # Concatenate the bytes before converting: float32 is 4x the size, so convert only once.
        return to_split(np.concatenate([read_records(self.find(name)) for name in FILES[split]]))
