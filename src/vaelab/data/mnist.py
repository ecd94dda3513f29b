"""Fashion-MNIST and MNIST from their four IDX files, found on disk or downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaelab.config.types import Bool
from vaelab.data.base import Split
from vaelab.data.files import FileDataModule
from vaelab.data.idx import read_idx
from vaelab.errors import DataError

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class IDXDataModule(FileDataModule):
    """28x28 grey images with 60k train / 10k test examples in IDX files.

    Reads all four files from the first of `data_dir`, `search_dirs`, torchvision's download
    folder under `data_dir` that holds any of them (never some from one, some from another);
    downloads with torchvision only when none holds any.
    """

    #: torchvision's dataset class name, used only to download.
    torchvision_name: str = ""
    #: Debian package that installs the files, and where it puts them; named in the error message.
    debian_package: str = ""
    debian_dir: str = ""

    split_files = FILES

    def __init__(self, data_dir: str, search_dirs: list[str] | tuple[str, ...] = (), download: Bool = True, **kwargs):
        kwargs.setdefault("val_size", 5000)
        super().__init__(data_dir, download, **kwargs)
        self.search_dirs = [Path(d).expanduser() for d in search_dirs]

    @property
    def dirs(self) -> list[Path]:
        return [self.data_dir, *self.search_dirs, self.data_dir / self.torchvision_name / "raw"]

    def names(self, file: str) -> tuple[str, ...]:
        return (file + ".gz", file)

    def fetch(self) -> None:
        import torchvision.datasets

        getattr(torchvision.datasets, self.torchvision_name)(str(self.data_dir), download=True)

    def how_to_get(self, missing: list[str]) -> list[str]:
        how = [f"put the files ({', '.join(s + '.gz' for s in missing)}) into data.data_dir={self.data_dir}"]
        if self.debian_package:
            how.append(
                f"on Debian/Ubuntu: apt-get install -y {self.debian_package} (installs them in {self.debian_dir})"
            )
            if Path(self.debian_dir) not in self.search_dirs:
                how[-1] += " and add that directory to data.search_dirs"
        return how

    def read(self, split: str) -> Split:
        images_stem, labels_stem = FILES[split]
        images_path, labels_path = self.find(images_stem), self.find(labels_stem)
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{images_path} and {labels_path}: expected N images and N labels, "
                f"got shapes {images.shape} and {labels.shape}"
            )
        # torch's conversion and in-place division (float32, correctly rounded: the same bits as
        # numpy's) run on every core: 0.13-0.17 s for the 60,000 training images against 1.3 s
        # for numpy's astype and division, most of a run's data loading.
        x = torch.from_numpy(images).to(torch.float32).div_(255.0).unsqueeze(1)  # (N, 1, 28, 28) in [0, 1]
        return x, torch.from_numpy(labels.astype(np.int64))


class FashionMNIST(IDXDataModule):
    """Zalando's Fashion-MNIST (Xiao et al., 2017): 10 classes of clothing."""

    torchvision_name = "FashionMNIST"
    debian_package = "dataset-fashion-mnist"
    debian_dir = "/usr/share/datasets/fashion-mnist"


class MNIST(IDXDataModule):
    """LeCun's handwritten digits."""

    torchvision_name = "MNIST"
