"""The four memory passes of a Winograd F(2×2, 3×3) correlation on batch-last images.

A 3×3 correlation (stride 1) computes each 2×2 tile of output from a 4×4 tile of input d:

    Y = Aᵀ [ U ⊙ V ] A,   U = G g Gᵀ (the 4×4 transformed kernel),   V = Bᵀ d B,

        Bᵀ = [1  0 −1  0]      G = [1    0    0 ]      Aᵀ = [1  1  1  0]
             [0  1  1  0]          [½    ½    ½ ]           [0  1 −1 −1]
             [0 −1  1  0]          [½   −½    ½ ]
             [0  1  0 −1]          [0    0    1 ]

and summed over input channels the 16 products U ⊙ V become 16 GEMMs, M[ξ] = U[ξ]·V[ξ]
(ξ the position in the 4×4 tile): 16 multiplications per 4 outputs instead of 36.

Images are batch-last (C, H, W, N) and unpadded; transformed tiles are (16, C, TH, TW, N)
arrays for TH × TW tiles. Tile (ty, tx) reads input rows 2·ty − ph … 2·ty − ph + 3 and columns
2·tx − pw … + 3 (zero outside the image) and writes output rows 2·ty, 2·ty + 1 and columns
2·tx, 2·tx + 1 (those inside the output). The passes:

- ``input_transform``: V = Bᵀ d B for every tile (forward);
- ``output_transform``: Y = Aᵀ M A + bias (forward);
- ``output_transform_adjoint``: dM = A dY Aᵀ (backward);
- ``input_transform_adjoint``: dx = the sum over the tiles that read a pixel of B dV Bᵀ
  (backward; tiles overlap by two rows and two columns).

The compiled passes copy four input rows at a time into a zero-bordered strip (so the tile
loops need no bounds checks) and run their innermost loop over the batch.
"""

from __future__ import annotations

from .. import backend
from . import Kernel


def tiles(out_size):
    """The number of 2-wide output tiles that cover ``out_size`` outputs."""
    return (out_size + 1) // 2


# ---- NumPy reference ----------------------------------------------------------------------
def _padded(xp, xb, th, tw, ph, pw):
    """xb (C, H, W, N) inside a zero frame of (2·TH + 2, 2·TW + 2) pixels, the image at (ph, pw)
    (cropped where the tiles do not reach)."""
    c, h, w, n = xb.shape
    out = xp.zeros((c, 2 * th + 2, 2 * tw + 2, n), dtype=xb.dtype)
    hh, ww = min(h, 2 * th + 2 - ph), min(w, 2 * tw + 2 - pw)
    out[:, ph:ph + hh, pw:pw + ww] = xb[:, :hh, :ww]
    return out


def _rows_bt(d0, d1, d2, d3):
    """Bᵀ applied along one axis of a tile: (d0 − d2, d1 + d2, d2 − d1, d1 − d3)."""
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


def _rows_b(v0, v1, v2, v3):
    """B applied along one axis (the adjoint of _rows_bt)."""
    return v0, v1 - v2 + v3, v2 + v1 - v0, -v3


def _input_transform_reference(xb, out, ph, pw):
    """out (16, C, TH, TW, N) = Bᵀ d B for every 4×4 input tile d of xb (C, H, W, N)."""
    xp = backend.namespace(xb)
    th, tw = out.shape[2], out.shape[3]
    p = _padded(xp, xb, th, tw, ph, pw)
    d = [[p[:, i:i + 2 * th:2, j:j + 2 * tw:2] for j in range(4)] for i in range(4)]
    t = [_rows_bt(*(d[i][j] for i in range(4))) for j in range(4)]  # t[j][r]: column j
    for r in range(4):
        v = _rows_bt(*(t[j][r] for j in range(4)))
        for k in range(4):
            out[4 * r + k] = v[k]


def _input_transform_adjoint_reference(dv, dx, ph, pw):
    """dx (C, H, W, N) = the adjoint of the input transform applied to dv (16, C, TH, TW, N)."""
    xp = backend.namespace(dv)
    c, h, w, n = dx.shape
    th, tw = dv.shape[2], dv.shape[3]
    p = xp.zeros((c, 2 * th + 2, 2 * tw + 2, n), dtype=dv.dtype)
    e = [_rows_b(*(dv[4 * r + k] for k in range(4))) for r in range(4)]  # e[r][j]
    for j in range(4):
        col = _rows_b(*(e[r][j] for r in range(4)))
        for i in range(4):
            p[:, i:i + 2 * th:2, j:j + 2 * tw:2] += col[i]
    hh, ww = min(h, 2 * th + 2 - ph), min(w, 2 * tw + 2 - pw)
    dx[...] = 0
    dx[:, :hh, :ww] = p[:, ph:ph + hh, pw:pw + ww]


