"""The four memory passes of a Winograd F(m×m, 3×3) correlation on batch-last images.

A 3×3 correlation (stride 1) computes each m×m tile of output from an a×a tile of input d
(a = m + 2) as

    Y = Aᵀ [ U ⊙ V ] A,   U = G g Gᵀ (the transformed kernel),   V = Bᵀ d B,

with Bᵀ (a×a), G (a×3) and Aᵀ (m×a) the matrices of fovea.ops.winograd. Summed over input
channels the a² element-wise products become a² GEMMs M[ξ] = U[ξ]·V[ξ] (ξ = r·a + q, the
position in the a×a tile). These kernels take Bᵀ or Aᵀ as an array, so one code serves every
tile size.

Images are batch-last (C, H, W, N) and unpadded; transformed tiles are (C, a², TH, TW, N)
arrays for TH × TW tiles. Tile (ty, tx) reads input rows m·ty − ph … m·ty − ph + a − 1 and
columns m·tx − pw … + a − 1 (zero outside the image) and writes output rows m·ty … m·ty + m − 1
and the same columns (those inside the output). The passes:

- ``input_transform``: V = Bᵀ d B for every tile (forward);
- ``output_transform``: Y = Aᵀ M A + bias (forward);
- ``output_transform_adjoint``: dM = A dY Aᵀ (backward);
- ``input_transform_adjoint``: dx = the sum, over the tiles that read a pixel, of B dV Bᵀ
  (backward; neighbouring tiles share two rows and two columns).

The compiled passes keep a strip of a input rows (zero outside the image, so the tile loops
need no bounds checks), stored by column phase, and apply a matrix one output row at a time,
in one pass over a whole row of the strip or of tiles.
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
    """out (C, a², TH, TW, N) = Bᵀ d B for every a×a input tile d of xb (C, H, W, N)."""
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
            out[:, r * a + q] = _combine(bt[q], t[r])


def _input_transform_adjoint_reference(dv, bt, dx, ph, pw):
    """dx (C, H, W, N) = the adjoint of the input transform applied to dv (C, a², TH, TW, N)."""
    xp = backend.namespace(dv)
    c, h, w, n = dx.shape
    a = bt.shape[0]
    m = a - 2
    th, tw = dv.shape[2], dv.shape[3]
    rows, cols = m * th + 2, m * tw + 2
    p = xp.zeros((c, rows, cols, n), dtype=dv.dtype)
    e = [[_combine(bt[:, j], [dv[:, r * a + q] for q in range(a)]) for j in range(a)]
         for r in range(a)]
    for i in range(a):
        for j in range(a):
            p[:, i:i + m * th:m, j:j + m * tw:m] += _combine(bt[:, i], [e[r][j] for r in range(a)])
    hh, ww = max(0, min(h, rows - ph)), max(0, min(w, cols - pw))
    dx[...] = 0
    dx[:, :hh, :ww] = p[:, ph:ph + hh, pw:pw + ww]


def _output_transform_reference(mt, at, bias, y):
    """y (O, OH, OW, N) = Aᵀ M A + bias[o] for every tile of mt (O, a², TH, TW, N)."""
    m, a = at.shape
    oh, ow = y.shape[1], y.shape[2]
    s = [[_combine(at[b], [mt[:, r * a + q] for q in range(a)]) for b in range(m)]
         for r in range(a)]
    bias = bias[:, None, None, None]
    for i in range(m):
        for b in range(m):
            yi = _combine(at[i], [s[r][b] for r in range(a)]) + bias
            y[:, i::m, b::m] = yi[:, :len(range(i, oh, m)), :len(range(b, ow, m))]


def _output_transform_adjoint_reference(g, at, dm):
    """dm (O, a², TH, TW, N) = A dY Aᵀ for every m×m tile of g (O, OH, OW, N), zero where a
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
            dm[:, r * a + q] = _combine(at[:, q], rr[r])


