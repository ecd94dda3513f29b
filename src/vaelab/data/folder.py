"""Any folder of images (your own data set), resized to squares and held in memory.

Images are found recursively and sorted by path, so the same folder always gives the
same tensors and hence, with the same seed, the same splits. If the images live in
subfolders of `root` (root/cat/1.png, root/dog/2.png) the subfolder is the label, as in
torchvision's ImageFolder; images directly in `root` have no label (-1).

Every image is read at its own depth (`pixels_of`): 8-bit modes divided by 255, 16-bit
greyscale by 65535, transparency composited over black, and converted to `channels`
(grey from colour by Pillow's luma weights); a mode that cannot be read correctly is
refused, naming the file and the mode. Resizing is done in 32-bit floats.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from vaelab.config.types import PosInt
from vaelab.data.base import InMemoryDataModule, Split
from vaelab.data.safety import check_fits, error_kind, mounts, refuse_special
from vaelab.errors import DataError, MissingFile, NotAFolder

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


# Bounds of the walk: data.root may come from a checkpoint, so it is a claim, and a wrong one
# (/, a home folder, a network mount) must end in one line, not an hour-long walk. No folder of
# images held in memory comes near either.
MAX_FILES = 1_000_000  # files and folders looked at
MAX_DEPTH = 32  # folders below data.root


def find_images(root: Path, max_files: int = MAX_FILES, max_depth: int = MAX_DEPTH) -> list[Path]:
    """Image files under `root`, sorted by relative path; hidden files and folders (.git, macOS
    ._x.png) skipped. Symlinks are followed, each folder read once (no loops), and none may lead
    into a pseudo filesystem (/proc, /sys, /dev, ...): that, more than `max_files` entries or
    folders deeper than `max_depth` is refused in one line."""
    table = mounts()
    found: list[tuple[str, Path]] = []
    seen: set[str] = set()
    looked = 0
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        real = os.path.realpath(folder)
        if real in seen:
            continue
        seen.add(real)
        if depth > max_depth:
            raise DataError(
                f"data.root={root}: folders nested more than {max_depth} deep (at {folder}), the most this "
                "walk descends; point data.root at the folder of images"
            )
        if depth:  # the root itself was checked by the caller
            refuse_special("data.root", folder, table)
        entries = []
        try:
            with os.scandir(folder) as listing:
                for entry in listing:  # counted as listed: a folder of millions ends at the limit
                    looked += 1
                    if looked > max_files:
                        raise DataError(
                            f"data.root={root}: more than {max_files} files and folders under it, the most this "
                            "walk looks at; point data.root at the folder of images"
                        )
                    if not entry.name.startswith("."):
                        entries.append(entry)
        except OSError as err:
            raise DataError(f"data.root={root}: cannot list {folder} ({error_kind(err)})") from err
        # Sorted, and pushed in reverse, so folders are walked in name order: of two links to one
        # folder, the first by name is the one kept, on every machine.
        for entry in sorted(entries, key=lambda e: e.name, reverse=True):
            if entry.is_dir():
                stack.append((Path(entry.path), depth + 1))
            elif entry.name.lower().endswith(EXTENSIONS) and entry.is_file():  # is_file: no devices, no pipes
                if entry.is_symlink():
                    refuse_special("data.root", Path(entry.path), table)
                found.append((Path(entry.path).relative_to(root).as_posix(), Path(entry.path)))
    return [path for _, path in sorted(found)]


# Modes whose samples are 8-bit (0..255): Pillow converts them to RGB (or RGBA) exactly.
EIGHT_BIT = ("1", "L", "P", "RGB", "YCbCr", "CMYK", "LA", "PA", "RGBA")
# Single-channel modes read at their own depth: the full-scale value each is divided by.
DEEP = {"I;16": 65535.0, "I;16L": 65535.0, "I;16B": 65535.0, "I;16N": 65535.0, "I": 65535.0, "F": 1.0}
READABLE = ", ".join((*EIGHT_BIT, *DEEP))
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601-2, as Pillow's convert("L")


class BadImage(DataError):
    """An image that opened but cannot be read correctly (its mode or range); the message says why."""


def pixels_of(im, path: Path) -> np.ndarray:
    """The pixels of a PIL image as float32 (H, W, 1 or 3) in [0, 1], read at the image's depth.

    16-bit greyscale (I;16*) is divided by 65535, not clipped to 8 bits. Mode I (32-bit integers,
    e.g. from a TIFF) is read as 16-bit, so its values must lie in 0..65535; mode F (32-bit floats)
    must already lie in [0, 1]; other ranges have no known full scale and are refused. Transparent
    pixels (alpha, or a palette/tRNS transparency) are composited over black: a pixel that is fully
    transparent reads 0 whatever colour it hides.
    """
    mode = im.mode
    if mode in DEEP:
        x = np.asarray(im).astype(np.float32)  # big-endian I;16B becomes native here
        lo, hi = (float(x.min()), float(x.max())) if x.size else (0.0, 0.0)
        if not (np.isfinite(x).all() and 0 <= lo and hi <= DEEP[mode]):
            raise BadImage(
                f"{path}: mode {mode} image with values in [{lo:g}, {hi:g}]; this mode is read only with values "
                f"in [0, {DEEP[mode]:g}] (save it as 8- or 16-bit, or scale it into that range)"
            )
        return (x / DEEP[mode])[..., None]
    if mode not in EIGHT_BIT:
        raise BadImage(f"{path}: image mode {mode} cannot be read (readable modes: {READABLE})")
    alpha = mode in ("LA", "PA", "RGBA") or "transparency" in im.info
    if mode in ("1", "L") and not alpha:
        return (np.asarray(im.convert("L"), dtype=np.float32) / 255.0)[..., None]
    x = np.asarray(im.convert("RGBA" if alpha else "RGB"), dtype=np.float32) / 255.0
    return x[..., :3] * x[..., 3:] if alpha else x


def read_image(path: Path, channels: int, size: int) -> np.ndarray:
    """One image as float32 (channels, size, size) in [0, 1]: read at its depth, scaled and centre-cropped."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)  # photos: apply the camera's rotation tag
            x = pixels_of(im, path)
    except BadImage:
        raise
    except Image.DecompressionBombError as err:  # its message is sizes only
        raise DataError(f"{path}: not read ({err})") from err
    except Exception as err:  # PIL raises many types; their messages may quote the file's bytes
        raise DataError(
            f"{path}: not a readable image ({type(err).__name__}: truncated, corrupt or not an image)"
        ) from err
    if channels == 1 and x.shape[-1] == 3:
        x = x @ LUMA  # (H, W)
        x = x[..., None]
    elif channels == 3 and x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    # Resize each channel as a 32-bit float image: no rounding to 8 bits on the way.
    planes = [
        np.asarray(
            ImageOps.fit(Image.fromarray(np.ascontiguousarray(x[..., c])), (size, size), Image.Resampling.BICUBIC)
        )
        for c in range(channels)
    ]
    return np.clip(np.stack(planes), 0.0, 1.0)  # bicubic overshoots a little at sharp edges


