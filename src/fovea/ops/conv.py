"""Convolution (a CNN's correlation) over (N, C, H, W) tensors.

The correlation core works *batch-last*: an (N, C, H, W) array is viewed as (C, H, W, N), so
that every copy it makes moves contiguous runs of N (or OW·N) floats instead of runs of C.
Patches are gathered into a matrix whose rows run over (c, kh, kw) — the order of a PyTorch
weight (O, C, KH, KW), so the weight needs no reshuffling — and whose columns are output
pixels (oh, ow, n); one GEMM with the weights does the rest. The output is produced as a
(O, OH, OW, N) array and handed back as its (N, O, OH, OW) transposed view: the next layer
(ReLU, pooling, the next convolution) reads it batch-last again without a copy, and a
Flatten of it is a free reshape.
"""

from __future__ import annotations

from typing import NamedTuple

from .. import backend
from ..autograd import Function
from ..backend import buffers
from ..errors import ShapeError
from ..kernels import conv as kconv
from ..kernels import sharing
from . import direct_conv, winograd


def pair(v, name="value"):
    """An int, a 1-tuple or a pair as a pair of ints."""
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(i) for i in v)
    if len(v) == 1:
        v = v * 2
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {v}")
    return v


def padding_pair(padding, op):
    """The padding as a pair of ints, refused when negative (as PyTorch does)."""
    padding = pair(padding, "padding")
    if min(padding) < 0:
        raise ValueError(f"{op}: padding must not be negative, got {padding}")
    return padding


def out_size(size, k, stride, pad, dil):
    """Output length of a window of k taps (dilation dil) sliding with stride over size+2·pad."""
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def to_batch_last(x):
    """(N, C, H, W) → a C-contiguous (C, H, W, N) array: free (a view) when x is already the
    transposed view of one, as a convolution's output is."""
    return backend.namespace(x).ascontiguousarray(x.transpose(1, 2, 3, 0))


class Geometry(NamedTuple):
    """A correlation's window: kernel size, output size, and (row, column) pairs of stride,
    zero padding and dilation."""

    kh: int
    kw: int
    oh: int
    ow: int
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    dilation: tuple = (1, 1)

    def flat(self):
        """kh, kw, sh, sw, ph, pw, dh, dw: the kernels' arguments."""
        return (self.kh, self.kw, *self.stride, *self.padding, *self.dilation)


BLOCK_BYTES = 512 * 1024
"""Patch-matrix blocks of at most this size (half the 1 MiB L2 cache per core measured in
PERFORMANCE.md) are built and multiplied one at a time while they are still in cache, and
rebuilt in backward instead of being kept, which beats one large patch matrix streamed from
memory (benchmarks/README.md). A layer whose single output row of patches exceeds the budget
gets one whole matrix, kept for backward."""


def patches(xb, geom, rows):
    """The patch matrix (C·KH·KW, R·OW·N) of output rows ``rows`` (a slice) of the batch-last
    image xb (C, H, W, N), zero padding included; rows of the matrix ordered (c, kh, kw) like
    a PyTorch weight (the kernel :data:`fovea.kernels.conv.im2col`)."""
    c, n = xb.shape[0], xb.shape[-1]
    out = buffers.empty((c, geom.kh, geom.kw, rows.stop - rows.start, geom.ow, n), xb.dtype, xb)
    sharing.split(c, lambda lo, hi: kconv.im2col(xb[lo:hi], out[lo:hi], *geom.flat(),
                                                 rows.start), xb)
    return out.reshape(c * geom.kh * geom.kw, -1)


WHOLE_BYTES = 32 * 1024 * 1024
"""A patch matrix too wide for L2-sized row blocks is built whole up to this size: blocks of
single wide rows run slower than one matrix (benchmarks/README.md)."""

WIDE_BLOCK_BYTES = 4 * 1024 * 1024
"""Beyond WHOLE_BYTES, blocks of as many output rows as fit this size (at least one): a large
filter kernel on a large image would otherwise need hundreds of megabytes, and one-row blocks
leave the GEMMs narrow and slower."""

MANY_OUTPUTS = 64
"""From this many output channels on, the GEMM does enough work per patch element that it is
not bound by memory: blocks of DEEP_BLOCK_BYTES then keep it wide without the page faults
of a fresh patch matrix of tens of megabytes, while L2-sized blocks there would make narrow
GEMMs that run well below the speed of wide ones (benchmarks/README.md)."""

DEEP_BLOCK_BYTES = 8 * 1024 * 1024


