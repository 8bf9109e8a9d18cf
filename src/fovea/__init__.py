"""fovea: deep learning from first principles, in NumPy.

A PyTorch-like API over our own autograd: ``fovea.tensor``, ``fovea.nn``, ``fovea.optim``.
"""

from __future__ import annotations

from . import backend, nn, onnx, optim
from .autograd import Tensor, enable_grad, is_grad_enabled, no_grad
from .backend import (
    device,
    float32,
    float64,
    get_default_dtype,
    int64,
    manual_seed,
    set_default_dtype,
)
from .kernels import sharing as _sharing
from .ops import (
    abs,
    add,
    amax,
    amin,
    argmax,
    argmin,
    cat,
    clamp,
    clip,
    concatenate,
    div,
    exp,
    flatten,
    log,
    log_softmax,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mul,
    neg,
    pow,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    squeeze,
    stack,
    sub,
    sum,
    tanh,
    transpose,
    unsqueeze,
    where,
)
from .serialization import load_safetensors, save_safetensors

__version__ = "0.1.0"

__all__ = [
    "Tensor", "device", "tensor", "from_numpy", "zeros", "ones", "full", "zeros_like", "ones_like",
    "randn", "rand", "arange", "no_grad", "enable_grad", "is_grad_enabled", "manual_seed",
    "get_default_dtype", "set_default_dtype", "float32", "float64", "int64", "bool", "long",
    "float", "double", "nn", "onnx", "optim", "backend",
    "abs", "add", "amax", "amin", "argmax", "argmin", "cat", "clamp", "clip", "concatenate",
    "div", "exp", "flatten", "log", "log_softmax", "matmul", "max", "maximum", "mean", "min",
    "minimum", "mul", "neg", "pow", "relu", "reshape", "sigmoid", "softmax", "sqrt", "squeeze",
    "stack", "sub", "sum", "tanh", "transpose", "unsqueeze", "where",
    "load_safetensors", "save_safetensors", "get_num_threads", "set_num_threads",
]

bool = backend.bool_  # noqa: A001 - PyTorch's dtype name
long = int64
float = float32  # noqa: A001
double = float64


def set_num_threads(n: int) -> None:
    """Run fovea's work on n threads (as ``torch.set_num_threads``): the calling thread and
    n − 1 helpers share its large GEMMs and memory passes. Default: FOVEA_NUM_THREADS, else
    the CPUs. With threadpoolctl installed, NumPy's own BLAS is set to one thread (on import,
    or here for n > 1), so that its worker threads do not compete with fovea's."""
    _sharing.set_threads(n)


def get_num_threads() -> int:
    """The threads fovea's work runs on (:func:`set_num_threads`)."""
    return _sharing.threads()


def tensor(data, requires_grad: bool = False, dtype=None, device=None) -> Tensor:
    """A new tensor holding a copy of ``data`` (Python floats become float32 by default), on
    ``device`` (where data is, or the CPU, by default). Numbers only: data or a ``dtype`` of
    object, string, bytes, complex or date/time values raises TypeError."""
    if isinstance(data, Tensor):
        data = data.data
    _check_numeric(backend.dtype_of(dtype))
    arr = backend.asarray(data)
    _check_numeric(arr.dtype)  # before a cast to ``dtype`` could hide what the data was
    if dtype is not None:
        arr = backend.asarray(data, dtype)
    if device is not None:
        arr = backend.to_device(arr, device)
    if arr is data:
        arr = arr.copy()
    return Tensor(arr, requires_grad=requires_grad)


def _check_numeric(dtype) -> None:
    """TypeError for a dtype a tensor cannot hold: fovea computes on bool, integer and real
    floating values only."""
    if dtype is not None and dtype.kind not in "biuf":
        raise TypeError(f"fovea.tensor: {dtype} data is not supported (bool, integer or "
                        f"floating values only)")


def from_numpy(array) -> Tensor:
    """A tensor sharing memory with a NumPy array (its dtype kept)."""
    return Tensor._wrap(backend.get(backend.CPU).xp.asarray(array))


def _shape(size):
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


def _dtype(dtype):
    return backend.dtype_of(dtype) or get_default_dtype()


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    with backend.on(device) as xp:
        return Tensor(xp.zeros(_shape(size), dtype=_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    with backend.on(device) as xp:
        return Tensor(xp.ones(_shape(size), dtype=_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    with backend.on(device) as xp:
        return Tensor(xp.full(tuple(size), fill_value, dtype=_dtype(dtype)), requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                 requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return ones(t.shape, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def randn(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples from the generator of ``device`` (``fovea.manual_seed``)."""
    with backend.on(device) as xp:
        data = backend.rng(device).standard_normal(_shape(size), dtype=_dtype(dtype))
        return Tensor(xp.asarray(data), requires_grad)


def rand(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1) from the generator of ``device``."""
    with backend.on(device) as xp:
        data = backend.rng(device).random(_shape(size), dtype=_dtype(dtype))
        return Tensor(xp.asarray(data), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None) -> Tensor:
    if end is None:
        start, end = 0, start
    with backend.on(device) as xp:
        arr = xp.arange(start, end, step)
    if dtype is not None:
        arr = arr.astype(backend.dtype_of(dtype))
    elif arr.dtype.kind == "f":
        arr = arr.astype(get_default_dtype())
    return Tensor(arr)
