"""fovea.buffers: very large arrays on reused memory, returned only when every view is gone.

The threshold is lowered to 1 MiB here so that the tests stay small.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

from fovea.backend import buffers

MB = 1 << 20


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch):
    monkeypatch.setattr(buffers, "MIN_BYTES", MB)
    gc.collect()  # arrays of earlier tests give their blocks back first
    buffers.empty_cache()
    yield
    gc.collect()
    buffers.empty_cache()


def test_arrays_below_the_threshold_are_plain_numpy():
    a = buffers.empty((10, 10), np.float32)
    assert a.flags.owndata and a.shape == (10, 10) and a.dtype == np.float32


def test_large_array_shape_dtype_and_layout():
    a = buffers.empty((4, MB // 8), np.float32)
    assert a.shape == (4, MB // 8) and a.dtype == np.float32 and a.flags.c_contiguous
    assert a.flags.writeable and a.ctypes.data % 16 == 0


def test_block_returns_only_after_every_view_is_gone():
    a = buffers.empty((2 * MB // 4,), np.float32)
    views = [a.reshape(2, -1).T, a[::3], a.view(np.int32)]
    assert all(v.base is a.base for v in views)  # NumPy's base collapsing stops at the anchor
    del a
    gc.collect()
    assert buffers.cached_bytes() == 0  # the views still hold the block
    views.pop()
    views.pop()
    gc.collect()
    assert buffers.cached_bytes() == 0
    views.clear()
    gc.collect()
    assert buffers.cached_bytes() == 2 * MB


def test_block_is_reused_and_a_live_array_is_never_shared():
    a = buffers.empty((MB,), np.float32)  # 4 MiB
    a.fill(1.0)
    address = a.ctypes.data
    b = buffers.empty((MB,), np.float32)
    assert b.ctypes.data != address and not np.shares_memory(a, b)
    del a
    gc.collect()
    c = buffers.empty((2, MB // 2), np.float32)  # the same rounded size: a's block
    assert c.ctypes.data == address
    assert buffers.cached_bytes() == 0


def test_sizes_round_up_to_whole_mebibytes():
    a = buffers.empty((MB // 4 + 100,), np.float32)  # a little over 1 MiB → a 2 MiB block
    del a
    gc.collect()
    assert buffers.cached_bytes() == 2 * MB


def test_cache_is_bounded(monkeypatch):
    monkeypatch.setattr(buffers, "LIMIT_BYTES", 3 * MB)
    arrays = [buffers.empty((MB // 2,), np.float32) for _ in range(3)]  # 2 MiB each
    del arrays
    gc.collect()
    assert buffers.cached_bytes() == 2 * MB  # one block kept; the others released


def test_empty_like_keeps_the_memory_layout():
    x = np.zeros((64, 20, 20, 8), np.float32).transpose(3, 0, 1, 2)  # batch-last (N, C, H, W)
    y = buffers.empty_like(x)
    assert y.shape == x.shape and y.strides == x.strides


def test_network_on_reused_memory_matches_fresh_memory():
    """Conv, BN, pooling and a residual sum on cached blocks give the plain results, pass
    after pass (a block reused while still in use would corrupt them)."""
    import fovea
    from fovea.models import build_model

    fovea.manual_seed(0)
    model = build_model("resnet18_cifar", (3, 32, 32), 10).eval()
    x = fovea.tensor(np.random.default_rng(0).standard_normal((4, 3, 32, 32), np.float32))
    with fovea.no_grad():
        outs = [model(x).numpy().copy() for _ in range(3)]
    buffers.MIN_BYTES = 1 << 62  # nothing cached
    with fovea.no_grad():
        fresh = model(x).numpy()
    for out in outs:
        np.testing.assert_array_equal(out, fresh)
