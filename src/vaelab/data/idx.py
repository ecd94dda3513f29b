"""Reader for the IDX files of MNIST and Fashion-MNIST (plain or gzip), checked against their header.

IDX header (big-endian): two zero bytes, a type code (0x08 = unsigned byte), the number
of dimensions n, then n 32-bit sizes, then the data. We read it with numpy rather than
through torchvision, whose md5 checks reject the Debian package's recompressed files.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from vaelab.data.safety import check_fits, error_kind
from vaelab.errors import DataError

UBYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file, as uint8 with the header's shape.

    Streamed: the header is read first and its claimed size checked (against the file, and
    against available memory, since a small .gz can claim gigabytes) before the data is read.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as f:
            head = f.read(4)
            if len(head) < 4 or head[0] != 0 or head[1] != 0:
                raise DataError(f"{path}: not an IDX file (bad magic number)")
            dtype, ndim = head[2], head[3]
            if dtype != UBYTE or not 1 <= ndim <= 4:
                raise DataError(
                    f"{path}: unsupported IDX type 0x{dtype:02x} with {ndim} dimensions (want unsigned bytes)"
                )
            dims = f.read(4 * ndim)
            if len(dims) < 4 * ndim:
                raise DataError(f"{path}: IDX header is truncated")
            shape = struct.unpack(f">{ndim}I", dims)
            size = math.prod(shape)
            if path.suffix != ".gz":
                held = path.stat().st_size - 4 - 4 * ndim
                if held != size:
                    raise DataError(_mismatch(path, shape, held))
            # The bytes, and the float32 copy the data modules make of them.
            check_fits(f"{path}: IDX header claims shape {shape} ({size} bytes)", 5 * size)
            # Into a writable buffer (no copy), so that torch can take the array as it is.
            raw = bytearray(size)
            held = f.readinto(raw)
            held += len(f.read(1)) if held == size else 0
    except (OSError, EOFError, zlib.error) as err:  # their messages may quote the file's first bytes
        raise DataError(f"{path}: not a readable IDX file ({error_kind(err)})") from err
    if held != size:
        raise DataError(_mismatch(path, shape, held))
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape)


def _mismatch(path: Path, shape: tuple[int, ...], held: int) -> str:
    return (
        f"{path}: IDX header promises shape {shape} ({math.prod(shape)} bytes) but the file holds "
        f"{'more' if held > math.prod(shape) else f'only {held}'} bytes: the file is truncated or corrupt"
    )
