"""Normalization primitives: batch norm, layer norm, RMS norm, group norm and local response
norm.

Batch, layer and group norm share one core: standardize x over some axes,
x̂ = (x − μ)·σ⁻¹ with σ = √(var + eps) (the biased variance), then scale and shift by a
per-channel (or per-element) weight and bias. Its backward is the closed form

    dx = σ⁻¹ · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂))      (means over the normalized axes)

with dx̂ = g·w, dw = Σ g·x̂ and db = Σ g over the axes the parameter is broadcast along.

Layout: every full-size array made here is allocated like x (``empty_like``, order "K")
and small broadcast factors are laid out in x's axis order, so the batch-last output of a
convolution stays batch-last (the next convolution reads it without a copy) and no ufunc
iterates against the memory order. Reductions are NumPy sums over an axis tuple and
einsums for sums of products (no temporary), which walk memory in its own order whatever
the layout. Group norm splits the channel axis into (groups, channels per group) — a view
for any strides — instead of flattening.
"""

from __future__ import annotations

import numbers

from .. import backend, distributed
from ..autograd import Function, Tensor
from ..backend import buffers
from ..errors import ShapeError
from ..kernels import norm as knorm
from ..kernels import sharing


# ---- the shared core --------------------------------------------------------------------
def _count(shape, axes):
    n = 1
    for ax in axes:
        n *= shape[ax]
    return n


def _padded(need):
    """needs_grad for (x, weight, bias), whether or not weight and bias were passed."""
    return tuple(need) + (False,) * (3 - len(need))


def _dot(a, b, keep):
    """Σ a·b over every axis not in ``keep`` (a and b of one shape), with the kept axes'
    dims kept as size 1 elsewhere: one pass, no temporary (einsum), any memory layout."""
    idx = list(range(a.ndim))
    out = backend.namespace(a).einsum(a, idx, b, idx, list(keep))
    return out.reshape(tuple(n if i in keep else 1 for i, n in enumerate(a.shape)))


def _center(x, axes, eps):
    """(x − μ, σ⁻¹, μ, var): μ and the biased variance over ``axes`` (dims kept), computed
    in two passes (accurate)."""
    xp = backend.namespace(x)
    keep = tuple(i for i in range(x.ndim) if i not in axes)
    n = backend.scalar(max(_count(x.shape, axes), 1), x.dtype)
    mean = x.sum(axis=axes, keepdims=True, dtype=x.dtype) / n  # mean()'s Python costs more
    xc = xp.subtract(x, mean, out=buffers.empty_like(x))
    var = _dot(xc, xc, keep) / n
    return xc, 1 / xp.sqrt(var + backend.scalar(eps, x.dtype)), mean, var


def _match(small, like):
    """A small broadcast factor (e.g. (N, G, C/G, 1, 1)) laid out in ``like``'s axis order.

    NumPy iterates a big array and a factor of conflicting axis orders (N innermost in a
    batch-last x, outermost in a C-ordered factor) about 8x slower than matching ones."""
    if sum(n > 1 for n in small.shape) < 2:
        return small
    order = sorted(range(like.ndim), key=lambda i: -like.strides[i])  # outermost first
    out = backend.namespace(small).ascontiguousarray(small.transpose(order))
    return out.transpose(tuple(order.index(i) for i in range(like.ndim)))


def _scale_shift(xc, scale, shift):
    """xc·scale + shift (shift may be None), a new array in xc's memory order."""
    out = backend.namespace(xc).multiply(xc, scale, out=buffers.empty_like(xc))
    if shift is not None:
        out += shift
    return out


# ---- primitives ---------------------------------------------------------------------------
def channel_view(a):
    """The (A, C, B) view of an (N, C, *) array that the batch-norm kernels take, channels in
    the middle: (N, C, rest) for a C-ordered array, (1, C, rest·N) for a batch-last one (the
    transposed view of a C-ordered (C, *, N) array); None for any other layout."""
    if a.flags.c_contiguous:
        return a.reshape(a.shape[0], a.shape[1], -1)
    t = a.transpose(1, *range(2, a.ndim), 0)
    if t.flags.c_contiguous:
        return t.reshape(1, a.shape[1], -1)
    return None