def _row_blocks(oh, row_bytes, outputs=1):
    """Slices of output rows whose patches fit the block budget: DEEP_BLOCK_BYTES for a layer
    with MANY_OUTPUTS; otherwise BLOCK_BYTES, or whole / WIDE_BLOCK_BYTES blocks when a single
    row is wider than that."""
    if outputs >= MANY_OUTPUTS:
        rows = DEEP_BLOCK_BYTES // row_bytes
    elif row_bytes <= BLOCK_BYTES:
        rows = BLOCK_BYTES // row_bytes
    elif oh * row_bytes <= WHOLE_BYTES:
        rows = oh
    else:
        rows = WIDE_BLOCK_BYTES // row_bytes
    rows = max(1, min(oh, rows))
    return [slice(a, min(a + rows, oh)) for a in range(0, oh, rows)]


def _grouped_matmul(xp, a, b, out, groups, trans_a=False, trans_b=False):
    """out = a·b (with optional transposes, namespace ``xp``) for each of ``groups`` diagonal
    blocks: group g uses rows g of a's output dimension and the matching rows of b."""
    if groups == 1:
        return sharing.matmul(a.T if trans_a else a, b.T if trans_b else b, out)
    ra, rb, ro = a.shape[0] // groups, b.shape[0] // groups, out.shape[0] // groups
    for g in range(groups):
        ag, bg = a[g * ra:(g + 1) * ra], b[g * rb:(g + 1) * rb]
        xp.matmul(ag.T if trans_a else ag, bg.T if trans_b else bg, out=out[g * ro:(g + 1) * ro])
    return out


