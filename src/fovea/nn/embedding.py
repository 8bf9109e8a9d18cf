"""Embedding: a lookup table of learned vectors, one row per symbol."""

from __future__ import annotations

from .. import backend
from ..backend import get_default_dtype
from ..ops import embedding
from . import init
from .module import Module, Parameter


class Embedding(Module):
    """out[..., :] = weight[input[...], :] with weight of shape (num_embeddings, embedding_dim).

    Init as PyTorch: weight ~ N(0, 1), the ``padding_idx`` row zero; that row receives no
    gradient, so it stays what it is.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 _weight=None, _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"padding_idx {padding_idx} is out of range for "
                                 f"{num_embeddings} embeddings")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        dtype = dtype or get_default_dtype()
        if _weight is None:
            with backend.on(device) as xp:
                self.weight = Parameter(xp.empty((num_embeddings, embedding_dim), dtype=dtype))
            self.reset_parameters()
        else:
            weight = _weight.data if hasattr(_weight, "data") else _weight
            if tuple(weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight of shape {tuple(weight.shape)} does not "
                                 f"match ({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(weight)
        self.weight.requires_grad = not _freeze

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx: int | None = None):
        """An Embedding holding ``embeddings`` (2-D), frozen unless ``freeze=False``."""
        rows, dim = embeddings.shape
        return cls(rows, dim, padding_idx=padding_idx, _weight=embeddings, _freeze=freeze)

    def forward(self, input):
        return embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        return s + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")
