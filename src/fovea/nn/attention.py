"""nn.MultiheadAttention: PyTorch's layer, parameters and semantics over fovea's ops.

    head_i = softmax((X_q W_q,i)(X_k W_k,i)ᵀ / √d + M) (X_v W_v,i),   out = [head_1 … head_h] W_o

The heads are one batched product: the projections are reshaped to (N, h, T, d) (d = E/h)
without a loop. When the weights are not asked for, the product is the fused
F.scaled_dot_product_attention (it keeps only the weights for backward); otherwise it is
matmul, softmax and dropout, so that the weights can be returned.
"""

from __future__ import annotations

import math

from .. import backend
from ..autograd import Tensor
from ..backend import get_default_dtype
from ..errors import ShapeError
from ..ops import cat, expand, linear, matmul, mean, pad, permute, reshape, softmax
from ..ops.attention import scaled_dot_product_attention
from ..ops.dropout import check_p, dropout
from . import init
from .layers import Linear
from .module import Module, Parameter


def additive_mask(mask, dtype, name: str):
    """A mask as a float Tensor added to the attention scores: a boolean mask's True entries
    (the positions NOT attended, PyTorch's convention for these layers) become −inf and the
    others 0; a float mask is already additive. None stays None."""
    if mask is None:
        return None
    m = mask if isinstance(mask, Tensor) else Tensor(mask)
    if m.dtype == bool:
        xp = backend.namespace(m.data)
        return Tensor(xp.where(m.data, backend.scalar(-math.inf, dtype),
                               backend.scalar(0.0, dtype)))
    if not backend.is_floating(m.dtype):
        raise TypeError(f"only bool and floating types of {name} are supported, got {m.dtype}")
    if m.dtype != dtype:
        raise TypeError(f"{name} of dtype {m.dtype} does not match the query's {dtype}")
    return m


def causal_mask(size: int, keys: int | None = None, dtype=None, device=None) -> Tensor:
    """The (size, keys) additive mask of a causal model (keys = size by default): −inf above
    the diagonal (query i may not attend to key j > i), 0 on and below it."""
    keys = size if keys is None else keys
    with backend.on(device) as xp:
        m = xp.triu(xp.full((size, keys), -math.inf, dtype=dtype or get_default_dtype()), 1)
    return Tensor(m)


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


