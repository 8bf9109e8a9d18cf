"""Direct convolution at stride 1 for layers with few channels in and out (LeNet-5's first
layer, 1 → 6): the correlation sums each kernel row's shifted input rows straight into the
output (fovea.kernels.direct), where im2col would copy every pixel KH·KW times into a patch
matrix for a GEMM too small (C·KH·KW deep, O rows) to repay the copy.

Backward: dW = Σ g·(shifted input) by the same walk; dx is the correlation of the output
gradient, padded by K − 1 − p, with the kernels flipped and their channel axes swapped (the
transposed convolution at stride 1).
"""

from __future__ import annotations

from .. import backend
from ..backend import buffers
from ..kernels import direct as kd
from ..kernels import sharing

MAX_CHANNEL_PAIRS = 16
"""The most (input, output) channel pairs C·O of a layer that runs directly: the direct walk
makes a pass over the output per pair and kernel row, while im2col's GEMM grows more
efficient with C and O; at C·O = 32–48 the two break even on one thread, and im2col's GEMM
uses the second core (benchmarks/README.md)."""


def applies(c, o, kh, kw, stride, dilation, groups, padding):
    """Whether a correlation of this shape runs directly: stride 1, no dilation, one group, at
    most MAX_CHANNEL_PAIRS channel pairs, and padding smaller than the kernel (as the
    transposed correlation of backward needs)."""
    return (c * o <= MAX_CHANNEL_PAIRS and tuple(stride) == (1, 1) and tuple(dilation) == (1, 1)
            and groups == 1 and padding[0] < kh and padding[1] < kw)


def _padded(xb, ph, pw):
    """The batch-last image xb (C, H, W, N) with ph rows and pw columns of zeros on each
    side."""
    c, h, w, n = xb.shape
    out = buffers.empty((c, h + 2 * ph, w + 2 * pw, n), xb.dtype, xb)
    if ph or pw:
        out[:, :ph] = 0
        out[:, h + ph:] = 0
        out[:, ph:h + ph, :pw] = 0
        out[:, ph:h + ph, w + pw:] = 0
    out[:, ph:h + ph, pw:w + pw] = xb
    return out


def _correlate(xpad, weight, bias, out):
    """kd.correlate with the output channels shared by fovea's threads."""
    sharing.split(out.shape[0], lambda lo, hi: kd.correlate(xpad, weight[lo:hi], bias[lo:hi],
                                                            out[lo:hi]), out)


def correlate(xb, weight, bias, padding):
    """The correlation of the batch-last image xb (C, H, W, N) with weight (O, C, KH, KW) and
    zero padding (ph, pw), plus bias (O,) or None: the output (O, OH, OW, N) and the padded
    input, which the weight gradient reads."""
    xp = backend.namespace(xb)
    o, _, kh, kw = weight.shape
    xpad = _padded(xb, *padding)
    out = buffers.empty((o, xpad.shape[1] - kh + 1, xpad.shape[2] - kw + 1, xb.shape[3]),
                        xb.dtype, xb)
    b = xp.zeros(o, dtype=xb.dtype) if bias is None else xp.asarray(bias, dtype=xb.dtype)
    _correlate(xpad, weight, b, out)
    return out, xpad


def gradients(g, xpad, weight, xshape, padding, need_input, need_weight):
    """The input gradient (batch-last, of shape ``xshape`` (C, H, W, N)) and the weight
    gradient (O, C, KH, KW) of :func:`correlate` from the batch-last output gradient g
    (O, OH, OW, N) and the padded input it kept; None where not needed."""
    xp = backend.namespace(g)
    c, kh, kw = weight.shape[1:]
    dx = gw = None
    if need_weight:
        gw = buffers.empty(weight.shape, g.dtype, g)
        sharing.split(gw.shape[0], lambda lo, hi: kd.weight_grad(xpad, g[lo:hi], gw[lo:hi]), g)
    if need_input:
        ph, pw = padding
        flipped = xp.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        gpad = _padded(g, kh - 1 - ph, kw - 1 - pw)
        dx = buffers.empty(xshape, g.dtype, g)
        _correlate(gpad, flipped, xp.zeros(c, dtype=g.dtype), dx)
    return dx, gw