def _in_layout_of(a, like3, like):
    """``a`` (shaped like ``like``) as the (A, C, B) view of an array laid out like ``like``,
    whose view is ``like3``: a free view when a's layout matches, else a copy."""
    a3 = channel_view(a)
    if a3 is not None and a3.shape == like3.shape:
        return a3
    out = buffers.empty_like(like)
    out[...] = a
    return channel_view(out)


def _from_view(a3, shape, batch_last):
    """The (A, C, B) array a3 as an array of ``shape`` (N, C, *): C-ordered, or the
    transposed view of a (C, *, N) array when ``batch_last``."""
    if not batch_last:
        return a3.reshape(shape)
    return a3.reshape(*shape[1:], shape[0]).transpose(len(shape) - 1, *range(len(shape) - 1))


def _stats_across_ranks(x3):
    """μ and the biased variance per channel of x3 (A, C, B) over the batch of every process
    of the job (the shares of one global batch): the channel sums and the count in one
    all-reduce, the sums of squares about the global mean in a second. Returns (μ, var, the
    global count)."""
    xp = backend.namespace(x3)
    sums = x3.sum(axis=(0, 2), dtype=x3.dtype)
    packed = xp.concatenate([sums.astype(xp.float64),
                             xp.asarray([x3.shape[0] * x3.shape[2]], dtype=xp.float64)])
    distributed.all_reduce_array(packed)
    m = int(round(float(packed[-1])))
    mean = (packed[:-1] / max(m, 1)).astype(x3.dtype)
    xc = x3 - mean[:, None]
    sq = distributed.all_reduce_array(xp.einsum("acb,acb->c", xc, xc))
    return mean, sq / backend.scalar(max(m, 1), x3.dtype), m


