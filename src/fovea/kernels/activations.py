"""ReLU's backward pass on 1-D arrays (the memory of arrays of one layout, see
:func:`fovea.kernels.flat`): gx = g·[out > 0], one pass where NumPy makes the mask first."""

from __future__ import annotations

from .. import backend
from . import Kernel


def _relu_backward_reference(g, out, gx):
    """gx = g·[out > 0] (a product, so that g's NaNs and infinities propagate as in
    ``g * (out > 0)``)."""
    backend.namespace(g).multiply(g, out > 0, out=gx)


def _build_relu_backward():
    import numba

    @numba.njit(cache=True, nogil=True)
    def relu_backward(g, out, gx):
        for k in range(g.size):
            gx[k] = g[k] * (out[k] > 0)

    return relu_backward


relu_backward = Kernel("relu_backward", _relu_backward_reference, _build_relu_backward)
