"""The inner loops of the compiled kernels on 1-D arrays: ``out[:] = 0``, ``out[:] = value``,
``out[:] = src``, ``out += src``, a kernel row's taps added or dotted in one pass, a max-pool
tap's share of the gradient, ``out[:] = Σ c[i]·s_i`` (three or five terms, in one pass), and
the conversions of a row of pixels to and from column phases (the Winograd kernels), written
as loops indexed from 0 so that LLVM vectorizes them (numba's slice expressions and offset
indices do not).

This module imports numba: only the kernels' build functions import it. They reach these
functions as attributes of the module (``loops.zero``), which numba's on-disk cache accepts;
jitted functions captured from an enclosing scope would make it recompile every process.
"""

import numba
import numpy as np


@numba.njit(inline="always")
def zero(out):
    for k in range(out.size):
        out[k] = 0


@numba.njit(inline="always")
def copy_into(out, src):
    for k in range(out.size):
        out[k] = src[k]


@numba.njit(inline="always")
def add_into(out, src):
    for k in range(out.size):
        out[k] += src[k]


@numba.njit(inline="always")
def fill(out, value):
    for k in range(out.size):
        out[k] = value


@numba.njit(inline="always")
def add_taps(out, c, src, step):
    """out[k] += Σ_t c[t]·src[t·step + k] for the taps t < c.size: five in one pass (each tap
    of a kernel row, shifted by ``step``, loaded once per output element), fewer one by one
    (one vectorized loop less to compile for each tap count left out)."""
    m = out.size
    if c.size == 5:
        s0, s1, s2 = src[:m], src[step:step + m], src[2 * step:2 * step + m]
        s3, s4 = src[3 * step:3 * step + m], src[4 * step:4 * step + m]
        c0, c1, c2, c3, c4 = c[0], c[1], c[2], c[3], c[4]
        for k in range(m):
            out[k] += c0 * s0[k] + c1 * s1[k] + c2 * s2[k] + c3 * s3[k] + c4 * s4[k]
        return
    for t in range(c.size):
        add_scaled(out, c[t], src[t * step:t * step + m])


@numba.njit(inline="always")
def add_scaled(out, c, src):
    for k in range(out.size):
        out[k] += c * src[k]


@numba.njit(inline="always")
def dot(a, b):
    d = np.float32(0)  # float32 sums stay float32 (an int 0 made them float64)
    for k in range(a.size):
        d += a[k] * b[k]
    return d


@numba.njit(inline="always")
def dot_taps(acc, a, src, step):
    """acc[t] += Σ_k a[k]·src[t·step + k] for the (one to five) taps t < acc.size, in one pass
    over a when there are five (vectorized only where the caller allows reassociation:
    fastmath "reassoc")."""
    nt, m = acc.size, a.size
    if nt < 5:
        for t in range(nt):
            acc[t] += dot(a, src[t * step:t * step + m])
        return
    s0, s1, s2 = src[:m], src[step:step + m], src[2 * step:2 * step + m]
    s3, s4 = src[3 * step:3 * step + m], src[4 * step:4 * step + m]
    d0 = d1 = d2 = d3 = d4 = np.float32(0)  # float32 sums stay float32 (an int 0 made them float64)
    for k in range(m):
        v = a[k]
        d0 += v * s0[k]
        d1 += v * s1[k]
        d2 += v * s2[k]
        d3 += v * s3[k]
        d4 += v * s4[k]
    acc[0] += d0
    acc[1] += d1
    acc[2] += d2
    acc[3] += d3
    acc[4] += d4


@numba.njit(inline="always")
def claim_max(out, rest, x, top):
    """Where x == top: out += rest, and rest = 0 (the gradient is claimed). The zero is typed:
    an int 0 makes the selects float64, and LLVM leaves the loop scalar (11x slower)."""
    for k in range(out.size):
        r = rest[k]
        hit = x[k] == top[k]
        out[k] += r if hit else np.float32(0)
        rest[k] = np.float32(0) if hit else r


@numba.njit(inline="always")
def comb3(out, c, s0, s1, s2):
    c0, c1, c2 = c[0], c[1], c[2]
    for k in range(out.size):
        out[k] = c0 * s0[k] + c1 * s1[k] + c2 * s2[k]


@numba.njit(inline="always")
def comb5(out, c, s0, s1, s2, s3, s4):
    c0, c1, c2, c3, c4 = c[0], c[1], c[2], c[3], c[4]
    for k in range(out.size):
        out[k] = c0 * s0[k] + c1 * s1[k] + c2 * s2[k] + c3 * s3[k] + c4 * s4[k]


@numba.njit
def nonzeros(mat, width):
    """The non-zero entries of each row of ``mat`` as (columns, coefficients), each row padded
    to ``width`` entries with coefficient 0 (at a column that exists), for comb3 / comb5."""
    rows, cols = mat.shape
    idx = np.zeros((rows, width), dtype=np.int64)
    cf = np.zeros((rows, width), dtype=mat.dtype)
    for r in range(rows):
        f = 0
        for j in range(cols):
            if mat[r, j] != 0:
                idx[r, f] = j
                cf[r, f] = mat[r, j]
                f += 1
        for e in range(f, width):
            idx[r, e] = idx[r, 0]
    return idx, cf


@numba.njit(inline="always")
def to_phases(src, dst, m, tiles, n, offset):
    """A row of w pixels of n values (src, w·n) as m phases of ``tiles`` pixels (dst, m·tiles·n):
    phase c, tile t holds pixel m·t + c − offset, zero where that is outside the row."""
    w = src.size // n
    for c in range(m):
        for t in range(tiles):
            x = m * t + c - offset
            d = dst[(c * tiles + t) * n:(c * tiles + t + 1) * n]
            if 0 <= x < w:
                copy_into(d, src[x * n:(x + 1) * n])
            else:
                zero(d)


@numba.njit(inline="always")
def from_phases(src, dst, m, tiles, n, offset):
    """The inverse of to_phases: pixel x of the row dst (w·n) from phase (x + offset) % m, tile
    (x + offset) // m of src (zero past the last tile)."""
    w = dst.size // n
    for c in range(m):
        for t in range(tiles):
            x = m * t + c - offset
            if 0 <= x < w:
                copy_into(dst[x * n:(x + 1) * n], src[(c * tiles + t) * n:(c * tiles + t + 1) * n])
    for x in range(max(0, m * tiles - offset), w):
        zero(dst[x * n:(x + 1) * n])


@numba.njit
def phase_offsets(ix, m, tiles, n):
    """For tile columns ix (any shape): where column j of every tile starts in a row stored as
    m phases of ``tiles`` tiles of n values (to_phases), ((j % m)·tiles + j // m)·n."""
    off = np.empty_like(ix)
    flat_ix, flat_off = ix.reshape(-1), off.reshape(-1)
    for k in range(flat_ix.size):
        j = flat_ix[k]
        flat_off[k] = ((j % m) * tiles + j // m) * n
    return off
