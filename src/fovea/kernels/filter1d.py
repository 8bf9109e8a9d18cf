"""Separable filtering as two 1-D passes in one sweep of the image: for each output row, a
column pass over the rows it needs, then a row pass over that one row.

Both kernels read the image through index maps instead of a padded copy: ``rows[i]`` is the
image row that row i of the extended image copies and ``cols[j]`` the image column for column
j (−1: the constant ``cval``), as ``fovea.filters.boundary.source_indices`` gives them for
every boundary mode; ``cols[left + j] == j`` for the image's own columns. On (H, W, P) planes,
with the extended image E[i, j] = I[rows[i], cols[j]]:

    mid[i, j] = Σ_t col[t] · E[i + t, j]           (column pass, t < kh)
    out[i, j] = Σ_s row[s] · mid[i, j + s]         (row pass, s < kw)

:data:`correlate_separable` computes this for any taps; :data:`box_sum` for constant taps,
scale · (the kh × kw window sum), by running sums: O(1) per sample whatever the window size.
The compiled paths (:mod:`fovea.kernels.filter1d_compiled`) take the planes C-contiguous; they
compute each output row from the kh image rows it needs while those stay in cache, and keep
the box's running sums in float64.
"""

from __future__ import annotations

import numpy as np

from . import Kernel


def _extended(planes, rows, cols, cval):
    """The extended image E[i, j] = planes[rows[i], cols[j]] (cval where an index is −1)."""
    ext = planes[np.maximum(rows, 0)][:, np.maximum(cols, 0)]
    ext[rows < 0] = cval
    ext[:, cols < 0] = cval
    return ext


def _separable_reference(planes, col, row, rows, cols, left, cval):
    """(H, W, P) planes → (len(rows) − kh + 1, len(cols) − kw + 1, P): the column pass then the
    row pass, each a sum of shifted slices. ``left`` is only a hint for the compiled path."""
    ext = _extended(planes, rows, cols, cval)
    oh, ow = ext.shape[0] - col.size + 1, ext.shape[1] - row.size + 1
    mid = sum(col[t] * ext[t:t + oh] for t in range(col.size))
    return sum(row[s] * mid[:, s:s + ow] for s in range(row.size)).astype(planes.dtype)


def _box_reference(planes, kh, kw, scale, rows, cols, left, cval):
    """scale · Σ over each kh × kw window of the extended image, (H, W, P) → (oh, ow, P)."""
    ones = np.ones(kh, dtype=planes.dtype), np.ones(kw, dtype=planes.dtype)
    out = _separable_reference(planes.astype(np.float64), *ones, rows, cols, left, cval)
    return (out * scale).astype(planes.dtype)


def _build_separable():
    from .filter1d_compiled import separable

    return separable


def _build_box():
    from .filter1d_compiled import box

    return box


correlate_separable = Kernel("correlate_separable", _separable_reference, _build_separable)
box_sum = Kernel("box_sum", _box_reference, _build_box)
__all__ = ["box_sum", "correlate_separable"]
