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

from .. import backend
from ..autograd import Function
from ..backend import buffers
from ..errors import ShapeError


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


def out_size(size, k, stride, pad, dil):
    """Output length of a window of k taps (dilation dil) sliding with stride over size+2·pad."""
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def to_batch_last(x, ph=0, pw=0, value=0.0, phases=1):
    """(N, C, H, W) → a C-contiguous (C, H + 2·ph, W + 2·pw, N) array, padded with ``value``.

    Free (a view) when x is already the transposed view of such an array and needs no padding.
    With ``phases`` P > 1 the padded columns are split by phase instead: a (C, Hp, P, ⌈Wp/P⌉, N)
    array holding padded column q + P·m at [:, :, q, m] (see :func:`column_phases`).
    """
    xb = x.transpose(1, 2, 3, 0)
    if phases == 1 and not ph and not pw:
        return backend.namespace(x).ascontiguousarray(xb)
    c, h, w, n = xb.shape
    out = buffers.empty((c, h + 2 * ph, phases, -(-(w + 2 * pw) // phases), n), x.dtype, x)
    for q in range(phases):
        rows = out[:, ph:h + ph, q]
        lo, hi = -(-(pw - q) // phases), -(-(pw + w - q) // phases)  # inside: m in [lo, hi)
        rows[:, :, :lo] = value
        rows[:, :, hi:] = value
        rows[:, :, lo:hi] = xb[:, :, q + phases * lo - pw::phases]
    out[:, :ph] = value
    out[:, h + ph:] = value
    return out[:, :, 0] if phases == 1 else out


SHORT_RUN_BYTES = 256
"""Batch-last windows with a column stride s > 1 copy runs of only N floats (32 bytes at
batch 8). Below this run length a strided layer's padded input is split into s column phases
once, so that every kernel tap's patches become runs of OW·N floats (measured in
benchmarks/README.md)."""


def column_phases(n, itemsize, kh, kw, stride, dilation):
    """How many column phases :func:`to_batch_last` should split a layer's input into: the
    column stride when its runs of N are short and the patches outweigh the one extra pass
    (KH·KW ≥ 2·stride_h·stride_w: the patch matrix is then over twice the input), else 1."""
    s = stride[1]
    if (s > 1 and dilation[1] == 1 and n * itemsize < SHORT_RUN_BYTES
            and kh * kw >= 2 * stride[0] * s):
        return s
    return 1


def phase_order(kw, phases):
    """Kernel columns in the order the patch matrix holds them: phase 0's (0, P, 2P, …), then
    phase 1's, …; the identity for one phase."""
    return [j for q in range(phases) for j in range(q, kw, phases)]


BLOCK_BYTES = 512 * 1024
"""Patch-matrix blocks of at most this size (half the 1 MiB L2 cache per core measured in
PERFORMANCE.md) are built and multiplied one at a time while they are still in cache, and
rebuilt in backward instead of being kept, which beats one large patch matrix streamed from
memory (benchmarks/README.md). A layer whose single output row of patches exceeds the budget
gets one whole matrix, kept for backward."""


def _phased(xpad):
    """A padded image as (C, Hp, P, Wq, N): a 4-D (C, Hp, Wp, N) one as a single phase."""
    return xpad[:, :, None] if xpad.ndim == 4 else xpad


def windows(xpad, kh, kw, oh, ow, stride, dilation):
    """Strided views (C, KH, taps, OH, OW, N) of a padded batch-last image, no copy: one per
    column phase, covering kernel columns q, q + P, … (all of them for one phase)."""
    xpad = _phased(xpad)
    sc, sh, _, sm, sn = xpad.strides
    c, _, phases, _, n = xpad.shape
    (st_h, st_w), (d_h, d_w) = stride, dilation
    return [backend.as_strided(xpad[:, :, q], shape=(c, kh, len(range(q, kw, phases)), oh, ow, n),
                       strides=(sc, sh * d_h, sm * d_w, sh * st_h, sm * (st_w // phases), sn))
            for q in range(phases)]


def patches(wins, xp, rows=None):
    """The patch matrix (C·KH·KW, rows·OW·N) of output rows ``rows`` (a slice; all by
    default), rows of the matrix ordered (c, kh, kw) like a PyTorch weight (kw in
    :func:`phase_order` when the windows are split by phase); ``xp`` is the windows'
    namespace, taken once per layer by the caller (a large kernel builds hundreds of blocks)."""
    if len(wins) == 1:  # the common case, kept lean: LeNet-5 builds 56 blocks per step
        win = wins[0] if rows is None else wins[0][:, :, :, rows]
        if win.nbytes < buffers.MIN_BYTES:
            out = xp.ascontiguousarray(win)
        else:
            out = buffers.empty(win.shape, win.dtype, win)
            xp.copyto(out, win)
    else:
        if rows is not None:
            wins = [win[:, :, :, rows] for win in wins]
        c, kh, _, oh, ow, n = wins[0].shape
        out = buffers.empty((c, kh, sum(win.shape[2] for win in wins), oh, ow, n),
                            wins[0].dtype, wins[0])
        j = 0
        for win in wins:
            out[:, :, j:j + win.shape[2]] = win
            j += win.shape[2]
    return out.reshape(out.shape[0] * out.shape[1] * out.shape[2], -1)


def add_patches(dxpad, dcols6, stride, dilation, row0=0):
    """Scatter-add patch gradients (C, KH, KW, OH', OW, N) of output rows row0… back onto the
    padded image (4-D, or split by phase with kw in :func:`phase_order`): the adjoint of
    :func:`patches` (col2im), one strided add per kernel tap."""
    dxpad = _phased(dxpad)
    phases = dxpad.shape[2]
    _, kh, kw, oh, ow, _ = dcols6.shape
    (st_h, st_w), (d_h, d_w) = stride, dilation
    sw = st_w // phases
    j = 0
    for q in range(phases):
        for m in range(0, len(range(q, kw, phases)) * d_w, d_w):  # the tap's first column
            for i in range(kh):
                top = row0 * st_h + i * d_h
                dxpad[:, top:top + st_h * (oh - 1) + 1:st_h, q,
                      m:m + sw * (ow - 1) + 1:sw] += dcols6[:, i, j]
            j += 1


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
        return xp.matmul(a.T if trans_a else a, b.T if trans_b else b, out=out)
    ra, rb, ro = a.shape[0] // groups, b.shape[0] // groups, out.shape[0] // groups
    for g in range(groups):
        ag, bg = a[g * ra:(g + 1) * ra], b[g * rb:(g + 1) * rb]
        xp.matmul(ag.T if trans_a else ag, bg.T if trans_b else bg, out=out[g * ro:(g + 1) * ro])
    return out


def correlate_batch_last(xpad, w2, kh, kw, oh, ow, stride=(1, 1), dilation=(1, 1), groups=1):
    """The correlation core shared by ``nn.Conv2d`` and ``fovea.filters``.

    ``xpad`` is a padded batch-last image (C, Hp, Wp, N), or one split into column phases
    (:func:`to_batch_last`), ``w2`` the weights as a matrix (O, C/groups·KH·KW) in PyTorch's
    (c, kh, kw) order (kw in :func:`phase_order` for a split image). Returns the "valid"
    correlation as an (O, OH·OW·N) array, with the windows views, the row blocks and the last
    patch block (the whole patch matrix when there is one block), which backward reuses.
    """
    c, n = xpad.shape[0], xpad.shape[-1]
    o = w2.shape[0]
    xp = backend.namespace(xpad)
    win = windows(xpad, kh, kw, oh, ow, stride, dilation)
    blocks = _row_blocks(oh, c * kh * kw * ow * n * xpad.itemsize, o // groups)
    out = buffers.empty((o, oh * ow * n), xpad.dtype, xpad)
    row = ow * n
    for rows in blocks:
        cols = patches(win, xp, rows if len(blocks) > 1 else None)
        _grouped_matmul(xp, w2, cols, out[:, rows.start * row:rows.stop * row], groups)
    return out, win, blocks, cols


class Conv2d(Function):
    """Cross-correlation out[n, o, y, x] = b[o] + Σ_{c,i,j} w[o, c, i, j]·xpad[n, c, sy+di, sx+dj]
    (what PyTorch and the CNN literature call convolution), with stride, zero padding,
    dilation and groups.

    As matrices (batch-last): out = W·P + b with P the patch matrix; backward:
    dW = g·Pᵀ, db = Σ g, dx = col2im(Wᵀ·g). P is built in cache-sized blocks of output rows.
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
        stride, padding, dilation = pair(stride), pair(padding), pair(dilation)
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
        phases = column_phases(n, x.itemsize, kh, kw, stride, dilation)
        xpad = to_batch_last(x, *padding, phases=phases)
        if phases > 1:  # the patch matrix holds kernel columns phase by phase
            weight = weight[:, :, :, phase_order(kw, phases)]
        w2 = weight.reshape(o, cg * kh * kw)
        out, win, blocks, cols = correlate_batch_last(xpad, w2, kh, kw, oh, ow, stride, dilation,
                                                      groups)
        if bias is not None:
            out += bias[:, None]
        need = self.needs_grad
        if need:
            self.geom = (x.shape, xpad.shape, kh, kw, oh, ow, stride, padding, dilation, groups,
                         phases)
            self.blocks = blocks
            if need[1]:  # the weight gradient needs the patches: keep them, or rebuild them
                self.cols = cols if len(blocks) == 1 else None
                self.win = win if len(blocks) > 1 else None
            self.w2 = w2 if need[0] else None
        return out.reshape(o, oh, ow, n).transpose(3, 0, 1, 2)

    def backward(self, g):
        if self.empty is not None:
            xp = backend.namespace(g)
            return (xp.zeros(self.empty[0], dtype=g.dtype), xp.zeros(self.empty[1], dtype=g.dtype),
                    g.sum(axis=(0, 2, 3)))
        xshape, pshape, kh, kw, oh, ow, stride, padding, dilation, groups, phases = self.geom
        n, c, h, w = xshape
        o = g.shape[1]
        xp = backend.namespace(g)
        g2 = xp.ascontiguousarray(g.transpose(1, 2, 3, 0)).reshape(o, -1)
        need = self.needs_grad
        gx = gw = gb = None
        if len(need) > 2 and need[2]:
            gb = g2.sum(axis=1)
        if need[1]:
            gw = weight_grad(g2, self.cols, self.win, self.blocks, c, kh, kw, ow * n, groups,
                             phases)
        if need[0]:
            gx = input_grad(g2, self.w2, self.blocks, pshape, kh, kw, ow, stride, padding,
                            dilation, groups, phases, h, w)
        return gx, gw, gb


def weight_grad(g2, cols, win, blocks, c, kh, kw, row, groups, phases=1):
    """dW (O, C/groups, KH, KW) = g·Pᵀ from the output gradient g2 (O, OH·OW·N) and the patch
    matrix P: ``cols`` when it was kept whole, else rebuilt block by block from ``win``."""
    xp = backend.namespace(g2)
    o = g2.shape[0]
    # dWᵀ = P·gᵀ: (K, O) is the orientation OpenBLAS runs fastest for this long-inner,
    # small-output product
    kg, og = c // groups * kh * kw, o // groups
    gwt = xp.zeros((groups * kg, og), dtype=g2.dtype)
    part = xp.empty_like(gwt) if len(blocks) > 1 else gwt
    for rows in blocks:
        blk = cols if cols is not None else patches(win, xp, rows)
        _grouped_matmul(xp, blk, g2[:, rows.start * row:rows.stop * row], part, groups,
                        trans_b=True)
        if part is not gwt:
            gwt += part
    gw = gwt.reshape(groups, kg, og).transpose(0, 2, 1).reshape(o, c // groups, kh, kw)
    if phases > 1:  # back to PyTorch's column order
        order = phase_order(kw, phases)
        gw = gw[:, :, :, sorted(range(kw), key=order.__getitem__)]
    return gw


def input_grad(g2, w2, blocks, pshape, kh, kw, ow, stride, padding, dilation, groups, phases,
               h, w):
    """dx = col2im(Wᵀ·g): the (N, C, H, W) gradient (a batch-last view) of a correlation's
    input from its output gradient g2 (O, OH·OW·N) — which is also the transposed
    convolution of g2 with the weights w2 (O, C/groups·KH·KW)."""
    xp = backend.namespace(g2)
    c, n = pshape[0], pshape[-1]
    row = ow * n
    dxpad = buffers.empty(pshape, g2.dtype, g2)
    dxpad.fill(0)
    for rows in blocks:
        gblk = g2[:, rows.start * row:rows.stop * row]
        dcols = xp.empty((c * kh * kw, gblk.shape[1]), dtype=g2.dtype)
        _grouped_matmul(xp, w2, gblk, dcols, groups, trans_a=True)
        add_patches(dxpad, dcols.reshape(c, kh, kw, rows.stop - rows.start, ow, n),
                    stride, dilation, row0=rows.start)
    if phases > 1:  # (C, Hp, P, Wq, N) → (C, Hp, Wq·P, N): column q + P·m
        dxpad = xp.ascontiguousarray(dxpad.transpose(0, 1, 3, 2, 4)).reshape(
            pshape[0], pshape[1], -1, n)
    ph, pw = padding
    return dxpad[:, ph:ph + h, pw:pw + w].transpose(3, 0, 1, 2)


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
        stride, padding = pair(stride, "stride"), pair(padding, "padding")
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
        pshape = (c_out, oh + 2 * padding[0], ow + 2 * padding[1], n)
        w2 = weight.reshape(ci, cog * kh * kw)
        x2 = xp.ascontiguousarray(x.transpose(1, 2, 3, 0)).reshape(ci, -1)
        if n == 0 or x2.size == 0 or w2.size == 0:
            out = xp.zeros((n, c_out, oh, ow), dtype=x.dtype)
        else:
            blocks = _row_blocks(h, c_out * kh * kw * w * n * x.itemsize, ci // groups)
            out = input_grad(x2, w2, blocks, pshape, kh, kw, w, stride, padding, dilation,
                             groups, 1, oh, ow)
        if bias is not None:
            out = out + bias[:, None, None]
        if self.needs_grad:
            self.saved = (x2, w2, x.shape, weight.shape, stride, padding, dilation, groups)
        return out

    def backward(self, g):
        x2, w2, xshape, wshape, stride, padding, dilation, groups = self.saved
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
        gpad = to_batch_last(g, *padding)
        out, win, blocks, cols = correlate_batch_last(gpad, w2, kh, kw, h, w, stride, dilation,
                                                      groups)
        if need[0]:
            gx = out.reshape(c_in, h, w, n).transpose(3, 0, 1, 2)
        if need[1]:
            gw = weight_grad(x2, cols if len(blocks) == 1 else None, win, blocks,
                             cog * groups, kh, kw, w * n, groups)
        return gx, gw, gb
