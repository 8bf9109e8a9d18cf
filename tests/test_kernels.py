"""fovea.kernels: each kernel's path is chosen by FOVEA_KERNELS, numba when present, and
forced() switches every kernel for the tests that compare the two paths."""

import numpy as np
import pytest

from fovea import kernels
from fovea.kernels import Kernel, KernelError


def _reference(a):
    return a * 2


def _build():
    import numba

    @numba.njit(cache=False)
    def twice(a):
        out = np.empty_like(a)
        for i in range(a.size):
            out.flat[i] = a.flat[i] * 2
        return out
    return twice


def test_paths_are_chosen_by_the_environment(monkeypatch):
    pytest.importorskip("numba")
    k = Kernel("twice", _reference, _build)
    a = np.arange(5, dtype=np.float32)
    monkeypatch.setenv("FOVEA_KERNELS", "numpy")
    assert k.path() == "numpy"
    np.testing.assert_array_equal(k(a), a * 2)
    monkeypatch.setenv("FOVEA_KERNELS", "auto")
    assert k.path() == "numba"
    np.testing.assert_array_equal(k(a), a * 2)
    with kernels.forced("numpy"):
        assert k.path() == "numpy"
    monkeypatch.setenv("FOVEA_KERNELS", "fastest")
    with pytest.raises(KernelError, match="FOVEA_KERNELS"):
        k(a)


def test_a_kernel_without_a_compiled_path(monkeypatch):
    k = Kernel("plain", _reference)
    monkeypatch.setenv("FOVEA_KERNELS", "auto")
    assert k.path() == "numpy"
    monkeypatch.setenv("FOVEA_KERNELS", "numba")
    with pytest.raises(KernelError, match="plain"):
        k(np.ones(2))


def test_missing_numba_falls_back_unless_numba_is_asked_for(monkeypatch):
    monkeypatch.setattr(kernels, "numba_available", lambda: False)
    k = Kernel("twice", _reference, _build)
    monkeypatch.setenv("FOVEA_KERNELS", "auto")
    assert k.path() == "numpy"
    monkeypatch.setenv("FOVEA_KERNELS", "numba")
    with pytest.raises(KernelError, match="fovea\\[fast\\]"):
        k(np.ones(2))
