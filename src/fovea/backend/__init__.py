"""The array backend: the one package that knows which array libraries exist.

Everything above it reaches array functions through a namespace taken from the arrays at hand
(``xp = backend.namespace(x)``, Chainer's get_array_module) or from a device
(``backend.get(device).xp``), never through a module-level constant, so that the same code runs
on NumPy arrays on the CPU and on another library's arrays on another device (CuPy on
"cuda"). This package owns what differs between devices:

- the registry of backends and devices (:mod:`.registry`): ``namespace``, ``of``,
  ``device_of``, ``device``, ``get``;
- host↔device transfer: ``to_numpy`` and ``to_device`` (the one host→device boundary: the
  data pipeline works on the host and hands batches over through it);
- one random generator per device, all seeded by ``manual_seed``;
- ``errstate``, ``scatter_add``, ``is_writeable`` and ``as_strided``, spelled per library;
- the NumPy buffer pool (:mod:`.buffers`);
- dtypes, which are NumPy's on every device, and the default floating dtype.
"""

from __future__ import annotations

import numpy as np

from . import buffers, cpu, registry  # noqa: F401 - cpu registers the NumPy backend
from .registry import (
    CPU,
    Backend,
    as_device,
    device,
    device_of,
    get,
    is_on,
    namespace,
    of,
    register,
    registered,
)

__all__ = ["Backend", "CPU", "as_device", "as_strided", "asarray", "buffers",
           "device", "device_of", "dtype_of", "errstate", "flush_denormals", "get",
           "get_default_dtype", "get_rng_state", "is_floating", "is_on", "is_writeable",
           "manual_seed", "namespace", "of", "on", "register", "registered", "rng", "scalar",
           "scatter_add", "set_default_dtype", "set_rng_state", "to_args", "to_device",
           "to_numpy", "float32", "float64", "int64", "bool_"]

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


def is_floating(dtype) -> bool:
    return np.dtype(dtype).kind == "f"


def scalar(value, dtype):
    """``value`` as a 0-d scalar of ``dtype``: a Python float must not upcast a float32 array."""
    return np.dtype(dtype).type(value)


def asarray(data, dtype=None):
    """An array of ``data``: a backend array stays on its device (converted to ``dtype`` if
    given); other data becomes a NumPy array, floating Python data in the default dtype."""
    dtype = dtype_of(dtype)
    if isinstance(data, registry.array_types):
        return data if dtype is None or data.dtype == dtype else data.astype(dtype)
    arr = np.asarray(data)
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if arr.dtype.kind == "f" and not isinstance(data, np.generic):
        return arr.astype(_default_dtype, copy=False)
    return arr


# ---- transfers ----------------------------------------------------------------------------
def to_numpy(array) -> np.ndarray:
    """A NumPy array of ``array``'s values: itself on the CPU, a host copy from a device."""
    backend = registry._BY_TYPE.get(type(array))
    return np.asarray(array) if backend is None else backend.to_numpy(array)


def to_device(data, device=None):
    """``data`` (an array of any device, or array-like) on ``device`` (the CPU for None):
    itself when it is there already, else a copy made through the host."""
    target = as_device(device)
    if isinstance(data, registry.array_types):
        if is_on(data, target):
            return data
        data = of(data).to_numpy(data)
    return get(target).to_device(np.asarray(data), target.index)


def on(device=None):
    """A context in which new arrays are made on ``device``; it gives that device's
    namespace: ``with backend.on(device) as xp: xp.zeros(…)``."""
    dev = as_device(device)
    backend = get(dev)
    return _Using(backend, dev.index)


class _Using:
    __slots__ = ("backend", "context")

    def __init__(self, backend, index):
        self.backend, self.context = backend, backend.use(index)

    def __enter__(self):
        self.context.__enter__()
        return self.backend.xp

    def __exit__(self, *exc):
        return self.context.__exit__(*exc)


def to_args(*args, device=None, dtype=None, non_blocking=False, copy=False):
    """(device or None, dtype or None) from the arguments of ``Tensor.to`` / ``Module.to``:
    ``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or the keywords. A string is a
    device when it names a device type ("cpu", "cuda:0"), else a dtype ("float64")."""
    if len(args) > 2:
        raise TypeError(f"to() takes at most a device and a dtype, got {len(args)} arguments")
    for arg in args:
        if isinstance(arg, registry.device) or (isinstance(arg, str) and _is_device_string(arg)):
            if device is not None:
                raise TypeError("to() got two devices")
            device = arg
        else:
            if dtype is not None:
                raise TypeError("to() got two dtypes")
            dtype = arg
    return (None if device is None else as_device(device)), dtype_of(dtype)


def _is_device_string(text: str) -> bool:
    name = text.partition(":")[0]
    return name in registry._BACKENDS or name in registry._LOADERS


# ---- random numbers -----------------------------------------------------------------------
_seed = None
_generators: dict = {}


def manual_seed(seed: int) -> None:
    """Seed the generators of every device (parameter initialization, dropout, randn)."""
    global _seed
    _seed = seed
    _generators.clear()


def rng(device=None):
    """The random generator of ``device`` (the CPU's by default), seeded by
    :func:`manual_seed`; the CPU's is a NumPy Generator."""
    dev = as_device(device)
    gen = _generators.get(dev)
    if gen is None:
        gen = _generators[dev] = get(dev).generator(_seed, dev.index)
    return gen


def get_rng_state() -> dict:
    """The CPU generator's state (what a checkpoint saves)."""
    return rng().bit_generator.state


def set_rng_state(state: dict) -> None:
    rng().bit_generator.state = state


# ---- what each library spells its own way -------------------------------------------------
def errstate(like, **kwargs):
    """numpy.errstate for ``like``'s library (``with backend.errstate(a, divide="ignore")``);
    a no-op where floating-point errors are not reported."""
    return of(like).errstate(**kwargs)


def scatter_add(out, indices, values) -> None:
    """out[indices] += values in place, repeated indices accumulating (numpy.add.at)."""
    of(out).scatter_add(out, indices, values)


def is_writeable(array) -> bool:
    """Whether ``array`` may be written in place."""
    return of(array).is_writeable(array)


def as_strided(array, shape, strides):
    """A view with the given shape and strides, read-only where the library can mark it so."""
    return of(array).as_strided(array, shape, strides)


def flush_denormals(arr):
    """Set entries below the smallest normal float (denormals) to zero, in place.

    exp of a large negative number lands there (softmax of a confident prediction); fed into
    a GEMM, denormal operands make the CPU's float path an order of magnitude slower.
    """
    xp = namespace(arr)
    tiny = np.finfo(arr.dtype).tiny
    arr[xp.abs(arr) < tiny] = 0
    return arr

