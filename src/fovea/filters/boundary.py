"""Boundary modes: how an image is extended beyond its edges before it is filtered.

The names and meanings are scipy.ndimage's (for an image a b c d):

=============  ======================  ==========================================
mode           extension               OpenCV / PyTorch padding
=============  ======================  ==========================================
"constant"     k k k k | a b c d       BORDER_CONSTANT / "constant" (k = cval)
"reflect"      d c b a | a b c d       BORDER_REFLECT / —
"mirror"       d c b | a b c d         BORDER_REFLECT_101 / torch's "reflect"
"nearest"      a a a a | a b c d       BORDER_REPLICATE / "replicate"
"wrap"         a b c d | a b c d       BORDER_WRAP / "circular"
=============  ======================  ==========================================

"zero" is an alias of "constant" (with cval 0 by default), "replicate" of "nearest". Extensions
longer than the image repeat the pattern (periodically), as in scipy.ndimage.
"""

from __future__ import annotations

import numpy as np

from .. import backend

MODES = ("constant", "reflect", "mirror", "nearest", "wrap")
ALIASES = {"zero": "constant", "replicate": "nearest"}


def boundary_mode(name: str) -> str:
    """The canonical mode for ``name`` (aliases resolved); ValueError listing the choices."""
    mode = ALIASES.get(name, name)
    if mode not in MODES:
        choices = ", ".join(MODES + tuple(ALIASES))
        raise ValueError(f"unknown boundary mode {name!r}; choose from {choices}")
    return mode


def source_indices(n: int, before: int, after: int, mode: str):
    """For each position of an axis of length n extended by ``before`` and ``after``, the
    index of the original sample it copies (−1 for "constant", where it takes cval): a NumPy
    array (indices are computed on the host; move them to an image's device to gather)."""
    i = np.arange(-before, n + after)
    if mode == "constant":
        return np.where((i >= 0) & (i < n), i, -1)
    if mode == "nearest":
        return np.clip(i, 0, n - 1)
    if mode == "wrap":
        return i % n
    if mode == "reflect":  # period 2n: a b c d d c b a
        j = i % (2 * n)
        return np.where(j < n, j, 2 * n - 1 - j)
    # mirror: period 2n − 2: a b c d c b (a single sample just repeats)
    if n == 1:
        return np.zeros_like(i)
    j = i % (2 * n - 2)
    return np.where(j < n, j, 2 * n - 2 - j)


def pad_planes(planes, top: int, bottom: int, left: int, right: int, mode: str, cval=0.0):
    """Extend an (H, W, …) array on its first two axes. The interior is copied once; only the
    border is gathered, from rows and columns given by :func:`source_indices`."""
    xp = backend.namespace(planes)
    h, w = planes.shape[:2]
    out = xp.empty((h + top + bottom, w + left + right) + planes.shape[2:], dtype=planes.dtype)
    out[top:top + h, left:left + w] = planes
    if mode == "constant":
        value = xp.asarray(cval, dtype=planes.dtype)
        out[:top] = value
        out[top + h:] = value
        out[top:top + h, :left] = value
        out[top:top + h, left + w:] = value
        return out
    cols = xp.asarray(source_indices(w, left, right, mode))
    if left:
        out[top:top + h, :left] = planes[:, cols[:left]]
    if right:
        out[top:top + h, left + w:] = planes[:, cols[left + w:]]
    rows = xp.asarray(source_indices(h, top, bottom, mode))
    if top:
        out[:top] = out[top + rows[:top]]
    if bottom:
        out[top + h:] = out[top + rows[top + h:]]
    return out