# ---- compiled passes ----------------------------------------------------------------------
# A matrix is applied row by row, each output row in one pass over contiguous memory that sums
# that row's non-zero coefficients times their source rows (loops.comb3 / comb5; a matrix
# row of F(2×2) has at most 3 non-zeros, of F(4×4) at most 5). A row of the image is kept by
# column phase (loops.to_phases: phase c, tile t holds column m·t + c), so that column j of
# every tile is one contiguous run, starting at loops.phase_offsets; LLVM vectorizes these
# passes. Only the conversions between natural and phase order copy runs of N values.
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
        ix, cf = loops.nonzeros(bt, 3 if a == 4 else 5)
        tiles = tw + 1  # a row of the strip: m phases of tw + 1 tiles (≥ m·TW + 2 columns)
        span = tw * n
        off = loops.phase_offsets(ix, m, tiles, n)
        strip = np.empty((a, m * tiles * n), dtype=xb.dtype)  # input rows m·ty − ph + i
        t = np.empty((a, m * tiles * n), dtype=xb.dtype)  # Bᵀ d (down the columns)
        x3 = xb.reshape(c, h, w * n)
        for ci in range(c):
            for ty in range(th):
                first = 0
                if ty > 0:  # the tile rows above share a − m input rows with these
                    first = a - m
                    for i in range(first):
                        loops.copy_into(strip[i], strip[i + m])
                for i in range(first, a):
                    y = m * ty - ph + i
                    if 0 <= y < h:
                        loops.to_phases(x3[ci, y], strip[i], m, tiles, n, pw)
                    else:
                        loops.zero(strip[i])
                for r in range(a):
                    e = ix[r]
                    if a == 4:
                        loops.comb3(t[r], cf[r], strip[e[0]], strip[e[1]], strip[e[2]])
                    else:
                        loops.comb5(t[r], cf[r], strip[e[0]], strip[e[1]], strip[e[2]],
                                    strip[e[3]], strip[e[4]])
                for r in range(a):  # (Bᵀ d) B along the rows: column j of every tile
                    tr = t[r]
                    for q in range(a):
                        v = out[ci, r * a + q, ty].reshape(-1)
                        o0, o1, o2 = off[q, 0], off[q, 1], off[q, 2]
                        if a == 4:
                            loops.comb3(v, cf[q], tr[o0:o0 + span], tr[o1:o1 + span],
                                        tr[o2:o2 + span])
                        else:
                            o3, o4 = off[q, 3], off[q, 4]
                            loops.comb5(v, cf[q], tr[o0:o0 + span], tr[o1:o1 + span],
                                        tr[o2:o2 + span], tr[o3:o3 + span], tr[o4:o4 + span])

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
        ix, cf = loops.nonzeros(bt.T, 3 if a == 4 else 5)  # the rows of B
        tiles = tw + 1
        span = tw * n
        strip = np.empty((a, m * tiles * n), dtype=dx.dtype)  # padded rows m·ty … + a − 1
        u = np.empty((a, m * tiles * n), dtype=dx.dtype)  # dV Bᵀ along the rows
        col = np.empty((a, span), dtype=dx.dtype)  # column j of every tile of one row of dV Bᵀ
        new = np.empty(m * tiles * n, dtype=dx.dtype)
        off = loops.phase_offsets(np.arange(a), m, tiles, n)
        d3 = dx.reshape(c, h, w * n)
        for ci in range(c):
            for i in range(a - m):
                loops.zero(strip[i])
            for ty in range(th + 1):
                if ty < th:
                    for r in range(a):
                        for j in range(a):
                            e = ix[j]
                            if a == 4:
                                loops.comb3(col[j], cf[j],
                                            dv[ci, r * a + e[0], ty].reshape(-1),
                                            dv[ci, r * a + e[1], ty].reshape(-1),
                                            dv[ci, r * a + e[2], ty].reshape(-1))
                            else:
                                loops.comb5(col[j], cf[j],
                                            dv[ci, r * a + e[0], ty].reshape(-1),
                                            dv[ci, r * a + e[1], ty].reshape(-1),
                                            dv[ci, r * a + e[2], ty].reshape(-1),
                                            dv[ci, r * a + e[3], ty].reshape(-1),
                                            dv[ci, r * a + e[4], ty].reshape(-1))
                        ur = u[r]
                        loops.zero(ur)
                        for j in range(a):  # neighbouring tiles share columns: add
                            loops.add_into(ur[off[j]:off[j] + span], col[j])
                    for i in range(a):  # B (dV Bᵀ) down the columns, onto the strip
                        e = ix[i]
                        dst = new if i < a - m else strip[i]
                        if a == 4:
                            loops.comb3(dst, cf[i], u[e[0]], u[e[1]], u[e[2]])
                        else:
                            loops.comb5(dst, cf[i], u[e[0]], u[e[1]], u[e[2]], u[e[3]], u[e[4]])
                        if i < a - m:  # rows the tile row above also reached
                            loops.add_into(strip[i], new)
                # padded rows m·ty … m·ty + m − 1 are complete (after the last row of tiles,
                # only the a − m it carried): write them, move the strip on
                for i in range(m if ty < th else a - m):
                    y = m * ty + i - ph
                    if 0 <= y < h:
                        loops.from_phases(strip[i], d3[ci, y], m, tiles, n, pw)
                for i in range(a - m):
                    loops.copy_into(strip[i], strip[i + m])
            for y in range(max(0, m * th + 2 - ph), h):  # rows no tile reaches
                loops.zero(d3[ci, y])

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
        ix, cf = loops.nonzeros(at, 3 if a == 4 else 5)
        s = np.empty((m, a, tw * n), dtype=y.dtype)  # M A along the rows, by column b
        acc = np.empty((m, tw * n), dtype=y.dtype)  # one output row of tiles, by column phase
        y3 = y.reshape(o, oh, ow * n)
        for oi in range(o):
            bv = bias[oi]
            for ty in range(th):
                for r in range(a):
                    for b in range(m):
                        e = ix[b]
                        if a == 4:
                            loops.comb3(s[b, r], cf[b], mt[oi, r * a + e[0], ty].reshape(-1),
                                        mt[oi, r * a + e[1], ty].reshape(-1),
                                        mt[oi, r * a + e[2], ty].reshape(-1))
                        else:
                            loops.comb5(s[b, r], cf[b], mt[oi, r * a + e[0], ty].reshape(-1),
                                        mt[oi, r * a + e[1], ty].reshape(-1),
                                        mt[oi, r * a + e[2], ty].reshape(-1),
                                        mt[oi, r * a + e[3], ty].reshape(-1),
                                        mt[oi, r * a + e[4], ty].reshape(-1))
                for i in range(m):  # Aᵀ (M A) down the columns, plus the bias
                    if m * ty + i >= oh:
                        break
                    e = ix[i]
                    for b in range(m):
                        sb = s[b]
                        if a == 4:
                            loops.comb3(acc[b], cf[i], sb[e[0]], sb[e[1]], sb[e[2]])
                        else:
                            loops.comb5(acc[b], cf[i], sb[e[0]], sb[e[1]], sb[e[2]], sb[e[3]],
                                        sb[e[4]])
                    flat = acc.reshape(-1)
                    for k in range(flat.size):
                        flat[k] += bv
                    loops.from_phases(flat, y3[oi, m * ty + i], m, tw, n, 0)

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
        ix, cf = loops.nonzeros(at.T, 3 if a == 4 else 5)  # the rows of A
        span = tw * n
        g3 = g.reshape(o, oh, ow * n)
        rows = np.empty((m, m * span), dtype=g.dtype)  # a row of tiles of dY, by column phase
        rr = np.empty((a, m * span), dtype=g.dtype)  # A dY (down the columns)
        for oi in range(o):
            for ty in range(th):
                for i in range(m):
                    if m * ty + i < oh:
                        loops.to_phases(g3[oi, m * ty + i], rows[i], m, tw, n, 0)
                    else:
                        loops.zero(rows[i])
                for r in range(a):
                    e = ix[r]
                    if a == 4:
                        loops.comb3(rr[r], cf[r], rows[e[0]], rows[e[1]], rows[e[2]])
                    else:
                        loops.comb5(rr[r], cf[r], rows[e[0]], rows[e[1]], rows[e[2]],
                                    rows[e[3]], rows[e[4]])
                for r in range(a):  # (A dY) Aᵀ along the rows
                    rv = rr[r]
                    for q in range(a):
                        d = dm[oi, r * a + q, ty].reshape(-1)
                        e = ix[q]
                        if a == 4:
                            loops.comb3(d, cf[q], rv[e[0] * span:(e[0] + 1) * span],
                                        rv[e[1] * span:(e[1] + 1) * span],
                                        rv[e[2] * span:(e[2] + 1) * span])
                        else:
                            loops.comb5(d, cf[q], rv[e[0] * span:(e[0] + 1) * span],
                                        rv[e[1] * span:(e[1] + 1) * span],
                                        rv[e[2] * span:(e[2] + 1) * span],
                                        rv[e[3] * span:(e[3] + 1) * span],
                                        rv[e[4] * span:(e[4] + 1) * span])

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
