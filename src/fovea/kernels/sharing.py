"""Work sharing for the compiled kernels: the calling thread and helper threads take the chunks
of a job from one counter, so that a helper whose core is busy (another process on a shared
machine) takes fewer chunks instead of holding the caller up.

numba's ``parallel=True`` loops split the work evenly in advance and wait for every thread:
on the 2-core machine, loaded by other processes, a filter that takes 4 ms on one thread took
8.0, 16.0 or 24.0 ms on two (a whole scheduler slice waiting for the second thread), while
OpenCV, which shares its stripes this way, did not. The kernels run with the GIL released
(``nogil=True``), each chunk a range of output rows.
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

_pool, _pool_size = None, 0


def threads() -> int:
    """Threads a job may use: numba's thread count (NUMBA_NUM_THREADS, default the CPUs)."""
    from numba import config

    return max(1, int(config.NUMBA_NUM_THREADS))


def _helpers(n: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    if _pool is None or _pool_size < n:
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
