"""fovea's threads (fovea.kernels.sharing): who chooses the thread count (set_threads, then
FOVEA_NUM_THREADS, then the CPUs), GEMMs split over the threads (``matmul``) and passes split
over ranges of an axis (``split``), and the layers built on them giving the results of one
thread on several.

The module keeps its state in globals (``_chosen``, ``_blas_single``): every test changes
them through ``using_threads`` or ``monkeypatch`` only, so the rest of the suite sees them as
they were. No test here times anything.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from fake_device import FakeArray

import fovea
from fovea import kernels, nn
from fovea.kernels import sharing
from fovea.models import build_model

ENV = "FOVEA_NUM_THREADS"
_np_matmul = np.matmul  # the reference, taken before any test counts np.matmul's calls


@pytest.fixture
def fresh(monkeypatch):
    """The module as a new process finds it: no thread count chosen, FOVEA_NUM_THREADS
    unset."""
    monkeypatch.setattr(sharing, "_chosen", None)
    monkeypatch.delenv(ENV, raising=False)


@pytest.fixture
def calls(monkeypatch):
    """Counts of sharing.share calls (with their chunk counts) and of np.matmul calls (with
    the operands' shapes), both still doing their work."""
    record = {"share": [], "matmul": []}
    share, matmul = sharing.share, np.matmul

    def counted_share(work, chunks):
        record["share"].append(chunks)
        share(work, chunks)

    def counted_matmul(a, b, *args, **kwargs):
        record["matmul"].append((np.shape(a), np.shape(b)))
        return matmul(a, b, *args, **kwargs)

    monkeypatch.setattr(sharing, "share", counted_share)
    monkeypatch.setattr(np, "matmul", counted_matmul)
    return record


@pytest.fixture
def split_gemms(monkeypatch):
    """matmul free to split: blas_single() answers True without touching NumPy's BLAS (it is
    tested on its own below), so these tests run with or without threadpoolctl."""
    monkeypatch.setattr(sharing, "_blas_single", True)


# ---- threads(): set_threads, then FOVEA_NUM_THREADS, then the CPUs ------------------------
def test_thread_count_defaults_to_the_cpus_this_process_may_use(fresh, monkeypatch):
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    assert sharing.threads() == (expected or os.cpu_count() or 1)
    monkeypatch.setattr(sharing, "_cpus", lambda: 5)
    assert sharing.threads() == 5
    monkeypatch.setenv(ENV, "")  # empty: as if unset
    assert sharing.threads() == 5


def test_environment_beats_the_cpus_and_set_threads_beats_both(fresh, monkeypatch):
    monkeypatch.setattr(sharing, "_cpus", lambda: 5)
    monkeypatch.setenv(ENV, "3")
    assert sharing.threads() == 3
    monkeypatch.setenv(ENV, " 7 ")
    assert sharing.threads() == 7
    sharing.set_threads(2)
    assert sharing.threads() == 2
    monkeypatch.setenv(ENV, "9")  # read on every call, but a chosen count still wins
    assert sharing.threads() == 2


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", " ", "\u00b2", "\u0663"])
def test_invalid_environment_values_raise_naming_the_variable(fresh, monkeypatch, value):
    monkeypatch.setenv(ENV, value)
    with pytest.raises(ValueError, match=ENV):
        sharing.threads()
    with sharing.using_threads(2):  # a chosen count does not read the variable
        assert sharing.threads() == 2


@pytest.mark.parametrize("n", [0, -1, 1.5, "2", None])
def test_set_threads_refuses_what_is_not_a_positive_integer(fresh, n):
    with pytest.raises((ValueError, TypeError)):
        sharing.set_threads(n)
    assert sharing._chosen is None  # a refused count changes nothing


def test_set_threads_takes_integral_numbers(fresh):
    sharing.set_threads(np.int64(3))
    assert sharing.threads() == 3 and type(sharing.threads()) is int
    sharing.set_threads(2.0)
    assert sharing.threads() == 2 and type(sharing.threads()) is int


def test_using_threads_restores_the_previous_count_even_when_the_block_raises(fresh):
    with sharing.using_threads(3):
        assert sharing.threads() == 3
        with pytest.raises(RuntimeError, match="inside"):
            with sharing.using_threads(1):
                assert sharing.threads() == 1
                raise RuntimeError("inside")
        assert sharing.threads() == 3
    assert sharing._chosen is None  # not "3": back to the default, which env and CPUs decide
    with pytest.raises(ValueError):
        with sharing.using_threads(0):
            pass
    assert sharing._chosen is None


def test_fovea_set_and_get_num_threads_are_sharings(fresh, monkeypatch):
    assert fovea.get_num_threads() == sharing.threads()
    monkeypatch.setenv(ENV, "4")
    assert fovea.get_num_threads() == 4
    fovea.set_num_threads(2)
    assert sharing.threads() == 2 and fovea.get_num_threads() == 2
    with sharing.using_threads(3):
        assert fovea.get_num_threads() == 3
    with pytest.raises(ValueError):
        fovea.set_num_threads(0)
    assert {"set_num_threads", "get_num_threads"} <= set(fovea.__all__)


# ---- split(): ranges that cover range(n) once ---------------------------------------------
def _ranges(n, threads, like=None, parts=None):
    done = []
    with sharing.using_threads(threads):
        sharing.split(n, lambda lo, hi: done.append((lo, hi)), like, parts)
    return done


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("n", [0, 1, 2, 7, 1000])
@pytest.mark.parametrize("parts", [None, 1, 3, 5, 2000])
def test_split_covers_every_index_once(n, threads, parts):
    done = _ranges(n, threads, parts=parts)
    assert all(lo <= hi for lo, hi in done)
    covered = [i for lo, hi in done for i in range(lo, hi)]
    assert sorted(covered) == list(range(n))  # each index once: the ranges are disjoint
    if n >= 2:
        assert all(lo < hi for lo, hi in done)  # no empty call
        assert len(done) == min(n, parts or 2 * threads)
    else:
        assert done == [(0, n)]


def test_split_in_two_parts_per_thread_by_default(calls):
    assert len(_ranges(1000, 3)) == 6
    assert calls["share"] == [6]


def test_split_is_one_call_for_small_or_foreign_arrays_and_on_one_thread(calls):
    small = np.zeros(sharing.MIN_SHARED_ITEMS - 1, np.float32)
    large = np.zeros(sharing.MIN_SHARED_ITEMS, np.float32)
    assert _ranges(1000, 3, small) == [(0, 1000)]
    assert _ranges(1000, 3, FakeArray(large)) == [(0, 1000)]  # CuPy's arrays: one call
    assert _ranges(1000, 1, large) == [(0, 1000)]
    assert _ranges(1000, 1) == [(0, 1000)]
    assert calls["share"] == []
    assert len(_ranges(1000, 3, large)) == 6  # MIN_SHARED_ITEMS elements are enough


def test_split_passes_errors_on():
    def fail(lo, hi):
        if lo <= 500 < hi:
            raise ValueError("the range holding 500")

    with sharing.using_threads(3):
        with pytest.raises(ValueError, match="500"):
            sharing.split(1000, fail)


# ---- matmul(): split GEMMs equal to np.matmul ---------------------------------------------
def _random(rng, shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


def _expect(a, b):
    """np.matmul in float64: the reference every split product is compared with."""
    return _np_matmul(a.astype(np.float64), b.astype(np.float64))


def _assert_product(result, a, b):
    tol = 1e-12 if result.dtype == np.float64 else 2e-5
    scale = max(1.0, float(np.abs(_expect(a, b)).max()))
    np.testing.assert_allclose(result, _expect(a, b), rtol=tol, atol=tol * scale)


# (a's shape, b's shape, the dimension split: stack, cols or rows); columns and rows that
# are not multiples of 16 leave a short last part
SHAPES = {
    "wide": ((37, 300, 501), "cols"),
    "tall": ((1003, 100, 45), "rows"),
    "stack": ((7, 60, 80, 150), "stack"),
    "small stack": ((3, 90, 100, 170), "cols"),
    "small tall stack": ((2, 600, 100, 40), "rows"),
}


def _operands(rng, dims, dtype=np.float32):
    if len(dims) == 3:
        rows, depth, cols = dims
        return _random(rng, (rows, depth), dtype), _random(rng, (depth, cols), dtype)
    stack, rows, depth, cols = dims
    return (_random(rng, (stack, rows, depth), dtype),
            _random(rng, (stack, depth, cols), dtype))


def _split_dimension(record, a, b):
    """Which dimension the np.matmul calls of a split product cut: stack, rows or cols."""
    cut = set()
    for sa, sb in record:
        if len(sa) == 3 and sa[0] < a.shape[0]:
            cut.add("stack")
        if sa[-2] < a.shape[-2]:
            cut.add("rows")
        if sb[-1] < b.shape[-1]:
            cut.add("cols")
    assert len(cut) == 1, cut
    return cut.pop()


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_split_matmul_equals_numpy(split_gemms, calls, rng, name, threads, dtype):
    dims, along = SHAPES[name]
    a, b = _operands(rng, dims, dtype)
    with sharing.using_threads(threads):
        out = sharing.matmul(a, b)
        assert out.dtype == dtype and out.shape == _np_matmul(a, b).shape
        _assert_product(out, a, b)
        given = np.full(out.shape, np.nan, dtype)  # every element must be written
        assert sharing.matmul(a, b, given) is given
        _assert_product(given, a, b)
    assert len(calls["share"]) == 2
    chunks = calls["share"][0]
    assert 2 <= chunks <= 2 * threads
    split_calls = calls["matmul"][:chunks]
    assert _split_dimension(split_calls, a, b) == along


@pytest.mark.parametrize("threads", [2, 3])
def test_split_matmul_takes_transposed_operands_and_strided_outputs(
        split_gemms, calls, rng, threads):
    a_t = _random(rng, (200, 130))  # a = a_t.T (130, 200) and b = b_t.T (200, 333)
    b_t = _random(rng, (333, 200))
    a, b = a_t.T, b_t.T
    big = np.full((140, 400), np.nan, np.float32)
    out = big[5:135, 40:373]  # a window of a bigger array: rows strided by 400
    with sharing.using_threads(threads):
        assert sharing.matmul(a, b, out) is out
        _assert_product(out, a, b)
        assert np.isnan(big[:5]).all() and np.isnan(big[135:]).all()  # nothing outside
        assert np.isnan(big[:, :40]).all() and np.isnan(big[:, 373:]).all()
        tall = sharing.matmul(b_t, a_t)  # (333, 200)·(200, 130): rows split, F-order a
        _assert_product(tall, b_t, a_t)
        f_order = np.asfortranarray(_random(rng, (600, 100)))
        _assert_product(sharing.matmul(f_order, b[:100, :90]), f_order, b[:100, :90])
    assert len(calls["share"]) == 3


def _planes(t):
    """fovea/ops/winograd.py's (a², C, tiles) view of a (C, a², TH, TW, N) array."""
    return t.reshape(t.shape[0], t.shape[1], -1).transpose(1, 0, 2)


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_split_matmul_on_winograds_plane_views(split_gemms, calls, rng, threads, dtype):
    c, o, aa, tiles = 24, 20, 16, (8, 9, 8)  # 4.4 M multiply-adds per GEMM
    u = _random(rng, (aa, o, c), dtype)
    v = _random(rng, (c, aa) + tiles, dtype)
    m = np.full((o, aa) + tiles, np.nan, dtype)
    dm = _random(rng, (o, aa) + tiles, dtype)
    dv = np.full((c, aa) + tiles, np.nan, dtype)
    with sharing.using_threads(threads):
        sharing.matmul(u, _planes(v), _planes(m))  # the forward GEMM
        _assert_product(_planes(m), u, _planes(v))
        sharing.matmul(u.transpose(0, 2, 1), _planes(dm), _planes(dv))  # the input gradient
        _assert_product(_planes(dv), u.transpose(0, 2, 1), _planes(dm))
        dut = sharing.matmul(_planes(v), _planes(dm).transpose(0, 2, 1))  # the weight's
        _assert_product(dut, _planes(v), _planes(dm).transpose(0, 2, 1))
    assert len(calls["share"]) == 3


def _around_the_threshold(extra):
    """(rows, depth, cols) of a 2-D product MIN_SHARED_FLOPS + extra·rows·depth in size (the
    smallest at or above the threshold for extra 0; below it for −1); cols not a multiple of
    16."""
    rows, depth = 40, 125
    cols = -(-sharing.MIN_SHARED_FLOPS // (rows * depth)) + extra
    return rows, depth, cols


@pytest.mark.parametrize("extra, splits", [(-1, False), (0, True), (3, True)])
def test_products_below_min_shared_flops_stay_on_the_calling_thread(
        split_gemms, calls, rng, extra, splits):
    rows, depth, cols = dims = _around_the_threshold(extra)
    assert (rows * depth * cols >= sharing.MIN_SHARED_FLOPS) == splits
    a, b = _operands(rng, dims)
    with sharing.using_threads(2):
        _assert_product(sharing.matmul(a, b), a, b)
        stacked = sharing.matmul(a[None].repeat(2, 0), b[None].repeat(2, 0))  # twice the work
        _assert_product(stacked, a[None].repeat(2, 0), b[None].repeat(2, 0))
    assert len(calls["share"]) == (1 if splits else 0) + 1


def _single_call(calls, result, a, b, out=None):
    assert calls["share"] == []
    assert calls["matmul"] == [(np.shape(a), np.shape(b))]
    _assert_product(result.astype(np.float32), a, b)
    if out is not None:
        assert result is out


def test_broadcast_one_dimensional_and_four_dimensional_products_are_one_call(
        split_gemms, calls, rng):
    # each large enough to split if its shape allowed
    cases = [
        (_random(rng, (1, 200, 150)), _random(rng, (4, 150, 170))),  # a broadcast stack
        (_random(rng, (4, 200, 150)), _random(rng, (150, 170))),  # a 3-D by a 2-D
        (_random(rng, (2000,)), _random(rng, (2000, 2100))),  # a vector
        (_random(rng, (2100, 2000)), _random(rng, (2000,))),
        (_random(rng, (2, 3, 100, 80)), _random(rng, (2, 3, 80, 100))),  # 4-D
    ]
    with sharing.using_threads(3):
        for a, b in cases:
            calls["matmul"].clear()
            _single_call(calls, sharing.matmul(a, b), a, b)


def test_mixed_dtypes_are_one_call(split_gemms, calls, rng):
    a, b = _operands(rng, (300, 200, 300))
    with sharing.using_threads(3):
        r = sharing.matmul(a, b.astype(np.float64))
        assert r.dtype == np.float64
        _single_call(calls, r, a, b)
        calls["matmul"].clear()
        out = np.empty((300, 300), np.float64)  # an output of another dtype
        _single_call(calls, sharing.matmul(a, b, out), a, b, out)


def test_overlapping_or_misshapen_outputs_are_numpys_to_handle(split_gemms, calls, rng):
    """An out that overlaps an operand would be read after parts of it were written, and an
    out of the wrong shape would be filled in part: both go to np.matmul, which copies the
    overlap and refuses the shape."""
    a, b = _operands(rng, (300, 300, 300))
    expected = _np_matmul(a, b)
    with sharing.using_threads(3):
        left, right = a.copy(), b.copy()
        assert sharing.matmul(left, b, left) is left
        assert sharing.matmul(a, right, right) is right
        for got in (left, right):
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
        assert calls["share"] == [] and len(calls["matmul"]) == 2
        for shape in ((300, 400), (301, 300)):
            with pytest.raises(ValueError):
                sharing.matmul(a, b, np.empty(shape, np.float32))
        assert calls["share"] == []


def test_one_thread_or_a_multithreaded_blas_is_one_call(monkeypatch, calls, rng):
    a, b = _operands(rng, (300, 200, 300))
    monkeypatch.setattr(sharing, "_blas_single", True)
    with sharing.using_threads(1):
        _single_call(calls, sharing.matmul(a, b), a, b)
    calls["matmul"].clear()
    monkeypatch.setattr(sharing, "_blas_single", False)  # BLAS keeps its own threads
    with sharing.using_threads(3):
        out = np.empty((300, 300), np.float32)
        _single_call(calls, sharing.matmul(a, b, out), a, b, out)


def test_other_backends_arrays_go_to_their_namespace(split_gemms, calls, rng):
    a, b = _operands(rng, (300, 200, 300))
    with sharing.using_threads(3):
        r = sharing.matmul(FakeArray(a), FakeArray(b))
    assert type(r) is FakeArray and calls["share"] == []
    _assert_product(r._a, a, b)


# ---- blas_single(): NumPy's BLAS on one thread through threadpoolctl ----------------------
def test_blas_single_sets_numpys_blas_to_one_thread(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    monkeypatch.setattr(sharing, "_blas_single", None)
    assert sharing.blas_single() is True
    blas = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    assert blas and all(p["num_threads"] == 1 for p in blas)
    assert sharing.blas_single() is True  # remembered


def test_without_threadpoolctl_blas_keeps_its_threads_and_gemms_are_one_call(
        monkeypatch, calls, rng):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    monkeypatch.setattr(sharing, "_blas_single", None)
    a, b = _operands(rng, (300, 200, 300))
    with sharing.using_threads(3):
        assert sharing.blas_single() is False
        _single_call(calls, sharing.matmul(a, b), a, b)
    assert sharing._blas_single is False  # tried once


# ---- layers: the same results on one thread and on three ----------------------------------
@pytest.fixture
def split_small(monkeypatch, split_gemms):
    """Small layers split as large ones do: thresholds low enough for test-sized data."""
    monkeypatch.setattr(sharing, "MIN_SHARED_ITEMS", 64)
    monkeypatch.setattr(sharing, "MIN_SHARED_FLOPS", 1000)


def _run(make, x, threads, seed=0):
    """Forward and backward of a fresh ``make()`` on a copy of x on ``threads`` threads: the
    output, the input's gradient and the parameters' gradients, as NumPy arrays."""
    with sharing.using_threads(threads):
        fovea.manual_seed(seed)
        layer = make()
        xt = fovea.tensor(x, requires_grad=True)
        out = layer(xt)
        g = np.random.default_rng(seed + 1).standard_normal(out.shape).astype(out.dtype)
        out.backward(fovea.tensor(g))
        grads = [p.grad.numpy().copy() for p in layer.parameters()] if hasattr(
            layer, "parameters") else []
        return [out.detach().numpy().copy(), xt.grad.numpy().copy()] + grads


def _compare(make, x, calls, rtol=1e-5):
    one = _run(make, x, 1)
    assert calls["share"] == []  # one thread: every pass and GEMM in one call
    three = _run(make, x, 3)
    assert calls["share"], "nothing was split on three threads"
    assert len(one) == len(three)
    for i, (r1, r3) in enumerate(zip(one, three)):
        assert r1.shape == r3.shape and r1.dtype == r3.dtype
        scale = max(1.0, float(np.abs(r1).max()))
        np.testing.assert_allclose(r3, r1, rtol=rtol, atol=rtol * scale, err_msg=f"result {i}")


class _Then(nn.Module):
    """An operation before ``layer`` (so that an in-place layer does not get a leaf)."""

    def __init__(self, layer, before=lambda x: x * 2.0):
        super().__init__()
        self.layer, self.before = layer, before

    def forward(self, x):
        return self.layer(self.before(x))


def _batchnorm_eval():
    bn = nn.BatchNorm2d(16)
    rng = np.random.default_rng(3)
    bn.running_mean.data[:] = rng.standard_normal(16)
    bn.running_var.data[:] = rng.uniform(0.5, 2.0, 16)
    bn.weight.data[:] = rng.uniform(0.5, 1.5, 16)
    return bn.eval()


LAYERS = {  # make, the input's shape
    "winograd conv 3x3 16->16": (lambda: nn.Conv2d(16, 16, 3, padding=1), (4, 16, 12, 12)),
    "im2col conv 5x5 6->16": (lambda: nn.Conv2d(6, 16, 5), (4, 6, 14, 14)),
    "im2col conv stride 2": (lambda: nn.Conv2d(8, 12, 3, stride=2, padding=1), (3, 8, 13, 11)),
    "direct conv 1->6": (lambda: nn.Conv2d(1, 6, 5, padding=2), (4, 1, 16, 16)),
    "batchnorm train": (lambda: nn.BatchNorm2d(16), (4, 16, 9, 9)),
    "batchnorm eval": (_batchnorm_eval, (4, 16, 9, 9)),
    "relu": (nn.ReLU, (4, 16, 9, 9)),
    "relu in place": (lambda: _Then(nn.ReLU(inplace=True)), (4, 16, 9, 9)),
    "relu after a conv": (lambda: nn.Sequential(nn.Conv2d(6, 16, 3), nn.ReLU(inplace=True)),
                          (4, 6, 10, 10)),
    "max pool 2x2": (lambda: nn.MaxPool2d(2), (4, 16, 10, 10)),
    "max pool 3x3 stride 2": (lambda: nn.MaxPool2d(3, stride=2, padding=1), (4, 16, 11, 9)),
    "max pool batch-last": (lambda: nn.Sequential(nn.Conv2d(16, 16, 3, padding=1),
                                                  nn.MaxPool2d(2)), (4, 16, 8, 8)),
    "linear tall": (lambda: nn.Linear(64, 40), (300, 64)),
    "linear wide": (lambda: nn.Linear(64, 300), (20, 64)),
    "linear on a stack": (lambda: nn.Linear(48, 70), (5, 30, 48)),
}


@pytest.mark.parametrize("path", ["numpy", "numba"])
@pytest.mark.parametrize("name", LAYERS)
def test_layers_give_the_same_results_on_one_thread_and_three(split_small, calls, path, name):
    if path == "numba":
        pytest.importorskip("numba")
    make, shape = LAYERS[name]
    x = np.random.default_rng(7).standard_normal(shape).astype(np.float32)
    with kernels.forced(path):
        _compare(make, x, calls)


def test_matmul_op_and_its_gradients_on_one_thread_and_three(split_small, calls):
    rng = np.random.default_rng(5)
    b = rng.standard_normal((6, 40, 33)).astype(np.float32)
    _compare(lambda: (lambda x: fovea.matmul(x, fovea.tensor(b))),
             rng.standard_normal((6, 25, 40)).astype(np.float32), calls)


def test_a_resnet_step_on_one_thread_and_three(split_small, calls):
    x = np.random.default_rng(9).standard_normal((2, 3, 16, 16)).astype(np.float32)
    _compare(lambda: build_model("resnet18_cifar", (3, 16, 16), 10), x, calls, rtol=1e-4)
