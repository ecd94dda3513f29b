"""`data=dsprites`: the real dSprites file (Matthey et al., 2017), read without unpickling anything.

dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz holds `imgs` (737,280 x 64 x 64 uint8, 0/1),
`latents_classes` and `latents_values` (737,280 x 6: color, shape, scale, orientation, posX,
posY) and `metadata`, a pickled dict. np.load(allow_pickle=False) of an .npz only reads the zip
directory; an entry is read when indexed, so `metadata` is never touched. `imgs` is streamed
from the archive in chunks and kept packed, 8 pixels a byte (377 MB, not 3 GB); `render` looks
an image up by its factors and unpacks it. Color has one value in dSprites and is dropped:
the factors are shape, scale, orientation, posX, posY, sized from `latents_classes`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vaelab.data.array import READ_ERRORS, HeaderClaim, checked_header, dtype_text
from vaelab.data.factors import FactorDataModule, FactorSource
from vaelab.data.safety import check_fits, error_kind
from vaelab.errors import DataError, MissingFile

FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
URL = "https://github.com/google-deepmind/dsprites-dataset"
COLUMNS = ("color", "shape", "scale", "orientation", "posX", "posY")  # of latents_classes
CHUNK = 8192  # images decompressed at once: 32 MB


class BadFile(DataError):
    """The file is there but is not what dSprites' file holds."""

    def __init__(self, path: Path, what: str):
        super().__init__(f"data.data_dir={path.parent}: {path.name}: {what}")


def read_packed(npz: np.lib.npyio.NpzFile, path: Path, chunk: int = CHUNK) -> np.ndarray:
    """`imgs` (N, H, W) 0/1 bytes, streamed from the archive and packed: (N, H, W / 8) uint8."""
    with npz.zip.open("imgs.npy") as f:
        shape, dtype = checked_header(f, npz.zip.getinfo("imgs.npy").file_size, path, "imgs:", "data.data_dir")
        if dtype != np.uint8 or len(shape) != 3 or shape[2] % 8:
            raise BadFile(
                path,
                f"imgs has dtype {dtype_text(dtype)} and shape {list(shape)}; need (N, H, W) uint8, W a multiple of 8",
            )
        n, h, w = shape
        # The packed images, a chunk being unpacked, and the int64 factor table the source keeps.
        needed = n * h * w // 8 + chunk * h * w * 2 + n * 48
        check_fits(f"data.data_dir={path.parent}: {path.name}: imgs has shape {list(shape)}", needed)
        packed = np.empty((n, h, w // 8), dtype=np.uint8)
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            raw = f.read(m * h * w)
            if len(raw) != m * h * w:
                raise BadFile(path, f"imgs is truncated ({start + len(raw) // (h * w)} of {n} images)")
            part = np.frombuffer(raw, dtype=np.uint8).reshape(m, h, w)
            if part.max(initial=0) > 1:
                raise BadFile(path, f"imgs holds values up to {part.max()}; dSprites images are 0/1")
            packed[start : start + m] = np.packbits(part, axis=-1)  # big-endian bits: pixel 8j + i is bit 7 - i
    return packed


class DSpritesSource(FactorSource):
    """The dSprites images, looked up by shape, scale, orientation, posX, posY."""

    factor_names = COLUMNS[1:]

    def __init__(self, path: str | Path):
        path = Path(path).expanduser()
        if not path.is_file():
            raise MissingFile(
                f"data.data_dir={path.parent}: {FILE} not found; download it from {URL} "
                f"(the file {FILE}, 26 MB) and put it in {path.parent}"
            )
        try:
            with np.load(path, allow_pickle=False) as npz:
                for key in ("imgs", "latents_classes"):
                    if key not in npz.files:
                        raise BadFile(path, f"no array {key!r} (it has {', '.join(npz.files)})")
                packed = read_packed(npz, path)  # checks imgs' header claims first: the big one
                with npz.zip.open("latents_classes.npy") as f:
                    size = npz.zip.getinfo("latents_classes.npy").file_size
                    _, dtype = checked_header(f, size, path, "latents_classes:", "data.data_dir")
                if dtype.hasobject:
                    raise BadFile(
                        path,
                        "latents_classes is an object array: not read, as that would unpickle (allow_pickle=False)",
                    )
                classes = npz["latents_classes"]
        except (BadFile, HeaderClaim):
            raise
        except READ_ERRORS as err:  # the type only: numpy's messages quote what they could not parse
            raise BadFile(path, f"not a readable .npz ({error_kind(err)})") from err
        if not len(packed) or classes.shape != (len(packed), len(COLUMNS)) or classes.dtype.kind not in "iu":
            raise BadFile(
                path,
                f"latents_classes has shape {list(classes.shape)} and dtype {classes.dtype}; "
                f"need integers, shape [{len(packed)}, {len(COLUMNS)}] ({', '.join(COLUMNS)})",
            )
        if classes.min() < 0 or classes[:, 0].max() > 0:
            raise BadFile(path, "latents_classes: need indices >= 0 and a single color (column 0)")
        classes = torch.from_numpy(classes[:, 1:].astype(np.int64))
        self.factor_sizes = tuple(int(k) + 1 for k in classes.max(0).values)
        index = self.index_of(classes)
        if self.num_combinations != len(classes) or len(torch.unique(index)) != len(classes):
            raise BadFile(path, f"latents_classes is not every combination of {self.factor_sizes} exactly once")
        self.rows = torch.empty_like(index)
        self.rows[index] = torch.arange(len(index))  # combination index -> row of imgs
        self.image_shape = (1, packed.shape[1], packed.shape[2] * 8)
        self.packed = {torch.device("cpu"): torch.from_numpy(packed)}  # (N, H, W / 8) per device
        self.shifts = torch.arange(7, -1, -1, dtype=torch.uint8)  # bit of each pixel in its byte

    def render(self, factors: np.ndarray | torch.Tensor) -> torch.Tensor:
        f = self.check_factors(factors)
        device = f.device
        if device not in self.packed:
            self.packed[device] = self.packed[torch.device("cpu")].to(device)  # once per device
        rows = self.rows.to(device)[self.index_of(f)]
        bits = self.packed[device][rows].unsqueeze(-1) >> self.shifts.to(device) & 1  # (n, H, W / 8, 8)
        return bits.view(len(f), *self.image_shape).float()


class DSprites(FactorDataModule):
    """`data=dsprites`: the dSprites file in `data_dir` (never downloaded: the message says from where)."""

    def __init__(self, data_dir: str, **kwargs):
        super().__init__(**kwargs)
        self.data_dir = Path(data_dir).expanduser()

    def make_source(self) -> DSpritesSource:
        return DSpritesSource(self.data_dir / FILE)