def correlate_batch_last(xb, w2, geom, groups=1):
    """The correlation core shared by ``nn.Conv2d`` and ``fovea.filters``.

    ``xb`` is a C-contiguous batch-last image (C, H, W, N), ``w2`` the weights as a matrix
    (O, C/groups·KH·KW) in PyTorch's (c, kh, kw) order, ``geom`` the :class:`Geometry`.
    Returns the correlation as an (O, OH·OW·N) array, with the row blocks and the last patch
    block (the whole patch matrix when there is one block), which backward reuses.
    """
    c, n = xb.shape[0], xb.shape[-1]
    o = w2.shape[0]
    xp = backend.namespace(xb)
    blocks = _row_blocks(geom.oh, c * geom.kh * geom.kw * geom.ow * n * xb.itemsize, o // groups)
    out = buffers.empty((o, geom.oh * geom.ow * n), xb.dtype, xb)
    row = geom.ow * n
    for rows in blocks:
        cols = patches(xb, geom, rows)
        _grouped_matmul(xp, w2, cols, out[:, rows.start * row:rows.stop * row], groups)
    return out, blocks, cols


class Conv2d(Function):
    """Cross-correlation out[n, o, y, x] = b[o] + Σ_{c,i,j} w[o, c, i, j]·xpad[n, c, sy+di, sx+dj]
    (what PyTorch and the CNN literature call convolution), with stride, zero padding,
    dilation and groups.

    As matrices (batch-last): out = W·P + b with P the patch matrix; backward:
    dW = g·Pᵀ, db = Σ g, dx = col2im(Wᵀ·g). P is built in cache-sized blocks of output rows.
    3×3 kernels at stride 1 with enough channels run by Winograd instead (fovea.ops.winograd),
    layers with few channels directly (fovea.ops.direct_conv).
    """

    def forward(self, x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        if x.ndim != 4 or weight.ndim != 4:
            raise ShapeError(
                f"conv2d expects input (N, C, H, W) and weight (O, C/groups, KH, KW), "
                f"got {x.shape} and {weight.shape}"
            )
        n, c, h, w = x.shape
        o, cg, kh, kw = weight.shape
        if c != cg * groups or o % groups:
            raise ShapeError(
                f"conv2d: input of shape {x.shape} has {c} channels, but weight of shape "
                f"{weight.shape} with groups={groups} expects {cg * groups}"
            )
        stride, padding, dilation = pair(stride), padding_pair(padding, "conv2d"), pair(dilation)
        oh = out_size(h, kh, stride[0], padding[0], dilation[0])
        ow = out_size(w, kw, stride[1], padding[1], dilation[1])
        if oh <= 0 or ow <= 0:
            raise ShapeError(
                f"conv2d: input {x.shape} is smaller than the kernel {weight.shape[2:]} "
                f"(padding {padding}, dilation {dilation})"
            )
        if x.size == 0 or weight.size == 0:  # nothing to correlate: a bias-only output
            self.empty = (x.shape, weight.shape)
            out = backend.namespace(x).zeros((n, o, oh, ow), dtype=x.dtype)
            return out if bias is None else out + bias[:, None, None]
        self.empty = None
        xb = to_batch_last(x)
        need = self.needs_grad
        self.wino = self.direct = None
        if direct_conv.applies(c, o, kh, kw, stride, dilation, groups, padding):
            out, xpad = direct_conv.correlate(xb, weight, bias, padding)
            if need:
                self.direct = (xpad if need[1] else None, weight, xb.shape, padding)
            return out.transpose(3, 0, 1, 2)
        if winograd.applies(kh, kw, stride, dilation, groups, c, o, oh, ow):
            plan = winograd.choose(oh, ow, n)
            out, u, v = winograd.correlate(xb, weight, bias, padding, plan)
            if need:
                self.wino = (u if need[0] else None, v if need[1] else None, xb.shape, padding,
                             plan)
            return out.transpose(3, 0, 1, 2)
        geom = Geometry(kh, kw, oh, ow, stride, padding, dilation)
        w2 = weight.reshape(o, cg * kh * kw)
        out, blocks, cols = correlate_batch_last(xb, w2, geom, groups)
        if bias is not None:
            out += bias[:, None]
        if need:
            self.geom, self.xshape, self.groups, self.blocks = geom, x.shape, groups, blocks
            if need[1]:  # the weight gradient needs the patches: keep them, or rebuild them
                self.cols = cols if len(blocks) == 1 else None
                self.xb = xb if len(blocks) > 1 else None
            self.w2 = w2 if need[0] else None
        return out.reshape(o, oh, ow, n).transpose(3, 0, 1, 2)

    def backward(self, g):
        if self.empty is not None:
            xp = backend.namespace(g)
            return (xp.zeros(self.empty[0], dtype=g.dtype), xp.zeros(self.empty[1], dtype=g.dtype),
                    g.sum(axis=(0, 2, 3)))
        o = g.shape[1]
        gbl = to_batch_last(g)
        g2 = gbl.reshape(o, -1)
        need = self.needs_grad
        gx = gw = gb = None
        if len(need) > 2 and need[2]:
            gb = g2.sum(axis=1)
        if self.wino is not None:
            u, v, xshape, padding, plan = self.wino
            dx, gw = winograd.gradients(gbl, u, v, xshape, padding, plan, need[0], need[1])
            return (None if dx is None else dx.transpose(3, 0, 1, 2)), gw, gb
        if self.direct is not None:
            xpad, weight, xshape, padding = self.direct
            dx, gw = direct_conv.gradients(gbl, xpad, weight, xshape, padding, need[0], need[1])
            return (None if dx is None else dx.transpose(3, 0, 1, 2)), gw, gb
        geom, groups = self.geom, self.groups
        n, c, h, w = self.xshape
        if need[1]:
            gw = weight_grad(g2, self.cols, self.xb, self.blocks, geom, c, groups)
        if need[0]:
            gx = input_grad(g2, self.w2, self.blocks, (c, h, w, n), geom, groups)
        return gx, gw, gb


def weight_grad(g2, cols, xb, blocks, geom, c, groups):
    """dW (O, C/groups, KH, KW) = g·Pᵀ from the output gradient g2 (O, OH·OW·N) and the patch
    matrix P: ``cols`` when it was kept whole, else rebuilt block by block from the batch-last
    input ``xb``."""
    xp = backend.namespace(g2)
    o, row = g2.shape[0], g2.shape[1] // geom.oh
    # dWᵀ = P·gᵀ: (K, O) is the orientation OpenBLAS runs fastest for this long-inner,
    # small-output product
    kg, og = c // groups * geom.kh * geom.kw, o // groups
    gwt = xp.zeros((groups * kg, og), dtype=g2.dtype)
    part = xp.empty_like(gwt) if len(blocks) > 1 else gwt
    for rows in blocks:
        blk = cols if cols is not None else patches(xb, geom, rows)
        _grouped_matmul(xp, blk, g2[:, rows.start * row:rows.stop * row], part, groups,
                        trans_b=True)
        if part is not gwt:
            gwt += part
    return gwt.reshape(groups, kg, og).transpose(0, 2, 1).reshape(o, c // groups, geom.kh,
                                                                 geom.kw)


def input_grad(g2, w2, blocks, xshape, geom, groups):
    """dx = col2im(Wᵀ·g): the (N, C, H, W) gradient (a batch-last view) of a correlation's
    input of batch-last shape ``xshape`` (C, H, W, N) from its output gradient g2
    (O, OH·OW·N) — which is also the transposed convolution of g2 with the weights w2
    (O, C/groups·KH·KW). Each block's patch gradients go straight into dx
    (:data:`fovea.kernels.conv.col2im`), no zero fill beforehand."""
    xp = backend.namespace(g2)
    c, h, _, n = xshape
    row = g2.shape[1] // geom.oh
    dx = buffers.empty(xshape, g2.dtype, g2)
    fresh = 0  # the first input row no block has touched yet
    for rows in blocks:
        gblk = g2[:, rows.start * row:rows.stop * row]
        dcols = xp.empty((c * geom.kh * geom.kw, gblk.shape[1]), dtype=g2.dtype)
        _grouped_matmul(xp, w2, gblk, dcols, groups, trans_a=True)
        r = rows.stop - rows.start
        d6 = dcols.reshape(c, geom.kh, geom.kw, r, geom.ow, n)
        sharing.split(c, lambda lo, hi, d6=d6, row0=rows.start, fresh=fresh: kconv.col2im(
            d6[lo:hi], dx[lo:hi], *geom.flat(), row0, fresh), dx)
        fresh = max(fresh, kconv.touched_rows(rows.start, r, h, geom.kh, geom.stride[0],
                                              geom.padding[0], geom.dilation[0])[1])
    dx[:, fresh:] = 0
    return dx.transpose(3, 0, 1, 2)


class ConvTranspose2d(Function):
    """Transposed convolution: the adjoint of :class:`Conv2d` in its input, so that
    conv_transpose2d(g, W) is the gradient of conv2d(x, W) with respect to x for output
    gradient g. Weight (C_in, C_out/groups, KH, KW) as PyTorch; output size
    (H − 1)·s − 2p + d·(KH − 1) + output_padding + 1. Backward is a correlation: dx =
    conv2d(gy, W) and dW the conv2d weight gradient with gy as input and x as output gradient.
    """

    def forward(self, x, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                dilation=1):
        if x.ndim != 4 or weight.ndim != 4:
            raise ShapeError(
                f"conv_transpose2d expects input (N, C_in, H, W) and weight "
                f"(C_in, C_out/groups, KH, KW), got {x.shape} and {weight.shape}")
        n, c_in, h, w = x.shape
        ci, cog, kh, kw = weight.shape
        if c_in != ci or ci % groups:
            raise ShapeError(f"conv_transpose2d: input of shape {x.shape} and weight of shape "
                             f"{weight.shape} with groups={groups} do not fit")
        stride, padding = pair(stride, "stride"), padding_pair(padding, "conv_transpose2d")
        dilation, output_padding = pair(dilation, "dilation"), pair(output_padding,
                                                                    "output_padding")
        if any(op >= max(s, d) for op, s, d in zip(output_padding, stride, dilation)):
            raise ValueError(f"conv_transpose2d: output_padding {output_padding} must be "
                             f"smaller than either stride {stride} or dilation {dilation}")
        oh, ow = ((size - 1) * s - 2 * p + d * (k - 1) + op + 1 for size, s, p, d, k, op in
                  zip((h, w), stride, padding, dilation, (kh, kw), output_padding))
        if oh <= 0 or ow <= 0:
            raise ShapeError(f"conv_transpose2d: output size ({oh}, {ow}) is not positive")
        c_out = cog * groups
        xp = backend.namespace(x)
        geom = Geometry(kh, kw, h, w, stride, padding, dilation)  # of the adjoint correlation
        w2 = weight.reshape(ci, cog * kh * kw)
        x2 = to_batch_last(x).reshape(ci, -1)
        if n == 0 or x2.size == 0 or w2.size == 0:
            out = xp.zeros((n, c_out, oh, ow), dtype=x.dtype)
        else:
            blocks = _row_blocks(h, c_out * kh * kw * w * n * x.itemsize, ci // groups)
            out = input_grad(x2, w2, blocks, (c_out, oh, ow, n), geom, groups)
        if bias is not None:
            out = out + bias[:, None, None]
        if self.needs_grad:
            self.saved = (x2, w2, x.shape, weight.shape, geom, groups)
        return out

    def backward(self, g):
        x2, w2, xshape, wshape, geom, groups = self.saved
        n, c_in, h, w = xshape
        _, cog, kh, kw = wshape
        need = self.needs_grad
        xp = backend.namespace(g)
        gx = gw = gb = None
        if len(need) > 2 and need[2]:
            gb = g.sum(axis=(0, 2, 3))
        if n == 0 or x2.size == 0 or w2.size == 0:
            gx = xp.zeros(xshape, dtype=g.dtype)
            gw = xp.zeros(wshape, dtype=g.dtype)
            return gx, gw, gb
        gbatch = to_batch_last(g)
        out, blocks, cols = correlate_batch_last(gbatch, w2, geom, groups)
        if need[0]:
            gx = out.reshape(c_in, h, w, n).transpose(3, 0, 1, 2)
        if need[1]:
            gw = weight_grad(x2, cols if len(blocks) == 1 else None, gbatch, blocks, geom,
                             cog * groups, groups)
        return gx, gw, gb
