"""Any numpy array (.npy, or one array of an .npz) as a data set: vectors or images.

Accepted shapes: (N, D) vectors, (N, H, W) grey images (read as (N, 1, H, W)) and
(N, C, H, W) images. Files are always loaded with allow_pickle=False: a pickled (object)
array can run code when loaded, and holds no numbers we could train on anyway.
`array_shape` reads only the .npy header, so the config can know the shape of an example
(`shape: ${vaelab.array_shape:${data.path},${data.key}}`) before any data is loaded.

The header is a claim: `describe` checks the bytes it promises against the file (or the .npz
entry) holding them, and `ArrayData.load` the memory loading them takes against the memory
available, so a header claiming (1e12, 784) is one line, not an ArrayMemoryError. Errors name
the file and what is wrong with it, never its bytes (see vaelab.data.safety).
"""

from __future__ import annotations

import math
import zipfile
import zlib
from pathlib import Path

import numpy as np
import numpy.lib.format as npy_format
import torch

from vaelab.config.types import PosFloat
from vaelab.data.base import InMemoryDataModule, Split
from vaelab.data.safety import check_fits, error_kind, refuse_special
from vaelab.errors import DataError, MissingFile

NUMERIC = "biuf"  # numpy dtype kinds we train on: bool, signed/unsigned int, float
# What a truncated or corrupt .npy/.npz makes numpy and zipfile raise.
READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError)


def _key(key: str | None) -> str | None:
    return None if key in (None, "", "None", "null") else str(key)  # OmegaConf gives None; a CLI may give "null"


def _corrupt(path: Path, err: Exception) -> ValueError:
    # The error's type only: numpy's messages quote the header text they could not parse.
    return DataError(f"data.path={path}: not a valid .npy/.npz file, truncated or corrupt ({error_kind(err)})")


