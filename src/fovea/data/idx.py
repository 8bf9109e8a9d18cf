"""Read and write the IDX format of MNIST and Fashion-MNIST, plain or gzip-compressed.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
then one big-endian uint32 per dimension, then the data in C order, big-endian.
"""

from __future__ import annotations

import gzip as _gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..files import open_regular, read_at_most

_TYPE_CODES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF = {dt.newbyteorder("="): code for code, dt in _TYPE_CODES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


MAX_IDX_BYTES = 2**31
"""The largest IDX content :func:`read_bytes` accepts unless told otherwise (2 GiB; MNIST's
largest file is 45 MiB): a guard against a gzip bomb, whose few megabytes inflate to gigabytes."""


def _header(data: bytes, source):
    """(dtype, dims, header length) of the IDX bytes ``data``; DataError naming ``source``
    for a bad magic number or a truncated header."""
    if len(data) < 4:
        raise DataError(f"{source}: truncated header ({len(data)} bytes, magic needs 4)")
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{source}: bad magic 0x{data[:4].hex()} (an IDX file starts with two zero bytes)"
        )
    code, ndim = data[2], data[3]
    if code not in _TYPE_CODES:
        known = ", ".join(f"0x{c:02X}" for c in _TYPE_CODES)
        raise DataError(f"{source}: bad magic, unknown IDX type code 0x{code:02X} ({known})")
    if ndim == 0:
        raise DataError(f"{source}: bad magic, 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(
            f"{source}: truncated header ({len(data)} bytes, {ndim} dimensions need {header})"
        )
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    return _TYPE_CODES[code], dims, header


def _data_size(dtype, dims) -> int:
    """The data bytes ``dims`` of ``dtype`` take (a Python int: 255 uint32 dims cannot overflow)."""
    return math.prod(dims) * dtype.itemsize


def _inflate(f, path, max_bytes: int) -> bytes:
    """The decompressed IDX bytes of the gzip stream ``f``, never more than its header declares
    (nor ``max_bytes``): the stream is inflated piecewise, so a bomb stops at the cap."""
    gz = _gzip.GzipFile(fileobj=f, mode="rb")
    data = gz.read(4)
    if not data:
        raise DataError(f"{path}: empty file (gzip stream holds no data)")
    if len(data) == 4 and data[:2] == b"\0\0":
        data += gz.read(4 * data[3])
    dtype, dims, header = _header(data, path)
    total = header + _data_size(dtype, dims)
    if total > max_bytes:
        raise DataError(f"{path}: its header declares dims {dims} of {dtype.name} "
                        f"({total} bytes), more than the limit of {max_bytes} bytes")
    # one byte more than declared reveals a longer stream
    data += read_at_most(gz, total - len(data) + 1)
    if len(data) > total:
        raise DataError(f"{path}: trailing bytes (the gzip stream holds more than the {total} "
                        f"bytes its header's dims {dims} of {dtype.name} declare)")
    return data  # a short stream ends in EOF here, so its CRC and length were checked


def read_bytes(path, max_bytes: int = MAX_IDX_BYTES) -> bytes:
    """The raw IDX bytes of ``path``, decompressed if it is a gzip file (``.gz`` or gzip magic).

    ``path`` must be a regular file; its content (decompressed) may hold at most ``max_bytes``
    bytes, and a gzip stream is inflated no further than its IDX header declares, so a gzip bomb
    is a DataError naming the file, not an exhausted memory.
    """
    path = Path(path)
    with open_regular(path, max_bytes, missing="file not found") as f:
        try:
            magic = f.read(2)
            if not magic:
                raise DataError(f"{path}: empty file")
            is_gz = magic == _GZIP_MAGIC
            if path.suffix == ".gz" and not is_gz:
                raise DataError(f"{path}: not a gzip file (bad gzip magic {magic.hex()})")
            if not is_gz:
                data = magic + read_at_most(f, max_bytes - len(magic) + 1)
                if len(data) > max_bytes:
                    raise DataError(f"{path}: more than the limit of {max_bytes} bytes")
                return data
            f.seek(0)
            return _inflate(f, path, max_bytes)
        except EOFError:
            raise DataError(f"{path}: truncated gzip stream (ends before its end marker)") \
                from None
        except (OSError, zlib.error) as exc:  # BadGzipFile (CRC, length, header) is an OSError
            raise DataError(f"{path}: corrupt gzip stream ({exc})") from None


def parse_idx(data: bytes, source="<bytes>") -> np.ndarray:
    """The array held by the IDX bytes ``data``; ``source`` names the file in error messages."""
    if not data:
        raise DataError(f"{source}: empty file")
    dtype, dims, header = _header(data, source)
    expected = _data_size(dtype, dims)
    got = len(data) - header
    if got < expected:
        raise DataError(
            f"{source}: truncated data ({got} bytes, dims {dims} of {dtype.name} need {expected})"
        )
    if got > expected:
        raise DataError(
            f"{source}: {got - expected} trailing bytes (dims {dims} of {dtype.name} "
            f"need {expected} bytes, file holds {got})"
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def read_idx(path) -> np.ndarray:
    """Read an IDX file (plain or ``.gz``); any malformation raises DataError naming the file."""
    return parse_idx(read_bytes(path), path)


def to_idx_bytes(array) -> bytes:
    """The IDX encoding of ``array`` (uint8, int8, int16, int32, float32 or float64)."""
    arr = np.asarray(array)
    code = _CODE_OF.get(arr.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(
            f"IDX cannot store dtype {arr.dtype}; use uint8, int8, int16, int32, float32 or float64"
        )
    if arr.ndim == 0 or arr.ndim > 255:
        raise ValueError(f"IDX stores 1 to 255 dimensions, got {arr.ndim}")
    if any(d >= 2**32 for d in arr.shape):
        raise ValueError(f"IDX dimensions must fit in uint32, got shape {arr.shape}")
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    return header + np.ascontiguousarray(arr, dtype=_TYPE_CODES[code]).tobytes()


def write_idx(path, array, gzip: bool = False) -> Path:
    """Write ``array`` as an IDX file at ``path``, gzip-compressed if ``gzip`` (mtime 0)."""
    path = Path(path)
    data = to_idx_bytes(array)
    if gzip:
        data = _gzip.compress(data, compresslevel=9, mtime=0)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