class BatchNorm(Function):
    """Batch normalization over every axis but 1 (the channels) of (N, C, *):
    out = x̂·w + b with x̂ = (x − μ)·σ⁻¹, σ = √(var + eps).

    ``training``: μ and var are the batch mean and biased variance; if ``running_mean`` and
    ``running_var`` (arrays of shape (C,)) are given they are updated in place,
    r ← (1 − momentum)·r + momentum·stat, with the *unbiased* variance for ``running_var``
    (as PyTorch). Otherwise μ and var are ``running_mean`` and ``running_var``.

    Backward (m values per channel, s = w·σ⁻¹): db = Σ g, dw = σ⁻¹·Σ g·(x − μ), and
    dx = s·(g − db/m − x̂·dw/m) with batch statistics, dx = s·g with given ones.
    The passes over the data are the kernels of :mod:`fovea.kernels.norm`, on the (A, C, B)
    view of x (:func:`channel_view`; an array of another layout is copied into C order
    first): forward keeps x and μ, and backward recomputes x − μ as it goes.

    ``sync`` (synchronized batch norm, training only): x is one process's share of a batch
    spread over the processes of a distributed job; μ, var, m and backward's Σ g and
    Σ g·(x − μ) are summed over all of them, so every share is normalized as the whole batch
    would be on one process.
    """

    def forward(self, x, weight=None, bias=None, running_mean=None, running_var=None,
                training=True, momentum=0.1, eps=1e-5, sync=False):
        c = x.shape[1]
        m = x.size // c if c else 0
        dt = x.dtype
        xp = backend.namespace(x)
        sync = bool(sync and training and distributed.world_size() > 1)
        x3 = channel_view(x)
        if x3 is None:
            x = xp.ascontiguousarray(x)
            x3 = channel_view(x)
        if training:
            if sync:
                mean, var, m = _stats_across_ranks(x3)
            if m <= 1:
                raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                                 f"training, got input of shape {x.shape}")
            if not sync:
                mean, var = _stats(x3)
            mom = float(momentum)
            if running_mean is not None:
                running_mean *= 1 - mom
                running_mean += (mean * backend.scalar(mom, dt)).astype(running_mean.dtype)
            if running_var is not None:
                running_var *= 1 - mom
                running_var += (var * backend.scalar(mom * m / (m - 1), dt)).astype(
                    running_var.dtype)
        else:
            mean = running_mean.astype(dt, copy=False)
            var = running_var.astype(dt, copy=False)
        invstd = 1 / xp.sqrt(var + backend.scalar(eps, dt))
        scale = invstd if weight is None else invstd * weight
        shift = xp.zeros(c, dt) if bias is None else bias.astype(dt, copy=False)
        out3 = buffers.empty(x3.shape, dt, x3)
        _apply(x3, mean, scale, shift, out3)
        batch_last = not x.flags.c_contiguous
        if self.needs_grad:
            self.training, self.m, self.sync = training, m, sync
            self.x, self.x3, self.mean, self.invstd, self.scale = x, x3, mean, invstd, scale
            self.batch_last = batch_last
        return _from_view(out3, x.shape, batch_last)

    def backward(self, g):
        need = _padded(self.needs_grad)
        x3, invstd, scale = self.x3, self.invstd, self.scale
        xp = backend.namespace(g)
        g3 = _in_layout_of(g, x3, self.x)
        gx = gw = gb = None
        db = dw = None
        if need[1] or need[2] or (need[0] and self.training):
            db, dw = _grad_sums(g3, x3, self.mean)
            dw = dw * invstd
        if need[0]:
            gx3 = buffers.empty(x3.shape, g.dtype, g)
            zero = xp.zeros_like(scale)
            if self.training:
                db_x, dw_x = db, dw
                if self.sync:  # dx needs the whole batch's Σ g and Σ g·x̂ (one all-reduce);
                    # the weight's and bias's own gradients stay this process's share, summed
                    # across processes with the other parameters' (DistributedDataParallel)
                    both = distributed.all_reduce_array(xp.concatenate([db, dw]))
                    db_x, dw_x = both[:db.size], both[db.size:]
                inv_m = backend.scalar(1.0 / self.m, g.dtype)
                # dx = s·(g − db/m) − (s·σ⁻¹·dw/m)·(x − μ)
                a, b, c = scale, scale * invstd * dw_x * inv_m, scale * db_x * inv_m
                sharing.split(a.size, lambda lo, hi: knorm.grad_input(
                    g3[:, lo:hi], x3[:, lo:hi], self.mean[lo:hi], a[lo:hi], b[lo:hi], c[lo:hi],
                    gx3[:, lo:hi]), g3)
            else:
                _apply(g3, zero, scale, zero, gx3)
            gx = _from_view(gx3, self.x.shape, self.batch_last)
        if need[1]:
            gw = dw
        if need[2]:
            gb = db
        return gx, gw, gb


def _apply(x3, mean, scale, shift, out3):
    """out3 = (x3 − μ)·s + t per channel (knorm.apply), the channels shared by fovea's
    threads."""
    sharing.split(x3.shape[1], lambda lo, hi: knorm.apply(
        x3[:, lo:hi], mean[lo:hi], scale[lo:hi], shift[lo:hi], out3[:, lo:hi]), x3)


def _stats(x3):
    """Per-channel mean and (biased) variance of x3 (A, C, B), in x3's dtype (knorm.stats),
    the channels shared by fovea's threads."""
    xp = backend.namespace(x3)
    mean, var = xp.empty(x3.shape[1], x3.dtype), xp.empty(x3.shape[1], x3.dtype)

    def work(lo, hi):
        mean[lo:hi], var[lo:hi] = knorm.stats(x3[:, lo:hi])

    sharing.split(x3.shape[1], work, x3)
    return mean, var


