"""The compiled code of :mod:`fovea.kernels.filter1d`'s kernels (numba), imported only by
their build functions, so that importing fovea never imports numba.

The jitted functions are this module's globals, not closures: numba's on-disk cache keys a
closure by its captured values, and a captured dispatcher pickles differently in every process,
so a kernel that called another through a closure was compiled again in each new process.

Inner loops index slices (``b = buf[lo:lo + n]; b[q]``), not offsets (``buf[lo + q]``): numba
checks every index for wrap-around, and only the plain loop index vectorizes (16 floats per
AVX-512 instruction, measured 0.03 against 0.47 ns per element).
"""

from __future__ import annotations

import numba
import numpy as np

from .sharing import row_chunks, share


@numba.njit(cache=True)
def fill_borders(buf, cols, left, w, p, border):
    """The extended columns of a row outside the image: copies of its columns (at
    ``left`` + column in buf, samples P apart), or ``border`` where cols is −1."""
    for start, stop in ((0, left), (left + w, cols.size)):  # skips the image's own
        for j in range(start, stop):
            c = cols[j]
            for q in range(p):
                buf[j * p + q] = buf[(left + c) * p + q] if c >= 0 else border


@numba.njit(cache=True, fastmath={"contract"})
def add4(b, x0, x1, x2, x3, w0, w1, w2, w3, first):
    """b (+)= w0·x0 + w1·x1 + w2·x2 + w3·x3: four taps per sweep of b, a quarter of the
    loads and stores of b that one tap at a time takes (``first``: b = …)."""
    if first:
        for q in range(b.size):
            b[q] = w0 * x0[q] + w1 * x1[q] + w2 * x2[q] + w3 * x3[q]
    else:
        for q in range(b.size):
            b[q] += w0 * x0[q] + w1 * x1[q] + w2 * x2[q] + w3 * x3[q]


@numba.njit(cache=True, fastmath={"contract"})
def add2(b, x0, x1, w0, w1, first):
    if first:
        for q in range(b.size):
            b[q] = w0 * x0[q] + w1 * x1[q]
    else:
        for q in range(b.size):
            b[q] += w0 * x0[q] + w1 * x1[q]


@numba.njit(cache=True, fastmath={"contract"})
def add1(b, x0, w0, first):
    if first:
        for q in range(b.size):
            b[q] = w0 * x0[q]
    else:
        for q in range(b.size):
            b[q] += w0 * x0[q]


@numba.njit(cache=True)
def column_pass(src, col, rows, i, b, cval):
    """b = Σ_t col[t]·E[i + t] over the image's own columns (b: their part of the row)."""
    k = col.size
    idx = np.empty(k, dtype=np.int64)
    w = np.empty(k, dtype=col.dtype)
    m = 0
    extra = 0.0  # the taps on constant rows
    for t in range(k):
        r = rows[i + t]
        if r < 0:
            extra += col[t] * cval
        else:
            idx[m] = r
            w[m] = col[t]
            m += 1
    if m == 0:
        b[:] = extra
        return
    t = 0
    while t + 4 <= m:
        add4(b, src[idx[t]], src[idx[t + 1]], src[idx[t + 2]], src[idx[t + 3]],
             w[t], w[t + 1], w[t + 2], w[t + 3], t == 0)
        t += 4
    while t + 2 <= m:
        add2(b, src[idx[t]], src[idx[t + 1]], w[t], w[t + 1], t == 0)
        t += 2
    if t < m:
        add1(b, src[idx[t]], w[t], t == 0)
    if extra != 0.0:
        b += extra


@numba.njit(cache=True)
def row_pass(buf, row, p, y):
    """y[j] = Σ_s row[s]·buf[j + s·p]."""
    n = y.size
    s = 0
    while s + 4 <= row.size:
        add4(y, buf[s * p:s * p + n], buf[(s + 1) * p:(s + 1) * p + n],
             buf[(s + 2) * p:(s + 2) * p + n], buf[(s + 3) * p:(s + 3) * p + n],
             row[s], row[s + 1], row[s + 2], row[s + 3], s == 0)
        s += 4
    while s + 2 <= row.size:
        add2(y, buf[s * p:s * p + n], buf[(s + 1) * p:(s + 1) * p + n], row[s], row[s + 1],
             s == 0)
        s += 2
    if s < row.size:
        add1(y, buf[s * p:s * p + n], row[s], s == 0)


