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
        np.add.at(out, indices, values)

    def is_writeable(self, array):
        return array.flags.writeable

    def as_strided(self, array, shape, strides):
        return np.lib.stride_tricks.as_strided(array, shape=shape, strides=strides,
                                               writeable=False)


register(NumPyBackend())