def _grad_sums(g3, x3, mean):
    """(Σg, Σg·(x − μ)) per channel, in g3's dtype (knorm.grad_sums), the channels shared by
    fovea's threads."""
    xp = backend.namespace(g3)
    sg, sgx = xp.empty(g3.shape[1], g3.dtype), xp.empty(g3.shape[1], g3.dtype)

    def work(lo, hi):
        sg[lo:hi], sgx[lo:hi] = knorm.grad_sums(g3[:, lo:hi], x3[:, lo:hi], mean[lo:hi])

    sharing.split(g3.shape[1], work, g3)
    return sg, sgx


def _row_sums(a):
    """Σ over the last axis of a (…, F) array as a product with a ones vector: one BLAS call,
    where NumPy reduces short rows one at a time."""
    return a @ backend.namespace(a).ones(a.shape[-1], dtype=a.dtype)


class LayerNorm(Function):
    """Layer normalization over the last ``ndim`` axes, with an element-wise affine
    (weight and bias of shape x.shape[-ndim:], or None).

    Backward: with dx̂ = g·w, dx = σ⁻¹·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) (means over the
    normalized axes), dw = Σ g·x̂ and db = Σ g over the leading axes. A C-ordered x (a
    Transformer's activations) is a matrix of rows to normalize, whose row and column sums
    are products with ones vectors (forward a quarter faster at 768 × 128); other layouts
    reduce over the axes in their own memory order.
    """

    def forward(self, x, weight=None, bias=None, ndim=1, eps=1e-5):
        xp = backend.namespace(x)
        axes = tuple(range(x.ndim - ndim, x.ndim))
        f = _count(x.shape, axes)
        self.rows = x.flags.c_contiguous and x.size > 0
        if self.rows:
            inv_f = backend.scalar(1 / f, x.dtype)
            x2 = x.reshape(-1, f)
            xhat = x2 - (_row_sums(x2) * inv_f)[:, None]
            var = xp.einsum("ij,ij->i", xhat, xhat) * inv_f
            invstd = (1 / xp.sqrt(var + backend.scalar(eps, x.dtype)))[:, None]
            xhat *= invstd
            invstd = invstd.reshape(x.shape[:x.ndim - ndim] + (1,) * ndim)
            xhat = xhat.reshape(x.shape)
        else:
            xhat, invstd, _, _ = _center(x, axes, eps)
            xhat *= invstd
        if self.needs_grad:
            self.axes, self.lead, self.f = axes, tuple(range(x.ndim - ndim)), f
            self.xhat, self.invstd, self.w = xhat, invstd, weight
        if weight is None and bias is None:
            return xhat
        return _scale_shift(xhat, 1 if weight is None else weight, bias)

    def backward(self, g):
        need = _padded(self.needs_grad)
        xhat, axes, lead, f = self.xhat, self.axes, self.lead, self.f
        xp = backend.namespace(g)
        rows = self.rows and g.flags.c_contiguous
        gx = gw = gb = None
        if need[0]:
            dxhat = g if self.w is None else xp.multiply(g, self.w, out=buffers.empty_like(g))
            n = backend.scalar(f, g.dtype)
            if rows:
                d2, x2 = dxhat.reshape(-1, f), xhat.reshape(-1, f)
                a = (_row_sums(d2) / n).reshape(self.invstd.shape)
                b = (xp.einsum("ij,ij->i", d2, x2) / n).reshape(self.invstd.shape)
            else:
                a = dxhat.sum(axis=axes, keepdims=True) / n
                b = _dot(dxhat, xhat, lead) / n
            gx = xp.multiply(xhat, b, out=buffers.empty_like(xhat))
            gx += a
            xp.subtract(dxhat, gx, out=gx)
            gx *= self.invstd
        shape = xhat.shape[len(lead):]
        if need[1]:
            gw = xp.einsum("ij,ij->j", g.reshape(-1, f), xhat.reshape(-1, f)).reshape(shape) \
                if rows else _dot(g, xhat, axes).reshape(shape)
        if need[2]:
            gb = _row_sums(g.reshape(-1, f).T).reshape(shape) if rows else g.sum(axis=lead)
        return gx, gw, gb


