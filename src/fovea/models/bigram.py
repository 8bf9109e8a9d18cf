"""The bigram character model: the next character's logits read off a table row of the current
one (nanoGPT's starting point, "Let's build GPT"), the smallest model of the language-model
contract (see :mod:`fovea.models` ``LANGUAGE_MODELS``)."""

from __future__ import annotations

from .. import nn
from ..autograd import Tensor
from ..backend import to_device, to_numpy
from ..errors import ShapeError


class BigramLM(nn.Module):
    """logits[n, t, :] = W[idx[n, t], :] with W of shape (V, V): an Embedding of V × V logits.

    Its context is one character, so generation keeps no cache: ``block_size`` is None, and
    ``prefill``/``decode`` look up the last token only.
    """

    block_size = None

    def __init__(self, vocab_size: int):
        super().__init__()
        self.vocab_size = int(vocab_size)
        self.token_embedding_table = nn.Embedding(self.vocab_size, self.vocab_size)

    def forward(self, idx):
        if idx.ndim != 2:
            raise ShapeError(f"BigramLM takes token ids (N, T), got shape {tuple(idx.shape)}")
        return self.token_embedding_table(idx)

    def _last_logits(self, tokens):
        """Logits (N, V) on the host of the token ids ``tokens`` (N,) (a host array)."""
        device = self.token_embedding_table.weight.device
        out = self.token_embedding_table(Tensor(to_device(tokens, device)))
        return to_numpy(out.data)

    def prefill(self, idx):
        """(logits of the last position (N, V), cache None) of host ids ``idx`` (N, T)."""
        if idx.ndim != 2 or idx.shape[1] == 0:
            raise ShapeError(f"prefill takes token ids (N, T) with T ≥ 1, got shape "
                             f"{tuple(idx.shape)}")
        return self._last_logits(idx[:, -1]), None

    def decode(self, token, cache=None):
        """(logits (N, V) of the position after ``token`` (N,), cache None)."""
        if token.ndim != 1:
            raise ShapeError(f"decode takes one token per sequence (N,), got shape "
                             f"{tuple(token.shape)}")
        return self._last_logits(token), None
