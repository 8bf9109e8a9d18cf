"""Positional encodings: what tells attention (which sees a set) the order of a sequence.

Both add a vector per position to an input of shape (T, N, E) — (N, T, E) with
``batch_first`` — or unbatched (T, E), then apply dropout; ``offset`` shifts the positions
(the first of a continued sequence, e.g. when decoding with a cache).
"""

from __future__ import annotations

import math

from .. import backend
from ..autograd import Tensor
from ..backend import get_default_dtype
from ..errors import ShapeError
from ..ops import reshape
from . import init
from .dropout import Dropout
from .embedding import Embedding
from .module import Module


def _positions(module, x, offset: int) -> tuple[int, bool]:
    """(T, whether the positions run along axis 1) for input ``x``, checked against
    ``module.max_len``."""
    if x.ndim not in (2, 3) or x.shape[-1] != module.d_model:
        raise ShapeError(f"{type(module).__name__}: expected input (T, N, {module.d_model}), "
                         f"(N, T, {module.d_model}) with batch_first or (T, {module.d_model}), "
                         f"got {tuple(x.shape)}")
    along1 = module.batch_first and x.ndim == 3
    t = x.shape[1] if along1 else x.shape[0]
    if offset < 0 or offset + t > module.max_len:
        raise ShapeError(f"{type(module).__name__}: positions {offset}..{offset + t - 1} of "
                         f"input {tuple(x.shape)} exceed max_len={module.max_len}")
    return t, along1


def _add(x, pe, along1: bool):
    """x + pe, pe of shape (T, E) laid along x's position axis."""
    if x.ndim == 3 and not along1:
        pe = reshape(pe, (pe.shape[0], 1, pe.shape[1]))
    return x + pe


class SinusoidalPositionalEncoding(Module):
    """The fixed encoding of "Attention is all you need" (Vaswani et al., 2017), added to x:

        pe[p, 2i] = sin(p / 10000^(2i/E)),   pe[p, 2i+1] = cos(p / 10000^(2i/E)).

    ``pe`` (max_len, E) is a buffer left out of the state_dict (it is a function of the
    arguments)."""

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0,
                 batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        with backend.on(device) as xp:
            pos = xp.arange(max_len, dtype="float64")[:, None]
            freq = xp.exp(xp.arange(0, d_model, 2, dtype="float64")
                          * (-math.log(10000.0) / d_model))
            pe = xp.zeros((max_len, d_model), dtype="float64")
            pe[:, 0::2] = xp.sin(pos * freq)
            pe[:, 1::2] = xp.cos(pos * freq[:d_model // 2])
            self.register_buffer("pe", pe.astype(dtype or get_default_dtype()),
                                 persistent=False)
        self.dropout = Dropout(dropout)

    def forward(self, x, offset: int = 0):
        t, along1 = _positions(self, x, offset)
        pe = Tensor(self.pe.data[offset:offset + t].astype(x.dtype, copy=False))
        return self.dropout(_add(x, pe, along1))

    def extra_repr(self) -> str:
        return f"{self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"


class LearnedPositionalEmbedding(Module):
    """A learned vector per position, added to x: ``embedding`` an nn.Embedding(max_len,
    d_model) looked up at positions offset … offset + T − 1; its weight ~ N(0, std²)
    (0.02, as GPT-2 and ViT; nn.Embedding's own N(0, 1) would swamp a token embedding)."""

    def __init__(self, max_len: int, d_model: int, dropout: float = 0.0,
                 batch_first: bool = False, std: float = 0.02, device=None, dtype=None):
        super().__init__()
        self.d_model, self.max_len, self.batch_first, self.std = d_model, max_len, batch_first, std
        self.embedding = Embedding(max_len, d_model, device=device, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.embedding.weight, std=self.std)

    def forward(self, x, offset: int = 0):
        t, along1 = _positions(self, x, offset)
        with backend.on(x.device) as xp:
            idx = Tensor(xp.arange(offset, offset + t, dtype="int64"))
        return self.dropout(_add(x, self.embedding(idx), along1))

    def extra_repr(self) -> str:
        return f"{self.max_len}, {self.d_model}, batch_first={self.batch_first}"