class RMSNorm(Function):
    """Root-mean-square normalization over the last ``ndim`` axes (no centring), with an
    element-wise weight (shape x.shape[-ndim:], or None):

        out = x̂·w,  x̂ = x·r,  r = (mean(x²) + eps)^(−½).

    Backward: with dx̂ = g·w, dx = r·(dx̂ − x̂·mean(dx̂·x̂)) (the mean over the normalized
    axes) and dw = Σ g·x̂ over the leading axes.
    """

    def forward(self, x, weight=None, ndim=1, eps=1e-6):
        xp = backend.namespace(x)
        axes = tuple(range(x.ndim - ndim, x.ndim))
        lead = tuple(range(x.ndim - ndim))
        n = backend.scalar(max(_count(x.shape, axes), 1), x.dtype)
        r = 1 / xp.sqrt(_dot(x, x, lead) / n + backend.scalar(eps, x.dtype))
        xhat = xp.multiply(x, r, out=buffers.empty_like(x))
        if self.needs_grad:
            self.axes, self.lead, self.xhat, self.r, self.w = axes, lead, xhat, r, weight
        return xhat if weight is None else xhat * weight

    def backward(self, g):
        need = _padded(self.needs_grad)
        xhat, axes, lead = self.xhat, self.axes, self.lead
        xp = backend.namespace(g)
        gx = gw = None
        if need[0]:
            dxhat = g if self.w is None else xp.multiply(g, self.w, out=buffers.empty_like(g))
            b = _dot(dxhat, xhat, lead) / backend.scalar(_count(g.shape, axes), g.dtype)
            gx = xp.multiply(xhat, b, out=buffers.empty_like(xhat))
            xp.subtract(dxhat, gx, out=gx)
            gx *= self.r
        if need[1]:
            gw = _dot(g, xhat, axes).reshape(xhat.shape[len(lead):])
        return gx, gw


class GroupNorm(Function):
    """Group normalization of (N, C, *): the channels split into ``num_groups`` groups, each
    (sample, group) standardized over its channels and positions, then a per-channel affine.

    Works on the (N, G, C/G, *) view of x (a view for any memory layout). With dx̂ = g·w the
    backward is dx = σ⁻¹·(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) per (n, g); both means come
    from the per-(n, g, c) sums Σ g and Σ g·(x − μ), which also give dw and db.
    """

    def forward(self, x, weight=None, bias=None, num_groups=1, eps=1e-5):
        n, c = x.shape[:2]
        cg = c // num_groups
        split = (n, num_groups, cg) + x.shape[2:]
        xs = x.reshape(split)
        axes = tuple(range(2, xs.ndim))
        pshape = (1, num_groups, cg) + (1,) * (x.ndim - 2)
        w = None if weight is None else weight.reshape(pshape)
        b = None if bias is None else bias.reshape(pshape)
        xc, invstd, _, _ = _center(xs, axes, eps)
        out = _scale_shift(xc, _match(invstd if w is None else invstd * w, xc), b)
        if self.needs_grad:
            self.split, self.shape, self.w = split, x.shape, w
            self.xc, self.invstd = xc, invstd
        return out.reshape(x.shape)

    def backward(self, g):
        need = _padded(self.needs_grad)
        xc, invstd, w = self.xc, self.invstd, self.w
        gs = g.reshape(self.split)
        sp = tuple(range(3, gs.ndim))  # the positions
        gsum = gs.sum(axis=sp, keepdims=True)  # (N, G, C/G, 1…): Σ g
        gxc = _dot(gs, xc, (0, 1, 2))  # Σ g·(x − μ)
        c = self.shape[1]
        gx = gw = gb = None
        if need[0]:
            xp = backend.namespace(g)
            m = backend.scalar(_count(xc.shape, range(2, xc.ndim)), g.dtype)
            gw_ = gsum if w is None else gsum * w
            gxw = gxc if w is None else gxc * w
            a = gw_.sum(axis=2, keepdims=True) / m  # mean(dx̂)
            bb = gxw.sum(axis=2, keepdims=True) * invstd / m  # mean(dx̂·x̂)
            k1 = invstd if w is None else invstd * w
            # dx = σ⁻¹·w·g − σ⁻²·bb·(x − μ) − σ⁻¹·a
            gx = xp.multiply(gs, _match(k1, gs), out=buffers.empty_like(gs))
            t = xp.multiply(xc, _match(invstd * invstd * bb, xc), out=buffers.empty_like(xc))
            t += _match(invstd * a, xc)
            gx -= t
            gx = gx.reshape(self.shape)
        if need[1]:
            gw = (gxc * invstd).sum(axis=0).reshape(c)
        if need[2]:
            gb = gsum.sum(axis=0).reshape(c)
        return gx, gw, gb


