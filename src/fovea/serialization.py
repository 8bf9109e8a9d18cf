"""Saving and loading without pickle: arrays as safetensors, everything else as JSON.

Every write is atomic: the bytes go to a temporary file in the target's directory, which is
flushed and fsync'ed, then renamed over the target, so a crash never leaves a half-written
file under the real name.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from pathlib import Path

import numpy as np

from .autograd import Tensor
from .backend import to_numpy
from .errors import CheckpointError


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    # O_EXCL: never reuse a file; mode 0666 lets the kernel apply the umask, as open() does
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:  # closes fd on every path out of the block
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
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
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such file") from None
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
