"""fovea.kernels.filter1d: the compiled separable passes and box sums equal their NumPy
references for every boundary mode, kernel size (1, even, odd, larger than the image), plane
count and dtype; the filters that call them equal the direct method; "auto" chooses them."""

from __future__ import annotations

import numpy as np
import pytest

import fovea
from fovea import kernels
from fovea.filters import (
    BOUNDARY_MODES,
    SHAPES,
    box_filter,
    choose_method,
    convolve,
    correlate,
    gaussian_filter,
    separate,
)
from fovea.filters.boundary import source_indices
from fovea.kernels import filter1d, sharing

numba = pytest.importorskip("numba")

R = np.random.default_rng(20240901)

TAPS = [(1, 1), (1, 4), (3, 3), (2, 5), (6, 7), (9, 2), (13, 13), (23, 3)]  # 23 > H, 13 > W
PLANE_SHAPES = [(11, 9, 1), (11, 9, 3), (1, 1, 1), (2, 17, 2)]
TOL = {np.float32: 2e-6, np.float64: 1e-13}


def extension(n, k, mode, shape="same"):
    """source_indices for an axis of length n and k taps, and the count before the image."""
    before = {"same": k // 2, "valid": 0, "full": k - 1}[shape]
    after = {"same": k - 1 - k // 2, "valid": 0, "full": k - 1}[shape]
    return source_indices(n, before, after, mode), before


def both_paths(kernel, *args):
    with kernels.forced("numpy"):
        want = kernel(*args)
    with kernels.forced("numba"):
        got = kernel(*args)
    return want, got


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", BOUNDARY_MODES)
def test_separable_passes_equal_the_reference(mode, dtype):
    for h, w, p in PLANE_SHAPES:
        planes = R.uniform(-1, 2, (h, w, p)).astype(dtype)
        for kh, kw in TAPS:
            for shape in ("same", "full"):
                rows, _ = extension(h, kh, mode, shape)
                cols, left = extension(w, kw, mode, shape)
                col = R.standard_normal(kh).astype(dtype)
                row = R.standard_normal(kw).astype(dtype)
                want, got = both_paths(filter1d.correlate_separable, planes, col, row, rows,
                                       cols, left, 0.75)
                assert got.dtype == want.dtype == dtype
                assert got.shape == want.shape == (len(rows) - kh + 1, len(cols) - kw + 1, p)
                scale = np.abs(col).sum() * np.abs(row).sum() * 2
                np.testing.assert_allclose(got, want, rtol=0, atol=TOL[dtype] * scale,
                                           err_msg=f"{(h, w, p)} {(kh, kw)} {shape}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", BOUNDARY_MODES)
def test_box_sums_equal_the_reference(mode, dtype):
    for h, w, p in PLANE_SHAPES + [(700, 5, 1)]:  # 700 rows: several blocks of running sums
        planes = R.uniform(-1, 2, (h, w, p)).astype(dtype)
        for kh, kw in TAPS + [(31, 31)]:
            rows, _ = extension(h, kh, mode)
            cols, left = extension(w, kw, mode)
            scale = 1.0 / (kh * kw)
            want, got = both_paths(filter1d.box_sum, planes, kh, kw, scale, rows, cols, left,
                                   -0.5)
            assert got.dtype == want.dtype == dtype
            assert got.shape == want.shape == (h, w, p)
            np.testing.assert_allclose(got, want, rtol=0, atol=TOL[dtype] * 4,
                                       err_msg=f"{(h, w, p)} {(kh, kw)}")


def test_box_sums_of_a_long_image_do_not_drift():
    """Running sums over 5000 rows of large and small values: each output still equals the
    window's own sum (the sums are kept in float64)."""
    planes = np.where(R.random((5000, 3, 1)) < 0.5, 1e4, 1e-3).astype(np.float32)
    rows, _ = extension(5000, 9, "reflect")
    cols, left = extension(3, 3, "reflect")
    want, got = both_paths(filter1d.box_sum, planes, 9, 3, 1.0, rows, cols, left, 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-6)


def separable_kernel(shape):
    k = np.outer(R.standard_normal(shape[0]), R.standard_normal(shape[1]))
    return (k / np.abs(k).sum()).astype(np.float32)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("boundary", BOUNDARY_MODES)
def test_filters_on_the_compiled_path_equal_direct(boundary, shape):
    images = [R.uniform(-1, 2, (30, 26)).astype(np.float32),
              R.uniform(-1, 2, (12, 10, 3)).astype(np.float32),
              R.uniform(-1, 2, (2, 3, 9, 8)),  # float64, (N, C, H, W)
              R.integers(0, 255, (16, 15)).astype(np.uint8)]
    kernels_ = [separable_kernel(s) for s in [(1, 1), (3, 3), (4, 7), (31, 3)]]
    kernels_ += [np.full((5, 4), 0.05, dtype=np.float32), np.ones((1, 40), dtype=np.float32)]
    for img in images:
        for kernel in kernels_:
            for fn in (correlate, convolve):
                direct = fn(img, kernel, boundary=boundary, shape=shape, cval=0.5,
                            method="direct")
                with kernels.forced("numba"):
                    got = fn(img, kernel, boundary=boundary, shape=shape, cval=0.5,
                             method="separable")
                assert got.dtype == direct.dtype and got.shape == direct.shape
                err = np.abs(got.astype(np.float64) - direct).max() if got.size else 0.0
                assert err <= 3e-6 * max(1.0, float(np.abs(img).max())) * np.abs(kernel).sum()


def test_smoothing_on_both_paths():
    image = R.random((64, 48), dtype=np.float32)
    for sigma in (0.8, 3.0):
        with kernels.forced("numpy"):
            want = gaussian_filter(image, sigma)
        with kernels.forced("numba"):
            got = gaussian_filter(image, sigma)
        np.testing.assert_allclose(got, want, atol=2e-7)
    with kernels.forced("numpy"):
        want = box_filter(image, (31, 6), boundary="wrap")
    with kernels.forced("numba"):
        got = box_filter(image, (31, 6), boundary="wrap")
    np.testing.assert_allclose(got, want, atol=2e-7)


def test_tensors_keep_their_gradient_on_the_compiled_path():
    x = fovea.tensor(R.standard_normal((9, 8)), requires_grad=True)
    with kernels.forced("numba"):
        y = gaussian_filter(x, 1.0)
        y.sum().backward()
    with kernels.forced("numpy"):
        x2 = fovea.tensor(x.data, requires_grad=True)
        gaussian_filter(x2, 1.0).sum().backward()
    np.testing.assert_allclose(x.grad.data, x2.grad.data, atol=1e-12)


def test_auto_chooses_the_compiled_passes_for_rank_1_kernels():
    sobel = np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])
    g = np.exp(-np.arange(-4, 5) ** 2 / 2.0)
    with kernels.forced("numba"):
        assert choose_method(sobel, (2048, 2048)) == "separable"
        assert choose_method(np.outer(g, g), (64, 64)) == "separable"
        assert choose_method(np.full((31, 31), 1 / 961), (2048, 2048)) == "separable"
        assert choose_method(R.standard_normal((5, 5)), (256, 256)) != "separable"
    with kernels.forced("numpy"):
        assert choose_method(sobel, (64, 80)) == "direct"