def _channel_window_sum(a, before, after):
    """s[:, c] = Σ a[:, j] for j in [c − before, c + after] ∩ [0, C): one add per offset."""
    c = a.shape[1]
    s = a.copy(order="K")
    for off in range(1, min(after, c - 1) + 1):
        s[:, :c - off] += a[:, off:]
    for off in range(1, min(before, c - 1) + 1):
        s[:, off:] += a[:, :c - off]
    return s


class LocalResponseNorm(Function):
    """AlexNet's local response normalization across channels (PyTorch's semantics):

        out_c = x_c · d_c^(−β),  d_c = k + (α/size) · Σ_{j ∈ window(c)} x_j²,

    window(c) = [c − ⌊size/2⌋, c + ⌊(size−1)/2⌋] clipped to the channels (zero padding).
    Backward: dx_j = g_j·d_j^(−β) − (2αβ/size)·x_j·Σ_{c : j ∈ window(c)} g_c·x_c·d_c^(−β−1).
    """

    def forward(self, x, size=5, alpha=1e-4, beta=0.75, k=1.0):
        dt = x.dtype
        before, after = size // 2, (size - 1) // 2
        d = _channel_window_sum(backend.namespace(x).square(x), before, after)
        d *= backend.scalar(alpha / size, dt)
        d += backend.scalar(k, dt)
        dpow = d ** backend.scalar(-beta, dt)
        if self.needs_grad:
            self.x, self.d, self.dpow = x, d, dpow
            self.params = (before, after, alpha, beta, size)
        return x * dpow

    def backward(self, g):
        x, d, dpow = self.x, self.d, self.dpow
        before, after, alpha, beta, size = self.params
        t = g * x
        t *= dpow
        t /= d
        u = _channel_window_sum(t, after, before)  # the transposed window
        u *= x
        u *= backend.scalar(2 * alpha * beta / size, g.dtype)
        gx = g * dpow
        gx -= u
        return gx


# ---- functional wrappers (torch.nn.functional's names and signatures) -------------------------
def _as_tensor(x, name="input"):
    t = x if isinstance(x, Tensor) else Tensor(x)
    if not backend.is_floating(t.dtype):
        raise TypeError(f"{name} must be a floating tensor, got {t.dtype}")
    return t


def _params(fn, x, weight, bias, shape):
    """weight and bias as tensors of x's dtype and the given shape (or None)."""
    out = []
    for name, p in (("weight", weight), ("bias", bias)):
        if p is None:
            out.append(None)
            continue
        p = p if isinstance(p, Tensor) else Tensor(p)
        if p.dtype != x.dtype:
            raise TypeError(f"{fn}: dtype mismatch: input {x.dtype}, {name} {p.dtype}; "
                            "convert explicitly (.float() or .double())")
        if tuple(p.shape) != tuple(shape):
            raise ShapeError(f"{fn}: {name} of shape {tuple(p.shape)} does not fit input of "
                             f"shape {tuple(x.shape)} (expected {tuple(shape)})")
        out.append(p)
    return out