class MultiheadAttention(Module):
    """torch.nn.MultiheadAttention: ``num_heads`` heads of width embed_dim/num_heads.

    Parameters as PyTorch: ``in_proj_weight`` (3E, E) (or ``q_proj_weight``,
    ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim) when kdim or vdim differ from E),
    ``in_proj_bias`` (3E), ``out_proj`` (a Linear), ``bias_k``/``bias_v`` (1, 1, E) with
    ``add_bias_kv``. Init: xavier_uniform_ on the input projections, zero biases,
    xavier_normal_ on bias_k/bias_v. Inputs are (L, N, E) — (N, L, E) with ``batch_first`` —
    or unbatched (L, E).
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim=None, vdim=None,
                 batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim must be divisible by num_heads, got {embed_dim} "
                             f"and {num_heads}")
        dtype = dtype or get_default_dtype()
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.dropout, self.batch_first = check_p(dropout), batch_first
        self.head_dim = embed_dim // num_heads
        e = embed_dim
        with backend.on(device) as xp:
            if self._qkv_same_embed_dim:
                self.in_proj_weight = Parameter(xp.empty((3 * e, e), dtype=dtype))
                for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                    self.register_parameter(name, None)
            else:
                self.q_proj_weight = Parameter(xp.empty((e, e), dtype=dtype))
                self.k_proj_weight = Parameter(xp.empty((e, self.kdim), dtype=dtype))
                self.v_proj_weight = Parameter(xp.empty((e, self.vdim), dtype=dtype))
                self.register_parameter("in_proj_weight", None)
            if bias:
                self.in_proj_bias = Parameter(xp.empty((3 * e,), dtype=dtype))
            else:
                self.register_parameter("in_proj_bias", None)
            self.out_proj = Linear(e, e, bias=bias, device=device, dtype=dtype)
            if add_bias_kv:
                self.bias_k = Parameter(xp.empty((1, 1, e), dtype=dtype))
                self.bias_v = Parameter(xp.empty((1, 1, e), dtype=dtype))
            else:
                self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    # ---- checks ------------------------------------------------------------------------------
    def _check(self, q, k, v, key_padding_mask, attn_mask):
        """PyTorch's shape rules (batched (·, ·, E) or unbatched (·, E)), as ShapeErrors
        naming the shapes; True when batched."""
        shapes = f"query {q.shape}, key {k.shape}, value {v.shape}"
        if q.ndim not in (2, 3) or k.ndim != q.ndim or v.ndim != q.ndim:
            raise ShapeError(f"MultiheadAttention: query, key and value must all be 3-D "
                             f"(batched) or all 2-D (unbatched), got {shapes}")
        batched = q.ndim == 3
        if q.shape[-1] != self.embed_dim or k.shape[-1] != self.kdim \
                or v.shape[-1] != self.vdim:
            raise ShapeError(f"MultiheadAttention: expected feature sizes embed_dim="
                             f"{self.embed_dim}, kdim={self.kdim}, vdim={self.vdim}, got "
                             f"{shapes}")
        if k.shape[:-1] != v.shape[:-1] or (batched and self._batch(q) != self._batch(k)):
            raise ShapeError(f"MultiheadAttention: key and value must have the same sequence "
                             f"length and batch size as each other and the query the same "
                             f"batch size, got {shapes}")
        n, lq, s = (self._batch(q), self._len(q), self._len(k)) if batched \
            else (1, q.shape[0], k.shape[0])
        if key_padding_mask is not None:
            want = (n, s) if batched else (s,)
            if tuple(key_padding_mask.shape) != want:
                raise ShapeError(f"MultiheadAttention: key_padding_mask of shape "
                                 f"{tuple(key_padding_mask.shape)} does not fit {shapes} "
                                 f"(expected {want})")
        if attn_mask is not None:
            m = tuple(attn_mask.shape)
            if m not in ((lq, s), (n * self.num_heads, lq, s)):
                raise ShapeError(f"MultiheadAttention: attn_mask of shape {m} does not fit "
                                 f"{shapes} (expected {(lq, s)} or "
                                 f"{(n * self.num_heads, lq, s)})")
        return batched

    def _batch(self, x):
        return x.shape[0] if self.batch_first else x.shape[1]

    def _len(self, x):
        return x.shape[1] if self.batch_first else x.shape[0]

    # ---- forward -----------------------------------------------------------------------------
    def _project(self, q, k, v):
        """The input projections, one GEMM for self-attention (q, k and v the same tensor)."""
        e, w, b = self.embed_dim, self.in_proj_weight, self.in_proj_bias
        bq, bk, bv = (None,) * 3 if b is None else (b[:e], b[e:2 * e], b[2 * e:])
        if not self._qkv_same_embed_dim:
            return (linear(q, self.q_proj_weight, bq), linear(k, self.k_proj_weight, bk),
                    linear(v, self.v_proj_weight, bv))
        if q is k and k is v:
            qkv = linear(q, w, b)
            return qkv[..., :e], qkv[..., e:2 * e], qkv[..., 2 * e:]
        return linear(q, w[:e], bq), linear(k, w[e:2 * e], bk), linear(v, w[2 * e:], bv)

    def _heads(self, x, bf):
        """(N, T, E) (or (T, N, E)) → (N, h, T, d)."""
        x = reshape(x, (x.shape[0], x.shape[1], self.num_heads, self.head_dim))
        return permute(x, (0, 2, 1, 3) if bf else (1, 2, 0, 3))

    def _mask(self, attn_mask, key_padding_mask, n, extra, dtype):
        """attn_mask ((L, S) or (N·h, L, S)) and key_padding_mask ((N, S)) as one additive
        mask broadcasting to the scores (N, h, L, S + extra), or None; the ``extra`` keys
        (add_bias_kv, add_zero_attn) are never masked."""
        mask = additive_mask(attn_mask, dtype, "attn_mask")
        if mask is not None and mask.ndim == 3:
            mask = reshape(mask, (n, self.num_heads, *mask.shape[1:]))
        pad_mask = additive_mask(key_padding_mask, dtype, "key_padding_mask")
        if pad_mask is not None:
            pad_mask = reshape(pad_mask, (n, 1, 1, pad_mask.shape[-1]))
        if extra:
            mask = None if mask is None else pad(mask, (0, extra))
            pad_mask = None if pad_mask is None else pad(pad_mask, (0, extra))
        if pad_mask is not None:
            mask = pad_mask if mask is None else mask + pad_mask
        return mask

    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True,
                attn_mask=None, average_attn_weights: bool = True, is_causal: bool = False):
        """(output, weights): output like the query; weights (N, L, S) averaged over the heads
        (or (N, h, L, S) without ``average_attn_weights``), None without ``need_weights``.

        Masks as PyTorch: ``key_padding_mask`` (N, S), ``attn_mask`` (L, S) or (N·h, L, S);
        boolean True marks a position that is NOT attended, a float mask is added to the
        scores. ``is_causal`` without ``attn_mask`` applies the causal mask (PyTorch asks
        for the mask too; given one, fovea uses the mask as it is).
        """
        q, k, v = (_as_tensor(t) for t in (query, key, value))
        kpm = None if key_padding_mask is None else _as_tensor(key_padding_mask)
        am = None if attn_mask is None else _as_tensor(attn_mask)
        batched = self._check(q, k, v, kpm, am)
        bf = self.batch_first or not batched
        keys = k.shape[1] if batched and self.batch_first else k.shape[0]
        if not batched:  # as a batch of one, batch first
            q, k, v = (reshape(t, (1, *t.shape)) for t in (q, k, v))
            kpm = None if kpm is None else reshape(kpm, (1, *kpm.shape))
        n, lq = (q.shape[0], q.shape[1]) if bf else (q.shape[1], q.shape[0])
        h = self.num_heads
        dt = q.dtype

        qp, kp, vp = self._project(q, k, v)
        if self.bias_k is not None:  # one more key and value, learned
            one = (n, 1, self.embed_dim) if bf else (1, n, self.embed_dim)
            kp = cat([kp, expand(self.bias_k, one)], dim=1 if bf else 0)
            vp = cat([vp, expand(self.bias_v, one)], dim=1 if bf else 0)
        qh, kh, vh = self._heads(qp, bf), self._heads(kp, bf), self._heads(vp, bf)
        if self.add_zero_attn:  # one more key and value, zero
            with backend.on(qh.device) as xp:
                zero = Tensor(xp.zeros((n, h, 1, self.head_dim), dtype=dt))
            kh, vh = cat([kh, zero], dim=2), cat([vh, zero], dim=2)
        extra = kh.shape[2] - keys  # the keys added by add_bias_kv and add_zero_attn

        causal_only = is_causal and am is None and kpm is None and not extra \
            and not need_weights  # SDPA's own causal masking, no mask array
        if is_causal and am is None and not causal_only:
            am = causal_mask(lq, keys, dt, q.device)
        mask = self._mask(am, kpm, n, extra, dt)
        p = self.dropout if self.training else 0.0

        weights = None
        if need_weights:
            scores = matmul(qh * (1.0 / math.sqrt(self.head_dim)), kh.transpose(-2, -1))
            if mask is not None:
                scores = scores + mask
            weights = softmax(scores, dim=-1)
            if p > 0:
                weights = dropout(weights, p, True)
            o = matmul(weights, vh)
            if average_attn_weights:
                weights = mean(weights, dim=1)
            if not batched:
                weights = reshape(weights, weights.shape[1:])
        else:
            o = scaled_dot_product_attention(qh, kh, vh, attn_mask=mask, dropout_p=p,
                                             is_causal=causal_only)
        # (N, h, L, d) → (N, L, E) or (L, N, E)
        o = permute(o, (0, 2, 1, 3) if bf else (2, 0, 1, 3))
        out = self.out_proj(reshape(o, (*o.shape[:2], self.embed_dim)))
        if not batched:
            out = reshape(out, out.shape[1:])
        return out, weights

    def extra_repr(self) -> str:
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, "
                f"dropout={self.dropout}, batch_first={self.batch_first}")
