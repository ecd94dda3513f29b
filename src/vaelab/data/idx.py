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

UBYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file, as uint8 with the header's shape."""
    path = Path(path)
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: not a readable IDX file ({err})") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    dtype, ndim = raw[2], raw[3]
    if dtype != UBYTE or not 1 <= ndim <= 4:
        raise ValueError(f"{path}: unsupported IDX type 0x{dtype:02x} with {ndim} dimensions (want unsigned bytes)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: IDX header is truncated")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if len(raw) - header != math.prod(shape):
        raise ValueError(
            f"{path}: IDX header promises shape {shape} ({math.prod(shape)} bytes) but the file holds "
            f"{len(raw) - header} bytes: the file is truncated or corrupt"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
