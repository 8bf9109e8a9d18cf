"""Differentiable operations on Tensors, built from the primitives in this package.

The functions here turn Python numbers and arrays into operands of the right dtype (a Python
float next to a float32 tensor stays float32; :mod:`.operands`) and call the primitive.
``Tensor``'s operators (``+ - * / @ ** < …``) and methods (``sum``, ``reshape`` …) are these
functions.
"""

from __future__ import annotations

import builtins

from .. import backend
from ..autograd import Function, Tensor, is_grad_enabled
from ..errors import ShapeError
from .activations import ReLU, Sigmoid, Tanh, relu_into
from .conv import Conv2d, ConvTranspose2d
from .conv import pair as conv_pair
from .elementwise import (
    Abs,
    Add,
    Clip,
    Div,
    Exp,
    Log,
    Maximum,
    Minimum,
    Mul,
    Neg,
    Pow,
    RoundedDiv,
    Sqrt,
    Sub,
    Where,
)
from .embedding import Embedding
from .linalg import Linear, MatMul
from .operands import (
    cast,
    check_same_dtype,
    data_of,
    float_operand,
    operand,
    operand_pair,
    tensors_of_one_dtype,
)
from .pooling import AvgPool2d, MaxPool2d, max_pool2d_indices
from .reduce import Max, Mean, Min, Sum
from .resample import Resample, resample_matrices
from .shape import Cat, Expand, GetItem, Pad, PadIndexed, Permute, Reshape, Stack
from .softmax import CrossEntropy, LogSoftmax, Softmax


# ---- arithmetic -------------------------------------------------------------------------
def _scaled(b, alpha):
    return b if alpha == 1 else mul(b, alpha)


def add(a, b, alpha=1):
    """a + alpha · b"""
    return Add.apply(*operand_pair(a, _scaled(b, alpha)))


def sub(a, b, alpha=1):
    """a − alpha · b"""
    return Sub.apply(*operand_pair(a, _scaled(b, alpha)))


def mul(a, b):
    return Mul.apply(*operand_pair(a, b))


def div(a, b, rounding_mode=None):
    """a / b; ``rounding_mode`` "trunc" or "floor" rounds the quotient (keeping an integer
    dtype, as PyTorch; zero gradient)."""
    a, b = operand_pair(a, b)
    if rounding_mode is not None:
        if rounding_mode not in ("trunc", "floor"):
            raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or "
                             f"'floor' but found {rounding_mode!r}")
        with backend.errstate(data_of(a), divide="ignore", invalid="ignore"):
            return RoundedDiv.apply(a, b, rounding_mode=rounding_mode)
    if a.dtype.kind != "f":
        a, b = cast(a, backend.get_default_dtype()), cast(b, backend.get_default_dtype())
    return Div.apply(a, b)


def pow(a, b):  # noqa: A001 - PyTorch's name
    a, b = operand_pair(a, b)
    return Pow.apply(a, b)


def neg(a):
    return Neg.apply(a)


def exp(a):
    return Exp.apply(float_operand(a))


def log(a):
    return Log.apply(float_operand(a))


def sqrt(a):
    return Sqrt.apply(float_operand(a))


def abs(a):  # noqa: A001 - PyTorch's name
    return Abs.apply(a)


def maximum(a, b):
    return Maximum.apply(*operand_pair(a, b))


def minimum(a, b):
    return Minimum.apply(*operand_pair(a, b))


def where(condition, a, b):
    a, b = operand_pair(a, b)
    cond = (condition.data if isinstance(condition, Tensor)
            else backend.namespace(data_of(a), data_of(b)).asarray(condition))
    return Where.apply(cond.astype(bool, copy=False), a, b)


def clip(a, min=None, max=None):  # noqa: A002 - PyTorch's names
    """minimum(maximum(a, min), max); min and max are numbers, tensors or None."""
    lo = min if isinstance(min, Tensor) or min is None else operand(min, data_of(a))
    hi = max if isinstance(max, Tensor) or max is None else operand(max, data_of(a))
    return Clip.apply(a, lo, hi)


clamp = clip


