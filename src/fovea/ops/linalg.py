"""Matrix products: batched matmul and the fused affine map of a Linear layer."""

from __future__ import annotations

import math

from .. import backend
from ..autograd import Function, unbroadcast
from ..errors import ShapeError
from ..kernels import sharing


class MatMul(Function):
    """a @ b with NumPy's rules (1-D operands, broadcast batch dimensions).

    d/da = g @ bᵀ, d/db = aᵀ @ g, summed over broadcast batch dimensions.
    """

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ShapeError(f"matmul needs at least 1-D operands, got {a.shape} and {b.shape}")
        if a.shape[-1] != b.shape[0 if b.ndim == 1 else -2]:
            raise ShapeError(f"matmul: shapes {a.shape} and {b.shape} do not fit")
        self.a, self.b = a, b
        return sharing.matmul(a, b)

    def backward(self, g):
        a, b = self.a, self.b
        xp = backend.namespace(g)
        a2 = a[None, :] if a.ndim == 1 else a            # (…, n, k)
        b2 = b[:, None] if b.ndim == 1 else b            # (…, k, m)
        if b.ndim == 1:  # first: for 1-D @ 1-D, g is 0-d and becomes (1,), then (1, 1)
            g = xp.expand_dims(g, -1)
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        ga = gb = None
        if self.needs_grad[0]:
            ga = unbroadcast(sharing.matmul(g, xp.swapaxes(b2, -1, -2)), a2.shape)
            ga = ga.reshape(a.shape)
        if self.needs_grad[1]:
            gb = unbroadcast(sharing.matmul(xp.swapaxes(a2, -1, -2), g), b2.shape)
            gb = gb.reshape(b.shape)
        return ga, gb


def _rows(x) -> int:
    """The rows of ``x`` as a matrix of its last dimension."""
    return math.prod(x.shape[:-1])


class Linear(Function):
    """y = x Wᵀ + b (the notes' f(x, W) = Wx + b, one row per sample), fused.

    dx = g W, dW = gᵀ x, db = Σ g over the batch.
    """

    def forward(self, x, weight, bias=None):
        if x.ndim == 0:
            raise ShapeError("linear: the input is 0-d; it needs at least one dimension (the "
                             "features)")
        if x.shape[-1] != weight.shape[1]:
            raise ShapeError(
                f"linear: input of shape {x.shape} does not fit weight of shape {weight.shape} "
                f"(expected last dimension {weight.shape[1]})"
            )
        self.x_shape = x.shape
        x2 = x.reshape(_rows(x), x.shape[-1])  # not -1: a zero-size input has no inferable rows
        self.x_column_major = not x2.flags.c_contiguous and x2.flags.f_contiguous
        if self.needs_grad and self.needs_grad[1]:
            self.x2 = x2
        if self.needs_grad and self.needs_grad[0]:
            self.weight = weight
        out = sharing.matmul(x2, weight.T)
        if bias is not None:
            out += bias
        return out.reshape(x.shape[:-1] + (weight.shape[0],))

    def backward(self, g):
        g2 = g.reshape(_rows(g), g.shape[-1])
        gx = None
        if self.needs_grad[0]:
            # give dx the input's memory layout: a column-major input (a Flatten of a
            # batch-last convolution) gets a column-major gradient, so the layers below
            # keep reading contiguous runs
            if self.x_column_major:
                gx = sharing.matmul(self.weight.T, g2.T).T
            else:
                gx = sharing.matmul(g2, self.weight)
            gx = gx.reshape(self.x_shape)
        gw = sharing.matmul(g2.T, self.x2) if self.needs_grad[1] else None
        gb = g2.sum(axis=0) if len(self.needs_grad) > 2 and self.needs_grad[2] else None
        return gx, gw, gb
