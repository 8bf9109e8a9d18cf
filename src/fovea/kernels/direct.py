"""Direct convolution at stride 1 on batch-last images, for layers with so few channels that
im2col's patch matrix costs more than its GEMM saves (LeNet-5's first layer).

Images are zero-padded (C, HP, WP, N) arrays, so that every window lies inside: output row y
of channel o is Σ_{c,i,j} w[o, c, i, j]·xpad[c, y + i, j + x, n], and in memory each kernel
row (c, i) adds KW shifted copies of the contiguous run xpad[c, y + i] (OW·N floats at offsets
j·N) to the output row, one pass per kernel row while the output row stays in cache. The
weight gradient dw[o, c, i, j] = Σ_{y,x,n} g[o, y, x, n]·xpad[c, y + i, x + j, n] is the same
walk with dot products in place of the adds.
"""

from __future__ import annotations

from .. import backend
from . import Kernel


def _window(xpad, i, j, oh, ow):
    """The (C, OH·OW·N) matrix of tap (i, j) of every window (a copy)."""
    return xpad[:, i:i + oh, j:j + ow].reshape(xpad.shape[0], -1)


# ---- forward ------------------------------------------------------------------------------
def _correlate_reference(xpad, w, bias, out):
    """out (O, OH, OW, N) = bias[o] + Σ_{c,i,j} w[o, c, i, j]·xpad[c, y + i, x + j, n]: one
    (O, C) GEMM per tap."""
    xp = backend.namespace(xpad)
    o, _, kh, kw = w.shape
    oh, ow = out.shape[1:3]
    o2 = out.reshape(o, -1)
    o2[...] = bias[:, None]
    for i in range(kh):
        for j in range(kw):
            o2 += xp.matmul(w[:, :, i, j], _window(xpad, i, j, oh, ow))


def _build_correlate():
    import numba

    from . import loops

    @numba.njit(cache=True, nogil=True)
    def correlate(xpad, w, bias, out):
        c_, hp, wp, n = xpad.shape
        o_, _, kh, kw = w.shape
        oh, ow = out.shape[1], out.shape[2]
        x3 = xpad.reshape(c_, hp, wp * n)
        o3 = out.reshape(o_, oh, ow * n)
        for o in range(o_):
            for y in range(oh):
                acc = o3[o, y]
                loops.fill(acc, bias[o])
                for c in range(c_):
                    for i in range(kh):
                        row = x3[c, y + i]
                        for j in range(0, kw, 5):  # up to five taps of the row per pass
                            loops.add_taps(acc, w[o, c, i, j:j + 5], row[j * n:], n)

    return correlate


correlate = Kernel("direct_correlate", _correlate_reference, _build_correlate)


# ---- weight gradient ----------------------------------------------------------------------
def _weight_grad_reference(xpad, g, dw):
    """dw (O, C, KH, KW) = Σ_{y,x,n} g[o, y, x, n]·xpad[c, y + i, x + j, n] for the output
    gradient g (O, OH, OW, N): one GEMM per tap."""
    xp = backend.namespace(xpad)
    o, _, kh, kw = dw.shape
    oh, ow = g.shape[1:3]
    g2 = g.reshape(o, -1)
    for i in range(kh):
        for j in range(kw):
            dw[:, :, i, j] = xp.matmul(g2, _window(xpad, i, j, oh, ow).T)


def _build_weight_grad():
    import numba

    from . import loops

    # reassociation lets LLVM vectorize the dot products (as any BLAS orders its sums)
    @numba.njit(cache=True, nogil=True, fastmath={"reassoc", "nsz", "contract"})
    def weight_grad(xpad, g, dw):
        c_, hp, wp, n = xpad.shape
        o_, _, kh, kw = dw.shape
        oh, ow = g.shape[1], g.shape[2]
        x3 = xpad.reshape(c_, hp, wp * n)
        g3 = g.reshape(o_, oh, ow * n)
        loops.zero(dw.reshape(-1))
        for o in range(o_):
            for y in range(oh):
                grow = g3[o, y]
                for c in range(c_):
                    for i in range(kh):
                        row = x3[c, y + i]
                        for j in range(0, kw, 5):
                            loops.dot_taps(dw[o, c, i, j:j + 5], grow, row[j * n:], n)

    return weight_grad


weight_grad = Kernel("direct_weight_grad", _weight_grad_reference, _build_weight_grad)