def test_separate_is_exact_where_the_kernel_allows_and_remembers_copies():
    sobel = np.array([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    col, row = separate(sobel)
    np.testing.assert_array_equal(np.outer(col, row), sobel)  # exact, not an SVD's rounding
    assert col.sum() > 0
    dy = separate(sobel.T)  # the column factor sums to 0: the smoothing row is positive
    assert dy[0].sum() == 0 and dy[1].sum() > 0
    np.testing.assert_array_equal(np.outer(*dy), sobel.T)
    col[:] = 0  # the caller's copy: the remembered factors are unchanged
    np.testing.assert_array_equal(np.outer(*separate(sobel)), sobel)


def test_results_do_not_depend_on_the_thread_count(monkeypatch):
    planes = R.random((300, 40, 1), dtype=np.float32)
    rows, _ = extension(300, 31, "reflect")
    cols, left = extension(40, 31, "reflect")
    col = R.standard_normal(31).astype(np.float32)
    with kernels.forced("numba"):
        runs = []
        for n in (1, 2, 3):
            monkeypatch.setattr(sharing, "threads", lambda n=n: n)
            runs.append((filter1d.box_sum(planes, 31, 31, 1 / 961, rows, cols, left, 0.0),
                         filter1d.correlate_separable(planes, col, col, rows, cols, left, 0.0)))
    for box, sep in runs[1:]:
        np.testing.assert_array_equal(box, runs[0][0])
        np.testing.assert_array_equal(sep, runs[0][1])


def test_share_runs_each_chunk_once_and_passes_errors_on(monkeypatch):
    monkeypatch.setattr(sharing, "threads", lambda: 3)
    done = []
    sharing.share(done.append, 50)
    assert sorted(done) == list(range(50))

    def fail(c):
        if c == 7:
            raise ValueError("chunk 7")

    with pytest.raises(ValueError, match="chunk 7"):
        sharing.share(fail, 20)
    assert sharing.row_chunks(2048, 32) == [c * 128 for c in range(17)]
    assert sharing.row_chunks(20, 32) == [0, 20]
