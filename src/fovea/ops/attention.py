"""Scaled dot-product attention as one primitive: out = dropout(softmax(q kᵀ · scale + M)) v.

One Function instead of a chain of matmul, add, softmax and dropout: the forward keeps only
the attention weights P (…, L, S) for backward, and the backward is four products,

    dV = Pᵈᵀ g,   dP = (g vᵀ) · D,   dS = P · (dP − Σ_s dP·P),   dq = dS k · scale,
    dk = dSᵀ q · scale   (and dM = dS for an additive mask),

where D is the dropout mask and Pᵈ = P · D. A row whose keys are all masked out gets zero
weights and a zero output (PyTorch's math backend since 2.5), not NaN.
"""

from __future__ import annotations

import math

from .. import backend
from ..autograd import Function, Tensor, unbroadcast
from ..errors import ShapeError
from .dropout import check_p, keep_mask


def _broadcast_batch(*shapes):
    """The broadcast of the batch dimensions (all but the last two) of ``shapes``, or None."""
    first = shapes[0][:-2]
    if all(shape[:-2] == first for shape in shapes):  # the usual case, at a per-token cost
        return first
    out = ()
    for shape in shapes:
        batch = shape[:-2]
        n = max(len(out), len(batch))
        a, b = (1,) * (n - len(out)) + out, (1,) * (n - len(batch)) + batch
        if any(x != y and 1 not in (x, y) for x, y in zip(a, b)):
            return None
        out = tuple(max(x, y) if 1 not in (x, y) else x * y for x, y in zip(a, b))
    return out


