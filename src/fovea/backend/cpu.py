"""The CPU backend: NumPy arrays (large temporaries on the buffer pool of ``buffers``)."""

from __future__ import annotations

import numpy as np

from .registry import CPU, Backend, register


class NumPyBackend(Backend):
    name = "cpu"
    xp = np
    array_types = (np.ndarray,)

    def device_of(self, array):
        return CPU

    def to_device(self, host_array, index):
        return np.asarray(host_array)

    def to_numpy(self, array):
        return np.asarray(array)

    def generator(self, seed, index):
        return np.random.default_rng(seed)

    def errstate(self, **kwargs):
        return np.errstate(**kwargs)

    def scatter_add(self, out, indices, values):
        if isinstance(indices, np.ndarray) and indices.ndim == 1 and indices.size > 1 \
                and indices.dtype.kind in "iu" and values.ndim == out.ndim \
                and values.shape[0] == indices.size:
            # rows: sort the indices and sum each run with reduceat, 4-5x faster than add.at
            # (negative indices made positive first, so that -1 and n-1 form one run)
            indices = np.where(indices < 0, indices + out.shape[0], indices)
            order = np.argsort(indices, kind="stable")
            rows = indices[order]
            starts = np.flatnonzero(np.concatenate(([True], rows[1:] != rows[:-1])))
            out[rows[starts]] += np.add.reduceat(values[order], starts, axis=0)
        else:
            np.add.at(out, indices, values)

    def is_writeable(self, array):
        return array.flags.writeable

    def as_strided(self, array, shape, strides):
        return np.lib.stride_tricks.as_strided(array, shape=shape, strides=strides,
                                               writeable=False)


register(NumPyBackend())
