"""Compiled CPU kernels for the passes NumPy cannot make in one sweep of memory (col2im as a
gather, pooling, a 1-D filter pass, …), each beside its pure-NumPy reference.

A :class:`Kernel` has two paths with one signature: ``reference`` (NumPy, readable, the
definition) and a compiled one built by numba (the optional extra ``fovea[fast]``) on first
use, with ``cache=True`` so that a later process loads it from disk instead of compiling.
numba keys its cache on the file that defines a kernel only, and the kernels inline helpers
from fovea.kernels.loops: so the cache lives in a folder named by a digest of this package's
sources (under NUMBA_CACHE_DIR, else ~/.cache/fovea), and any change to them compiles anew.
Which path runs is chosen once per kernel: the compiled one where numba imports, unless the
environment says ``FOVEA_KERNELS=numpy``; ``FOVEA_KERNELS=numba`` makes a missing numba an
error instead of a fallback. Tests run both paths (:func:`forced`) and compare them. The
compiled path takes NumPy arrays only: a call whose first argument is another backend's array
(CuPy) runs the reference, which is written against the array's namespace.

Every kernel runs serially with the GIL released; the ops split large calls over fovea's
threads by channel or by memory range (fovea.kernels.sharing), which also owns the GEMMs'
threads. numba's ``parallel=True`` made ResNet-18 steps 1.35–2.0× slower than serial kernels
(it splits evenly in advance and waits for every thread; benchmarks/README.md).
"""

from __future__ import annotations

import functools
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

MODES = ("auto", "numpy", "numba")


_forced = None  # a path forced by forced(), for the tests


class KernelError(RuntimeError):
    """FOVEA_KERNELS asks for a path this machine cannot run (numba missing)."""


def mode() -> str:
    """The path the environment asks for: FOVEA_KERNELS = auto (default), numpy or numba."""
    value = _forced or os.environ.get("FOVEA_KERNELS", "auto")
    if value in MODES:  # the common case, first: every kernel call asks
        return value
    value = value.strip().lower() or "auto"
    if value not in MODES:
        raise KernelError(f"FOVEA_KERNELS must be one of {', '.join(MODES)}, got {value!r}")
    return value


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def source_digest(folder=Path(__file__).parent) -> str:
    """A digest of the kernels' sources: every .py file of ``folder``, names and contents."""
    h = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def cache_dir() -> str:
    """Where compiled kernels are cached: a folder named by :func:`source_digest`, under
    NUMBA_CACHE_DIR when that is set, else under $XDG_CACHE_HOME/fovea (~/.cache/fovea)."""
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "fovea")
    return os.path.join(base, f"kernels-{_package_digest()}")


@functools.lru_cache(maxsize=1)
def _package_digest() -> str:
    """This package's :func:`source_digest`, read once per process (every kernel's first
    build asks for it)."""
    return source_digest()


@contextmanager
def _cached_in(folder):
    """numba's cache folder is ``folder`` for the kernels decorated inside the block (numba
    picks a function's cache folder when it is decorated; other numba code keeps its own)."""
    from numba.core import config

    previous, config.CACHE_DIR = config.CACHE_DIR, folder
    try:
        yield
    finally:
        config.CACHE_DIR = previous


class Kernel:
    """One kernel: ``reference`` (NumPy) and ``build``, a function returning the compiled
    function (numba's ``njit`` applied inside it, so that importing fovea never imports
    numba). Calling the kernel runs the chosen path."""

    def __init__(self, name: str, reference, build=None):
        self.name, self.reference, self.build = name, reference, build
        self._compiled = None
        self._chosen = None  # (mode it was chosen under, function)

    def compiled(self):
        """The compiled function (built, or loaded from numba's cache, on first call)."""
        if self._compiled is None:
            if self.build is None or not numba_available():
                raise KernelError(f"kernel {self.name}: no compiled path (pip install "
                                  f"'fovea[fast]' for numba)")
            with _cached_in(cache_dir()):
                self._compiled = self.build()
        return self._compiled

    def path(self) -> str:
        """"numba" or "numpy": the path a call takes now."""
        m = mode()
        if m == "numpy" or self.build is None:
            if m == "numba" and self.build is None:
                raise KernelError(f"kernel {self.name} has no compiled path")
            return "numpy"
        if m == "numba" or numba_available():
            return "numba"
        return "numpy"

    def __call__(self, *args, **kwargs):
        m = mode()
        if self._chosen is None or self._chosen[0] != m:
            fn = self.compiled() if self.path() == "numba" else self.reference
            self._chosen = (m, fn)
        if not isinstance(args[0], np.ndarray):
            return self.reference(*args, **kwargs)
        return self._chosen[1](*args, **kwargs)


def flat(a):
    """a's memory as a 1-D view (its elements in memory order), or None when a does not fill
    one contiguous block. Two arrays with equal shapes and strides give views whose elements
    correspond, which is how element-wise kernels take arrays of any one layout."""
    order = sorted(range(a.ndim), key=lambda i: -a.strides[i])
    t = a.transpose(order)
    return t.reshape(-1) if t.flags.c_contiguous else None


@contextmanager
def forced(path: str):
    """Inside the block every kernel takes ``path`` ("numpy" or "numba"), whatever the
    environment says (the tests run both paths)."""
    global _forced
    if path not in ("numpy", "numba"):
        raise ValueError(f"forced: path must be numpy or numba, got {path!r}")
    previous, _forced = _forced, path
    try:
        yield
    finally:
        _forced = previous


__all__ = ["Kernel", "KernelError", "MODES", "cache_dir", "flat", "forced", "mode",
           "numba_available", "source_digest"]
