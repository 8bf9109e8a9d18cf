"""Embedding lookup: out[..., :] = W[idx[...], :]. The gradient is a scatter-add of the output
gradient into the rows that were read (a row read k times receives k contributions); the
padding row receives none."""

from __future__ import annotations

from .. import backend
from ..autograd import Function
from ..errors import ShapeError


class Embedding(Function):
    """W[idx] for an integer index array of any shape; the weight's gradient rows are summed
    with ``scatter_add`` and the ``padding_idx`` row is left at zero."""

    def forward(self, weight, idx, padding_idx=None):
        xp = backend.namespace(weight)
        if weight.ndim != 2:
            raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), "
                             f"got shape {weight.shape}")
        if idx.dtype.kind not in "iu":
            raise TypeError(f"embedding: indices must be integers, got {idx.dtype}")
        n = weight.shape[0]
        if idx.size and (int(idx.min()) < -n or int(idx.max()) >= n):
            raise IndexError(f"embedding: index out of range for {n} embeddings "
                             f"(indices span {int(idx.min())}..{int(idx.max())})")
        self.idx = xp.where(idx < 0, idx + n, idx) if idx.size and idx.min() < 0 else idx
        self.shape, self.padding_idx = weight.shape, padding_idx
        return weight[self.idx]

    def backward(self, g):
        xp = backend.namespace(g)
        dw = xp.zeros(self.shape, dtype=g.dtype)
        backend.scatter_add(dw, self.idx.reshape(-1), g.reshape(-1, self.shape[1]))
        if self.padding_idx is not None:
            dw[self.padding_idx] = 0
        return dw, None