def _check_shapes(q, k, v, mask):
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ShapeError(f"scaled_dot_product_attention needs (…, L, E) query, (…, S, E) key "
                         f"and (…, S, Ev) value, got {q.shape}, {k.shape}, {v.shape}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2] \
            or _broadcast_batch(q.shape, k.shape, v.shape) is None:
        raise ShapeError(f"scaled_dot_product_attention: query {q.shape}, key {k.shape} and "
                         f"value {v.shape} do not fit (…, L, E), (…, S, E), (…, S, Ev)")
    scores = (*_broadcast_batch(q.shape, k.shape), q.shape[-2], k.shape[-2])
    if mask is not None:
        if mask.ndim > len(scores) or any(
                m not in (1, s) for m, s in zip(mask.shape[::-1], scores[::-1])):
            raise ShapeError(f"scaled_dot_product_attention: attn_mask of shape {mask.shape} "
                             f"does not broadcast to the attention scores {scores}")


def _row_max(s):
    """max over the last axis (keepdims) by halving: a maximum of the two halves, log₂ S
    times. NumPy reduces a short last axis row by row, several times slower."""
    xp = backend.namespace(s)
    n = s.shape[-1]
    if n <= 1:
        return s.copy()  # never a view: the caller writes into the maximum
    while n > 1:
        h = n // 2
        m = xp.maximum(s[..., :h], s[..., h:2 * h])
        if n % 2:
            xp.maximum(m[..., :1], s[..., 2 * h:], out=m[..., :1])
        s, n = m, h
    return s


def _row_sum(a):
    """Σ over the last axis (keepdims), as a product with a ones vector (a BLAS pass)."""
    xp = backend.namespace(a)
    return a @ xp.ones((a.shape[-1], 1), dtype=a.dtype)


_CAUSAL_BIASES = {}
"""(L, S, dtype, device) → the read-only causal bias: generation prefills the same shape per
token, and building it (``triu``) cost a fifth of a 64-token attention."""


def _causal_bias(shape, dtype, xp, device):
    """The (L, S) additive causal mask: −inf above the diagonal (the future), 0 elsewhere."""
    key = (*shape, dtype, device)
    bias = _CAUSAL_BIASES.get(key)
    if bias is None:
        if len(_CAUSAL_BIASES) >= 64:  # bounded: a caller sweeping lengths keeps the newest
            _CAUSAL_BIASES.clear()
        bias = xp.triu(xp.full(shape, -xp.inf, dtype=dtype), 1)
        if hasattr(bias, "flags"):
            bias.flags.writeable = False  # shared between calls
        _CAUSAL_BIASES[key] = bias
    return bias


def _masked_softmax(s, masked=True):
    """softmax over the last axis, in place on ``s``; a row that is all −inf becomes zeros.
    Without a mask (``masked`` False; a causal one leaves each query its first key) no row
    can be, and the checks are skipped."""
    xp = backend.namespace(s)
    if s.shape[-1] == 0:
        return s
    m = _row_max(s)
    dead = ~xp.isfinite(m) if masked else None
    if masked and dead.any():
        m[dead] = 0
    s -= m
    xp.exp(s, out=s)
    total = _row_sum(s)
    if masked and dead.any():
        total[total == 0] = 1
    s /= total
    return s


class ScaledDotProductAttention(Function):
    """softmax(q kᵀ · scale + M) v for q (…, L, E), k (…, S, E), v (…, S, Ev); M an additive
    float mask (differentiable) or None, ``causal`` the lower-triangular (L, S) mask."""

    def forward(self, q, k, v, mask=None, causal=False, scale=1.0, dropout_p=0.0):
        xp = backend.namespace(q)
        s = (q * backend.scalar(scale, q.dtype)) @ xp.swapaxes(k, -1, -2)
        if mask is not None:
            s += mask
        if causal:  # an add: a boolean-mask assignment costs ten times as much
            s += _causal_bias(s.shape[-2:], s.dtype, xp, backend.device_of(s))
        p = _masked_softmax(s, masked=mask is not None)
        drop = keep_mask(p, p.shape, dropout_p) if dropout_p > 0 else None
        pd = p * drop if drop is not None else p
        if self.needs_grad:
            self.q, self.k, self.v, self.p, self.drop = q, k, v, p, drop
            self.scale, self.mask_shape = scale, None if mask is None else mask.shape
        return pd @ v

    def backward(self, g):
        xp = backend.namespace(g)
        q, k, v, p, drop = self.q, self.k, self.v, self.p, self.drop
        pd = p * drop if drop is not None else p
        dv = unbroadcast(xp.swapaxes(pd, -1, -2) @ g, v.shape) if self.needs_grad[2] else None
        dp = g @ xp.swapaxes(v, -1, -2)
        if drop is not None:
            dp *= drop
        ds = dp
        ds -= _row_sum(dp * p)
        ds *= p
        dmask = unbroadcast(ds, self.mask_shape) \
            if self.mask_shape is not None and self.needs_grad[3] else None
        c = backend.scalar(self.scale, ds.dtype)
        dq = dk = None
        if self.needs_grad[0]:
            dq = unbroadcast(ds @ k, q.shape)
            dq *= c  # in place: a fresh product (or its sum)
        if self.needs_grad[1]:
            dk = unbroadcast(xp.swapaxes(ds, -1, -2) @ q, k.shape)
            dk *= c
        return dq, dk, dv, dmask


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None):
    """torch.nn.functional.scaled_dot_product_attention: softmax(q kᵀ / √E + M) v.

    ``attn_mask`` is boolean (True: the query may attend to that key) or additive (added to
    the scores), broadcast to (…, L, S); ``is_causal`` masks out the keys after each query
    (the top-left aligned lower triangle, as PyTorch); ``scale`` defaults to 1/√E. Dropout
    with probability ``dropout_p`` acts on the attention weights (always, as PyTorch's
    functional form: pass 0 at evaluation).
    """
    q, k, v = (t if isinstance(t, Tensor) else Tensor(t) for t in (query, key, value))
    if not (q.dtype == k.dtype == v.dtype) or not backend.is_floating(q.dtype):
        raise TypeError(f"scaled_dot_product_attention needs query, key and value of one "
                        f"floating dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass either attn_mask or "
                         "is_causal=True, not both")
    p = check_p(dropout_p)
    mask = None
    if attn_mask is not None:
        m = attn_mask if isinstance(attn_mask, Tensor) else Tensor(attn_mask)
        if m.dtype == bool:
            xp = backend.namespace(m.data)
            m = Tensor(xp.where(m.data, backend.scalar(0.0, q.dtype),
                                backend.scalar(-math.inf, q.dtype)))
        elif m.dtype != q.dtype:
            raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool or "
                            f"{q.dtype} like the query, got {m.dtype}")
        mask = m
    _check_shapes(q, k, v, mask)
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1]) if q.shape[-1] else 1.0
    return ScaledDotProductAttention.apply(q, k, v, mask, causal=bool(is_causal),
                                           scale=float(scale), dropout_p=p)
