"""Resampling (``F.interpolate``): nearest, linear (1-D, 2-D and 3-D), bicubic and area
modes over (N, C, *spatial) tensors.

Each mode is separable and linear: along every spatial axis, output position i reads input
positions through an (out, in) matrix A — one 1 per row for nearest (the source index
⌊i·scale⌋, or ⌊(i + ½)·scale⌋ for nearest-exact), the two weights 1 − λ, λ of the
neighbours ⌊src⌋, ⌊src⌋ + 1 for linear with

    src = scale·i                  (align_corners=True, scale = (in − 1)/(out − 1))
    src = max(scale·(i + ½) − ½, 0)   (align_corners=False, scale = in/out or 1/scale_factor),

the adaptive-average bins for area, and for bicubic the four neighbours ⌊src⌋ − 1 … ⌊src⌋ + 2
(clamped to the axis) with Keys' cubic-convolution weights (a = −0.75, as PyTorch; src not
clamped at 0). The output is A applied along each axis in turn (one
GEMM per axis, no loop over pixels); the gradient is Aᵀ applied in reverse order.
"""

from __future__ import annotations

import math
import numbers

from .. import backend
from ..autograd import Function
from ..errors import ShapeError
from .pooling import pooling_matrix

MODES = {"nearest": None, "nearest-exact": None, "area": None, "linear": 1, "bilinear": 2,
         "bicubic": 2, "trilinear": 3}
"""The supported modes and, for the linear ones, the number of spatial axes they need."""


def _along(a, m, axis):
    """The matrix m (out, in) applied along ``axis`` of a."""
    xp = backend.namespace(a)
    return xp.moveaxis(xp.tensordot(a, m, axes=([axis], [1])), -1, axis)


class Resample(Function):
    """out = x with the matrix ``mats[k]`` applied along spatial axis k; dx = the transposed
    matrices applied in reverse order."""

    def forward(self, x, mats):
        self.mats = mats
        start = x.ndim - len(mats)
        for k, m in enumerate(mats):
            x = _along(x, m, start + k)
        return x

    def backward(self, g):
        start = g.ndim - len(self.mats)
        for k in reversed(range(len(self.mats))):
            g = _along(g, self.mats[k].T, start + k)
        return g


def _source(n_in, n_out, scale, mode, align_corners, xp, dtype):
    """The (n_out, n_in) resampling matrix of one axis (see the module docstring)."""
    i = xp.arange(n_out, dtype=dtype)
    rows = xp.arange(n_out)
    m = xp.zeros((n_out, n_in), dtype=dtype)
    if mode == "area":
        return pooling_matrix(n_in, n_out, dtype, xp)
    if mode in ("nearest", "nearest-exact"):
        s = xp.asarray(n_in / n_out if scale is None else 1 / scale, dtype=dtype)
        src = xp.floor((i + xp.asarray(0.5, dtype=dtype)) * s if mode == "nearest-exact" else i * s)
        m[rows, xp.minimum(src.astype(xp.int64), n_in - 1)] = 1
        return m
    if align_corners:
        s = xp.asarray((n_in - 1) / (n_out - 1) if n_out > 1 else 0, dtype=dtype)
        src = i * s
    else:
        s = xp.asarray(n_in / n_out if scale is None else 1 / scale, dtype=dtype)
        half = xp.asarray(0.5, dtype=dtype)
        src = s * (i + half) - half
        if mode != "bicubic":
            src = xp.maximum(src, xp.asarray(0, dtype=dtype))
    if mode == "bicubic":
        return _cubic_matrix(m, rows, src, n_in, xp, dtype)
    i0 = xp.minimum(src.astype(xp.int64), n_in - 1)
    i1 = xp.minimum(i0 + 1, n_in - 1)
    lam = src - i0.astype(dtype)
    m[rows, i0] = 1 - lam
    m[rows, i1] += lam
    return m


def _cubic_matrix(m, rows, src, n_in, xp, dtype):
    """Row i of m gets Keys' weights (a = −0.75) of the four neighbours of src[i], clamped
    indices accumulating."""
    a = -0.75
    base = xp.floor(src)
    t = src - base
    base = base.astype(xp.int64)

    def near(x):  # |x| ≤ 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    for k, weight in enumerate((far(t + 1), near(t), near(1 - t), far(2 - t))):
        idx = xp.clip(base - 1 + k, 0, n_in - 1)
        backend.scatter_add(m, (rows, idx), weight.astype(dtype))
    return m


def _per_axis(v, dims, name):
    """An int/float or a sequence of ``dims`` of them as a list."""
    if isinstance(v, numbers.Number):
        return [v] * dims
    v = list(v)
    if len(v) != dims:
        raise ValueError(f"interpolate: {name} must have {dims} elements for a "
                         f"{dims + 2}-D input, got {v}")
    return v


def resample_matrices(shape, dtype, xp, size=None, scale_factor=None, mode="nearest",
                      align_corners=None, recompute_scale_factor=None):
    """One resampling matrix per spatial axis of an (N, C, *spatial) array, with PyTorch's
    ``F.interpolate`` rules for size, scale_factor and recompute_scale_factor."""
    dims = len(shape) - 2
    if mode not in MODES:
        raise NotImplementedError(f"interpolate: mode {mode!r} is not supported (supported: "
                                  f"{', '.join(MODES)})")
    if dims < 1:
        raise ShapeError(f"interpolate expects an (N, C, *spatial) input, got {shape}")
    if MODES[mode] is not None and MODES[mode] != dims:
        raise NotImplementedError(f"Got {len(shape)}D input, but {mode} mode needs "
                                  f"{MODES[mode] + 2}D input")
    if MODES[mode] is None and align_corners is not None:
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if (size is None) == (scale_factor is None):
        raise ValueError("only one of size or scale_factor should be defined"
                         if size is not None else "either size or scale_factor should be defined")
    spatial = shape[2:]
    if size is not None:
        out, scales = [int(s) for s in _per_axis(size, dims, "size")], [None] * dims
    else:
        scales = [float(s) for s in _per_axis(scale_factor, dims, "scale_factor")]
        out = [math.floor(float(n * s)) for n, s in zip(spatial, scales)]
        if recompute_scale_factor or mode == "area":
            scales = [None] * dims
    if any(o <= 0 for o in out):
        raise ValueError(f"interpolate: output size {out} must be positive")
    return tuple(_source(n, o, s, mode, bool(align_corners), xp, dtype)
                 for n, o, s in zip(spatial, out, scales))
