"""The array namespace: the one module that chooses NumPy (or, later, CuPy) for tensor data.

Code above this layer reaches array functions through ``backend.xp`` and never imports numpy
for tensor data, so that the same code can run on another array library.
"""

from __future__ import annotations

import numpy as np

xp = np
"""The array namespace in use (NumPy on the CPU)."""

float32 = np.float32
float64 = np.float64
int64 = np.int64
bool_ = np.bool_

_default_dtype = np.dtype(np.float32)


def get_default_dtype():
    """The floating dtype new tensors get from Python numbers and lists (float32)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the floating dtype new tensors get (float32 or float64)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"default dtype must be float32 or float64, got {dtype}")
    _default_dtype = dtype


def dtype_of(dtype):
    """Normalize a dtype given as a name, a numpy type or a dtype object."""
    if dtype is None:
        return None
    if isinstance(dtype, str):
        dtype = {"float": "float32", "double": "float64", "long": "int64"}.get(dtype, dtype)
    return np.dtype(dtype)


def asarray(data, dtype=None):
    """An array of ``data``: floating Python data becomes the default dtype, arrays keep theirs."""
    dtype = dtype_of(dtype)
    if isinstance(data, xp.ndarray):
        return data if dtype is None or data.dtype == dtype else data.astype(dtype)
    arr = xp.asarray(data)
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if arr.dtype.kind == "f" and not isinstance(data, (np.generic, np.ndarray)):
        return arr.astype(_default_dtype, copy=False)
    return arr


def to_numpy(arr) -> np.ndarray:
    """A NumPy array of a backend array (a no-op on the CPU)."""
    return np.asarray(arr)


def is_floating(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def scalar(value, dtype):
    """``value`` as a 0-d scalar of ``dtype``: a Python float must not upcast a float32 array."""
    return np.dtype(dtype).type(value)


# ---- random numbers -----------------------------------------------------------------------
_rng = np.random.default_rng()


def manual_seed(seed: int) -> None:
    """Seed the generator behind parameter initialization, dropout and fovea.randn."""
    global _rng
    _rng = np.random.default_rng(seed)


def rng() -> np.random.Generator:
    """The global random generator (seed it with :func:`manual_seed`)."""
    return _rng


def get_rng_state() -> dict:
    return _rng.bit_generator.state


def set_rng_state(state: dict) -> None:
    _rng.bit_generator.state = state


def flush_denormals(arr):
    """Set entries below the smallest normal float (denormals) to zero, in place.

    exp of a large negative number lands there (softmax of a confident prediction); fed into
    a GEMM, denormal operands make the CPU's float path an order of magnitude slower.
    """
    tiny = np.finfo(arr.dtype).tiny
    arr[np.abs(arr) < tiny] = 0
    return arr