def _header(fp) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an open .npy stream, without reading the data."""
    version = npy_format.read_magic(fp)
    if version not in ((1, 0), (2, 0)):
        raise DataError(f"unsupported .npy format version {version}")
    read = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
    shape, _, dtype = read(fp)
    return shape, dtype


def claimed_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    return math.prod(shape) * dtype.itemsize


class HeaderClaim(DataError):
    """A header claiming more data than its file holds."""


def checked_header(
    fp, size: int, path: Path, name: str = "", setting: str = "data.path"
) -> tuple[tuple[int, ...], np.dtype]:
    """`_header`, and a check that the `size` bytes of the stream (a file, or an .npz entry
    named `name`) hold the data the header claims."""
    shape, dtype = _header(fp)
    held, claimed = size - fp.tell(), claimed_bytes(shape, dtype)
    if held < claimed:
        raise HeaderClaim(
            f"{setting}={path}: not a valid .npy/.npz file, truncated or corrupt: {name + ' ' if name else ''}"
            f"header claims shape {list(shape)} of {dtype_text(dtype)} ({claimed} bytes) but holds {max(held, 0)} bytes"
        )
    return shape, dtype


def dtype_text(dtype: np.dtype) -> str:
    # A structured dtype's field names are text from the file: not repeated.
    return "a structured dtype" if dtype.fields else str(dtype)


def describe(path: str | Path, key: str | None = None, labels_key: str | None = None):
    """(key, labels_key, shape, dtype) of the array `path` names, checked; key is None for .npy."""
    path, key, labels_key = Path(path).expanduser(), _key(key), _key(labels_key)
    refuse_special("data.path", path)
    if path.is_dir():
        raise DataError(f"data.path={path}: is a directory; give a .npy or .npz file")
    if not path.exists():
        raise MissingFile(f"data.path={path}: no such file (absolute: {path.absolute()})")
    if not path.is_file():
        raise DataError(f"data.path={path}: not a regular file (a device, pipe or socket); give a .npy or .npz file")
    with path.open("rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        if key is not None or labels_key is not None:
            raise DataError(
                f"data.path={path}: data.key and data.labels_key apply only to .npz files; set them to null"
            )
        try:
            with path.open("rb") as f:
                shape, dtype = checked_header(f, path.stat().st_size, path)
        except HeaderClaim:
            raise
        except READ_ERRORS as err:
            raise _corrupt(path, err) from err
    elif magic[:2] == b"PK":  # a zip archive, as np.savez writes
        try:
            with zipfile.ZipFile(path) as z:
                keys = [n[: -len(".npy")] for n in z.namelist() if n.endswith(".npy")]
        except READ_ERRORS as err:
            raise _corrupt(path, err) from err
        listed = ", ".join(keys) or "none"
        if key is None:
            key = "x" if "x" in keys else keys[0] if len(keys) == 1 else None
            if key is None:
                raise DataError(
                    f"data.path={path}: no array named 'x' and not exactly one array; set data.key to one of: {listed}"
                )
        for name, k in (("data.key", key), ("data.labels_key", labels_key)):
            if k is not None and k not in keys:
                raise DataError(f"data.path={path}: {name}={k} is not in the file; its arrays are: {listed}")
        if labels_key is None and "y" in keys and key != "y":
            labels_key = "y"
        try:
            with zipfile.ZipFile(path) as z, z.open(key + ".npy") as f:
                shape, dtype = checked_header(f, z.getinfo(key + ".npy").file_size, path, f"array {key!r}:")
                if labels_key is not None:
                    with z.open(labels_key + ".npy") as g:
                        info = z.getinfo(labels_key + ".npy")
                        labels_shape, labels_dtype = checked_header(g, info.file_size, path, f"array {labels_key!r}:")
        except HeaderClaim:
            raise
        except READ_ERRORS as err:
            raise _corrupt(path, err) from err
        if labels_key is not None and (labels_shape != shape[:1] or labels_dtype.kind not in "iu"):
            raise DataError(
                f"data.path={path}: labels {labels_key!r} have shape {list(labels_shape)} and dtype "
                f"{dtype_text(labels_dtype)}; "
                f"need one integer per example, shape {list(shape[:1])} (or set data.labels_key to another array)"
            )
    else:
        raise DataError(f"data.path={path}: not a .npy or .npz file (it does not start as one)")
    if dtype.hasobject or dtype.kind not in NUMERIC:
        raise DataError(
            f"data.path={path}: {f'array {key!r}' if key else 'the array'} has dtype {dtype_text(dtype)}; need numbers (bool, int or float). "
            "Object arrays are refused: loading them would unpickle (allow_pickle=False)"
        )
    if len(shape) not in (2, 3, 4):
        raise DataError(f"data.path={path}: array has shape {list(shape)}; need (N, D), (N, H, W) or (N, C, H, W)")
    return key, labels_key, shape, dtype


def array_shape(path: str, key: str | None = None) -> list[int]:
    """The shape of one example, as the data module will give it, read from the header alone."""
    shape = describe(path, key)[2]
    return [1, *shape[1:]] if len(shape) == 3 else list(shape[1:])


class ArrayData(InMemoryDataModule):
    """Examples from a numpy array, x / `scale`; labels from `labels_key` of an .npz (default "y")."""

    def __init__(
        self, path: str, key: str | None = None, labels_key: str | None = None, scale: PosFloat = 1.0, **kwargs
    ):
        super().__init__(**kwargs)
        self.path, self.key, self.labels_key, self.scale = (
            Path(path).expanduser(),
            _key(key),
            _key(labels_key),
            float(scale),
        )

    def load(self) -> dict[str, Split]:
        path = self.path
        key, labels_key, shape, dtype = describe(path, self.key, self.labels_key)
        if shape[0] < 1:
            raise DataError(f"data.path={path}: array has shape {list(shape)}: no examples")
        self.check_count(shape[0], f"data.path={path}")  # from the header: before loading
        # At the peak: the array as stored, its float32 copy (unless it is float32 already), the
        # float32 splits carved from that, and the labels as int64.
        stored, count = claimed_bytes(shape, dtype), math.prod(shape)
        needed = (stored if dtype != np.float32 else 0) + 2 * 4 * count + (16 * shape[0] if labels_key else 0)
        check_fits(
            f"data.path={path}: {f'array {key!r}' if key else 'the array'} has shape {list(shape)} of "
            f"{dtype_text(dtype)} ({stored} bytes as stored)",
            needed,
        )
        try:
            if key is None:
                x, y = np.load(path, allow_pickle=False), None
            else:
                with np.load(path, allow_pickle=False) as data:
                    x = data[key]
                    y = data[labels_key] if labels_key is not None else None
        except READ_ERRORS as err:
            raise _corrupt(path, err) from err
        x = np.asarray(x, dtype=np.float32)  # also makes big-endian data native, as torch needs
        if self.scale != 1:
            x /= np.float32(self.scale)  # in place: x is ours, and may be large
        x = torch.from_numpy(x)
        if not torch.isfinite(x).all():
            bad = int((~torch.isfinite(x)).sum())
            raise DataError(
                f"data.path={path}: {bad} values are NaN or infinite (after dividing by data.scale={self.scale:g})"
            )
        if x.ndim == 3:
            x = x.unsqueeze(1)  # (N, H, W) -> (N, 1, H, W)
        y = torch.from_numpy(y.astype(np.int64)) if y is not None else torch.full((len(x),), -1, dtype=torch.int64)
        return {"all": (x, y)}
