"""fovea's threads: the calling thread and helper threads take the chunks of a job from one
counter, so that a helper whose core is busy (another process on a shared machine) takes
fewer chunks instead of holding the caller up; and GEMMs split over them.

numba's ``parallel=True`` loops split the work evenly in advance and wait for every thread:
on the 2-core machine, loaded by other processes, a filter that takes 4 ms on one thread took
8.0, 16.0 or 24.0 ms on two (a whole scheduler slice waiting for the second thread), while
OpenCV, which shares its stripes this way, did not. The kernels run with the GIL released
(``nogil=True``), each chunk a range of output rows or channels; NumPy's matmul releases it
too.

GEMMs: OpenBLAS's own worker threads spin on the other cores for a while after each call, so
a helper thread sharing a memory-bound pass after a GEMM found its core taken (measured: a
9.8 ms pass took 7.5 ms on two threads, 9.5 ms right after a GEMM). Where threadpoolctl is
installed (the ``fast`` extra), fovea therefore sets NumPy's BLAS to one thread and splits
large GEMMs over its own threads (:func:`matmul`); without it, BLAS keeps its threads and
fovea's GEMMs are single calls. BLAS is set when this module is imported with more than one
thread to use, or when :func:`set_threads` first asks for more: at a fixed point, because
OpenBLAS rounds some products differently on one thread and on two, and a run resumed from
a checkpoint must repeat the arithmetic of the uninterrupted run bit for bit.
"""

from __future__ import annotations

import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

from .. import backend

_pool, _pool_size = None, 0
_chosen = None  # the thread count set_threads() chose
_blas_single = None  # None: not tried yet; then whether NumPy's BLAS is on one thread


def threads() -> int:
    """Threads fovea's work may use: what :func:`set_threads` chose, else FOVEA_NUM_THREADS,
    else the CPUs this process may run on."""
    if _chosen is not None:
        return _chosen
    env = os.environ.get("FOVEA_NUM_THREADS")
    return _parse_threads(env) if env else _cpus()


@functools.lru_cache(maxsize=8)
def _parse_threads(env: str) -> int:
    text = env.strip()
    if not (text.isascii() and text.isdecimal()) or int(text) < 1:
        raise ValueError(f"FOVEA_NUM_THREADS must be a positive integer, got {env!r}")
    return int(text)


@functools.lru_cache(maxsize=1)
def _cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def set_threads(n: int) -> None:
    """Use n threads (the caller and n − 1 helpers) from now on."""
    global _chosen
    if int(n) != n or n < 1:
        raise ValueError(f"the thread count must be a positive integer, got {n!r}")
    _chosen = int(n)
    if _chosen > 1:
        blas_single()


@contextmanager
def using_threads(n: int):
    """Inside the block fovea uses n threads (the tests compare devices on one)."""
    global _chosen
    previous = _chosen
    set_threads(n)
    try:
        yield
    finally:
        _chosen = previous


def blas_single() -> bool:
    """Whether NumPy's BLAS runs on one thread, so that fovea may split GEMMs over its own:
    set once, through threadpoolctl, where it is installed."""
    global _blas_single
    if _blas_single is None:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            _blas_single = False
        else:
            threadpool_limits(1, user_api="blas")
            _blas_single = True
    return _blas_single


