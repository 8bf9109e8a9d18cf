"""The four memory passes of a Winograd F(m×m, 3×3) correlation on batch-last images.

A 3×3 correlation (stride 1) computes each m×m tile of output from an a×a tile of input d
(a = m + 2) as

    Y = Aᵀ [ U ⊙ V ] A,   U = G g Gᵀ (the transformed kernel),   V = Bᵀ d B,

with Bᵀ (a×a), G (a×3) and Aᵀ (m×a) the matrices of fovea.ops.winograd. Summed over input
channels the a² element-wise products become a² GEMMs M[ξ] = U[ξ]·V[ξ] (ξ = r·a + q, the
position in the a×a tile). These kernels take Bᵀ or Aᵀ as an array, so one code serves every
tile size.

Images are batch-last (C, H, W, N) and unpadded; transformed tiles are (a², C, TH, TW, N)
arrays for TH × TW tiles. Tile (ty, tx) reads input rows m·ty − ph … m·ty − ph + a − 1 and
columns m·tx − pw … + a − 1 (zero outside the image) and writes output rows m·ty … m·ty + m − 1
and the same columns (those inside the output). The passes:

- ``input_transform``: V = Bᵀ d B for every tile (forward);
- ``output_transform``: Y = Aᵀ M A + bias (forward);
- ``output_transform_adjoint``: dM = A dY Aᵀ (backward);
- ``input_transform_adjoint``: dx = the sum, over the tiles that read a pixel, of B dV Bᵀ
  (backward; neighbouring tiles share two rows and two columns).

The compiled passes work on a strip of a rows at a time, zero-framed so that the tile loops
need no bounds checks, apply a matrix one non-zero coefficient at a time (an axpy over a row
of the strip or a plane of tiles), and run their innermost loop over the batch.
"""

from __future__ import annotations

from .. import backend
from . import Kernel


