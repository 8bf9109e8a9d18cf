"""Operands of the ops: numbers and arrays next to tensors, in a dtype that does not upcast
them (a Python float next to a float32 tensor stays float32, as in PyTorch)."""

from __future__ import annotations

import numbers

from .. import backend
from ..autograd import Tensor


def operand(x, like=None):
    """x as a Tensor or array of a dtype that fits ``like`` without upcasting it."""
    if isinstance(x, Tensor):
        return x
    # Python and NumPy scalars alike take the tensor's dtype (as in PyTorch): np.float32(2)
    # next to a float64 tensor is a number, not a float32 operand
    if isinstance(x, (bool, numbers.Number)) and like is not None:
        dt = like.dtype
        if dt.kind != "f" and not isinstance(x, numbers.Integral):
            dt = backend.get_default_dtype()
        return backend.namespace(like).asarray(x, dtype=dt)
    return backend.asarray(x)


def operand_pair(a, b):
    """Two operands of one dtype: a float tensor fixes the dtype of numbers and int tensors."""
    ta = a if isinstance(a, Tensor) else None
    tb = b if isinstance(b, Tensor) else None
    a = operand(a, tb.data if ta is None and tb is not None else None)
    b = operand(b, ta.data if tb is None and ta is not None else None)
    da = a.dtype
    db = b.dtype
    if da != db:
        fa, fb = da.kind == "f", db.kind == "f"
        if fa and fb:
            raise TypeError(f"dtype mismatch: {da} and {db}; convert one explicitly "
                            "(.float() or .double())")
        if fa or fb:
            target = da if fa else db
            a = a if fa else cast(a, target)
            b = b if fb else cast(b, target)
    return a, b


def cast(x, dtype):
    return x.to(dtype) if isinstance(x, Tensor) else x.astype(dtype)


def float_operand(a):
    a = a if isinstance(a, Tensor) else Tensor(a)
    return a if a.dtype.kind == "f" else a.to(backend.get_default_dtype())


def check_same_dtype(name, *operands):
    """Input, weight and bias of one dtype, as PyTorch requires: NumPy would silently upcast."""
    # the dtype objects, not their names: str(dtype) costs more than a small matmul
    dtypes = {o.dtype for o in operands if o is not None and hasattr(o, "dtype")}
    if len(dtypes) > 1:
        raise TypeError(f"{name}: dtype mismatch {sorted(map(str, dtypes))}; convert explicitly "
                        "(.float() or .double())")


def tensors_of_one_dtype(tensors, name):
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    check_same_dtype(name, *tensors)
    return tensors


def data_of(x):
    return x.data if isinstance(x, Tensor) else x