def _stat(fn, name, t, c, x):
    if t is None:
        return None
    arr = t.data if isinstance(t, Tensor) else t
    if tuple(arr.shape) != (c,):
        raise ShapeError(f"{fn}: {name} of shape {tuple(arr.shape)} does not fit input of "
                         f"shape {tuple(x.shape)} (expected ({c},))")
    return arr


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5, sync=False):
    """Batch normalization of (N, C, *) over every axis but the channels.

    With ``training`` the batch statistics are used and ``running_mean``/``running_var`` (if
    not None) are updated in place with ``momentum`` (unbiased variance, as PyTorch);
    otherwise the running statistics are used. With ``sync`` the batch is the union of every
    process's input in a distributed job (synchronized batch norm).
    """
    x = _as_tensor(input)
    if x.numel() == 0 and weight is None and bias is None:
        return x * 1  # nothing to normalize: a copy, running statistics untouched (as PyTorch)
    if x.ndim < 2:
        raise ShapeError(f"batch_norm expects input (N, C, *), got shape {tuple(x.shape)}")
    c = x.shape[1]
    rm = _stat("batch_norm", "running_mean", running_mean, c, x)
    rv = _stat("batch_norm", "running_var", running_var, c, x)
    if not training and (rm is None or rv is None):
        raise ValueError("batch_norm: running_mean and running_var are needed when not "
                         "training")
    w, b = _params("batch_norm", x, weight, bias, (c,))
    return BatchNorm.apply(x, w, b, running_mean=rm, running_var=rv, training=bool(training),
                           momentum=momentum, eps=eps, sync=sync)


def _shape_tuple(shape):
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(int(n) for n in shape)


def _trailing(fn, input, normalized_shape):
    """(input as a floating tensor, normalized_shape as a tuple), checked to be the input's
    last dimensions."""
    x = _as_tensor(input)
    shape = _shape_tuple(normalized_shape)
    d = len(shape)
    if d == 0 or x.ndim < d or tuple(x.shape[x.ndim - d:]) != shape:
        raise ShapeError(f"{fn}: input of shape {tuple(x.shape)} does not end in "
                         f"normalized_shape {shape}")
    return x, shape


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Layer normalization over the last len(normalized_shape) dimensions."""
    x, shape = _trailing("layer_norm", input, normalized_shape)
    w, b = _params("layer_norm", x, weight, bias, shape)
    return LayerNorm.apply(x, w, b, ndim=len(shape), eps=eps)


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """RMS normalization over the last len(normalized_shape) dimensions:
    x / √(mean(x²) + eps) · weight; ``eps`` None is the dtype's machine epsilon (PyTorch's
    default)."""
    x, shape = _trailing("rms_norm", input, normalized_shape)
    w, _ = _params("rms_norm", x, weight, None, shape)
    if eps is None:
        eps = float(backend.namespace(x.data).finfo(x.dtype).eps)
    return RMSNorm.apply(x, w, ndim=len(shape), eps=eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5):
    """Group normalization of (N, C, *) with ``num_groups`` groups of channels."""
    x = _as_tensor(input)
    if x.ndim < 2:
        raise ShapeError(f"group_norm expects input (N, C, *), got shape {tuple(x.shape)}")
    c = x.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise ShapeError(f"group_norm: {c} channels of input shape {tuple(x.shape)} are not "
                         f"divisible into {num_groups} groups")
    w, b = _params("group_norm", x, weight, bias, (c,))
    return GroupNorm.apply(x, w, b, num_groups=int(num_groups), eps=eps)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalization across channels of (N, C, *) (AlexNet; PyTorch's
    semantics: alpha is divided by size)."""
    x = _as_tensor(input)
    if x.ndim < 3:
        raise ShapeError(f"local_response_norm expects input (N, C, *) with at least 3 "
                         f"dimensions, got shape {tuple(x.shape)}")
    if int(size) < 1:
        raise ValueError(f"local_response_norm: size must be at least 1, got {size}")
    return LocalResponseNorm.apply(x, size=int(size), alpha=float(alpha), beta=float(beta),
                                   k=float(k))