class ImageFolder(InMemoryDataModule):
    """Images under `root` as (N, channels, image_size, image_size) floats in [0, 1].

    The whole folder is one set: the base class splits off `test_size`, then `val_size`.
    """

    def __init__(self, root: str, image_size: PosInt = 64, channels: Literal[1, 3] = 3, **kwargs):
        super().__init__(**kwargs)
        self.root = Path(root).expanduser()
        self.image_size, self.channels = image_size, int(channels)
        self.classes: list[str] = []

    def load(self) -> dict[str, Split]:
        root = self.root
        refuse_special("data.root", root)
        if not root.exists():
            raise MissingFile(f"data={self.name}: data.root={root} does not exist (absolute: {root.absolute()})")
        if not root.is_dir():
            raise NotAFolder(f"data={self.name}: data.root={root} is a file; it must be a folder of images")
        paths = find_images(root)
        if not paths:
            raise DataError(
                f"data={self.name}: no images found in data.root={root} (looked recursively for files "
                f"ending in {', '.join(EXTENSIONS)}, any case)"
            )
        what = f"data={self.name}: data.root={root}"
        self.check_count(len(paths), what, "images")
        size = self.image_size
        # The images as float32, and the splits carved from them.
        check_fits(
            f"{what}: {len(paths)} images of {self.channels} x {size} x {size} (data.channels, data.image_size)",
            2 * 4 * len(paths) * self.channels * size * size,
        )
        # Classes: the subfolders of root that hold images, sorted, so labels are 0..K-1.
        nested = [p.relative_to(root).parts for p in paths]
        self.classes = sorted({parts[0] for parts in nested if len(parts) > 1})
        index = {name: i for i, name in enumerate(self.classes)}
        y = torch.tensor([index[parts[0]] if len(parts) > 1 else -1 for parts in nested], dtype=torch.int64)

        x = torch.empty((len(paths), self.channels, size, size), dtype=torch.float32)
        for i, path in enumerate(paths):
            x[i] = torch.from_numpy(read_image(path, self.channels, size))  # (channels, size, size) in [0, 1]
        return {"all": (x, y)}
