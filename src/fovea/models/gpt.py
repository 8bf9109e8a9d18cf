"""GPT: nanoGPT's decoder-only Transformer (karpathy/nanoGPT model.py), with its module names,
so that its state_dict keys load both ways, and its initialization.

    x₀ = wte[idx] + wpe[0…T−1]
    x  = x + attn(ln_1(x));  x = x + mlp(ln_2(x))     (n_layer pre-norm blocks)
    logits = lm_head(ln_f(x))                           (lm_head.weight is wte.weight if tied)

attn is causal multi-head self-attention (one fused q,k,v projection ``c_attn``, the output
projection ``c_proj``), mlp is c_fc → exact GELU → c_proj with a 4·n_embd hidden width.

Generation uses a key/value cache: ``prefill`` runs the prompt once and keeps each layer's
keys and values in arrays preallocated to ``block_size`` positions; ``decode`` feeds one
token, writes its key and value in place and attends to the filled part, so a token costs
O(t), not a pass over the whole sequence.
"""

from __future__ import annotations

import math

from .. import backend
from ..autograd import Tensor, no_grad
from ..errors import ShapeError
from ..nn import GELU, Dropout, Embedding, LayerNorm, Linear, Module, ModuleList, init
from ..nn import functional as F


class CausalSelfAttention(Module):
    """Multi-head causal self-attention: q, k, v = split(c_attn(x)), heads of n_embd/n_head,
    y = c_proj(softmax(q kᵀ/√hd + causal) v)."""

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = False):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"n_embd ({n_embd}) must be divisible by n_head ({n_head})")
        self.c_attn = Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = Linear(n_embd, n_embd, bias=bias)
        self.attn_dropout = Dropout(dropout)
        self.resid_dropout = Dropout(dropout)
        self.n_head, self.n_embd, self.dropout = n_head, n_embd, dropout

    def _heads(self, x):
        """c_attn(x) (N, T, 3C) as q, k, v, each (N, heads, T, hd)."""
        n, t, c = x.shape
        qkv = self.c_attn(x).reshape(n, t, 3, self.n_head, c // self.n_head)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        return qkv[0], qkv[1], qkv[2]

    def _merge(self, y):
        """(N, heads, T, hd) back to (N, T, C), then the output projection."""
        n, _, t, _ = y.shape
        y = y.transpose(1, 2).reshape(n, t, self.n_embd)
        return self.resid_dropout(self.c_proj(y))

    def forward(self, x):
        q, k, v = self._heads(x)
        p = self.dropout if self.training else 0.0
        return self._merge(F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True))

    def cached(self, x, kv, start: int):
        """Attention of x (N, T, C) at positions start…start+T−1 to everything fed so far:
        its keys and values are written into ``kv`` = (keys, values), each (N, heads,
        block_size, hd), in place. A prompt (start 0) is causal; one new token attends to all
        the filled positions with no mask. For generation, outside the graph: the heads are
        split and merged as array views, not ops (a fifth of a decode step's ops)."""
        n, t, c = x.shape
        qkv = self.c_attn(x).data.reshape(n, t, 3, self.n_head, c // self.n_head)
        q, k, v = qkv.transpose(2, 0, 3, 1, 4)
        keys, values = kv
        end = start + t
        keys[:, :, start:end] = k
        values[:, :, start:end] = v
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(Tensor(q), Tensor(keys[:, :, :end]),
                                           Tensor(values[:, :, :end]), dropout_p=p,
                                           is_causal=start == 0 and end > 1)
        y = Tensor(y.data.transpose(0, 2, 1, 3).reshape(n, t, c))
        return self.resid_dropout(self.c_proj(y))


class MLP(Module):
    """c_proj(GELU(c_fc(x))) with hidden width 4·n_embd, then dropout."""

    def __init__(self, n_embd: int, dropout: float = 0.0, bias: bool = False):
        super().__init__()
        self.c_fc = Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = GELU()
        self.c_proj = Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(Module):
    """A pre-norm Transformer block: x + attn(ln_1(x)), then + mlp(ln_2(x))."""

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = False):
        super().__init__()
        self.ln_1 = LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, bias)
        self.ln_2 = LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(self, x, kv=None, start: int = 0):
        h = self.ln_1(x)
        x = x + (self.attn(h) if kv is None else self.attn.cached(h, kv, start))
        return x + self.mlp(self.ln_2(x))


class _Transformer(Module):
    """nanoGPT's ``transformer`` ModuleDict: the names wte, wpe, drop, h, ln_f."""

    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, dropout, bias):
        super().__init__()
        self.wte = Embedding(vocab_size, n_embd)
        self.wpe = Embedding(block_size, n_embd)
        self.drop = Dropout(dropout)
        self.h = ModuleList(Block(n_embd, n_head, dropout, bias) for _ in range(n_layer))
        self.ln_f = LayerNorm(n_embd, bias=bias)


