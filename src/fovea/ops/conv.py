"""Convolution (a CNN's correlation) and pooling over (N, C, H, W) tensors.

The correlation core works channels-last: (N, C, H, W) arrays are viewed as (N, H, W, C), the
image patches are gathered into a matrix whose rows are output pixels and whose columns run
over (kh, kw, c) — contiguous runs of C — and one GEMM with the weights does the rest. The
output is produced as an (N, H, W, C) array and handed back as its (N, C, H, W) transposed
view, so the next layer reads it channels-last again without a copy (PyTorch's
``channels_last`` memory format). Pooling works on strided slices, one per kernel offset.
"""

from __future__ import annotations

from ..autograd import Function
from ..backend import xp
from ..errors import ShapeError

as_strided = xp.lib.stride_tricks.as_strided


def pair(v, name="value"):
    """An int or a pair as a pair of ints."""
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(i) for i in v)
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or a pair, got {v}")
    return v


def out_size(size, k, stride, pad, dil):
    """Output length of a window of k taps (dilation dil) sliding with stride over size+2·pad."""
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def windows(xpad, kh, kw, oh, ow, stride, dilation):
    """A strided (N, OH, OW, KH, KW, C) view of the padded channels-last image: no copy."""
    sn, sh, sw, sc = xpad.strides
    (st_h, st_w), (d_h, d_w) = stride, dilation
    return as_strided(
        xpad,
        shape=(xpad.shape[0], oh, ow, kh, kw, xpad.shape[3]),
        strides=(sn, sh * st_h, sw * st_w, sh * d_h, sw * d_w, sc),
        writeable=False,
    )


def pad_channels_last(x_nhwc, ph, pw, value=0.0):
    """Zero-pad (N, H, W, C) on H and W into a fresh C-contiguous array."""
    if not ph and not pw:
        return x_nhwc
    n, h, w, c = x_nhwc.shape
    out = xp.empty((n, h + 2 * ph, w + 2 * pw, c), dtype=x_nhwc.dtype)
    if value == 0:
        out[:, :ph] = 0
        out[:, h + ph:] = 0
        out[:, ph:h + ph, :pw] = 0
        out[:, ph:h + ph, w + pw:] = 0
    else:
        out.fill(value)
    out[:, ph:h + ph, pw:w + pw] = x_nhwc
    return out


def col2im_add(dxpad, dcols6, stride, dilation):
    """Scatter-add patch gradients (N, OH, OW, KH, KW, C) back onto the padded image."""
    _, oh, ow, kh, kw, _ = dcols6.shape
    (st_h, st_w), (d_h, d_w) = stride, dilation
    for i in range(kh):
        for j in range(kw):
            dxpad[:, i * d_h:i * d_h + st_h * (oh - 1) + 1:st_h,
                  j * d_w:j * d_w + st_w * (ow - 1) + 1:st_w] += dcols6[:, :, :, i, j]


