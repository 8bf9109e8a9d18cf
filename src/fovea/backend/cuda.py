"""The "cuda" backend: CuPy arrays on NVIDIA GPUs.

Loaded by :func:`fovea.backend.get` the first time a "cuda" device is asked for; importing it
fails (and ``get`` reports what is missing) without CuPy or without a visible GPU. CuPy spells
NumPy's functions the same, so ``xp`` is the ``cupy`` module itself; what differs is here:
scatter-add is ``cupyx.scatter_add``, strided views cannot be marked read-only, floating-point
errors are never reported (``errstate`` is a no-op), random numbers come from one cuRAND
``RandomState`` per GPU, and new arrays go to the current device (``use`` selects it).

This module has not been run on a GPU yet; ``tests/test_backend_seam.py`` proves the seam it
plugs into with a test backend on the CPU.
"""

from __future__ import annotations

import cupy
import cupyx
import numpy as np

from .registry import Backend, device, register

if cupy.cuda.runtime.getDeviceCount() < 1:
    raise RuntimeError("CuPy sees no CUDA device")


class _Generator:
    """A GPU's cuRAND generator under the NumPy Generator method names fovea calls."""

    def __init__(self, state):
        self._state = state

    def random(self, size=None, dtype=np.float64):
        return self._state.random_sample(size, dtype)

    def standard_normal(self, size=None, dtype=np.float64):
        return self._state.standard_normal(size, dtype)

    def uniform(self, low=0.0, high=1.0, size=None):
        return self._state.uniform(low, high, size)

    def normal(self, loc=0.0, scale=1.0, size=None):
        return self._state.normal(loc, scale, size)


class CuPyBackend(Backend):
    name = "cuda"
    xp = cupy
    array_types = (cupy.ndarray,)

    def device_of(self, array):
        return device("cuda", array.device.id)

    def use(self, index):
        return cupy.cuda.Device(index)  # None: the current device

    def to_device(self, host_array, index):
        with self.use(index):
            return cupy.asarray(host_array)

    def to_numpy(self, array):
        return cupy.asnumpy(array)

    def generator(self, seed, index):
        with self.use(index):
            return _Generator(cupy.random.RandomState(seed))

    def scatter_add(self, out, indices, values):
        cupyx.scatter_add(out, indices, values)


register(CuPyBackend())