def _helpers(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    if _pool is None or _pool_size < n:
        if _pool is not None:
            _pool.shutdown(wait=False)  # its threads end once their queued work is done
        _pool, _pool_size = ThreadPoolExecutor(n, thread_name_prefix="fovea-kernels"), n
    return _pool


def _forget_pool():
    global _pool, _pool_size
    _pool, _pool_size = None, 0  # a forked child has none of the parent's threads


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def row_chunks(n: int, min_rows: int = 1, most: int = 16) -> list:
    """The edges of up to ``most`` chunks of n rows, each at least ``min_rows`` long (one
    chunk if n is shorter): the same for any thread count, so results do not depend on it."""
    count = max(1, min(most, n // max(1, min_rows)))
    return [c * n // count for c in range(count + 1)]


def share(work, chunks: int) -> None:
    """Call ``work(c)`` once for each chunk c < ``chunks``, on this thread and up to
    :func:`threads` − 1 helpers, each taking the next chunk when it is free. Returns when all
    are done; a helper that had not started by then is cancelled (this thread did its part)."""
    n = min(threads(), chunks) - 1
    counter = itertools.count()

    def take():
        c = next(counter)  # itertools.count: one thread at a time under the GIL
        while c < chunks:
            work(c)
            c = next(counter)

    if n <= 0:
        take()
        return
    futures = [_helpers(n).submit(take) for _ in range(n)]
    try:
        take()
    finally:
        for f in futures:
            if not f.cancel():
                f.result()


MIN_SHARED_FLOPS = 4_000_000
"""A GEMM of fewer multiply-adds runs on the calling thread: handing a part to a helper costs
tens of microseconds, the whole product about as much at this size."""


def _edges(n, parts, align=1):
    """The edges of ``parts`` nearly equal ranges of n, inner edges on multiples of align."""
    edges = [0] + [min(n, (i * n // parts + align - 1) // align * align) for i in
                   range(1, parts)] + [n]
    return sorted(set(edges))


def matmul(a, b, out=None):
    """a·b into ``out`` (or a new array) for 2-D arrays or equal stacks of them (3-D), on
    fovea's threads when NumPy's BLAS is on one thread (:func:`blas_single`): split over the
    stack, or else over the product's columns or rows, whichever is longer, in more parts
    than threads so that a busy helper takes fewer. Other arrays (CuPy), broadcast stacks,
    mixed dtypes and small products are one matmul call."""
    if not isinstance(a, np.ndarray) or not isinstance(b, np.ndarray):
        return backend.namespace(a).matmul(a, b, out=out)
    n = threads()
    if (n == 1 or a.ndim != b.ndim or not 2 <= a.ndim <= 3 or a.shape[:-2] != b.shape[:-2]
            or a.shape[-1] != b.shape[-2] or a.dtype != b.dtype):
        return np.matmul(a, b, out=out)
    rows, depth = a.shape[-2:]
    cols = b.shape[-1]
    stack = a.shape[0] if a.ndim == 3 else 1
    if (not blas_single() or rows * depth * cols * stack < MIN_SHARED_FLOPS
            or out is not None and (out.dtype != a.dtype or out.shape != a.shape[:-1] + (cols,)
                                    or np.shares_memory(out, a) or np.shares_memory(out, b))):
        return np.matmul(a, b, out=out)  # NumPy's checks, and its handling of overlaps
    if out is None:
        out = np.empty(a.shape[:-1] + (cols,), a.dtype)
    parts = 2 * n
    if stack >= parts:
        e = _edges(stack, parts)
        share(lambda i: np.matmul(a[e[i]:e[i + 1]], b[e[i]:e[i + 1]], out=out[e[i]:e[i + 1]]),
              len(e) - 1)
    elif cols >= rows:
        e = _edges(cols, parts, 16)
        share(lambda i: np.matmul(a, b[..., e[i]:e[i + 1]], out=out[..., e[i]:e[i + 1]]),
              len(e) - 1)
    else:
        e = _edges(rows, parts, 16)
        share(lambda i: np.matmul(a[..., e[i]:e[i + 1], :], b, out=out[..., e[i]:e[i + 1], :]),
              len(e) - 1)
    return out


MIN_SHARED_ITEMS = 1 << 17
"""A pass over fewer elements (of ``like``) runs on the calling thread: handing a part to a
helper costs tens of microseconds (LeNet-5's step ran 5% faster with its small passes
unshared)."""


def split(n, work, like=None, parts=None):
    """Call ``work(lo, hi)`` over ranges that cover range(n), shared by fovea's threads (in
    2 × threads parts, or ``parts``): for kernels whose calls on disjoint ranges of an axis
    (channels) are independent. One call when ``like`` (the array the work passes over) is
    not a NumPy array (CuPy) or has fewer than MIN_SHARED_ITEMS elements."""
    if (like is not None and (not isinstance(like, np.ndarray) or like.size < MIN_SHARED_ITEMS)
            or threads() == 1 or n < 2):
        work(0, n)
        return
    e = _edges(n, min(n, parts or 2 * threads()))
    share(lambda i: work(e[i], e[i + 1]), len(e) - 1)


def _set_blas_on_import():
    try:
        many = threads() > 1
    except ValueError:  # a bad FOVEA_NUM_THREADS: said when the count is first asked for
        many = False
    if many:
        blas_single()


_set_blas_on_import()
