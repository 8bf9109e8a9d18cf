"""3×3 convolution (stride 1) by Winograd's minimal filtering F(m×m, 3×3), on batch-last images.

Each m×m tile of output is Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A for its a×a input tile d (a = m + 2;
fovea.kernels.winograd makes the passes); summed over input channels, the a² element-wise
products become a² GEMMs M[ξ] = U[ξ]·V[ξ] with U[ξ] (O, C) and V[ξ] (C, tiles·N): a²
multiplications per m² outputs and input channel where im2col's GEMM does 9·m² — 2.25×
fewer for F(2×2, 3×3), 4× fewer for F(4×4, 3×3). The map from (x, W) to the output is the
correlation itself, so the gradients are its exact adjoints:

    dM = A dY Aᵀ,   dV = Uᵀ·dM,   dx = Σ_tiles B dV Bᵀ,   dU = dM·Vᵀ,   dW = Gᵀ dU G.

Forward keeps V (a²/m² times the input) for dU, as im2col keeps its patch matrix. In float32
F(4×4) is exact to within 1e-5 of the output's scale, F(2×2) about as exact as im2col.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import backend
from ..backend import buffers
from ..kernels import sharing
from ..kernels import winograd as kw


class Plan(NamedTuple):
    """F(m×m, 3×3): the input transform Bᵀ (a×a), the kernel transform G (a×3) and the
    output transform Aᵀ (m×a), from the interpolation points 0, ±1, (±2,) ∞."""

    m: int
    bt: np.ndarray
    g: np.ndarray
    at: np.ndarray


F2 = Plan(2,
          np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], float),
          np.array([[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]]),
          np.array([[1, 1, 1, 0], [0, 1, -1, -1]], float))

F4 = Plan(4,
          np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                    [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], float),
          np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                    [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
          np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                    [0, 1, -1, 8, -8, 1]], float))

MIN_CHANNELS = 16
"""Layers with fewer input or output channels keep im2col: the GEMMs' inner dimension (C) or
rows (O) would be too small for the GEMM to run near its speed (benchmarks/README.md)."""


def applies(kh, kw_, stride, dilation, groups, c, o, oh, ow):
    """Whether a correlation of this shape runs by Winograd: a 3×3 kernel, stride 1, no
    dilation, one group, at least MIN_CHANNELS channels in and out, and an output of at least
    2×2 (smaller ones leave most of a tile unused)."""
    return (kh == kw_ == 3 and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and groups == 1 and min(c, o) >= MIN_CHANNELS and min(oh, ow) >= 2)


HALF_SPEED_COLUMNS = 100
"""A GEMM with T columns of tiles runs at about T / (T + HALF_SPEED_COLUMNS) of the speed of a
wide one here (the U[ξ] are read once per GEMM whatever T is); fitted to the layer timings in
benchmarks/README.md."""


def choose(oh, ow, n):
    """The plan for an output of oh × ow for a batch of n: the one with the least estimated
    GEMM time, a² multiplications per tile column at the speed T / (T + HALF_SPEED_COLUMNS).
    F(4×4) needs 1.78× fewer multiplications than F(2×2), but has 4× fewer columns, and its
    tiles waste more of an output whose size is not a multiple of 4."""
    def cost(plan):
        t = kw.tiles(oh, plan.m) * kw.tiles(ow, plan.m) * n
        return (plan.m + 2) ** 2 * (t + HALF_SPEED_COLUMNS)

    return min((F2, F4), key=cost)


def transform_weight(weight, plan):
    """U (a², O, C) = G g Gᵀ for each (o, c) kernel g of weight (O, C, 3, 3): one GEMM with
    G ⊗ G, since vec(G g Gᵀ) = (G ⊗ G)·vec(g)."""
    xp = backend.namespace(weight)
    o, c = weight.shape[:2]
    gg = xp.asarray(np.kron(plan.g, plan.g), dtype=weight.dtype)
    u = buffers.empty((gg.shape[0], o * c), weight.dtype, weight)
    return sharing.matmul(gg, weight.reshape(o * c, 9).T, u).reshape(-1, o, c)


def weight_from_transformed_grad(dut, plan):
    """dW (O, C, 3, 3) = Gᵀ dU G from dUᵀ (a², C, O), the gradient of the transformed kernels
    as backward's GEMMs produce it (a reshape of it is free; of dU it would be a copy)."""
    xp = backend.namespace(dut)
    aa, c, o = dut.shape
    gg = xp.asarray(np.kron(plan.g, plan.g), dtype=dut.dtype)
    dw = sharing.matmul(gg.T, dut.reshape(aa, c * o), buffers.empty((9, c * o), dut.dtype, dut))
    dw = dw.reshape(9, c, o)
    return xp.ascontiguousarray(dw.transpose(2, 1, 0)).reshape(o, c, 3, 3)


