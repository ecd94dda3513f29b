"""Fashion-MNIST and MNIST from their four IDX files, found on disk or downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaelab.data.base import InMemoryDataModule, Split
from vaelab.data.idx import read_idx

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def find_file(stem: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        for name in (stem + ".gz", stem):
            if (d / name).is_file():
                return d / name
    return None


class IDXDataModule(InMemoryDataModule):
    """28x28 grey images with 60k train / 10k test examples in IDX files.

    Looks in `data_dir`, then in `search_dirs`, then in torchvision's download folder
    under `data_dir`; downloads with torchvision only when none holds the files.
    """

    #: torchvision's dataset class name, used only to download.
    torchvision_name: str = ""
    #: Debian package that installs the files, named in the error message.
    debian_package: str = ""

    def __init__(self, data_dir: str, search_dirs: list[str] | tuple[str, ...] = (), download: bool = True, **kwargs):
        kwargs.setdefault("val_size", 5000)
        super().__init__(**kwargs)
        self.data_dir = Path(data_dir).expanduser()
        self.search_dirs = [Path(d).expanduser() for d in search_dirs]
        self.download = download

    @property
    def dirs(self) -> list[Path]:
        return [self.data_dir, *self.search_dirs, self.data_dir / self.torchvision_name / "raw"]

    def missing(self) -> list[str]:
        return [stem for pair in FILES.values() for stem in pair if find_file(stem, self.dirs) is None]

    def prepare_data(self) -> None:
        if not self.missing() or not self.download:
            return
        import torchvision.datasets

        try:
            getattr(torchvision.datasets, self.torchvision_name)(str(self.data_dir), download=True)
        except Exception as err:  # no network, mirror down, ...: the error below says what to do
            self.download_error = f"{type(err).__name__}: {err}"

    def load(self) -> dict[str, Split]:
        missing = self.missing()
        if missing:
            tried = getattr(self, "download_error", None)
            how = [
                f"put the files ({', '.join(s + '.gz' for s in missing)}) into data.data_dir={self.data_dir}",
            ]
            if self.debian_package:
                how.append(
                    f"on Debian/Ubuntu: apt-get install -y {self.debian_package} (installs them in {self.search_dirs[0]})"
                )
            raise FileNotFoundError(
                f"data={self.name}: files not found. Looked in: {', '.join(map(str, self.dirs))}. "
                + (
                    f"Download failed ({tried}). "
                    if tried
                    else "Download is off (data.download=false). "
                    if not self.download
                    else ""
                )
                + "To get them: "
                + "; or ".join(how)
                + "."
            )
        return {split: self._read(*stems) for split, stems in FILES.items()}

    def _read(self, images_stem: str, labels_stem: str) -> Split:
        images_path, labels_path = find_file(images_stem, self.dirs), find_file(labels_stem, self.dirs)
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"{images_path} and {labels_path}: expected N images and N labels, "
                f"got shapes {images.shape} and {labels.shape}"
            )
        x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # (N, 1, 28, 28) in [0, 1]
        return x, torch.from_numpy(labels.astype(np.int64))


class FashionMNIST(IDXDataModule):
    """Zalando's Fashion-MNIST (Xiao et al., 2017): 10 classes of clothing."""

    torchvision_name = "FashionMNIST"
    debian_package = "dataset-fashion-mnist"


class MNIST(IDXDataModule):
    """LeCun's handwritten digits."""

    torchvision_name = "MNIST"
