"""Adaptive average pooling: a fixed output size (OH, OW) from any input size.

Output cell (i, j) averages the input rows start(i) … end(i) − 1 and columns likewise, with
PyTorch's (and torchvision's) bins

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

import numbers

from .. import backend
from ..autograd import Function
from ..errors import ShapeError


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
