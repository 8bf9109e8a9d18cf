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


def test_the_cache_folder_is_named_by_the_sources(tmp_path, monkeypatch):
    """numba notices changes only to the file that defines a kernel; helpers inlined from
    another file (loops.py) would leave a stale compiled kernel. The cache folder is named by
    a digest of every source file, so any change to any of them compiles anew."""
    (tmp_path / "loops.py").write_text("def helper(): return 1\n")
    (tmp_path / "pool.py").write_text("def kernel(): return helper()\n")
    before = kernels.source_digest(tmp_path)
    assert kernels.source_digest(tmp_path) == before
    (tmp_path / "loops.py").write_text("def helper(): return 2\n")
    changed = kernels.source_digest(tmp_path)
    assert changed != before
    (tmp_path / "extra.py").write_text("")
    assert kernels.source_digest(tmp_path) != changed  # a new file counts too
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    assert kernels.cache_dir() == str(tmp_path / "numba" / f"kernels-{kernels.source_digest()}")
    monkeypatch.delenv("NUMBA_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert kernels.cache_dir().startswith(str(tmp_path / "xdg" / "fovea" / "kernels-"))


def test_kernels_compile_into_the_keyed_folder(tmp_path, monkeypatch):
    numba = pytest.importorskip("numba")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))

    def build():
        @numba.njit(cache=True)
        def thrice(a):
            return a * 3
        return thrice

    from numba.core import config

    k = Kernel("thrice", lambda a: a * 3, build)
    with kernels.forced("numba"):
        np.testing.assert_array_equal(k(np.arange(3.0)), [0, 3, 6])
    assert list(tmp_path.glob(f"kernels-{kernels.source_digest()}/**/*.nbi"))
    assert config.CACHE_DIR != kernels.cache_dir()  # other numba code keeps its own cache