def tiles(out_size, m):
    """The number of m-wide output tiles that cover ``out_size`` outputs."""
    return -(-out_size // m)


# ---- NumPy reference ----------------------------------------------------------------------
def _combine(coefs, terms):
    """Σ coefs[i]·terms[i] over the non-zero coefficients."""
    out = None
    for c, t in zip(coefs, terms):
        c = float(c)
        if c == 0:
            continue
        term = t if c == 1 else -t if c == -1 else c * t
        out = term if out is None else out + term
    return out


def _input_transform_reference(xb, bt, out, ph, pw):
    """out (a², C, TH, TW, N) = Bᵀ d B for every a×a input tile d of xb (C, H, W, N)."""
    xp = backend.namespace(xb)
    c, h, w, n = xb.shape
    a = bt.shape[0]
    m = a - 2
    th, tw = out.shape[2], out.shape[3]
    rows, cols = m * th + 2, m * tw + 2  # the padded frame the tiles read
    p = xp.zeros((c, rows, cols, n), dtype=xb.dtype)
    hh, ww = max(0, min(h, rows - ph)), max(0, min(w, cols - pw))
    p[:, ph:ph + hh, pw:pw + ww] = xb[:, :hh, :ww]
    d = [[p[:, i:i + m * th:m, j:j + m * tw:m] for j in range(a)] for i in range(a)]
    t = [[_combine(bt[r], [d[i][j] for i in range(a)]) for j in range(a)] for r in range(a)]
    for r in range(a):
        for q in range(a):
            out[r * a + q] = _combine(bt[q], t[r])


def _input_transform_adjoint_reference(dv, bt, dx, ph, pw):
    """dx (C, H, W, N) = the adjoint of the input transform applied to dv (a², C, TH, TW, N)."""
    xp = backend.namespace(dv)
    c, h, w, n = dx.shape
    a = bt.shape[0]
    m = a - 2
    th, tw = dv.shape[2], dv.shape[3]
    rows, cols = m * th + 2, m * tw + 2
    p = xp.zeros((c, rows, cols, n), dtype=dv.dtype)
    e = [[_combine(bt[:, j], [dv[r * a + q] for q in range(a)]) for j in range(a)]
         for r in range(a)]
    for i in range(a):
        for j in range(a):
            p[:, i:i + m * th:m, j:j + m * tw:m] += _combine(bt[:, i], [e[r][j] for r in range(a)])
    hh, ww = max(0, min(h, rows - ph)), max(0, min(w, cols - pw))
    dx[...] = 0
    dx[:, :hh, :ww] = p[:, ph:ph + hh, pw:pw + ww]


def _output_transform_reference(mt, at, bias, y):
    """y (O, OH, OW, N) = Aᵀ M A + bias[o] for every tile of mt (a², O, TH, TW, N)."""
    m, a = at.shape
    oh, ow = y.shape[1], y.shape[2]
    s = [[_combine(at[b], [mt[r * a + q] for q in range(a)]) for b in range(m)]
         for r in range(a)]
    bias = bias[:, None, None, None]
    for i in range(m):
        for b in range(m):
            yi = _combine(at[i], [s[r][b] for r in range(a)]) + bias
            y[:, i::m, b::m] = yi[:, :len(range(i, oh, m)), :len(range(b, ow, m))]


def _output_transform_adjoint_reference(g, at, dm):
    """dm (a², O, TH, TW, N) = A dY Aᵀ for every m×m tile of g (O, OH, OW, N), zero where a
    tile reaches past the output."""
    xp = backend.namespace(g)
    m, a = at.shape
    o, oh, ow, n = g.shape
    th, tw = dm.shape[2], dm.shape[3]
    full = xp.zeros((o, m * th, m * tw, n), dtype=g.dtype)
    full[:, :oh, :ow] = g
    gg = [[full[:, i::m, b::m] for b in range(m)] for i in range(m)]
    rr = [[_combine(at[:, r], [gg[i][b] for i in range(m)]) for b in range(m)]
          for r in range(a)]
    for r in range(a):
        for q in range(a):
            dm[r * a + q] = _combine(at[:, q], rr[r])


# ---- compiled passes ----------------------------------------------------------------------
# Each inner loop reads one or two arrays and writes one, indexed by loop variables from 0 over
# C-contiguous views: LLVM vectorizes such loops over the batch, where one loop writing many
# planes at once needs more run-time alias checks than LLVM makes and stays scalar. A tile
# column m·tx + j is element (tx + j // m, j % m) of a row viewed as (tiles + 1, m, N).
def _build_input_transform():
    import numba
    import numpy as np

    from . import loops

    @numba.njit(cache=True, nogil=True)
    def input_transform(xb, bt, out, ph, pw):
        c, h, w, n = xb.shape
        a = bt.shape[0]
        m = a - 2
        th, tw = out.shape[2], out.shape[3]
        wp = m * (tw + 1)  # strip columns: at least the m·TW + 2 the tiles read
        x0, x1 = min(pw, wp), min(wp, pw + w)  # strip columns that hold the image
        strip = np.zeros((a, wp * n), dtype=xb.dtype)  # input rows m·ty − ph …, framed
        t = np.empty((a, wp * n), dtype=xb.dtype)  # Bᵀ d down the columns
        x3 = xb.reshape(c, h, w * n)
        for ci in range(c):
            for ty in range(th):
                for i in range(a):
                    y = m * ty - ph + i
                    if y < 0 or y >= h:
                        loops.zero(strip[i, x0 * n:x1 * n])
                    else:
                        loops.copy_into(strip[i, x0 * n:x1 * n], x3[ci, y, :(x1 - x0) * n])
                for r in range(a):
                    tr = t[r]
                    loops.zero(tr)
                    for i in range(a):
                        cf = bt[r, i]
                        if cf != 0:
                            si = strip[i]
                            for k in range(wp * n):
                                tr[k] += cf * si[k]
                for r in range(a):  # (Bᵀ d) B along the rows
                    t3 = t[r].reshape(tw + 1, m, n)
                    for q in range(a):
                        v = out[r * a + q, ci, ty]
                        loops.zero(v.reshape(-1))
                        for j in range(a):
                            cf = bt[q, j]
                            if cf != 0:
                                src = t3[j // m:j // m + tw]
                                col = j % m
                                for tx in range(tw):
                                    for k in range(n):
                                        v[tx, k] += cf * src[tx, col, k]

    return input_transform


def _build_input_transform_adjoint():
    import numba
    import numpy as np

    from . import loops

    @numba.njit(cache=True, nogil=True)
    def input_transform_adjoint(dv, bt, dx, ph, pw):
        c, h, w, n = dx.shape
        a = bt.shape[0]
        m = a - 2
        th, tw = dv.shape[2], dv.shape[3]
        wp = m * (tw + 1)
        x0, x1 = min(pw, wp), min(wp, pw + w)
        strip = np.zeros((a, wp * n), dtype=dx.dtype)  # padded rows m·ty … m·ty + a − 1
        u = np.empty((a, wp * n), dtype=dx.dtype)  # dV Bᵀ along the rows, tiles overlapped
        d3 = dx.reshape(c, h, w * n)
        for ci in range(c):
            for ty in range(th + 1):
                if ty < th:
                    loops.zero(u.reshape(-1))
                    for r in range(a):
                        u3 = u[r].reshape(tw + 1, m, n)
                        for j in range(a):
                            dst = u3[j // m:j // m + tw]
                            col = j % m
                            for q in range(a):
                                cf = bt[q, j]
                                if cf != 0:
                                    g = dv[r * a + q, ci, ty]
                                    for tx in range(tw):
                                        for k in range(n):
                                            dst[tx, col, k] += cf * g[tx, k]
                    for i in range(a):  # B (dV Bᵀ) down the columns, onto the strip
                        si = strip[i]
                        for r in range(a):
                            cf = bt[r, i]
                            if cf != 0:
                                ur = u[r]
                                for k in range(wp * n):
                                    si[k] += cf * ur[k]
                # padded rows m·ty … m·ty + m − 1 are complete: write them, move the strip on
                for i in range(m):
                    y = m * ty + i - ph
                    if 0 <= y < h:
                        loops.copy_into(d3[ci, y, :(x1 - x0) * n], strip[i, x0 * n:x1 * n])
                for i in range(a):
                    if i + m < a:
                        loops.copy_into(strip[i], strip[i + m])
                    else:
                        loops.zero(strip[i])
            # image rows and columns the padded frame does not reach get no gradient
            for y in range(max(0, m * th + 2 - ph), h):
                loops.zero(d3[ci, y])
            if x1 - x0 < w:
                for y in range(h):
                    loops.zero(d3[ci, y, (x1 - x0) * n:])

    return input_transform_adjoint


def _build_output_transform():
    import numba
    import numpy as np

    from . import loops

    @numba.njit(cache=True, nogil=True)
    def output_transform(mt, at, bias, y):
        o, oh, ow, n = y.shape
        m, a = at.shape
        th, tw = mt.shape[2], mt.shape[3]
        full = ow // m  # tiles whose columns all lie inside the output
        rest = ow - full * m  # columns of a last, partial tile
        s = np.empty((a, m, tw, n), dtype=y.dtype)  # M A along the rows
        acc = np.empty((m, tw, n), dtype=y.dtype)  # one output row of tiles
        for oi in range(o):
            bv = bias[oi]
            for ty in range(th):
                for r in range(a):
                    for b in range(m):
                        sb = s[r, b]
                        loops.zero(sb.reshape(-1))
                        for q in range(a):
                            cf = at[b, q]
                            if cf != 0:
                                src = mt[r * a + q, oi, ty]
                                for tx in range(tw):
                                    for k in range(n):
                                        sb[tx, k] += cf * src[tx, k]
                for i in range(m):  # Aᵀ (M A) down the columns, plus the bias
                    if m * ty + i >= oh:
                        break
                    for b in range(m):
                        ab = acc[b]
                        for tx in range(tw):
                            for k in range(n):
                                ab[tx, k] = bv
                        for r in range(a):
                            cf = at[i, r]
                            if cf != 0:
                                sr = s[r, b]
                                for tx in range(tw):
                                    for k in range(n):
                                        ab[tx, k] += cf * sr[tx, k]
                    row = y[oi, m * ty + i]
                    tiles3 = row[:full * m].reshape(full, m, n)
                    for b in range(m):
                        ab = acc[b]
                        for tx in range(full):
                            for k in range(n):
                                tiles3[tx, b, k] = ab[tx, k]
                    for b in range(rest):
                        loops.copy_into(row[full * m + b], acc[b, tw - 1])

    return output_transform


def _build_output_transform_adjoint():
    import numba
    import numpy as np

    from . import loops

    @numba.njit(cache=True, nogil=True)
    def output_transform_adjoint(g, at, dm):
        o, oh, ow, n = g.shape
        m, a = at.shape
        th, tw = dm.shape[2], dm.shape[3]
        g3 = g.reshape(o, oh, ow * n)
        rows = np.zeros((m, m * tw * n), dtype=g.dtype)  # a tile row, zero past the output
        rr = np.empty((a, m * tw * n), dtype=g.dtype)  # A dY down the columns
        for oi in range(o):
            for ty in range(th):
                for i in range(m):
                    if m * ty + i < oh:
                        loops.copy_into(rows[i, :ow * n], g3[oi, m * ty + i])
                    else:
                        loops.zero(rows[i])
                for r in range(a):
                    rv = rr[r]
                    loops.zero(rv)
                    for i in range(m):
                        cf = at[i, r]
                        if cf != 0:
                            gi = rows[i]
                            for k in range(m * tw * n):
                                rv[k] += cf * gi[k]
                for r in range(a):  # (A dY) Aᵀ along the rows
                    t3 = rr[r].reshape(tw, m, n)
                    for q in range(a):
                        d = dm[r * a + q, oi, ty]
                        loops.zero(d.reshape(-1))
                        for b in range(m):
                            cf = at[b, q]
                            if cf != 0:
                                for tx in range(tw):
                                    for k in range(n):
                                        d[tx, k] += cf * t3[tx, b, k]

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
