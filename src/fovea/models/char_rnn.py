"""CharRNN: a character language model, embedding → LSTM (or GRU) → linear to the vocabulary
(Karpathy's char-rnn). The recurrent state is the whole context, so ``block_size`` is None
and generating one more token is one step of the recurrence (``decode``)."""

from __future__ import annotations

from .. import backend, nn
from ..autograd import Tensor
from ..errors import ShapeError

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


class CharRNN(nn.Module):
    """logits (N, T, V) = head(rnn(embedding(idx))) for token ids idx (N, T)."""

    block_size = None

    def __init__(self, vocab_size: int, embed_dim: int = 64, hidden_size: int = 256,
                 num_layers: int = 2, cell: str = "lstm", dropout: float = 0.0):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"CharRNN: unknown cell {cell!r}; choose from {', '.join(CELLS)}")
        self.vocab_size, self.cell = vocab_size, cell
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = CELLS[cell](embed_dim, hidden_size, num_layers, batch_first=True,
                               dropout=dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def _run(self, idx, state=None):
        if idx.ndim != 2 or idx.shape[1] == 0:
            raise ShapeError(f"CharRNN takes token ids (N, T) with T ≥ 1, got shape "
                             f"{tuple(idx.shape)}")
        out, state = self.rnn(self.embedding(idx), state)
        return self.head(out), state

    def forward(self, idx):
        return self._run(idx)[0]

    def _ids(self, tokens):
        return Tensor(backend.to_device(tokens, self.embedding.weight.device))

    def prefill(self, idx):
        """(logits of the last position (N, V) as a host float32 array, the state) for host
        token ids idx (N, T)."""
        logits, state = self._run(self._ids(idx))
        return backend.to_numpy(logits.data[:, -1]), state

    def decode(self, token, cache):
        """(logits (N, V), new state) for the next token (N,) after the tokens in ``cache``."""
        if token.ndim != 1:
            raise ShapeError(f"decode takes one token per sequence (N,), got shape "
                             f"{tuple(token.shape)}")
        logits, state = self._run(self._ids(token[:, None]), cache)
        return backend.to_numpy(logits.data[:, -1]), state
