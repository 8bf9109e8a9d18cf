"""Saving and loading without pickle: arrays as safetensors, everything else as JSON.

Every write is atomic: the bytes go to a temporary file in the target's directory, which is
flushed and fsync'ed, then renamed over the target, so a crash never leaves a half-written
file under the real name. Run-directory files are opened without following symbolic links
(:func:`read_own_file`, :func:`own_file`): a link planted in a run directory cannot redirect
a read or a write to a file elsewhere.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import stat
from pathlib import Path

import numpy as np

from .autograd import Tensor
from .backend import to_numpy
from .errors import CheckpointError
from .files import read_regular

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
TMP_SUFFIX = ".tmp"
MAX_JSON_BYTES = 256 << 20
"""The largest JSON file read (a run's history is a few kilobytes per epoch)."""


def with_path(exc: OSError, path) -> OSError:
    """``exc`` with ``path`` as its file name when it has none (a full disk raises ENOSPC from
    write(), which names no file)."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror or os.strerror(exc.errno), str(path))


def own_file(path) -> Path:
    """``path`` when it is a regular file itself, not a symbolic link; CheckpointError
    otherwise (FileNotFoundError's message when it is missing)."""
    path = Path(path)
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
    if stat.S_ISLNK(mode):
        raise CheckpointError(f"{path}: is a symbolic link; a run directory holds only its "
                              f"own files")
    if not stat.S_ISREG(mode):
        raise CheckpointError(f"{path}: not a regular file")
    return path


def read_own_file(path, max_bytes: int = MAX_JSON_BYTES) -> bytes:
    """The bytes of the regular file ``path``, opened without following a symbolic link and
    without blocking on a FIFO; CheckpointError when it is a link, not a regular file, or
    larger than ``max_bytes``."""
    return read_regular(path, max_bytes, error=CheckpointError, follow_symlinks=False)


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename). The rename replaces
    a symbolic link at ``path`` itself, never the file it points to. An OSError names
    ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}{TMP_SUFFIX}"
    try:
        # O_EXCL: never reuse a file; mode 0666 lets the kernel apply the umask, as open() does
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o666)
    except OSError as exc:
        raise with_path(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as f:  # closes fd on every path out of the block
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise with_path(exc, path) from None
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def json_safe(obj):
    """``obj`` with non-finite floats (a diverged loss) as None: standard JSON has no NaN."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def dumps(obj, **kwargs) -> str:
    """Standard JSON of ``obj`` (NaN and infinities written as null)."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def write_json(path, obj) -> Path:
    """Write ``obj`` as indented standard JSON, atomically."""
    return atomic_write_bytes(path, (dumps(obj, indent=2) + "\n").encode())


def read_json(path) -> dict:
    """The JSON file ``path`` (a regular file, not a symbolic link); CheckpointError when it
    is missing or unreadable."""
    path = Path(path)
    try:
        return json.loads(read_own_file(path))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: not a readable JSON file ({exc})") from None


def _as_array(value) -> np.ndarray:
    arr = to_numpy(value.data if isinstance(value, Tensor) else value)
    return np.asarray(arr, order="C")  # not ascontiguousarray: it turns shape () into (1,)


def save_safetensors(tensors: dict, path, metadata: dict | None = None) -> Path:
    """Save a name → Tensor/array mapping (e.g. ``model.state_dict()``) as safetensors."""
    from safetensors.numpy import save

    arrays = {name: _as_array(v) for name, v in tensors.items()}
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    return atomic_write_bytes(path, save(arrays, metadata=meta or None))


def load_safetensors(path) -> dict:
    """Load a safetensors file as a name → NumPy array dict (never runs code)."""
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        return dict(load_file(str(path)))
    except Exception as exc:  # safetensors raises its own error types for bad headers
        raise CheckpointError(f"{path}: not a valid safetensors file ({exc})") from None
