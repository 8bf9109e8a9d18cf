"""Separable kernels: a rank-1 kernel g = c·rᵀ filters as a column pass then a row pass,
2k·n multiply-adds instead of k²·n.

On NumPy images with the compiled kernels (``fovea.kernels.filter1d``) both passes run in one
sweep of the image, reading its border through index maps instead of a padded copy, and a
constant kernel (a box) runs as running sums, O(1) per sample whatever its size.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .. import backend
from ..kernels import filter1d
from .boundary import source_indices


def separate(kernel, tol: float = 1e-6):
    """(column, row) 1-D vectors with outer(column, row) == kernel when the kernel has rank 1
    (by SVD: every singular value after the first below ``tol`` × the first), else None.

    The factors are the kernel's own column and row through its largest entry where their
    outer product is exactly the kernel (1-D kernels, boxes, integer operators such as
    Sobel's: a filter by the factors then computes what the kernel does), else the SVD's.
    Computed on the host: the factors are NumPy arrays whatever the kernel's device. The
    factorization of each recent kernel is remembered (a filter applies one kernel to many
    images)."""
    k = np.asarray(backend.to_numpy(kernel), dtype=np.float64)
    if k.ndim != 2:
        raise ValueError(f"kernel must be 2-D, got shape {k.shape}")
    factors = _separate(k.tobytes(), k.shape, float(tol))
    return None if factors is None else (factors[0].copy(), factors[1].copy())


@lru_cache(maxsize=64)
def _separate(data: bytes, shape: tuple, tol: float):
    k = np.frombuffer(data, dtype=np.float64).reshape(shape)
    if k.size == 0 or not np.all(np.isfinite(k)):
        return None
    if not np.any(k):
        return np.zeros(k.shape[0]), np.zeros(k.shape[1])
    u, s, vt = np.linalg.svd(k)
    if len(s) > 1 and s[1] > tol * s[0]:
        return None
    i, j = np.unravel_index(np.argmax(np.abs(k)), k.shape)
    col, row = k[:, j] / k[i, j], k[i].copy()
    if not np.array_equal(np.outer(col, row), k):
        scale = np.sqrt(s[0])
        col, row = u[:, 0] * scale, vt[0] * scale
    if _negative(col) or (col.sum() == 0 and row.sum() != 0 and _negative(row)):
        # a sign convention: the column factor sums positive, or the row factor where the
        # column sums to 0 (a derivative across a smoothing: the smoothing positive, so that
        # a flat response is +0, not −0)
        col, row = -col, -row
    if not np.allclose(np.outer(col, row), k, rtol=0, atol=tol * max(1.0, np.abs(k).max()) * 10):
        return None
    return col, row


def _negative(v) -> bool:
    """Whether v sums negative, or sums to 0 with its largest entry negative."""
    total = v.sum()
    return total < 0 or (total == 0 and v[np.argmax(np.abs(v))] < 0)


def is_separable(kernel, tol: float = 1e-6) -> bool:
    """Whether :func:`separate` finds a (column, row) factorization."""
    return separate(kernel, tol) is not None


def compiled_passes_available() -> bool:
    """Whether the compiled separable passes run now (numba chosen by ``fovea.kernels``)."""
    return filter1d.correlate_separable.path() == "numba"


def compiled_passes(planes) -> bool:
    """Whether :func:`separable_passes` runs compiled on these planes (NumPy ones only)."""
    return isinstance(planes, np.ndarray) and compiled_passes_available()


def separable_passes(planes, kernel, factors, pads, mode: str, cval=0.0):
    """The "valid" correlation of (H, W, P) planes, extended by ``pads`` (top, bottom, left,
    right) in boundary ``mode``, with a rank-1 ``kernel`` = outer(*factors): the column pass
    then the row pass in one sweep (``filter1d.correlate_separable``), or window sums times
    the kernel's value when all its taps are equal (``filter1d.box_sum``)."""
    top, bottom, left, right = pads
    h, w = planes.shape[:2]
    rows = source_indices(h, top, bottom, mode)
    cols = source_indices(w, left, right, mode)
    planes = np.ascontiguousarray(planes)
    value = kernel.flat[0]
    if np.all(kernel == value):
        kh, kw = kernel.shape
        return filter1d.box_sum(planes, kh, kw, float(value), rows, cols, left, float(cval))
    col, row = (np.asarray(f, dtype=planes.dtype) for f in factors)
    return filter1d.correlate_separable(planes, col, row, rows, cols, left, float(cval))