class GPT(Module):
    """nanoGPT's GPT: token and learned position embeddings, ``n_layer`` pre-norm blocks of
    causal self-attention and a GELU MLP, a final LayerNorm and the vocabulary head.

    Init as nanoGPT: every Linear and Embedding weight ~ N(0, 0.02), the residual projections
    (``c_proj``) ~ N(0, 0.02/√(2·n_layer)), biases zero, LayerNorms ones/zeros.
    """

    def __init__(self, vocab_size: int, block_size: int = 64, n_layer: int = 4, n_head: int = 4,
                 n_embd: int = 128, dropout: float = 0.0, bias: bool = False,
                 tie_weights: bool = True):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("block_size", block_size),
                            ("n_layer", n_layer), ("n_head", n_head), ("n_embd", n_embd)):
            if int(value) != value or value < 1:
                raise ValueError(f"GPT: {name} must be a positive integer, got {value!r}")
        self.vocab_size, self.block_size, self.n_layer = vocab_size, block_size, n_layer
        self.n_head, self.n_embd, self.dropout_p = n_head, n_embd, dropout
        # not "bias": code that walks modules reads a module's bias as its parameter
        self.has_bias, self.tie_weights = bias, tie_weights
        self.transformer = _Transformer(vocab_size, block_size, n_layer, n_head, n_embd,
                                        dropout, bias)
        self.lm_head = Linear(n_embd, vocab_size, bias=False)
        if tie_weights:
            # nanoGPT's order: the head's parameter becomes the embedding's too
            self.transformer.wte.weight = self.lm_head.weight
        self._init_weights()
        self._linears = None  # listed at the first prefill (_column_major_weights)

    def _init_weights(self) -> None:
        std_proj = 0.02 / math.sqrt(2 * self.n_layer)
        for name, module in self.named_modules():
            if isinstance(module, (Linear, Embedding)):
                init.normal_(module.weight, 0.0, std_proj if name.endswith("c_proj") else 0.02)
                if getattr(module, "bias", None) is not None:
                    init.zeros_(module.bias)

    def _embed(self, idx, start: int = 0):
        """wte[idx] + wpe[start…start+T−1] for idx (N, T), then dropout."""
        data = idx.data if isinstance(idx, Tensor) else idx
        if data.ndim != 2:
            raise ShapeError(f"GPT expects token ids of shape (N, T), got {tuple(data.shape)}")
        t = data.shape[1]
        if start + t > self.block_size:
            raise ShapeError(f"GPT: a sequence of {start + t} tokens (input of shape "
                             f"{tuple(data.shape)}) is longer than block_size {self.block_size}")
        xp = backend.namespace(data)
        pos = xp.arange(start, start + t, dtype=backend.int64)
        tr = self.transformer
        return tr.drop(tr.wte(idx) + tr.wpe(pos))

    def forward(self, idx):
        """Logits (N, T, vocab_size) for token ids idx (N, T), T ≤ block_size."""
        x = self._embed(idx)
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))

    def _cached(self, idx, cache):
        """Run idx (N, T) at the positions after the cache's, filling the cache; the last
        position's logits as an (N, vocab_size) array."""
        start = cache["length"]
        x = self._embed(idx, start)
        for block, kv in zip(self.transformer.h, cache["kv"]):
            x = block(x, kv, start)
        cache["length"] = start + idx.shape[1]
        x = self.transformer.ln_f(x[:, -1])
        return backend.to_numpy(self.lm_head(x).data)

    def _column_major_weights(self) -> None:
        """Lay the Linear weights (out, in) out column-major, once per weight array: x Wᵀ is
        then a product with a C-ordered Wᵀ, OpenBLAS's NN kernel, a fifth faster than its NT
        kernel at a 64-token prefill. Values, shapes and state_dict keys are unchanged; an
        optimizer step or a load_state_dict keeps the layout (in place), a new array gets it
        at the next prefill. The Linear layers are listed at the first prefill (a walk over
        the modules costs a tenth of a decode step); one swapped in later keeps its layout."""
        if self._linears is None:
            self._linears = tuple(m for m in self.modules() if isinstance(m, Linear))
        for module in self._linears:
            w = module.weight
            if w.data.ndim == 2 and not w.data.flags.f_contiguous:
                w.data = backend.namespace(w.data).asfortranarray(w.data)

    def prefill(self, idx):
        """(logits of the last position, a NumPy (N, V) array, cache) for token ids idx, an
        (N, T) int64 array. The cache holds per layer the keys and values (N, n_head,
        block_size, hd), filled for the first T positions, and that length."""
        with no_grad():
            self._column_major_weights()
            weight = self.lm_head.weight
            xp = backend.namespace(weight.data)
            idx = backend.to_device(idx, weight.device)
            if idx.ndim != 2 or idx.shape[1] == 0:
                raise ShapeError(f"GPT.prefill expects token ids (N, T) with T ≥ 1, got shape "
                                 f"{tuple(idx.shape)}")
            shape = (idx.shape[0], self.n_head, self.block_size, self.n_embd // self.n_head)
            dtype = weight.dtype
            kv = [(xp.zeros(shape, dtype=dtype), xp.zeros(shape, dtype=dtype))
                  for _ in range(self.n_layer)]
            cache = {"length": 0, "kv": kv}
            return self._cached(idx, cache), cache

    def decode(self, token, cache):
        """(logits (N, V), cache) for the next token ids (N,) after everything in ``cache``
        (which is filled in place). A full cache (block_size positions) is an error: the
        caller prefills the last block_size tokens again."""
        with no_grad():
            token = backend.to_device(token, self.lm_head.weight.device)
            n = cache["kv"][0][0].shape[0]
            if token.shape != (n,):
                raise ShapeError(f"GPT.decode expects token ids of shape ({n},), got "
                                 f"{tuple(token.shape)}")
            if cache["length"] >= self.block_size:
                raise ValueError(f"GPT.decode: the cache is full ({self.block_size} positions); "
                                 f"prefill the last {self.block_size} tokens instead")
            return self._cached(token[:, None], cache), cache

    def extra_repr(self) -> str:
        return (f"vocab_size={self.vocab_size}, block_size={self.block_size}, "
                f"n_layer={self.n_layer}, n_head={self.n_head}, n_embd={self.n_embd}, "
                f"dropout={self.dropout_p}, bias={self.has_bias}, tie_weights={self.tie_weights}")
