"""The three methods of fovea.filters agree, and the pieces that choose between them.

FFT and separable against direct on random 64×80 float32 images with random separable kernels
(outer products of random vectors, normalized to Σ|g| = 1 so that float32 rounding, which
grows with Σ|g|·|x|, stays a property of the image); ``separate`` / ``is_separable``; ``cost``,
``choose_method``; ``next_fast_len`` against a brute-force search.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fovea
from fovea.filters import (
    BOUNDARY_MODES,
    SHAPES,
    choose_method,
    convolve,
    correlate,
    cost,
    is_separable,
    next_fast_len,
    separate,
)

R = np.random.default_rng(20240613)

KERNEL_SHAPES = [(1, 1), (3, 3), (5, 7), (2, 6), (9, 4), (15, 15), (1, 11), (13, 1), (31, 17)]


def separable_kernel(shape, rng=R):
    k = np.outer(rng.standard_normal(shape[0]), rng.standard_normal(shape[1]))
    return (k / np.abs(k).sum()).astype(np.float32)


# ---- fft and separable equal direct -------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("boundary", BOUNDARY_MODES)
def test_fft_and_separable_equal_direct(boundary, shape):
    img = R.uniform(-2.0, 3.0, (64, 80)).astype(np.float32)
    tol = 1e-5 * float(np.ptp(img))
    cval = 0.25
    for kshape in KERNEL_SHAPES:
        kernel = separable_kernel(kshape)
        for fn in (correlate, convolve):
            direct = fn(img, kernel, boundary=boundary, shape=shape, cval=cval, method="direct")
            assert direct.dtype == np.float32
            for method in ("fft", "separable", "auto"):
                got = fn(img, kernel, boundary=boundary, shape=shape, cval=cval, method=method)
                assert got.dtype == np.float32
                assert got.shape == direct.shape
                err = np.abs(got.astype(np.float64) - direct).max()
                assert err <= tol, (fn.__name__, kshape, method, err)


@pytest.mark.parametrize("boundary", BOUNDARY_MODES)
def test_fft_equals_direct_for_general_kernels_colour_and_batch(boundary):
    for ishape in [(64, 80, 3), (2, 2, 20, 24)]:
        img = R.uniform(0.0, 1.0, ishape).astype(np.float32)
        for kshape in [(3, 3), (8, 5), (15, 15)]:
            kernel = R.standard_normal(kshape)
            kernel = (kernel / np.abs(kernel).sum()).astype(np.float32)
            for shape in SHAPES:
                direct = convolve(img, kernel, boundary=boundary, shape=shape, method="direct")
                got = convolve(img, kernel, boundary=boundary, shape=shape, method="fft")
                assert got.dtype == np.float32 and got.shape == direct.shape
                assert np.abs(got - direct).max() <= 1e-5 * float(np.ptp(img))


# ---- separate / is_separable --------------------------------------------------------------
@pytest.mark.parametrize("kshape", [(1, 1), (3, 3), (5, 9), (7, 2), (1, 6), (6, 1), (15, 15)])
def test_separate_recovers_an_outer_product(kshape):
    rng = np.random.default_rng(sum(kshape))
    for _ in range(5):
        col, row = rng.standard_normal(kshape[0]), rng.standard_normal(kshape[1])
        kernel = np.outer(col, row)
        factors = separate(kernel)
        assert factors is not None
        c, r = factors
        assert c.shape == (kshape[0],) and r.shape == (kshape[1],)
        np.testing.assert_allclose(np.outer(c, r), kernel, rtol=0,
                                   atol=1e-12 * np.abs(kernel).max())
        # the factors are the true ones up to a scale and a sign
        ratio = c / col
        np.testing.assert_allclose(ratio, ratio[0], rtol=1e-9)
        assert is_separable(kernel)
        assert is_separable(kernel.astype(np.float32))


def test_separate_known_kernels():
    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=float)
    c, r = separate(sobel)
    np.testing.assert_allclose(np.outer(c, r), sobel, atol=1e-12)
    assert c.sum() > 0  # the sign convention: the column factor sums positive
    np.testing.assert_allclose(c / c[0], [1, 2, 1])
    box = np.ones((4, 6)) / 24
    c, r = separate(box)
    np.testing.assert_allclose(np.outer(c, r), box, atol=1e-15)
    c, r = separate(np.zeros((3, 2)))
    assert np.all(np.outer(c, r) == 0)
    g = np.exp(-np.arange(-4, 5) ** 2 / 2.0)
    assert is_separable(np.outer(g, g) / np.outer(g, g).sum())
    assert is_separable(np.outer(g, g).astype(np.float32))


def test_separate_refuses_full_rank_kernels():
    rng = np.random.default_rng(7)
    for kshape in [(2, 2), (3, 3), (5, 5), (4, 7), (15, 15)]:
        for _ in range(5):
            kernel = rng.standard_normal(kshape)
            assert separate(kernel) is None
            assert not is_separable(kernel)
    laplace = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)
    assert separate(laplace) is None
    assert separate(np.eye(3)) is None
    # rank 2: a sum of two outer products
    rank2 = np.outer([1, 2, 1], [1, 0, -1]) + np.outer([1, 0, -1], [1, 2, 1])
    assert not is_separable(rank2)


def test_separate_tolerance():
    """Every singular value after the first must lie within tol × the first: a rank-1 kernel
    perturbed by relative size ε is separable for tol above ε and refused for tol below it."""
    rng = np.random.default_rng(11)
    col, row = rng.standard_normal(7), rng.standard_normal(5)
    base = np.outer(col, row)
    noise = rng.standard_normal(base.shape)
    noise -= np.outer(col, col @ noise) / (col @ col)  # orthogonal to the rank-1 part
    s0 = np.linalg.norm(base, 2)
    for eps in (1e-9, 1e-4, 1e-2):
        kernel = base + eps * s0 * noise / np.linalg.norm(noise, 2)
        s = np.linalg.svd(kernel, compute_uv=False)
        rel = s[1] / s[0]
        assert eps / 100 < rel <= 1.01 * eps
        assert separate(kernel, tol=rel * 1.5) is not None
        assert separate(kernel, tol=rel / 1.5) is None
        assert is_separable(kernel, tol=rel * 1.5)
        assert not is_separable(kernel, tol=rel / 1.5)
        c, r = separate(kernel, tol=rel * 1.5)
        assert np.abs(np.outer(c, r) - kernel).max() <= 2 * rel * s0
    # the default tol (1e-6): float rounding of an outer product passes, 1e-4 noise does not
    assert is_separable(base + 1e-9 * s0 * noise / np.linalg.norm(noise, 2))
    assert not is_separable(base + 1e-4 * s0 * noise / np.linalg.norm(noise, 2))


def test_separate_rejects_bad_kernels():
    with pytest.raises(ValueError):
        separate(np.ones(3))
    assert separate(np.ones((0, 3))) is None
    assert separate(np.array([[1.0, np.nan], [1.0, 1.0]])) is None


# ---- cost and choose_method ---------------------------------------------------------------
def fft_estimate(kshape, h, w, planes):
    n = next_fast_len(h + kshape[0] - 1) * next_fast_len(w + kshape[1] - 1)
    return planes * n * math.log2(n)


@pytest.mark.parametrize("kshape", [(3, 3), (5, 5), (15, 15), (3, 7), (1, 9)])
@pytest.mark.parametrize("ishape", [(64, 80), (100, 200, 3), (2, 3, 40, 50), (1, 1)])
def test_cost(kshape, ishape):
    kh, kw = kshape
    if len(ishape) == 2:
        h, w, planes = ishape[0], ishape[1], 1
    elif len(ishape) == 3:
        h, w, planes = ishape
    else:
        h, w, planes = ishape[2], ishape[3], ishape[0] * ishape[1]
    n = h * w * planes
    c = cost(kshape, ishape)
    assert set(c) == {"direct", "separable", "fft"}
    assert c["direct"] == kh * kw * n
    assert c["separable"] == (kh + kw) * n
    if kh == kw:
        assert c["separable"] == 2 * kh * n
    assert c["fft"] == pytest.approx(fft_estimate(kshape, h, w, planes), rel=1e-6, abs=1)


def test_cost_fft_grows_as_n_log_n_and_not_with_the_kernel():
    small = cost((5, 5), (512, 512))["fft"]
    big = cost((5, 5), (2048, 2048))["fft"]
    assert 16 < big / small < 16 * 1.5  # 16x the samples, a little more per sample (log n)
    assert cost((31, 31), (2048, 2048))["fft"] < 1.2 * big


def test_choose_method():
    rng = np.random.default_rng(3)
    g = np.exp(-np.arange(-12, 13) ** 2 / (2 * 3.0 ** 2))
    gauss = np.outer(g, g) / g.sum() ** 2
    assert choose_method(gauss, (512, 512)) == "separable"
    assert choose_method(gauss.astype(np.float32), (256, 256, 3)) == "separable"
    assert choose_method(np.ones((15, 15)), (512, 512)) == "separable"
    assert choose_method(rng.standard_normal((45, 45)), (1024, 1024)) == "fft"
    assert choose_method(rng.standard_normal((31, 31)), (2, 3, 512, 512)) == "fft"
    laplace = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)
    assert choose_method(laplace, (32, 32)) == "direct"
    assert choose_method(rng.standard_normal((3, 3)), (64, 80)) == "direct"
    # auto computes what the chosen method computes
    img = rng.uniform(size=(40, 50)).astype(np.float32)
    for kernel in (gauss[:5, :5], laplace, rng.standard_normal((15, 15))):
        method = choose_method(kernel, img.shape)
        np.testing.assert_array_equal(correlate(img, kernel, method="auto"),
                                      correlate(img, kernel, method=method))


def test_auto_factors_only_what_is_exact_in_the_dtype():
    """A kernel within 1e-6 of rank 1 is separable for float32 (the error is float32 rounding)
    but not for float64, where "auto" must stay as exact as direct (regression: auto used
    the 1e-6 rank-1 approximation on float64 images, off by ~1e-8)."""
    rng = np.random.default_rng(5)
    base = np.outer(rng.standard_normal(9), rng.standard_normal(9))
    base /= np.abs(base).sum()
    kernel = base + 1e-8 * rng.standard_normal(base.shape) / base.size
    assert is_separable(kernel)  # the default tol 1e-6
    assert choose_method(kernel.astype(np.float32), (1024, 1024)) == "separable"
    assert choose_method(kernel, (1024, 1024)) != "separable"
    img = rng.uniform(-1, 1, (48, 40))
    for boundary in BOUNDARY_MODES:
        direct = correlate(img, kernel, boundary=boundary, method="direct")
        assert np.abs(correlate(img, kernel, boundary=boundary) - direct).max() < 1e-13
        t = fovea.tensor(img, requires_grad=True)  # the differentiable path factors too
        assert np.abs(correlate(t, kernel, boundary=boundary).data - direct).max() < 1e-13


# ---- next_fast_len ------------------------------------------------------------------------
def brute_next_fast_len(n):
    m = max(n, 1)
    while True:
        x = m
        for p in (2, 3, 5):
            while x % p == 0:
                x //= p
        if x == 1:
            return m
        m += 1


def test_next_fast_len_is_the_smallest_5_smooth_number():
    for n in range(1, 501):
        m = next_fast_len(n)
        assert m == brute_next_fast_len(n), n
        x = m
        for p in (2, 3, 5):
            while x % p == 0:
                x //= p
        assert x == 1 and m >= n


def test_next_fast_len_large_and_matches_scipy():
    fft = pytest.importorskip("scipy.fft")
    for n in [1023, 1025, 2048, 2049, 2055, 4097, 10007, 65537, 1_000_001]:
        assert next_fast_len(n) == fft.next_fast_len(n, real=True)
