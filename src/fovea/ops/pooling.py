"""Pooling over (N, C, H, W) tensors: max and average pooling over sliding windows, and
adaptive average pooling to a fixed output size.

Max and average pooling work on strided slices, one per kernel offset, which for the
batch-last layout convolutions hand on (see :mod:`fovea.ops.conv`) are long contiguous runs;
every array they make is laid out like their input.

Adaptive average pooling: output cell (i, j) averages the input rows start(i) … end(i) − 1
and columns likewise, with PyTorch's (and torchvision's) bins

    start(i) = ⌊i·H / OH⌋,   end(i) = ⌈(i + 1)·H / OH⌉,

which tile the input exactly when OH divides H and overlap by a row otherwise (or repeat rows
when OH > H). Averaging over such bins is separable and linear: with the (OH, H) matrix
P_H[i, h] = 1/(end(i) − start(i)) for h in bin i (0 elsewhere), and P_W likewise,

    out = P_H · x · P_Wᵀ  (per image and channel),     dx = P_Hᵀ · g · P_W.

That vectorizes over every bin at once as two GEMMs, with no loop over output cells, and
backward is the same product with the transposed matrices. Two cases skip the products: the
global pool (1×1, the head of ResNet and of the CIFAR VGGs) is a plain mean, and an output as
large as the input (VGG's 7×7 pool on a 224×224 image) is the identity. A batch-last input
(the transposed view of a (C, H, W, N) array that convolutions hand on) is pooled in that
layout and the result handed on the same way, so the Flatten that follows stays a free
reshape; an (N, C, H, W)-ordered one stays in its order.
"""

from __future__ import annotations

import math
import numbers

from .. import backend
from ..autograd import Function
from ..backend import buffers
from ..errors import ShapeError
from ..kernels import pooling as kpool
from ..kernels import sharing
from .conv import out_size, pair