@numba.njit(nogil=True, cache=True)
def separable_rows(planes, col, row, rows, cols, left, cval, out, i0, i1):
    """Output rows i0 … i1 − 1."""
    h, w, p = planes.shape
    src = planes.reshape(h, w * p)
    dst = out.reshape(out.shape[0], out.shape[1] * p)
    border = cval * col.sum()  # a constant column stays constant through the column pass
    buf = np.empty(cols.size * p, dtype=planes.dtype)
    for i in range(i0, i1):
        column_pass(src, col, rows, i, buf[left * p:(left + w) * p], cval)
        fill_borders(buf, cols, left, w, p, border)
        row_pass(buf, row, p, dst[i])


def separable(planes, col, row, rows, cols, left, cval):
    """``filter1d.correlate_separable``: chunks of output rows shared between threads."""
    oh, ow = rows.size - col.size + 1, cols.size - row.size + 1
    out = np.empty((oh, ow, planes.shape[2]), dtype=planes.dtype)
    edges = row_chunks(oh, 32)
    share(lambda c: separable_rows(planes, col, row, rows, cols, left, cval, out,
                                   edges[c], edges[c + 1]), len(edges) - 1)
    return out


@numba.njit(cache=True)
def add_row(acc, src, r, sign, cval):
    """acc += sign · E-row (the image row r, or cval everywhere for r = −1)."""
    if r < 0:
        acc += sign * cval
        return
    x = src[r]
    for q in range(acc.size):
        acc[q] += sign * x[q]


@numba.njit(cache=True)
def slide_row(acc, src, r_in, r_out, cval):
    """acc += E-row r_in − E-row r_out: the column sums one row further down."""
    if r_in < 0 or r_out < 0:
        add_row(acc, src, r_in, 1.0, cval)
        add_row(acc, src, r_out, -1.0, cval)
        return
    x, y = src[r_in], src[r_out]
    for q in range(acc.size):
        acc[q] += np.float64(x[q]) - np.float64(y[q])


@numba.njit(cache=True)
def window_sums(x, k, y, scale):
    """y[j] = scale · Σ_{s<k} x[j + s], as running sums in four chains (the row cut in four
    overlapping segments): one chain would wait on the latency of each add."""
    n = y.size
    seg = (n + 3) // 4
    a1, a2, a3 = min(seg, n - seg), min(2 * seg, n - seg), n - seg
    x0, x1, x2, x3 = x, x[a1:], x[a2:], x[a3:]
    y0, y1, y2, y3 = y, y[a1:], y[a2:], y[a3:]
    s0 = s1 = s2 = s3 = 0.0
    for s in range(k):
        s0 += x0[s]
        s1 += x1[s]
        s2 += x2[s]
        s3 += x3[s]
    for j in range(seg - 1):
        y0[j], y1[j], y2[j], y3[j] = s0 * scale, s1 * scale, s2 * scale, s3 * scale
        s0 += x0[j + k] - x0[j]
        s1 += x1[j + k] - x1[j]
        s2 += x2[j + k] - x2[j]
        s3 += x3[j + k] - x3[j]
    j = seg - 1
    y0[j], y1[j], y2[j], y3[j] = s0 * scale, s1 * scale, s2 * scale, s3 * scale


@numba.njit(nogil=True, cache=True)
def box_rows(planes, kh, kw, scale, rows, cols, left, cval, out, i0, i1):
    """Output rows i0 … i1 − 1: the column sums of row i0's window, then slid down."""
    h, w, p = planes.shape
    src = planes.reshape(h, w * p)
    buf = np.empty(cols.size * p, dtype=np.float64)
    acc = buf[left * p:(left + w) * p]
    acc[:] = 0.0
    for t in range(kh):
        add_row(acc, src, rows[i0 + t], 1.0, cval)
    for i in range(i0, i1):
        if i > i0:
            slide_row(acc, src, rows[i + kh - 1], rows[i - 1], cval)
        fill_borders(buf, cols, left, w, p, cval * kh)
        for c in range(p):  # each channel: samples P apart
            window_sums(buf[c::p], kw, out[i, :, c], scale)


def box(planes, kh, kw, scale, rows, cols, left, cval):
    """``filter1d.box_sum``: chunks of output rows shared between threads."""
    oh, ow = rows.size - kh + 1, cols.size - kw + 1
    out = np.empty((oh, ow, planes.shape[2]), dtype=planes.dtype)
    # each chunk starts its column sums afresh (kh rows): chunks of at least 8·kh rows
    # keep that start-up under 1/8 of the work
    edges = row_chunks(oh, max(32, 8 * kh))
    share(lambda c: box_rows(planes, kh, kw, scale, rows, cols, left, cval, out,
                             edges[c], edges[c + 1]), len(edges) - 1)
    return out
