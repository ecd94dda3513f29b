"""Any folder of images (your own data set), resized to squares and held in memory.

Images are found recursively and sorted by path, so the same folder always gives the
same tensors and hence, with the same seed, the same splits. If the images live in
subfolders of `root` (root/cat/1.png, root/dog/2.png) the subfolder is the label, as in
torchvision's ImageFolder; images directly in `root` have no label (-1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaelab.data.base import InMemoryDataModule, Split

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
CHANNELS = {1: "L", 3: "RGB"}  # channels -> PIL mode


def find_images(root: Path) -> list[Path]:
    """Image files under `root`, sorted; hidden files and folders (.git, macOS ._x.png) skipped."""
    found = [
        p
        for p in root.rglob("*")
        if p.suffix.lower() in EXTENSIONS
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def read_image(path: Path, mode: str, size: int) -> np.ndarray:
    """One image as uint8 (size, size, channels): converted to `mode`, scaled and centre-cropped."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)  # photos: apply the camera's rotation tag
            im = ImageOps.fit(im.convert(mode), (size, size), method=Image.Resampling.BICUBIC)
            return np.asarray(im, dtype=np.uint8).reshape(size, size, -1)
    except Exception as err:  # PIL raises many types (OSError, SyntaxError, DecompressionBombError, ...)
        raise ValueError(f"{path}: not a readable image ({type(err).__name__}: {err})") from err


class ImageFolder(InMemoryDataModule):
    """Images under `root` as (N, channels, image_size, image_size) floats in [0, 1].

    The whole folder is one set: the base class splits off `test_size`, then `val_size`.
    """

    def __init__(self, root: str, image_size: int = 64, channels: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.root = Path(root).expanduser()
        self.image_size, self.channels = image_size, int(channels)
        self.classes: list[str] = []

    def load(self) -> dict[str, Split]:
        root = self.root
        if not root.exists():
            raise FileNotFoundError(f"data={self.name}: data.root={root} does not exist (absolute: {root.absolute()})")
        if not root.is_dir():
            raise NotADirectoryError(f"data={self.name}: data.root={root} is a file; it must be a folder of images")
        paths = find_images(root)
        if not paths:
            raise ValueError(
                f"data={self.name}: no images found in data.root={root} (looked recursively for files "
                f"ending in {', '.join(EXTENSIONS)}, any case)"
            )
        # Classes: the subfolders of root that hold images, sorted, so labels are 0..K-1.
        nested = [p.relative_to(root).parts for p in paths]
        self.classes = sorted({parts[0] for parts in nested if len(parts) > 1})
        index = {name: i for i, name in enumerate(self.classes)}
        y = torch.tensor([index[parts[0]] if len(parts) > 1 else -1 for parts in nested], dtype=torch.int64)

        # Fill one uint8 array, then convert once: float32 is 4x the size of the bytes.
        size, mode = self.image_size, CHANNELS[self.channels]
        pixels = np.empty((len(paths), self.channels, size, size), dtype=np.uint8)
        for i, path in enumerate(paths):
            pixels[i] = read_image(path, mode, size).transpose(2, 0, 1)  # (size, size, C) -> (C, size, size)
        x = torch.from_numpy(pixels).float().div_(255.0)  # (N, channels, size, size) in [0, 1]
        return {"all": (x, y)}
