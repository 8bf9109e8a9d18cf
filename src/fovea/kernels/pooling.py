"""Max pooling's backward pass on (P, H, W, Q) arrays: P planes of H×W pixels, each pixel a
contiguous run of Q values (Q = N for a batch-last (C, H, W, N) array, Q = 1 for an
(N·C, H, W) one).

Each window's output gradient goes to the first of its taps, in row-major order, that holds
the window's maximum (PyTorch's rule); taps outside the image (padding, or ceil_mode's last
windows) hold −∞. The NumPy reference compares a padded copy with the output tap by tap,
keeping a mask of the windows already claimed (about five passes per tap); the compiled
kernel visits each window once, its taps in order, each a vectorized pass over the Q values
that gives a tap the window's gradient where it holds the maximum and clears it there.
"""

from __future__ import annotations

import math

from .. import backend
from . import Kernel
from .conv import span


def _max_pool_backward_reference(x4, out4, g4, dx4, kh, kw, sh, sw, ph, pw, dh, dw):
    """dx4 (P, H, W, Q) = the input gradient of the max pool of x4 whose output is out4 and
    output gradient g4 (P, OH, OW, Q)."""
    xp = backend.namespace(x4)
    p, h, w, q = x4.shape
    oh, ow = out4.shape[1:3]
    hp = max(h + 2 * ph, (oh - 1) * sh + dh * (kh - 1) + 1)
    wp = max(w + 2 * pw, (ow - 1) * sw + dw * (kw - 1) + 1)
    xpad = xp.full((p, hp, wp, q), -math.inf, dtype=x4.dtype)
    xpad[:, ph:ph + h, pw:pw + w] = x4
    dpad = xp.zeros(xpad.shape, dtype=g4.dtype)
    free = None  # windows whose maximum no earlier tap has claimed
    for i in range(kh):
        for j in range(kw):
            tap = (slice(None), span(i * dh, oh, sh), span(j * dw, ow, sw))
            hit = xpad[tap] == out4
            if free is None:
                free = ~hit
            else:
                hit &= free
                free ^= hit  # hit ⊆ free: removes the claimed windows
            dpad[tap] += g4 * hit
    dx4[...] = dpad[:, ph:ph + h, pw:pw + w]


def _build_max_pool_backward():
    import numba
    import numpy as np

    from . import loops

    @numba.njit(cache=True, nogil=True)
    def max_pool_backward(x4, out4, g4, dx4, kh, kw, sh, sw, ph, pw, dh, dw):
        p_, h, w, q_ = x4.shape
        oh, ow = out4.shape[1], out4.shape[2]
        rest = np.empty(q_, g4.dtype)  # each window's gradient that no tap has claimed yet
        for p in range(p_):
            loops.zero(dx4[p].reshape(-1))
            for oy in range(oh):
                for ox in range(ow):
                    loops.copy_into(rest, g4[p, oy, ox])
                    for i in range(kh):
                        y = oy * sh - ph + i * dh
                        if y < 0 or y >= h:
                            continue
                        for j in range(kw):
                            x = ox * sw - pw + j * dw
                            if 0 <= x < w:
                                loops.claim_max(dx4[p, y, x], rest, x4[p, y, x], out4[p, oy, ox])

    return max_pool_backward


max_pool_backward = Kernel("max_pool_backward", _max_pool_backward_reference,
                           _build_max_pool_backward)
