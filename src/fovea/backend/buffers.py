"""Reused memory for very large arrays: op outputs and temporaries of 32 MiB or more.

glibc's malloc serves every allocation above its mmap threshold (at most 32 MiB) with fresh
pages from the kernel, which are zeroed and page-faulted in on first write — each time; a
network whose layers allocate arrays of tens of megabytes spends much of a pass in the kernel
doing that. ``empty`` hands out such an array on a cached block of the right size when one is
free, and the block goes back to the cache when that array and every view of it are gone.
Below the threshold malloc already reuses memory (most recently freed first, so still in
cache), and a size-class cache there is slower. The measurements are in benchmarks/README.md.

How a block comes back: the block is a ``_Block`` (an ndarray subclass) and the array handed
out is an ordinary ndarray view of it, the *anchor*. NumPy sets the ``base`` of any view to
the first array up the chain that owns its data or whose base is of another type, so every
view of the anchor (transposes, reshapes, slices) has the anchor as its base and keeps it
alive; a finalizer on the anchor returns the block. tests/test_buffers.py checks that rule.

Only NumPy arrays are cached (CuPy has its own memory pool): for an array of another backend
these functions return its library's ``empty``. At most ``LIMIT_BYTES`` of free blocks are
kept; ``empty_cache()`` drops them all.
"""

from __future__ import annotations

import math
import threading
import weakref

import numpy as np

from .registry import namespace

MIN_BYTES = 32 << 20
"""Smaller arrays come from ``xp.empty`` directly: glibc's malloc reuses their memory."""

GRANULE = 1 << 20
"""Block sizes are rounded up to whole MiB, so that arrays of nearly equal size share them."""

LIMIT_BYTES = 1 << 30
"""The most free memory the cache keeps; a block that would exceed it is released."""

_free: dict[int, list] = {}
_lock = threading.Lock()
_cached = 0


class _Block(np.ndarray):
    """Raw cached memory (uint8); its own type stops NumPy's base collapsing at the anchor."""


def _give_back(size: int, block) -> None:
    global _cached
    with _lock:
        if _cached + size <= LIMIT_BYTES:
            _free.setdefault(size, []).append(block)
            _cached += size


def empty(shape, dtype, like=None):
    """An uninitialized C-ordered array on the device of the array ``like`` (the CPU for
    None), on cached memory when it is a large NumPy array."""
    global _cached
    dtype = np.dtype(dtype)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = math.prod(shape) * dtype.itemsize
    xp = np if like is None else namespace(like)
    if xp is not np or nbytes < MIN_BYTES:
        return xp.empty(shape, dtype)
    size = -(-nbytes // GRANULE) * GRANULE
    with _lock:
        blocks = _free.get(size)
        block = blocks.pop() if blocks else None
        if block is not None:
            _cached -= size
    if block is None:
        block = np.empty(size, np.uint8).view(_Block)
    anchor = block[:nbytes].view(np.ndarray)
    weakref.finalize(anchor, _give_back, size, block).atexit = False
    return anchor.view(dtype).reshape(shape)


def empty_in_order(shape, like, dtype=None):
    """An uninitialized array of ``shape`` whose axes lie in memory in the order of ``like``'s
    (outermost first): a batch-last array gets a batch-last companion."""
    order = sorted(range(like.ndim), key=lambda i: -like.strides[i])
    out = empty(tuple(shape[i] for i in order), like.dtype if dtype is None else dtype, like)
    return out.transpose(tuple(order.index(i) for i in range(like.ndim)))


def empty_like(a, dtype=None):
    """``empty_like(a, order="K")``: a's shape and memory layout."""
    if a.nbytes < MIN_BYTES and (dtype is None or np.dtype(dtype).itemsize <= a.itemsize):
        return namespace(a).empty_like(a, dtype=dtype, order="K")
    return empty_in_order(a.shape, a, dtype)


def cached_bytes() -> int:
    """Bytes held in free blocks."""
    return _cached


def empty_cache() -> None:
    """Release every free block (arrays in use keep theirs)."""
    global _cached
    with _lock:
        _free.clear()
        _cached = 0