def _planes(t):
    """The (a², C, tiles) view of a channel-major (C, a², TH, TW, N) array of tiles."""
    return t.reshape(t.shape[0], t.shape[1], -1).transpose(1, 0, 2)


def correlate(xb, weight, bias, padding, plan):
    """The 3×3 correlation of the batch-last image xb (C, H, W, N) with weight (O, C, 3, 3)
    and zero padding (ph, pw), plus bias (O,) or None, by ``plan``. Returns the output
    (O, OH, OW, N) and what backward needs: the transformed kernels U and input V."""
    xp = backend.namespace(xb)
    c, h, w, n = xb.shape
    o = weight.shape[0]
    ph, pw = padding
    oh, ow = h + 2 * ph - 2, w + 2 * pw - 2
    th, tw = kw.tiles(oh, plan.m), kw.tiles(ow, plan.m)
    aa = (plan.m + 2) ** 2
    # V (C, a², tiles) and M (O, a², tiles): each channel's a² planes lie together, so the
    # transforms stream through memory channel by channel; the GEMMs take strided planes
    v = buffers.empty((c, aa, th, tw, n), xb.dtype, xb)
    bt, at = xp.asarray(plan.bt, dtype=xb.dtype), xp.asarray(plan.at, dtype=xb.dtype)
    sharing.split(c, lambda lo, hi: kw.input_transform(xb[lo:hi], bt, v[lo:hi], ph, pw), xb)
    u = transform_weight(weight, plan)
    m = buffers.empty((o, aa, th, tw, n), xb.dtype, xb)
    sharing.matmul(u, _planes(v), _planes(m))
    y = buffers.empty((o, oh, ow, n), xb.dtype, xb)
    b = xp.zeros(o, dtype=xb.dtype) if bias is None else xp.asarray(bias, dtype=xb.dtype)
    sharing.split(o, lambda lo, hi: kw.output_transform(m[lo:hi], at, b[lo:hi], y[lo:hi]), m)
    return y, u, v


def gradients(g, u, v, xshape, padding, plan, need_input, need_weight):
    """The input gradient (C, H, W, N, batch-last) and the weight gradient (O, C, 3, 3) of
    :func:`correlate` from the batch-last output gradient g (O, OH, OW, N); None where not
    needed."""
    xp = backend.namespace(g)
    o = g.shape[0]
    c, n = xshape[0], xshape[3]
    th, tw = kw.tiles(g.shape[1], plan.m), kw.tiles(g.shape[2], plan.m)
    aa = (plan.m + 2) ** 2
    dm = buffers.empty((o, aa, th, tw, n), g.dtype, g)
    bt, at = xp.asarray(plan.bt, dtype=g.dtype), xp.asarray(plan.at, dtype=g.dtype)
    sharing.split(o, lambda lo, hi: kw.output_transform_adjoint(g[lo:hi], at, dm[lo:hi]), g)
    dx = gw = None
    if need_weight:
        # dUᵀ = V·dMᵀ: the (long inner, small output) orientation OpenBLAS runs fastest
        dut = sharing.matmul(_planes(v), _planes(dm).transpose(0, 2, 1),
                             buffers.empty((aa, c, o), g.dtype, g))
        gw = weight_from_transformed_grad(dut, plan)
    if need_input:
        dv = buffers.empty((c, aa, th, tw, n), g.dtype, g)
        sharing.matmul(u.transpose(0, 2, 1), _planes(dm), _planes(dv))
        dx = buffers.empty(xshape, g.dtype, g)
        sharing.split(c, lambda lo, hi: kw.input_transform_adjoint(dv[lo:hi], bt, dx[lo:hi],
                                                                     *padding), dv)
    return dx, gw