def relu(x, inplace=False):
    """max(0, x). ``inplace=True`` (as in PyTorch) overwrites x and returns it where no graph
    is being recorded through x (under ``no_grad``, or when x needs no gradient), which saves
    a new array per layer at inference; while recording it computes out of place."""
    if (inplace and isinstance(x, Tensor) and backend.is_writeable(x.data)
            and not (is_grad_enabled() and x.requires_grad)):
        relu_into(x.data, x.data)
        return x
    return ReLU.apply(x)


def sigmoid(x):
    return Sigmoid.apply(float_operand(x))


def tanh(x):
    return Tanh.apply(float_operand(x))


def matmul(a, b):
    return MatMul.apply(*operand_pair(a, b))


# ---- reductions -------------------------------------------------------------------------
def sum(a, dim=None, keepdim=False):  # noqa: A001 - PyTorch's name
    return Sum.apply(a, dim=dim, keepdim=keepdim)


def mean(a, dim=None, keepdim=False):
    return Mean.apply(float_operand(a), dim=dim, keepdim=keepdim)


def amax(a, dim=None, keepdim=False):
    return Max.apply(a, dim=dim, keepdim=keepdim)


def amin(a, dim=None, keepdim=False):
    return Min.apply(a, dim=dim, keepdim=keepdim)


def argmax(a, dim=None, keepdim=False):
    data = data_of(a)
    xp = backend.namespace(data)
    return Tensor._wrap(xp.argmax(xp.asarray(data), axis=dim, keepdims=keepdim)
                        .astype(backend.int64))


def argmin(a, dim=None, keepdim=False):
    data = data_of(a)
    xp = backend.namespace(data)
    return Tensor._wrap(xp.argmin(xp.asarray(data), axis=dim, keepdims=keepdim)
                        .astype(backend.int64))


def _pick(a, index, dim, keepdim):
    """(values, indices) of an arg-reduction ``index`` (dims kept) along dim, differentiably:
    the gradient goes to the indexed element only, as PyTorch's max(a, dim) / min(a, dim)."""
    if a.ndim == 0:
        return reshape(a, ()), index
    dim = dim % a.ndim
    xp = backend.namespace(index.data)
    idx = tuple(index.data if i == dim else xp.arange(n).reshape((n,) + (1,) * (a.ndim - 1 - i))
                for i, n in enumerate(a.shape))
    values = getitem(a, idx)
    if keepdim:
        return values, index
    return squeeze(values, dim), squeeze(index, dim)


def max(a, dim=None, keepdim=False):  # noqa: A001
    """max(a) is the largest element; max(a, dim) returns (values, indices) as PyTorch (ties
    share max(a)'s gradient; max(a, dim) gives it to the returned index); max(a, other) with
    a tensor ``other`` is maximum(a, other)."""
    if isinstance(dim, Tensor):
        return maximum(a, dim)
    if dim is None:
        return amax(a)
    return _pick(a, argmax(a, dim, keepdim=True), dim, keepdim)


def min(a, dim=None, keepdim=False):  # noqa: A001
    """min(a), min(a, dim) → (values, indices), min(a, other) = minimum(a, other)."""
    if isinstance(dim, Tensor):
        return minimum(a, dim)
    if dim is None:
        return amin(a)
    return _pick(a, argmin(a, dim, keepdim=True), dim, keepdim)


# ---- shapes -----------------------------------------------------------------------------
def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(a, *shape):
    return Reshape.apply(a, shape=_shape_arg(shape))


def permute(a, *dims):
    dims = tuple(d % a.ndim for d in _shape_arg(dims))
    if sorted(dims) != list(range(a.ndim)):
        raise ValueError(f"permute dims {dims} are not a permutation of {a.ndim} dimensions")
    return Permute.apply(a, dims=dims)


def _dim(dim, ndim):
    """dim in range(ndim) (a 0-d tensor takes dim 0 or −1, as PyTorch)."""
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"dimension {dim} is out of range for a {ndim}-d tensor")
    return dim % n


def transpose(a, dim0, dim1):
    dims = list(range(a.ndim))
    dim0, dim1 = _dim(dim0, a.ndim), _dim(dim1, a.ndim)
    if a.ndim == 0:
        return reshape(a, ())
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return Permute.apply(a, dims=tuple(dims))


