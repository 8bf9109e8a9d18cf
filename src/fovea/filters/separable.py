"""Separable kernels: a rank-1 kernel g = c·rᵀ filters as a column pass then a row pass,
2k·n multiply-adds instead of k²·n."""

from __future__ import annotations

import numpy as np

from .. import backend


def separate(kernel, tol: float = 1e-6):
    """(column, row) 1-D vectors with outer(column, row) == kernel when the kernel has rank 1
    (by SVD: every singular value after the first below ``tol`` × the first), else None.
    Computed on the host: the factors are NumPy arrays whatever the kernel's device."""
    k = np.asarray(backend.to_numpy(kernel), dtype=np.float64)
    if k.ndim != 2:
        raise ValueError(f"kernel must be 2-D, got shape {k.shape}")
    if k.size == 0 or not np.all(np.isfinite(k)):
        return None
    if not np.any(k):
        return np.zeros(k.shape[0]), np.zeros(k.shape[1])
    u, s, vt = np.linalg.svd(k)
    if len(s) > 1 and s[1] > tol * s[0]:
        return None
    scale = np.sqrt(s[0])
    col, row = u[:, 0] * scale, vt[0] * scale
    if col.sum() < 0 or (col.sum() == 0 and col[np.argmax(np.abs(col))] < 0):
        col, row = -col, -row  # a sign convention: the column factor sums positive
    if not np.allclose(np.outer(col, row), k, rtol=0, atol=tol * max(1.0, np.abs(k).max()) * 10):
        return None
    return col, row


def is_separable(kernel, tol: float = 1e-6) -> bool:
    """Whether :func:`separate` finds a (column, row) factorization."""
    return separate(kernel, tol) is not None
