"""Batch normalization's passes over the data, per channel, on (A, C, B) arrays: the channel is
the middle axis, so that both an (N, C, H, W)-ordered array (A = N, B = H·W) and a batch-last
one, (C, H, W, N) in memory (A = 1, B = H·W·N), are a free view (see ``ops.norm``).

With m = A·B values per channel, μ their mean and σ⁻¹ = 1/√(var + eps):

    stats:       μ = Σx/m,  var = Σ(x − μ)²/m          (the biased variance, two passes)
    apply:       out = (x − μ)·s + t                     (s, t per channel)
    grad sums:   Σg,  Σg·(x − μ)
    grad input:  dx = a·g − b·(x − μ) − c                 (a, b, c per channel)

The NumPy references take a handful of passes over the full arrays each (temporaries for
x − μ); the compiled kernels take each channel's block in turn and make their passes over
it while it is in cache, accumulating in float64.
"""

from __future__ import annotations

from .. import backend
from ..backend import buffers
from . import Kernel

REDUCE = {"reassoc"}
"""numba's fastmath flags for the per-channel sums: reassociation lets LLVM split a sum over
SIMD lanes (a plain float loop is one serial chain of adds); no other IEEE rule is relaxed."""


def _per_channel(v):
    return v[:, None]


def _centered(x3, mean):
    """x3 − μ per channel, a temporary on the buffer pool."""
    return backend.namespace(x3).subtract(x3, _per_channel(mean), out=buffers.empty_like(x3))


# ---- forward ------------------------------------------------------------------------------
def _stats_reference(x3):
    """(μ, var) per channel of x3 (A, C, B), in x3's dtype."""
    xp = backend.namespace(x3)
    m = backend.scalar(x3.shape[0] * x3.shape[2], x3.dtype)
    mean = x3.sum(axis=(0, 2), dtype=x3.dtype) / m
    xc = _centered(x3, mean)
    return mean, xp.einsum("acb,acb->c", xc, xc) / m


def _build_stats():
    import numba
    import numpy as np

    @numba.njit(cache=True, nogil=True, fastmath=REDUCE)
    def stats(x3):
        a_, c_, b_ = x3.shape
        mean, var = np.empty(c_, x3.dtype), np.empty(c_, x3.dtype)
        m = a_ * b_
        for c in range(c_):
            s = 0.0
            for a in range(a_):
                for b in range(b_):
                    s += x3[a, c, b]
            mu = s / m
            q = 0.0
            for a in range(a_):
                for b in range(b_):
                    d = x3[a, c, b] - mu
                    q += d * d
            mean[c] = mu
            var[c] = q / m
        return mean, var

    return stats


stats = Kernel("batch_norm_stats", _stats_reference, _build_stats)


def _apply_reference(x3, mean, scale, shift, out3):
    """out3 = (x3 − μ)·s + t per channel (out3 may be x3)."""
    xp = backend.namespace(x3)
    xp.subtract(x3, _per_channel(mean), out=out3)
    out3 *= _per_channel(scale)
    out3 += _per_channel(shift)


def _build_apply():
    import numba

    @numba.njit(cache=True, nogil=True)
    def apply(x3, mean, scale, shift, out3):
        for a in range(x3.shape[0]):
            for c in range(x3.shape[1]):
                mu, s, t = mean[c], scale[c], shift[c]
                xr, orow = x3[a, c], out3[a, c]
                for b in range(x3.shape[2]):
                    orow[b] = (xr[b] - mu) * s + t

    return apply


apply = Kernel("batch_norm_apply", _apply_reference, _build_apply)


# ---- backward -----------------------------------------------------------------------------
def _grad_sums_reference(g3, x3, mean):
    """(Σg, Σg·(x − μ)) per channel, in g3's dtype."""
    xp = backend.namespace(g3)
    return g3.sum(axis=(0, 2), dtype=g3.dtype), xp.einsum("acb,acb->c", g3, _centered(x3, mean))


def _build_grad_sums():
    import numba
    import numpy as np

    @numba.njit(cache=True, nogil=True, fastmath=REDUCE)
    def grad_sums(g3, x3, mean):
        c_ = g3.shape[1]
        sg, sgx = np.empty(c_, g3.dtype), np.empty(c_, g3.dtype)
        for c in range(c_):
            s = 0.0
            q = 0.0
            mu = mean[c]
            for a in range(g3.shape[0]):
                gr, xr = g3[a, c], x3[a, c]
                for b in range(g3.shape[2]):
                    s += gr[b]
                    q += gr[b] * (xr[b] - mu)
            sg[c] = s
            sgx[c] = q
        return sg, sgx

    return grad_sums


grad_sums = Kernel("batch_norm_grad_sums", _grad_sums_reference, _build_grad_sums)


def _grad_input_reference(g3, x3, mean, a, b, c, gx3):
    """gx3 = a·g − b·(x − μ) − c per channel."""
    xp = backend.namespace(g3)
    t = _centered(x3, mean)
    t *= _per_channel(b)
    xp.multiply(g3, _per_channel(a), out=gx3)
    gx3 -= t
    gx3 -= _per_channel(c)


def _build_grad_input():
    import numba

    @numba.njit(cache=True, nogil=True)
    def grad_input(g3, x3, mean, a, b, c, gx3):
        for i in range(g3.shape[0]):
            for k in range(g3.shape[1]):
                # a·g − b·(x − μ) − c = a·g − b·x + (b·μ − c)
                ak, bk, ck = a[k], b[k], b[k] * mean[k] - c[k]
                gr, xr, out = g3[i, k], x3[i, k], gx3[i, k]
                for j in range(g3.shape[2]):
                    out[j] = ak * gr[j] - bk * xr[j] + ck

    return grad_input


grad_input = Kernel("batch_norm_grad_input", _grad_input_reference, _build_grad_input)