# ---- max and average pooling over sliding windows --------------------------------------
def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, name):
    """Kernel, stride, padding, dilation, output size and the extra (bottom, right) padding
    that ceil_mode's last windows reach past the padded input."""
    if x.ndim not in (3, 4):
        raise ShapeError(f"{name} expects (N, C, H, W) or (C, H, W), got {x.shape}")
    k = pair(kernel_size, "kernel_size")
    s = k if stride is None or stride == () else pair(stride, "stride")
    p, d = pair(padding, "padding"), pair(dilation, "dilation")
    reach = [d[i] * (k[i] - 1) + 1 for i in range(2)]  # the window's span
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{name}: padding {p} must be at most half the kernel size {k}")
    size = x.shape[-2:]
    outs, extra = [], []
    for n, ki, si, pi, di, r in zip(size, k, s, p, d, reach):
        o = out_size(n, ki, si, pi, di)
        if ceil_mode:
            # PyTorch's rule: round up, but the last window must start inside the input or
            # the left padding
            o = -(-(n + 2 * pi - r) // si) + 1
            if (o - 1) * si >= n + pi:
                o -= 1
        outs.append(o)
        extra.append(max(0, (o - 1) * si + r - (n + 2 * pi)))
    oh, ow = outs
    if oh <= 0 or ow <= 0:
        raise ShapeError(f"{name}: input {x.shape} is smaller than the window {k}")
    return k, s, p, d, oh, ow, tuple(extra)


def _filled_in_order(shape, like, value):
    """An array of ``shape`` laid out in memory like ``like``, filled with ``value``."""
    out = buffers.empty_in_order(shape, like)
    out.fill(value)
    return out


def _pad_hw(x, p, value, extra=(0, 0)):
    """x padded on its last two axes with ``value`` (p before and p + extra after), in x's own
    memory layout."""
    if not any(p) and not any(extra):
        return x
    h, w = x.shape[-2:]
    out = _filled_in_order(x.shape[:-2] + (h + 2 * p[0] + extra[0], w + 2 * p[1] + extra[1]),
                           x, value)
    out[..., p[0]:p[0] + h, p[1]:p[1] + w] = x
    return out


def _counts(n, k, s, p, oh, include_pad, xp, dtype):
    """How many positions each of the ``oh`` windows along one axis divides by: the window
    clipped to the padded input (include_pad) or to the input itself, as PyTorch."""
    start = xp.arange(oh) * s - p
    end = xp.minimum(start + k, n + p)
    if not include_pad:
        start, end = xp.maximum(start, 0), xp.minimum(end, n)
    return (end - start).astype(dtype)


def _max_along(x, axis, k, s, p, d, n_out):
    """Max over windows of k taps (dilation d, stride s, padding p counted as −∞) along one
    axis of x, without a padded copy: tap i of output y reads x[s·y − p + i·d], and each tap
    is applied only to the outputs where that index lies inside x."""
    size = x.shape[axis]

    def valid(i):  # the outputs [lo, hi) whose tap i is inside x
        lo = max(0, -(-(p - i * d) // s))
        return lo, min(n_out, (size - 1 + p - i * d) // s + 1)

    def tap(i, lo, hi):
        start = s * lo - p + i * d
        index = [slice(None)] * x.ndim
        index[axis] = slice(start, start + s * (hi - lo - 1) + 1, s)
        return tuple(index)

    def part(lo, hi):
        index = [slice(None)] * x.ndim
        index[axis] = slice(lo, hi)
        return tuple(index)

    ranges = [valid(i) for i in range(k)]
    full = [i for i in range(k) if ranges[i] == (0, n_out)]
    shape = list(x.shape)
    shape[axis] = n_out
    if full:
        out = _max_into(buffers.empty_in_order(shape, x), [x[tap(i, 0, n_out)] for i in full])
    else:
        out = _filled_in_order(shape, x, -math.inf)
    xp = backend.namespace(x)
    for i in range(k):
        lo, hi = ranges[i]
        if i not in full and lo < hi:
            o = out[part(lo, hi)]
            xp.maximum(o, x[tap(i, lo, hi)], out=o)
    return out


def _max_into(out, views):
    """out = the element-wise max of ``views`` (one or more, each out's shape), no temporary;
    ranges of out's outermost axis in memory shared by fovea's threads."""
    xp = backend.namespace(out)
    axis = max(range(out.ndim), key=lambda i: out.strides[i])

    def work(lo, hi):
        part = (slice(None),) * axis + (slice(lo, hi),)
        o, vs = out[part], [v[part] for v in views]
        if len(vs) == 1:
            xp.copyto(o, vs[0])
        else:
            xp.maximum(vs[0], vs[1], out=o)
        for view in vs[2:]:
            xp.maximum(o, view, out=o)

    sharing.split(out.shape[axis], work, out)
    return out


def _offsets(k, s, d, oh, ow):
    """Index slices (over H, W) that pick kernel tap (i, j) of every window."""
    for i in range(k[0]):
        for j in range(k[1]):
            yield (Ellipsis, slice(i * d[0], i * d[0] + s[0] * (oh - 1) + 1, s[0]),
                   slice(j * d[1], j * d[1] + s[1] * (ow - 1) + 1, s[1]))


class MaxPool2d(Function):
    """out = max over each window (padding counts as −∞). The gradient goes to the first
    maximal element of each window in row-major order, as in PyTorch.

    Forward is a running ``maximum`` over one strided slice per kernel tap; windows of 3×3 and
    up are done separably — over the window's rows, then over its columns, each tap limited to
    the windows where it lies inside the input (no padded copy); 2×2 windows keep the plain
    taps, which are faster there (benchmarks/README.md). Backward is the kernel
    :data:`fovea.kernels.pooling.max_pool_backward`.
    """

    def forward(self, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        k, s, p, d, oh, ow, extra = _pool_geometry(x, kernel_size, stride, padding, dilation,
                                                   ceil_mode, "max_pool2d")
        if k[0] * k[1] <= k[0] + k[1]:  # 2×2 or 1×k windows: no more taps than two passes
            xpad = _pad_hw(x, p, -math.inf, extra)
            taps = [xpad[sl] for sl in _offsets(k, s, d, oh, ow)]
            out = _max_into(buffers.empty_like(taps[0]), taps)
        else:  # the max over the window's columns of the max over its rows: 2·k taps, not k²
            rows = _max_along(x, x.ndim - 2, k[0], s[0], p[0], d[0], oh)
            out = _max_along(rows, x.ndim - 1, k[1], s[1], p[1], d[1], ow)
        if self.needs_grad:
            self.geom = (x.shape, k, s, p, d)
            self.x, self.out = x, out
        return out

    def backward(self, g):
        xshape, k, s, p, d = self.geom
        x = self.x
        batch_last = x.ndim == 4 and _batch_last(x) and not x.flags.c_contiguous
        x4, out4, g4 = (_planes(a, batch_last) for a in (x, self.out, g))
        dx4 = buffers.empty(x4.shape, g.dtype, g)
        sharing.split(x4.shape[0], lambda lo, hi: kpool.max_pool_backward(
            x4[lo:hi], out4[lo:hi], g4[lo:hi], dx4[lo:hi], *k, *s, *p, *d), x4)
        return dx4.transpose(3, 0, 1, 2) if batch_last else dx4.reshape(xshape)


def _planes(a, batch_last):
    """The (P, H, W, Q) array the max-pool kernel takes (a view where a's layout allows):
    (C, H, W, N) of a batch-last (N, C, H, W) array, else (N·C, H, W, 1) (C-ordered)."""
    xp = backend.namespace(a)
    if batch_last:
        return xp.ascontiguousarray(a.transpose(1, 2, 3, 0))
    return xp.ascontiguousarray(a).reshape(-1, *a.shape[-2:], 1)


class AvgPool2d(Function):
    """out = mean over each window. With count_include_pad (PyTorch's default) the divisor is
    the window clipped to the padded input (kh·kw but where ceil_mode's last windows reach past
    it); without it, the number of real (unpadded) pixels in the window; ``divisor_override``
    replaces both."""

    def forward(self, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                count_include_pad=True, divisor_override=None):
        k, s, p, d, oh, ow, extra = _pool_geometry(x, kernel_size, stride, padding, 1,
                                                   ceil_mode, "avg_pool2d")
        xp = backend.namespace(x)
        xpad = _pad_hw(x, p, 0, extra)
        out = None
        for sl in _offsets(k, s, d, oh, ow):
            tap = xpad[sl]
            if out is None:
                out = tap.copy(order="K")
            else:
                out += tap
        if divisor_override:
            div = xp.asarray(divisor_override, dtype=x.dtype)
        elif not any(extra) and (count_include_pad or not any(p)):
            div = xp.asarray(k[0] * k[1], dtype=x.dtype)
        else:  # separable: the product of the row and the column counts
            h, w = x.shape[-2:]
            div = (_counts(h, k[0], s[0], p[0], oh, count_include_pad, xp, x.dtype)[:, None]
                   * _counts(w, k[1], s[1], p[1], ow, count_include_pad, xp, x.dtype))
        out /= div
        if self.needs_grad:
            self.geom = (x.shape, k, s, p, d, oh, ow)
            self.div = div
            self.like = xpad
        return out

    def backward(self, g):
        xshape, k, s, p, d, oh, ow = self.geom
        dx = backend.namespace(g).zeros_like(self.like, dtype=g.dtype)
        share = g / self.div
        for sl in _offsets(k, s, d, oh, ow):
            dx[sl] += share
        h, w = xshape[-2:]
        return dx[..., p[0]:p[0] + h, p[1]:p[1] + w]


def max_pool2d_indices(x, out, kernel_size, stride=None, padding=0, dilation=1,
                       ceil_mode=False):
    """PyTorch's ``return_indices`` of a max pool: for each window of the (N, C, H, W) or
    (C, H, W) array x whose maxima are ``out``, the flat index h·W + w within its plane of the
    window's first maximal element in row-major order (int64)."""
    k, s, p, d, oh, ow, extra = _pool_geometry(x, kernel_size, stride, padding, dilation,
                                               ceil_mode, "max_pool2d")
    xp = backend.namespace(x)
    xpad = _pad_hw(x, p, -math.inf, extra)
    w = x.shape[-1]
    rows = xp.arange(oh)[:, None] * s[0] - p[0]
    cols = xp.arange(ow) * s[1] - p[1]
    index = xp.full(out.shape, -1, dtype=xp.int64)
    for (i, j), sl in zip(((i, j) for i in range(k[0]) for j in range(k[1])),
                          _offsets(k, s, d, oh, ow)):
        tap = xpad[sl]
        # NaN is a maximum too (PyTorch propagates it)
        hit = ((tap == out) | (xp.isnan(tap) & xp.isnan(out))) & (index < 0)
        flat = (rows + i * d[0]) * w + cols + j * d[1]
        xp.copyto(index, xp.broadcast_to(flat, index.shape), where=hit)
    return index


# ---- adaptive average pooling ------------------------------------------------------------
def adaptive_output_size(output_size, h, w):
    """(OH, OW) from an int, a pair, or a pair with None for "the input's size" (PyTorch)."""
    if isinstance(output_size, numbers.Integral):
        size = (int(output_size), int(output_size))
    else:
        size = tuple(output_size)
        if len(size) != 2:
            raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair, got "
                             f"{output_size!r}")
        size = tuple(n if s is None else s for s, n in zip(size, (h, w)))
    if not all(isinstance(s, numbers.Integral) and s > 0 for s in size):
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive, got "
                         f"{output_size!r}")
    return int(size[0]), int(size[1])


def bin_edges(size, out, xp):
    """(start, end) index arrays (namespace ``xp``) of the ``out`` adaptive bins over ``size``
    positions."""
    i = xp.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def pooling_matrix(size, out, dtype, xp):
    """The (out, size) averaging matrix (namespace ``xp``): row i is 1/len over bin i's
    positions, 0 elsewhere."""
    start, end = bin_edges(size, out, xp)
    j = xp.arange(size)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _batch_last(a):
    """True when the (N, C, H, W) array a is the transposed view of a C-contiguous
    (C, H, W, N) array."""
    return a.transpose(1, 2, 3, 0).flags.c_contiguous


def _separable(a, ph, pw):
    """ph · a · pwᵀ over the last two axes of the (N, C, H, W) array a, for every (n, c):
    (N, C, ph.rows, pw.rows) as two GEMMs (inner dimensions W and H), in a's layout: a
    batch-last input gives a batch-last result, any other an (N, C, OH, OW)-ordered one. (A
    batched product over N·C small planes would be many times slower.)"""
    n, c, h, w = a.shape
    oh, ow = ph.shape[0], pw.shape[0]
    xp = backend.namespace(a)
    if _batch_last(a):
        ab = a.transpose(1, 2, 3, 0)                            # (C, H, W, N), no copy
        t = xp.matmul(ph, ab.reshape(c, h, w * n))              # (C, OH, W·N)
        out = xp.matmul(pw, t.reshape(c * oh, w, n))            # (C·OH, OW, N)
        return out.reshape(c, oh, ow, n).transpose(3, 0, 1, 2)
    # xp.dot: NumPy's matmul of a tall (N·C·H, W) matrix by a tiny one is 8x slower than dot
    planes = xp.ascontiguousarray(a).reshape(n * c * h, w)
    t = xp.dot(planes, pw.T).reshape(n * c, h, ow)              # rows pooled
    t = xp.ascontiguousarray(t.transpose(1, 0, 2)).reshape(h, n * c * ow)
    out = xp.dot(ph, t).reshape(oh, n * c, ow)                  # columns pooled
    return xp.ascontiguousarray(out.transpose(1, 0, 2)).reshape(n, c, oh, ow)


class AdaptiveAvgPool2d(Function):
    """out[n, c, i, j] = mean of x[n, c, start(i):end(i), start(j):end(j)] over adaptive bins
    (see the module docstring); input (N, C, H, W) or (C, H, W)."""

    def forward(self, x, output_size):
        if x.ndim not in (3, 4):
            raise ShapeError(f"adaptive_avg_pool2d expects (N, C, H, W) or (C, H, W), got "
                             f"{x.shape}")
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        h, w = x.shape[-2:]
        xp = backend.namespace(x)
        if h == 0 or w == 0:
            raise ShapeError(f"adaptive_avg_pool2d: empty input {x.shape}")
        oh, ow = adaptive_output_size(output_size, h, w)
        if (oh, ow) == (h, w):
            kind, out = "identity", x
        elif (oh, ow) == (1, 1):
            kind = "mean"
            out = x.sum(axis=(2, 3), keepdims=True)
            out /= xp.asarray(h * w, dtype=x.dtype)
        else:
            kind = "bins"
            ph, pw = pooling_matrix(h, oh, x.dtype, xp), pooling_matrix(w, ow, x.dtype, xp)
            out = _separable(x, ph, pw)
        if self.needs_grad:
            self.kind, self.unbatched = kind, unbatched
            self.x_shape, self.x_batch_last = x.shape, _batch_last(x)
            if kind == "bins":
                self.ph, self.pw = ph, pw
        return out[0] if unbatched else out

    def backward(self, g):
        if self.unbatched:
            g = g[None]
        xp = backend.namespace(g)
        if self.kind == "identity":
            dx = g
        elif self.kind == "mean":
            n, c, h, w = self.x_shape
            if self.x_batch_last:  # the gradient in the input's layout
                dx = xp.empty((c, h, w, n), dtype=g.dtype).transpose(3, 0, 1, 2)
            else:
                dx = xp.empty((n, c, h, w), dtype=g.dtype)
            dx[...] = g / xp.asarray(h * w, dtype=g.dtype)
        else:
            dx = _separable(g, self.ph.T, self.pw.T)
        return dx[0] if self.unbatched else dx


def adaptive_avg_pool2d(input, output_size):
    """Adaptive average pooling of (N, C, H, W) or (C, H, W) to ``output_size`` (an int, a
    pair, or a pair with None keeping that input dimension), as torch's
    ``F.adaptive_avg_pool2d``."""
    return AdaptiveAvgPool2d.apply(input, output_size=output_size)
