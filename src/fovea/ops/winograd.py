"""3×3 convolution (stride 1) by Winograd's minimal filtering F(2×2, 3×3), on batch-last images.

Each 2×2 tile of output is Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d Bᵀᵀ)] A for its 4×4 input tile d
(fovea.kernels.winograd gives the matrices); summed over input channels, the 16 element-wise
products become 16 GEMMs M[ξ] = U[ξ]·V[ξ] with U[ξ] (O, C) and V[ξ] (C, tiles·N): 16
multiplications per 4 outputs and input channel, where im2col's GEMM does 36. The map from
(x, W) to the output is the correlation itself, so its gradients are exact adjoints:

    dM = A dY Aᵀ,   dV = Uᵀ·dM,   dx = Σ_tiles B dV Bᵀ,   dU = dM·Vᵀ,   dW = Gᵀ dU G.

Forward keeps V (four times the input) for dU, as im2col keeps its patch matrix.
"""

from __future__ import annotations

import numpy as np

from .. import backend
from ..backend import buffers
from ..kernels import winograd as kw

G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])
"""The kernel transform: U = G g Gᵀ (4×4 from 3×3)."""

MIN_CHANNELS = 16
"""Layers with fewer input or output channels keep im2col: the 16 GEMMs' inner dimension (C)
or rows (O) would be too small for the GEMM to run near its speed (benchmarks/README.md)."""


def applies(kh, kw_, stride, dilation, groups, c, o, oh, ow):
    """Whether a correlation of this shape runs by Winograd: a 3×3 kernel, stride 1, no
    dilation, one group, at least MIN_CHANNELS channels in and out, and an output of at least
    2×2 (smaller ones leave most of a tile unused)."""
    return (kh == kw_ == 3 and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and groups == 1 and min(c, o) >= MIN_CHANNELS and min(oh, ow) >= 2)


GG = np.kron(G, G)
"""U = G g Gᵀ for a flattened 3×3 kernel g as one (16, 9) matrix: vec(U) = (G ⊗ G)·vec(g)."""


def transform_weight(weight):
    """U (16, O, C) = G g Gᵀ for each (o, c) kernel g of weight (O, C, 3, 3): one GEMM."""
    xp = backend.namespace(weight)
    o, c = weight.shape[:2]
    gg = xp.asarray(GG, dtype=weight.dtype)
    return xp.matmul(gg, weight.reshape(o * c, 9).T).reshape(16, o, c)


def weight_from_transformed_grad(du):
    """dW (O, C, 3, 3) = Gᵀ dU G from the gradient dU (16, O, C) of the transformed kernels."""
    xp = backend.namespace(du)
    _, o, c = du.shape
    gg = xp.asarray(GG, dtype=du.dtype)
    return xp.matmul(gg.T, du.reshape(16, o * c)).T.reshape(o, c, 3, 3)


def correlate(xb, weight, bias, padding):
    """The 3×3 correlation of the batch-last image xb (C, H, W, N) with weight (O, C, 3, 3)
    and zero padding (ph, pw), plus bias (O,) or None. Returns the output (O, OH, OW, N) and
    what backward needs: the transformed kernels U and the transformed input V."""
    xp = backend.namespace(xb)
    c, h, w, n = xb.shape
    o = weight.shape[0]
    ph, pw = padding
    oh, ow = h + 2 * ph - 2, w + 2 * pw - 2
    th, tw = kw.tiles(oh), kw.tiles(ow)
    v = buffers.empty((16, c, th, tw, n), xb.dtype, xb)
    kw.input_transform(xb, v, ph, pw)
    u = transform_weight(weight)
    m = buffers.empty((16, o, th, tw, n), xb.dtype, xb)
    xp.matmul(u, v.reshape(16, c, -1), out=m.reshape(16, o, -1))
    y = buffers.empty((o, oh, ow, n), xb.dtype, xb)
    b = xp.zeros(o, dtype=xb.dtype) if bias is None else xp.asarray(bias, dtype=xb.dtype)
    kw.output_transform(m, b, y)
    return y, u, v


def gradients(g, u, v, xshape, padding, need_input, need_weight):
    """The input gradient (C, H, W, N, batch-last) and the weight gradient (O, C, 3, 3) of
    :func:`correlate` from the batch-last output gradient g (O, OH, OW, N); None where not
    needed."""
    xp = backend.namespace(g)
    o = g.shape[0]
    c, h, w, n = xshape
    th, tw = kw.tiles(g.shape[1]), kw.tiles(g.shape[2])
    dm = buffers.empty((16, o, th, tw, n), g.dtype, g)
    kw.output_transform_adjoint(g, dm)
    dm2 = dm.reshape(16, o, -1)
    dx = gw = None
    if need_weight:
        # dUᵀ = V·dMᵀ: the (long inner, small output) orientation OpenBLAS runs fastest
        dut = xp.matmul(v.reshape(16, c, -1), dm2.transpose(0, 2, 1))
        gw = weight_from_transformed_grad(dut.transpose(0, 2, 1))
    if need_input:
        dv = buffers.empty((16, c, th, tw, n), g.dtype, g)
        xp.matmul(u.transpose(0, 2, 1), dm2, out=dv.reshape(16, c, -1))
        dx = buffers.empty(xshape, g.dtype, g)
        kw.input_transform_adjoint(dv, dx, *padding)
    return dx, gw