def _output_transform_reference(m, bias, y):
    """y (O, OH, OW, N) = Aᵀ M A + bias[o] for every tile of m (16, O, TH, TW, N)."""
    oh, ow = y.shape[1], y.shape[2]
    s = [(m[4 * r] + m[4 * r + 1] + m[4 * r + 2], m[4 * r + 1] - m[4 * r + 2] - m[4 * r + 3])
         for r in range(4)]  # s[r][b]: row r of M A
    b = bias[:, None, None, None]
    for b_ in range(2):
        top = s[0][b_] + s[1][b_] + s[2][b_] + b
        bottom = s[1][b_] - s[2][b_] - s[3][b_] + b
        y[:, 0::2, b_::2] = top[:, :(oh + 1) // 2, :(ow - b_ + 1) // 2]
        y[:, 1::2, b_::2] = bottom[:, :oh // 2, :(ow - b_ + 1) // 2]


def _output_transform_adjoint_reference(g, dm):
    """dm (16, O, TH, TW, N) = A dY Aᵀ for every 2×2 tile of g (O, OH, OW, N), zero where a
    tile reaches past the output."""
    xp = backend.namespace(g)
    o, oh, ow, n = g.shape
    th, tw = dm.shape[2], dm.shape[3]
    full = xp.zeros((o, 2 * th, 2 * tw, n), dtype=g.dtype)
    full[:, :oh, :ow] = g
    a = [[full[:, i::2, j::2] for j in range(2)] for i in range(2)]
    rows = [(a[0][j], a[0][j] + a[1][j], a[0][j] - a[1][j], -a[1][j]) for j in range(2)]
    for r in range(4):
        x0, x1 = rows[0][r], rows[1][r]
        for k, v in enumerate((x0, x0 + x1, x0 - x1, -x1)):
            dm[4 * r + k] = v


# ---- compiled passes ----------------------------------------------------------------------
# Each inner loop reads at most three arrays and writes one, indexed by loop variables from 0
# over C-contiguous views: LLVM vectorizes such loops over the batch; one loop writing the 16
# planes at once needs more run-time alias checks than LLVM makes, and stays scalar.
def _build_input_transform():
    import numba
    import numpy as np

    from . import loops

    @numba.njit(cache=True, nogil=True)
    def input_transform(xb, out, ph, pw):
        c, h, w, n = xb.shape
        th, tw = out.shape[2], out.shape[3]
        wp = 2 * tw + 2
        x0, x1 = min(pw, wp), min(wp, pw + w)  # strip columns that hold the image
        strip = np.zeros((4, wp * n), dtype=xb.dtype)  # input rows 2·ty − ph … + 3, framed
        t = np.empty((4, wp * n), dtype=xb.dtype)  # Bᵀ d down the columns
        x3 = xb.reshape(c, h, w * n)
        for ci in range(c):
            for ty in range(th):
                for i in range(4):
                    y = 2 * ty - ph + i
                    if y < 0 or y >= h:
                        loops.zero(strip[i, x0 * n:x1 * n])
                    else:
                        loops.copy_into(strip[i, x0 * n:x1 * n], x3[ci, y, :(x1 - x0) * n])
                loops.sub_to(t[0], strip[0], strip[2])
                loops.add_to(t[1], strip[1], strip[2])
                loops.sub_to(t[2], strip[2], strip[1])
                loops.sub_to(t[3], strip[1], strip[3])
                for r in range(4):  # (Bᵀ d) B along the rows: columns 2·tx … 2·tx + 3
                    t4 = t[r].reshape(tw + 1, 2, n)
                    lo, hi = t4[0:tw], t4[1:tw + 1]
                    v0 = out[4 * r, ci, ty]
                    v1 = out[4 * r + 1, ci, ty]
                    v2 = out[4 * r + 2, ci, ty]
                    v3 = out[4 * r + 3, ci, ty]
                    for tx in range(tw):
                        for k in range(n):
                            v0[tx, k] = lo[tx, 0, k] - hi[tx, 0, k]
                    for tx in range(tw):
                        for k in range(n):
                            v1[tx, k] = lo[tx, 1, k] + hi[tx, 0, k]
                    for tx in range(tw):
                        for k in range(n):
                            v2[tx, k] = hi[tx, 0, k] - lo[tx, 1, k]
                    for tx in range(tw):
                        for k in range(n):
                            v3[tx, k] = lo[tx, 1, k] - hi[tx, 1, k]

    return input_transform


def _build_input_transform_adjoint():
    import numba
    import numpy as np

    from . import loops

    @numba.njit(cache=True, nogil=True)
    def input_transform_adjoint(dv, dx, ph, pw):
        c, h, w, n = dx.shape
        th, tw = dv.shape[2], dv.shape[3]
        wp = 2 * tw + 2
        x0, x1 = min(pw, wp), min(wp, pw + w)
        strip = np.zeros((4, wp * n), dtype=dx.dtype)  # padded rows 2·ty … 2·ty + 3 of dx
        u = np.empty((4, wp * n), dtype=dx.dtype)  # dV Bᵀ along the rows, tiles overlapped
        d3 = dx.reshape(c, h, w * n)
        for ci in range(c):
            for ty in range(th + 1):
                if ty < th:
                    loops.zero(u.reshape(-1))
                    for r in range(4):
                        u4 = u[r].reshape(tw + 1, 2, n)
                        lo, hi = u4[0:tw], u4[1:tw + 1]
                        g0 = dv[4 * r, ci, ty]
                        g1 = dv[4 * r + 1, ci, ty]
                        g2 = dv[4 * r + 2, ci, ty]
                        g3 = dv[4 * r + 3, ci, ty]
                        for tx in range(tw):
                            for k in range(n):
                                lo[tx, 0, k] += g0[tx, k]
                        for tx in range(tw):
                            for k in range(n):
                                lo[tx, 1, k] += g1[tx, k] - g2[tx, k] + g3[tx, k]
                        for tx in range(tw):
                            for k in range(n):
                                hi[tx, 0, k] += g1[tx, k] + g2[tx, k] - g0[tx, k]
                        for tx in range(tw):
                            for k in range(n):
                                hi[tx, 1, k] -= g3[tx, k]
                    # B (dV Bᵀ) down the columns, added onto the strip
                    s0, s1, s2, s3 = strip[0], strip[1], strip[2], strip[3]
                    u0, u1, u2, u3 = u[0], u[1], u[2], u[3]
                    for k in range(wp * n):
                        s0[k] += u0[k]
                    for k in range(wp * n):
                        s1[k] += u1[k] - u2[k] + u3[k]
                    for k in range(wp * n):
                        s2[k] += u1[k] + u2[k] - u0[k]
                    for k in range(wp * n):
                        s3[k] -= u3[k]
                # padded rows 2·ty and 2·ty + 1 are complete: write them, move the strip on
                for i in range(2):
                    y = 2 * ty + i - ph
                    if 0 <= y < h:
                        loops.copy_into(d3[ci, y, :(x1 - x0) * n], strip[i, x0 * n:x1 * n])
                loops.copy_into(strip[0], strip[2])
                loops.copy_into(strip[1], strip[3])
                loops.zero(strip[2])
                loops.zero(strip[3])
            loops.zero(strip[0])
            loops.zero(strip[1])
            # image rows and columns the padded frame does not reach get no gradient
            for y in range(max(0, 2 * th + 2 - ph), h):
                loops.zero(d3[ci, y])
            if x1 - x0 < w:
                for y in range(h):
                    loops.zero(d3[ci, y, (x1 - x0) * n:])

    return input_transform_adjoint


def _build_output_transform():
    import numba
    import numpy as np

    @numba.njit(cache=True, nogil=True)
    def output_transform(m, bias, y):
        o, oh, ow, n = y.shape
        th, tw = m.shape[2], m.shape[3]
        full = ow // 2  # tiles whose two columns both lie inside the output
        s = np.empty((4, 2, tw, n), dtype=y.dtype)  # M A along the rows
        for oi in range(o):
            bv = bias[oi]
            for ty in range(th):
                for r in range(4):
                    m0, m1 = m[4 * r, oi, ty], m[4 * r + 1, oi, ty]
                    m2, m3 = m[4 * r + 2, oi, ty], m[4 * r + 3, oi, ty]
                    a, b = s[r, 0], s[r, 1]
                    for tx in range(tw):
                        for k in range(n):
                            a[tx, k] = m0[tx, k] + m1[tx, k] + m2[tx, k]
                    for tx in range(tw):
                        for k in range(n):
                            b[tx, k] = m1[tx, k] - m2[tx, k] - m3[tx, k]
                # Aᵀ (M A) down the columns, plus the bias: output rows 2·ty, 2·ty + 1
                for i in range(2):
                    if 2 * ty + i >= oh:
                        break
                    row = y[oi, 2 * ty + i]
                    pairs = row[:2 * full].reshape(full, 2, n)
                    for q in range(2):  # row 0: s0 + s1 + s2; row 1: s1 − s2 − s3
                        sa, sb, sc = s[i, q], s[i + 1, q], s[i + 2, q]
                        if i == 0:
                            for tx in range(full):
                                for k in range(n):
                                    pairs[tx, q, k] = sa[tx, k] + sb[tx, k] + sc[tx, k] + bv
                        else:
                            for tx in range(full):
                                for k in range(n):
                                    pairs[tx, q, k] = sa[tx, k] - sb[tx, k] - sc[tx, k] + bv
                    if full < tw:  # an odd width: the last tile's first column only
                        last = row[ow - 1]
                        sa, sb, sc = s[i, 0, tw - 1], s[i + 1, 0, tw - 1], s[i + 2, 0, tw - 1]
                        if i == 0:
                            for k in range(n):
                                last[k] = sa[k] + sb[k] + sc[k] + bv
                        else:
                            for k in range(n):
                                last[k] = sa[k] - sb[k] - sc[k] + bv

    return output_transform


def _build_output_transform_adjoint():
    import numba
    import numpy as np

    from . import loops

    @numba.njit(cache=True, nogil=True)
    def output_transform_adjoint(g, dm):
        o, oh, ow, n = g.shape
        th, tw = dm.shape[2], dm.shape[3]
        g3 = g.reshape(o, oh, ow * n)
        a = np.zeros((2, 2 * tw * n), dtype=g.dtype)  # a tile row pair, zero past the output
        r = np.empty((4, 2 * tw * n), dtype=g.dtype)  # A dY down the columns
        for oi in range(o):
            for ty in range(th):
                loops.copy_into(a[0, :ow * n], g3[oi, 2 * ty])
                if 2 * ty + 1 < oh:
                    loops.copy_into(a[1, :ow * n], g3[oi, 2 * ty + 1])
                else:
                    loops.zero(a[1])
                a0, a1 = a[0], a[1]
                loops.copy_into(r[0], a0)
                loops.add_to(r[1], a0, a1)
                loops.sub_to(r[2], a0, a1)
                r3 = r[3]
                for k in range(2 * tw * n):
                    r3[k] = -a1[k]
                for i in range(4):  # (A dY) Aᵀ along the rows
                    pairs = r[i].reshape(tw, 2, n)
                    d0, d1 = dm[4 * i, oi, ty], dm[4 * i + 1, oi, ty]
                    d2, d3 = dm[4 * i + 2, oi, ty], dm[4 * i + 3, oi, ty]
                    for tx in range(tw):
                        for k in range(n):
                            d0[tx, k] = pairs[tx, 0, k]
                    for tx in range(tw):
                        for k in range(n):
                            d1[tx, k] = pairs[tx, 0, k] + pairs[tx, 1, k]
                    for tx in range(tw):
                        for k in range(n):
                            d2[tx, k] = pairs[tx, 0, k] - pairs[tx, 1, k]
                    for tx in range(tw):
                        for k in range(n):
                            d3[tx, k] = -pairs[tx, 1, k]

    return output_transform_adjoint


input_transform = Kernel("winograd_input_transform", _input_transform_reference,
                         _build_input_transform)
input_transform_adjoint = Kernel("winograd_input_transform_adjoint",
                                 _input_transform_adjoint_reference,
                                 _build_input_transform_adjoint)
output_transform = Kernel("winograd_output_transform", _output_transform_reference,
                          _build_output_transform)
output_transform_adjoint = Kernel("winograd_output_transform_adjoint",
                                  _output_transform_adjoint_reference,
                                  _build_output_transform_adjoint)
