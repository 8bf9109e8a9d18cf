"""The Dataset base classes: anything with a length that returns a sample (a tuple of arrays)
by index; TensorDataset and Subset."""

from __future__ import annotations

import abc
import numbers

import numpy as np

from ..errors import DataArgumentError, ShapeError

__all__ = ["DataArgumentError", "Dataset", "Subset", "TensorDataset", "stack_samples"]


def _is_scalar_index(index) -> bool:
    return isinstance(index, numbers.Integral) or (
        isinstance(index, np.ndarray) and index.ndim == 0 and index.dtype.kind in "iu"
    )


def stack_samples(samples) -> tuple:
    """Stack a list of samples (tuples of arrays, or single arrays) into a tuple of batches."""
    if not samples:
        raise ValueError("cannot stack an empty list of samples")
    if isinstance(samples[0], (tuple, list)):
        return tuple(np.stack([s[k] for s in samples]) for k in range(len(samples[0])))
    return (np.stack(samples),)


class Dataset(abc.ABC):
    """A map-style dataset: ``len(ds)`` samples, ``ds[i]`` a tuple of arrays.

    A subclass whose ``__getitem__`` also takes a 1-D integer array of indices (returning the
    batch as a tuple of stacked arrays) sets ``supports_batch_index = True``; the DataLoader then
    fetches a whole batch with one fancy index instead of stacking samples one by one.
    """

    supports_batch_index = False

    @abc.abstractmethod
    def __len__(self) -> int: ...

    @abc.abstractmethod
    def __getitem__(self, index): ...


class TensorDataset(Dataset):
    """Arrays sharing their first dimension; sample ``i`` is ``tuple(a[i] for a in arrays)``.

    Indexing with an integer array (or slice) returns a tuple of arrays, vectorized.
    """

    supports_batch_index = True

    def __init__(self, *arrays):
        if not arrays:
            raise DataArgumentError("TensorDataset needs at least one array")
        arrays = tuple(np.asarray(a) for a in arrays)
        for k, a in enumerate(arrays):
            if a.ndim == 0:
                raise ShapeError(f"TensorDataset array {k} is 0-d; arrays need a first dimension")
        lengths = [len(a) for a in arrays]
        if len(set(lengths)) != 1:
            raise ShapeError(
                f"TensorDataset arrays must have the same first dimension, got lengths {lengths}"
            )
        self.arrays = arrays

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index):
        if not _is_scalar_index(index) and not isinstance(index, slice):
            index = np.asarray(index)
        return tuple(a[index] for a in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.dtype}{list(a.shape)}" for a in self.arrays)
        return f"TensorDataset({shapes})"


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices`` (an integer sequence), in that order."""

    def __init__(self, dataset, indices):
        idx = np.asarray(indices)
        if idx.size == 0:
            idx = idx.astype(np.intp)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise DataArgumentError(
                f"Subset indices must be a 1-D integer sequence, got {idx.dtype} {idx.shape}"
            )
        n = len(dataset)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"Subset indices out of range for a dataset of {n} samples")
        self.dataset = dataset
        self.indices = np.where(idx < 0, idx + n, idx).astype(np.intp)

    @property
    def supports_batch_index(self) -> bool:
        """True when the wrapped dataset takes index arrays (an array index works either way)."""
        return bool(getattr(self.dataset, "supports_batch_index", False))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        if _is_scalar_index(index):
            return self.dataset[int(self.indices[index])]
        inner = self.indices[index if isinstance(index, slice) else np.asarray(index)]
        if self.supports_batch_index:
            return self.dataset[inner]
        return stack_samples([self.dataset[int(i)] for i in inner])
