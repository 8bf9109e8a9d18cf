"""The two memory passes of a convolution on batch-last images: im2col (the patch matrix of a
block of output rows) and its adjoint col2im (patch gradients summed back onto the image).

Images are (C, H, W, N) arrays, unpadded: zero padding is applied while copying, so no padded
copy of the input is ever made. Patches are (C, KH, KW, R, OW, N) arrays for the R output rows
row0 … row0 + R − 1, rows ordered like a PyTorch weight (c, kh, kw): tap (i, j) of output
pixel (oy, ox) reads input pixel

    y = oy·sh − ph + i·dh,   x = ox·sw − pw + j·dw     (zero where outside the image).

col2im adds the block's patch gradients back into dx. Blocks come in order of output rows, so
the input rows a block touches begin at or after those of the block before it; ``fresh`` is
the first input row no earlier block touched: rows from there on are overwritten (no zero fill
of dx beforehand), rows before it accumulate. The compiled col2im is a gather: each input row
sums its taps while the row stays in cache, where the NumPy reference makes
one strided pass over dx per tap.
"""

from __future__ import annotations

from .. import backend
from . import Kernel


def inside(n_out, size, offset, stride, pad):
    """The outputs [lo, hi) of a window tap at ``offset`` whose input o·stride − pad + offset
    lies in [0, size), out of n_out (lo = hi when none)."""
    lo = max(0, -((offset - pad) // stride))
    hi = min(n_out, (size - 1 + pad - offset) // stride + 1)
    return lo, max(lo, hi)


def span(start, count, step):
    """The slice of ``count`` indices start, start + step, … (empty for count 0)."""
    return slice(start, start + step * (count - 1) + 1, step) if count > 0 else slice(0, 0)


def touched_rows(row0, rows, h, kh, sh, ph, dh):
    """The input rows [lo, hi) that output rows row0 … row0 + rows − 1 read (lo = hi when only
    padding)."""
    lo = min(h, max(0, row0 * sh - ph))
    hi = min(h, (row0 + rows - 1) * sh - ph + (kh - 1) * dh + 1)
    return lo, max(lo, hi)


# ---- im2col -------------------------------------------------------------------------------
def _im2col_reference(xb, out, kh, kw, sh, sw, ph, pw, dh, dw, row0):
    """Fill ``out`` (C, KH, KW, R, OW, N) with the patches of output rows row0 … of the
    batch-last image xb (C, H, W, N): the input rows the block reads are copied with their
    zero padding, then all windows are copied at once from a strided view of that copy."""
    xp = backend.namespace(xb)
    c, h, w, n = xb.shape
    r, ow = out.shape[3], out.shape[4]
    top = row0 * sh - ph  # the first (padded) input row the block reads
    rows, cols = (r - 1) * sh + (kh - 1) * dh + 1, (ow - 1) * sw + (kw - 1) * dw + 1
    part = xp.zeros((c, rows, cols, n), dtype=xb.dtype)
    y0, y1 = min(max(top, 0), h), min(top + rows, h)
    x1 = min(cols - pw, w)
    if y1 > y0 and x1 > 0:
        part[:, y0 - top:y1 - top, pw:pw + x1] = xb[:, y0:y1, :x1]
    sc, sy, sx, sn = part.strides
    out[...] = backend.as_strided(part, (c, kh, kw, r, ow, n),
                                  (sc, sy * dh, sx * dw, sy * sh, sx * sw, sn))


def _build_im2col():
    import numba

    from . import loops

    @numba.njit(cache=True, nogil=True)
    def im2col(xb, out, kh, kw, sh, sw, ph, pw, dh, dw, row0):
        c, h, w, n = xb.shape
        r, ow = out.shape[3], out.shape[4]
        x3 = xb.reshape(c, h, w * n)
        o3 = out.reshape(c * kh * kw, r, ow * n)
        for t in range(c * kh * kw):  # patch-matrix row t = (c, i, j)
            ci, i, j = t // (kh * kw), (t // kw) % kh, t % kw
            xlo = max(0, -((j * dw - pw) // sw))
            xhi = max(xlo, min(ow, (w - 1 + pw - j * dw) // sw + 1))
            x0 = xlo * sw - pw + j * dw
            for oy in range(r):
                row = o3[t, oy]
                y = (row0 + oy) * sh - ph + i * dh
                if y < 0 or y >= h:
                    loops.zero(row)
                    continue
                loops.zero(row[:xlo * n])
                loops.zero(row[xhi * n:])
                src = x3[ci, y]
                if sw == 1:  # one contiguous run of (xhi − xlo)·N floats
                    loops.copy_into(row[xlo * n:xhi * n], src[x0 * n:(x0 + xhi - xlo) * n])
                else:
                    for ox in range(xlo, xhi):
                        s = (x0 + (ox - xlo) * sw) * n
                        loops.copy_into(row[ox * n:(ox + 1) * n], src[s:s + n])

    return im2col


im2col = Kernel("im2col", _im2col_reference, _build_im2col)


# ---- col2im -------------------------------------------------------------------------------
def _col2im_reference(dcols, dx, kh, kw, sh, sw, ph, pw, dh, dw, row0, fresh):
    """dx (C, H, W, N) += the adjoint of im2col applied to the patch gradients ``dcols``
    (C, KH, KW, R, OW, N) of output rows row0 …; input rows from ``fresh`` on that the block
    touches are overwritten instead (see the module docstring). One strided add per tap."""
    _, h, w, _ = dx.shape
    r, ow = dcols.shape[3], dcols.shape[4]
    _, hi = touched_rows(row0, r, h, kh, sh, ph, dh)
    dx[:, fresh:hi] = 0
    for i in range(kh):
        ylo, yhi = inside(row0 + r, h, i * dh, sh, ph)
        ylo = max(ylo, row0)  # this block's rows only
        yhi = max(yhi, ylo)
        for j in range(kw):
            xlo, xhi = inside(ow, w, j * dw, sw, pw)
            y0, x0 = ylo * sh - ph + i * dh, xlo * sw - pw + j * dw
            dx[:, span(y0, yhi - ylo, sh), span(x0, xhi - xlo, sw)] += \
                dcols[:, i, j, ylo - row0:yhi - row0, xlo:xhi]


def _build_col2im():
    import numba

    from . import loops

    @numba.njit(cache=True, nogil=True)
    def col2im(dcols, dx, kh, kw, sh, sw, ph, pw, dh, dw, row0, fresh):
        c, h, w, n = dx.shape
        r, ow = dcols.shape[3], dcols.shape[4]
        lo = min(h, max(0, row0 * sh - ph))
        hi = max(lo, min(h, (row0 + r - 1) * sh - ph + (kh - 1) * dh + 1))
        d3 = dx.reshape(c, h, w * n)
        g3 = dcols.reshape(c * kh * kw, r, ow * n)
        for ci in range(c):
            for y in range(min(lo, fresh), hi):  # the row's taps summed while it is in cache
                out = d3[ci, y]
                if y >= fresh:
                    loops.zero(out)
                for i in range(kh):
                    q = y + ph - i * dh
                    oy = q // sh - row0
                    if q % sh or oy < 0 or oy >= r:
                        continue
                    for j in range(kw):
                        xlo = max(0, -((j * dw - pw) // sw))
                        xhi = max(xlo, min(ow, (w - 1 + pw - j * dw) // sw + 1))
                        x0 = xlo * sw - pw + j * dw
                        src = g3[(ci * kh + i) * kw + j, oy]
                        if sw == 1:  # one contiguous run
                            loops.add_into(out[x0 * n:(x0 + xhi - xlo) * n], src[xlo * n:xhi * n])
                        else:
                            for ox in range(xlo, xhi):
                                s = (x0 + (ox - xlo) * sw) * n
                                loops.add_into(out[s:s + n], src[ox * n:(ox + 1) * n])

    return col2im


col2im = Kernel("col2im", _col2im_reference, _build_col2im)