class Conv2d(Function):
    """Cross-correlation out[n, o, y, x] = b[o] + Σ_{c,i,j} w[o, c, i, j]·xpad[n, c, sy+di, sx+dj]
    (what PyTorch and the CNN literature call convolution), with stride, zero padding,
    dilation and groups.

    Backward: dW = patchesᵀ·g, db = Σ g, dx = col2im(g·Wᵀ).
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
        xpad = pad_channels_last(x.transpose(0, 2, 3, 1), *padding)
        m = n * oh * ow
        og = o // groups
        win = windows(xpad, kh, kw, oh, ow, stride, dilation)
        # weights as (groups, KH·KW·Cg, Og) to match the patch columns' (kh, kw, c) order
        wmat = weight.reshape(groups, og, cg, kh, kw).transpose(0, 3, 4, 2, 1)
        wmat = wmat.reshape(groups, kh * kw * cg, og)
        out = xp.empty((m, o), dtype=x.dtype)
        cols = []
        for gi in range(groups):
            wg = win if groups == 1 else win[..., gi * cg:(gi + 1) * cg]
            col = wg.reshape(m, kh * kw * cg)
            if groups == 1:
                xp.matmul(col, wmat[0], out=out)
            else:
                out[:, gi * og:(gi + 1) * og] = col @ wmat[gi]
            cols.append(col)
        if bias is not None:
            out += bias
        need = self.needs_grad
        if need:
            self.geom = (x.shape, xpad.shape, kh, kw, oh, ow, stride, padding, dilation, groups)
            self.cols = cols if need[1] else None
            self.wmat = wmat if need[0] else None
        return out.reshape(n, oh, ow, o).transpose(0, 3, 1, 2)

    def backward(self, g):
        xshape, pshape, kh, kw, oh, ow, stride, padding, dilation, groups = self.geom
        n, c, h, w = xshape
        o = g.shape[1]
        og, cg = o // groups, c // groups
        g2 = xp.ascontiguousarray(g.transpose(0, 2, 3, 1)).reshape(-1, o)
        need = self.needs_grad
        gx = gw = gb = None
        if len(need) > 2 and need[2]:
            gb = g2.sum(axis=0)
        if need[1]:
            gw = xp.empty((groups, kh * kw * cg, og), dtype=g.dtype)
            for gi, col in enumerate(self.cols):
                gg = g2 if groups == 1 else g2[:, gi * og:(gi + 1) * og]
                xp.matmul(col.T, gg, out=gw[gi])
            gw = gw.reshape(groups, kh, kw, cg, og).transpose(0, 4, 3, 1, 2).reshape(o, cg, kh, kw)
        if need[0]:
            dxpad = xp.zeros(pshape, dtype=g.dtype)
            for gi in range(groups):
                gg = g2 if groups == 1 else g2[:, gi * og:(gi + 1) * og]
                dcols = (gg @ self.wmat[gi].T).reshape(n, oh, ow, kh, kw, cg)
                target = dxpad if groups == 1 else dxpad[..., gi * cg:(gi + 1) * cg]
                col2im_add(target, dcols, stride, dilation)
            ph, pw = padding
            gx = dxpad[:, ph:ph + h, pw:pw + w].transpose(0, 3, 1, 2)
        return gx, gw, gb


def _pool_geometry(x, kernel_size, stride, padding, dilation, ceil_mode, name):
    if x.ndim not in (3, 4):
        raise ShapeError(f"{name} expects (N, C, H, W) or (C, H, W), got {x.shape}")
    if ceil_mode:
        raise NotImplementedError(f"{name}: ceil_mode=True is not supported")
    k = pair(kernel_size, "kernel_size")
    s = k if stride is None or stride == () else pair(stride, "stride")
    p, d = pair(padding, "padding"), pair(dilation, "dilation")
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{name}: padding {p} must be at most half the kernel size {k}")
    h, w = x.shape[-2:]
    oh, ow = out_size(h, k[0], s[0], p[0], d[0]), out_size(w, k[1], s[1], p[1], d[1])
    if oh <= 0 or ow <= 0:
        raise ShapeError(f"{name}: input {x.shape} is smaller than the window {k}")
    return k, s, p, d, oh, ow


def _pad_hw(x, p, value):
    if not p[0] and not p[1]:
        return x
    h, w = x.shape[-2:]
    out = xp.full(x.shape[:-2] + (h + 2 * p[0], w + 2 * p[1]), value, dtype=x.dtype)
    out[..., p[0]:p[0] + h, p[1]:p[1] + w] = x
    return out


def _offsets(k, s, d, oh, ow):
    """Index slices (over H, W) that pick kernel tap (i, j) of every window."""
    for i in range(k[0]):
        for j in range(k[1]):
            yield (Ellipsis, slice(i * d[0], i * d[0] + s[0] * (oh - 1) + 1, s[0]),
                   slice(j * d[1], j * d[1] + s[1] * (ow - 1) + 1, s[1]))


class MaxPool2d(Function):
    """out = max over each window (padding counts as −∞). The gradient goes to the first
    maximal element of each window, as in PyTorch."""

    def forward(self, x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        k, s, p, d, oh, ow = _pool_geometry(x, kernel_size, stride, padding, dilation,
                                            ceil_mode, "max_pool2d")
        xpad = _pad_hw(x, p, -xp.inf)
        out = None
        arg = None
        need = bool(self.needs_grad)
        for t, sl in enumerate(_offsets(k, s, d, oh, ow)):
            tap = xpad[sl]
            if out is None:
                out = tap.copy(order="K")
                if need:
                    arg = xp.zeros(out.shape, dtype=xp.uint8 if k[0] * k[1] < 256 else xp.int32)
                continue
            if need:
                better = tap > out
                xp.copyto(arg, t, where=better)
                xp.copyto(out, tap, where=better)
            else:
                xp.maximum(out, tap, out=out)
        if need:
            self.geom = (x.shape, xpad.shape, k, s, p, d, oh, ow)
            self.arg = arg
            self.like = xpad
        return out

    def backward(self, g):
        xshape, pshape, k, s, p, d, oh, ow = self.geom
        dx = xp.zeros_like(self.like, dtype=g.dtype)
        zero = xp.zeros((), dtype=g.dtype)
        arg = self.arg
        overlap = s[0] < d[0] * (k[0] - 1) + 1 or s[1] < d[1] * (k[1] - 1) + 1
        for t, sl in enumerate(_offsets(k, s, d, oh, ow)):
            hit = arg == t
            if overlap:
                dx[sl] += xp.where(hit, g, zero)
            else:
                xp.copyto(dx[sl], g, where=hit)
        h, w = xshape[-2:]
        return dx[..., p[0]:p[0] + h, p[1]:p[1] + w]


class AvgPool2d(Function):
    """out = mean over each window. With count_include_pad (PyTorch's default) the divisor is
    always kh·kw; without it, the number of real (unpadded) pixels in the window."""

    def forward(self, x, kernel_size, stride=None, padding=0, ceil_mode=False,
                count_include_pad=True, divisor_override=None):
        k, s, p, d, oh, ow = _pool_geometry(x, kernel_size, stride, padding, 1, ceil_mode,
                                            "avg_pool2d")
        xpad = _pad_hw(x, p, 0)
        out = None
        for sl in _offsets(k, s, d, oh, ow):
            tap = xpad[sl]
            if out is None:
                out = tap.copy(order="K")
            else:
                out += tap
        if divisor_override:
            div = xp.asarray(divisor_override, dtype=x.dtype)
        elif count_include_pad or not (p[0] or p[1]):
            div = xp.asarray(k[0] * k[1], dtype=x.dtype)
        else:
            ones = _pad_hw(xp.ones(x.shape[-2:], dtype=x.dtype), p, 0)
            div = sum(ones[sl] for sl in _offsets(k, s, d, oh, ow))
        out /= div
        if self.needs_grad:
            self.geom = (x.shape, k, s, p, d, oh, ow)
            self.div = div
            self.like = xpad
        return out

    def backward(self, g):
        xshape, k, s, p, d, oh, ow = self.geom
        dx = xp.zeros_like(self.like, dtype=g.dtype)
        share = g / self.div
        for sl in _offsets(k, s, d, oh, ow):
            dx[sl] += share
        h, w = xshape[-2:]
        return dx[..., p[0]:p[0] + h, p[1]:p[1] + w]
