"""nanoGPT's model (karpathy/nanoGPT model.py) in PyTorch, the reference for fovea's GPT: the
same module names and init, plus the key/value cache fovea uses for generation (nanoGPT itself
re-runs the whole context per token; ``generate_uncached`` does that).

Shared by tests/test_gpt.py (importable as ``torch_gpt`` there) and benchmarks/sequence.py.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class LayerNorm(nn.Module):
    """nanoGPT's LayerNorm with an optional bias."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head, dropout, bias):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        self.n_head, self.n_embd, self.dropout = n_head, n_embd, dropout

    def _heads(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        return [t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v)]

    def _merge(self, y):
        B, _, T, _ = y.size()
        return self.resid_dropout(self.c_proj(y.transpose(1, 2).contiguous().view(B, T, -1)))

    def forward(self, x, kv=None, start=0):
        q, k, v = self._heads(x)
        if kv is not None:  # the cache: write in place, attend to the filled part
            end = start + x.size(1)
            kv[0][:, :, start:end] = k
            kv[1][:, :, start:end] = v
            k, v = kv[0][:, :, :end], kv[1][:, :, :end]
        y = F.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0,
            is_causal=q.size(2) > 1)
        return self._merge(y)


class MLP(nn.Module):
    def __init__(self, n_embd, dropout, bias):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, n_embd, n_head, dropout, bias):
        super().__init__()
        self.ln_1 = LayerNorm(n_embd, bias)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, bias)
        self.ln_2 = LayerNorm(n_embd, bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(self, x, kv=None, start=0):
        x = x + self.attn(self.ln_1(x), kv, start)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """fovea.models.GPT's signature; nanoGPT's modules, weight tying and init."""

    def __init__(self, vocab_size, block_size=64, n_layer=4, n_head=4, n_embd=128, dropout=0.0,
                 bias=False, tie_weights=True):
        super().__init__()
        self.block_size, self.n_layer = block_size, n_layer
        self.n_head, self.n_embd = n_head, n_embd
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab_size, n_embd),
            wpe=nn.Embedding(block_size, n_embd),
            drop=nn.Dropout(dropout),
            h=nn.ModuleList([Block(n_embd, n_head, dropout, bias) for _ in range(n_layer)]),
            ln_f=LayerNorm(n_embd, bias),
        ))
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        if tie_weights:
            self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _run(self, idx, caches=None, start=0):
        t = idx.size(1)
        pos = torch.arange(start, start + t, dtype=torch.long)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for i, block in enumerate(self.transformer.h):
            x = block(x, None if caches is None else caches[i], start)
        return self.transformer.ln_f(x)

    def forward(self, idx):
        return self.lm_head(self._run(idx))

    @torch.no_grad()
    def prefill(self, idx):
        """(last-position logits, cache), as fovea's GPT.prefill, on tensors."""
        shape = (idx.size(0), self.n_head, self.block_size, self.n_embd // self.n_head)
        caches = [(torch.zeros(shape), torch.zeros(shape)) for _ in range(self.n_layer)]
        cache = {"kv": caches, "length": idx.size(1)}
        return self.lm_head(self._run(idx, caches)[:, -1]), cache

    @torch.no_grad()
    def decode(self, token, cache):
        start = cache["length"]
        logits = self.lm_head(self._run(token[:, None], cache["kv"], start)[:, -1])
        cache["length"] = start + 1
        return logits, cache

    @torch.no_grad()
    def generate_uncached(self, idx, max_new_tokens):
        """nanoGPT's generate, greedy: the whole (cropped) context through the model per token."""
        for _ in range(max_new_tokens):
            cond = idx if idx.size(1) <= self.block_size else idx[:, -self.block_size:]
            logits = self.lm_head(self._run(cond)[:, -1])
            idx = torch.cat((idx, logits.argmax(-1, keepdim=True)), dim=1)
        return idx