def flatten(a, start_dim=0, end_dim=-1):
    if a.ndim == 0:
        return reshape(a, 1)
    start, end = start_dim % a.ndim, end_dim % a.ndim
    size = 1
    for n in a.shape[start:end + 1]:
        size *= n
    return reshape(a, a.shape[:start] + (size,) + a.shape[end + 1:])


def unsqueeze(a, dim):
    dim = dim % (a.ndim + 1)
    return reshape(a, a.shape[:dim] + (1,) + a.shape[dim:])


def squeeze(a, dim=None):
    """a without its size-1 dimensions (all of them, or those of ``dim``: an int or a tuple;
    a listed dimension whose size is not 1 stays, as PyTorch)."""
    if dim is None:
        dims = range(a.ndim)
    elif isinstance(dim, (tuple, list)):
        dims = {_dim(d, a.ndim) for d in dim}
    else:
        dims = {_dim(dim, a.ndim)}
    return reshape(a, tuple(n for i, n in enumerate(a.shape) if not (i in dims and n == 1)))


def expand(a, *shape):
    shape = _shape_arg(shape)
    lead = len(shape) - a.ndim
    shape = tuple(a.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
    return Expand.apply(a, shape=shape)


def _index(idx, like):
    if isinstance(idx, Tensor):
        return idx.data
    if isinstance(idx, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in idx)
    if isinstance(idx, list):
        return backend.namespace(like).asarray(idx)
    return idx


def embedding(input, weight, padding_idx=None):
    """F.embedding: rows of ``weight`` picked by the integer tensor ``input``; the result has
    shape input.shape + (embedding_dim,)."""
    idx = data_of(input) if isinstance(input, Tensor) else backend.namespace(data_of(weight)).asarray(input)
    if padding_idx is not None:
        n = data_of(weight).shape[0]
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx {padding_idx} is out of range for {n} embeddings")
        padding_idx %= n
    return Embedding.apply(weight, idx, padding_idx=padding_idx)


def getitem(a, idx):
    return GetItem.apply(a, idx=_index(idx, data_of(a)))


def cat(tensors, dim=0):
    """Concatenation along dim. As PyTorch, a 1-D empty tensor (legacy for "nothing") is
    skipped next to tensors of more dimensions."""
    tensors = tensors_of_one_dtype(tensors, "cat")
    kept = [t for t in tensors if not (t.shape == (0,) and t.ndim != tensors[0].ndim
                                        or t.shape == (0,) and any(u.ndim > 1 for u in tensors))]
    return Cat.apply(*(kept or tensors), dim=dim)


concatenate = cat


def stack(tensors, dim=0):
    return Stack.apply(*tensors_of_one_dtype(tensors, "stack"), dim=dim)


def pad(a, pad, mode="constant", value=None):
    """Padding with PyTorch's spec: (before, after) pairs from the last dimension backwards;
    mode "constant" (``value``, default 0; negative widths crop), "reflect", "replicate" or
    "circular"."""
    pad = tuple(int(p) for p in pad)
    if mode == "constant":
        return Pad.apply(a, pad=pad, value=0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: unknown mode {mode!r}")
    if value:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    return PadIndexed.apply(a, pad=pad, mode=mode)


# ---- neural-network primitives ------------------------------------------------------------
def _along(cls, a, dim, dtype):
    """softmax-like ``cls`` of float ``a`` (cast to ``dtype`` first) along dim; a 0-d input
    is a 1-element vector, a zero-size one gives an empty result (as PyTorch)."""
    a = float_operand(a) if dtype is None else to(float_operand(a), dtype=dtype)
    if a.ndim == 0:
        return reshape(cls.apply(reshape(a, (1,)), dim=_dim(dim, 1)), ())
    return cls.apply(a, dim=_dim(dim, a.ndim))


def softmax(a, dim=-1, dtype=None):
    return _along(Softmax, a, dim, dtype)


def log_softmax(a, dim=-1, dtype=None):
    return _along(LogSoftmax, a, dim, dtype)


def linear(x, weight, bias=None):
    check_same_dtype("linear", x, weight, bias)
    return Linear.apply(x, weight, bias)


# ---- convolution, pooling and resampling (PyTorch's functional signatures) ----------------
def _unbatched(fn, x, *args, **kwargs):
    """fn on a (C, H, W) input as a batch of one, the result without the batch dimension."""
    out = fn(reshape(x, (1,) + x.shape), *args, **kwargs)
    return (tuple(reshape(o, o.shape[1:]) for o in out) if isinstance(out, tuple)
            else reshape(out, out.shape[1:]))


def same_padding(kernel_size, dilation):
    """PyTorch's padding="same": per dimension (before, after) with the odd pixel after."""
    total = [d * (k - 1) for k, d in zip(kernel_size, conv_pair(dilation, "dilation"))]
    return [(t // 2, t - t // 2) for t in total]


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    check_same_dtype("conv2d", x, weight, bias)
    if x.ndim == 3:
        return _unbatched(conv2d, x, weight, bias, stride, padding, dilation, groups)
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if conv_pair(stride, "stride") != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            (th, bh), (lw, rw) = same_padding(weight.shape[2:], dilation)
            if (th, lw) != (bh, rw):  # an even kernel: the extra pixel goes after
                x = pad(x, (0, rw - lw, 0, bh - th))
            padding = (th, lw)
        else:
            raise ValueError(f"conv2d: invalid padding string {padding!r}, should be one of "
                             f"{{'valid', 'same'}}")
    return Conv2d.apply(x, weight, bias, stride=stride, padding=padding, dilation=dilation,
                        groups=groups)


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1):
    check_same_dtype("conv_transpose2d", x, weight, bias)
    if x.ndim == 3:
        return _unbatched(conv_transpose2d, x, weight, bias, stride, padding, output_padding,
                          groups, dilation)
    return ConvTranspose2d.apply(x, weight, bias, stride=stride, padding=padding,
                                 output_padding=output_padding, groups=groups,
                                 dilation=dilation)


def max_pool2d(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    out = MaxPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding,
                          dilation=dilation, ceil_mode=ceil_mode)
    if not return_indices:
        return out
    index = max_pool2d_indices(data_of(x), out.data, kernel_size, stride, padding, dilation,
                               ceil_mode)
    return out, Tensor._wrap(index)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    return AvgPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding,
                           ceil_mode=ceil_mode, count_include_pad=count_include_pad,
                           divisor_override=divisor_override)


def _rows_of_classes(x, target, probabilities):
    """Logits or log-probabilities (N, C, d1, …) as rows (N·d1·…, C), with their targets as
    (N·d1·…,) indices or (N·d1·…, C) probabilities; also the shape a per-element loss takes
    back, (N, d1, …)."""
    if x.ndim <= 2:
        return x, target, None

    def rows(a):
        return reshape(permute(a, (0, *range(2, a.ndim), 1)), (-1, a.shape[1]))

    shape = (x.shape[0],) + tuple(x.shape[2:])
    if probabilities:
        return rows(x), rows(target), shape
    return rows(x), reshape(target, -1), shape


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None,
                recompute_scale_factor=None, antialias=False):
    """Resampling of (N, C, *spatial) tensors as torch's ``F.interpolate`` (modes nearest,
    nearest-exact, area, linear, bilinear, bicubic, trilinear; see :mod:`.resample`)."""
    if antialias:
        raise NotImplementedError("interpolate: antialias=True is not supported")
    x = data_of(input)
    mats = resample_matrices(x.shape, x.dtype, backend.namespace(x), size, scale_factor, mode,
                             align_corners, recompute_scale_factor)
    return Resample.apply(input, mats=mats)


def cross_entropy(logits, target, weight=None, ignore_index=-100, reduction="mean",
                  label_smoothing=0.0):
    """Cross-entropy of logits (N, C, d1, …) or (C,) with class indices (N, d1, …) or class
    probabilities of the logits' shape (differentiable in the probabilities too)."""
    if not isinstance(target, Tensor):
        target = Tensor(backend.namespace(data_of(logits)).asarray(target))
    probabilities = target.dtype.kind == "f"
    logits, target, shape = _rows_of_classes(logits, target, probabilities)
    w = weight.data if isinstance(weight, Tensor) else weight
    loss = CrossEntropy.apply(logits, target if probabilities else target.data, weight=w,
                              reduction=reduction, ignore_index=ignore_index,
                              label_smoothing=label_smoothing)
    return reshape(loss, shape) if shape is not None and reduction == "none" else loss


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):
    """Negative log-likelihood of log-probabilities (N, C, d1, …) or (C,) at class indices
    (N, d1, …): loss_n = −w[y_n] · input[n, y_n], 0 where y_n = ignore_index; "mean" divides
    by Σ w[y_n] over the samples not ignored (as PyTorch)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    t = target.data if isinstance(target, Tensor) else backend.namespace(
        data_of(input)).asarray(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss expects class-index targets (integers), got {t.dtype}")
    unbatched = input.ndim == 1
    x = reshape(input, (1, -1)) if unbatched else input
    expected = (x.shape[0],) + tuple(x.shape[2:])
    if x.ndim < 2 or tuple(t.shape) != (() if unbatched else expected):
        raise ShapeError(f"nll_loss: target shape {tuple(t.shape)} does not fit input "
                         f"{tuple(input.shape)} (expected (N, d1, …) for (N, C, d1, …))")
    x, _, shape = _rows_of_classes(x, Tensor(t), False)
    xp = backend.namespace(t)
    t = t.reshape(-1)
    c = x.shape[1]
    valid = t != ignore_index
    index = xp.where(valid, t, 0).astype(xp.intp)
    if xp.any((index < 0) | (index >= c)):
        bad = int(t[valid & ((t < 0) | (t >= c))][0])
        raise IndexError(f"target {bad} is out of range for {c} classes")
    w = (xp.ones(len(t), dtype=x.dtype) if weight is None
         else data_of(weight).astype(x.dtype, copy=False)[index])
    w = xp.where(valid, w, xp.zeros((), dtype=x.dtype))
    losses = neg(getitem(x, (xp.arange(len(t)), index))) * Tensor(w)
    if reduction == "none":
        return reshape(losses, shape if shape is not None else (() if unbatched else -1))
    total = sum(losses)
    if reduction == "sum":
        return total
    with backend.errstate(w, divide="ignore", invalid="ignore"):  # all ignored: 0/0 = NaN
        return total * Tensor(xp.asarray(1 / w.sum(), dtype=x.dtype))


# ---- comparisons (not differentiable: boolean results) -----------------------------------
def _compare(name, a, b):
    a, b = data_of(a), data_of(b)
    return Tensor._wrap(getattr(backend.namespace(a, b), name)(a, b))


def lt(a, b):
    return _compare("less", a, b)


def le(a, b):
    return _compare("less_equal", a, b)


def gt(a, b):
    return _compare("greater", a, b)


def ge(a, b):
    return _compare("greater_equal", a, b)


def eq(a, b):
    return _compare("equal", a, b)


def ne(a, b):
    return _compare("not_equal", a, b)


# ---- devices and dtypes -------------------------------------------------------------------
def to(a, device=None, dtype=None):
    """``a`` in ``dtype`` on ``device`` (None: unchanged); ``a`` itself when nothing changes.
    Differentiable between floating dtypes and across devices."""
    dtype = backend.dtype_of(dtype)
    if dtype is not None and dtype != a.dtype:
        if a.requires_grad and dtype.kind == "f":
            a = _Cast.apply(a, dtype=dtype)
        else:
            a = Tensor._wrap(a.data.astype(dtype))
    if device is not None and not backend.is_on(a.data, backend.as_device(device)):
        a = _Transfer.apply(a, device=backend.as_device(device))
    return a


class _Cast(Function):
    """dtype conversion; the gradient is cast back."""

    def forward(self, a, dtype):
        self.dtype = a.dtype
        return a.astype(dtype)

    def backward(self, g):
        return g.astype(self.dtype)


class _Transfer(Function):
    """A copy on another device; the gradient is copied back to the source device."""

    def forward(self, a, device):
        self.source = backend.device_of(a)
        return backend.to_device(a, device)

    def backward(self, g):
        return backend.to_device(g, self.source)
