"""DataLoader: batches of a dataset as tuples of stacked NumPy arrays."""

from __future__ import annotations

import numbers

import numpy as np

from .dataset import DataArgumentError, stack_samples
from .rng import generator_state, restore_generator


class DataLoader:
    """Iterate ``dataset`` in batches of ``batch_size``, as tuples of stacked arrays.

    With ``shuffle`` each epoch (each ``iter``) draws a new permutation from the loader's own
    ``numpy.random.Generator``, seeded by ``seed`` (None: fresh entropy). The same seed gives the
    same sequence of epochs. ``state_dict()`` / ``load_state_dict()`` save and restore it.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
            raise DataArgumentError(f"batch_size must be a positive int, got {batch_size!r}")
        if batch_size <= 0:
            raise DataArgumentError(f"batch_size must be a positive int, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.generator = np.random.default_rng(seed)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        # The permutation is drawn now, not at the first next(), so that a state saved
        # before iter() replays this epoch's order.
        n = len(self.dataset)
        order = self.generator.permutation(n) if self.shuffle else np.arange(n)
        return self._batches(order)

    def _batches(self, order):
        stop = len(self) * self.batch_size
        for start in range(0, min(stop, len(order)), self.batch_size):
            yield self._fetch(order[start : start + self.batch_size])

    def _fetch(self, idx):
        ds = self.dataset
        if getattr(ds, "supports_batch_index", False):
            batch = ds[idx]
            return tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)
        return stack_samples([ds[int(i)] for i in idx])

    def state_dict(self) -> dict:
        """The generator's state (JSON-serializable), to resume the same shuffle sequence."""
        return generator_state(self.generator)

    def load_state_dict(self, state: dict) -> None:
        """Restore a state from :meth:`state_dict`."""
        restore_generator(self.generator, state, "DataLoader", DataArgumentError)

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last})"
        )
