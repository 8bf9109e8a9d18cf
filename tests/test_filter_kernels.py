"""fovea.filters.kernels and the smoothing shortcuts: shapes, sums, symmetry, known values,
scipy.ndimage agreement and argument errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fovea.filters import kernels as K
from fovea.filters.core import correlate
from fovea.filters.smoothing import box_filter, gaussian_filter, sharpen_image

ndi = pytest.importorskip("scipy.ndimage")

MODES = ("constant", "reflect", "mirror", "nearest", "wrap")


def _ramp(h=9, w=11, dtype=np.float64):
    y, x = np.mgrid[:h, :w]
    return (3.0 * y + 2.0 * x).astype(dtype)


# ---- impulse, shift, box, weighted_average ----------------------------------------------------
@pytest.mark.parametrize("size", [1, 3, 5, 7])
def test_impulse(size):
    g = K.impulse(size)
    assert g.shape == (size, size) and g.dtype == np.float64
    assert g.sum() == 1.0 and g[size // 2, size // 2] == 1.0
    assert np.array_equal(g, g[::-1, ::-1])


def test_impulse_pair_and_errors():
    assert K.impulse((1, 5)).shape == (1, 5) and K.impulse((1, 5))[0, 2] == 1
    for bad in (0, 2, -3, 3.0, True, (3, 4), "3"):
        with pytest.raises(ValueError, match="size"):
            K.impulse(bad)


@pytest.mark.parametrize("dy,dx", [(0, 0), (1, 0), (0, -2), (-1, 3), (2, 2)])
def test_shift_kernel(dy, dx):
    g = K.shift(dy, dx)
    r = max(abs(dy), abs(dx))
    assert g.shape == (2 * r + 1, 2 * r + 1)
    assert g.sum() == 1.0 and g[r + dy, r + dx] == 1.0


def test_shift_errors():
    with pytest.raises(ValueError, match="dy"):
        K.shift(0.5, 0)
    with pytest.raises(ValueError, match="dx"):
        K.shift(0, "1")


@pytest.mark.parametrize("size,shape", [(1, (1, 1)), (3, (3, 3)), (4, (4, 4)), ((2, 5), (2, 5))])
def test_box(size, shape):
    g = K.box(size)
    assert g.shape == shape
    assert np.allclose(g, 1.0 / (shape[0] * shape[1]))
    assert g.sum() == pytest.approx(1.0, abs=1e-15)


def test_box_errors():
    for bad in (0, -1, 2.5, (3,), (3, 0), (3, 3, 3), None):
        with pytest.raises(ValueError, match="size"):
            K.box(bad)


def test_weighted_average():
    w = np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]])
    g = K.weighted_average(w)
    assert g.dtype == np.float64 and g.sum() == pytest.approx(1.0)
    assert np.allclose(g, w / 16)
    row = K.weighted_average([1, 1, 2])
    assert row.shape == (1, 3) and np.allclose(row, [[0.25, 0.25, 0.5]])
    with pytest.raises(ValueError, match="non-negative"):
        K.weighted_average([[1, -1], [1, 1]])
    with pytest.raises(ValueError, match="zero"):
        K.weighted_average(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="finite"):
        K.weighted_average([[1, np.nan]])
    with pytest.raises(ValueError, match="2-D"):
        K.weighted_average(np.ones((2, 2, 2)))


# ---- Gaussian -----------------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [0.3, 0.5, 1.0, 1.4, 2.0, 3.7])
def test_gaussian_1d_matches_scipy_taps(sigma):
    g = K.gaussian_1d(sigma)
    r = int(4 * sigma + 0.5)
    assert g.shape == (2 * r + 1,)
    delta = np.zeros(2 * r + 1)
    delta[r] = 1.0
    ref = ndi.gaussian_filter1d(delta, sigma, mode="constant")  # the kernel itself
    np.testing.assert_allclose(g, ref, rtol=0, atol=1e-15)


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 3.3])
def test_gaussian_2d(sigma):
    g = K.gaussian(sigma)
    r = int(4 * sigma + 0.5)
    assert g.shape == (2 * r + 1, 2 * r + 1) and g.dtype == np.float64
    assert g.sum() == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(g, g.T, atol=1e-18)
    np.testing.assert_allclose(g, g[::-1, ::-1], atol=1e-18)
    assert np.unravel_index(np.argmax(g), g.shape) == (r, r)
    # proportional to the sampled Gaussian function exp(-(x² + y²) / 2σ²)
    x = np.arange(-r, r + 1)
    ref = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    np.testing.assert_allclose(g, ref / ref.sum(), rtol=1e-12)


def test_gaussian_radius_and_anisotropic():
    assert K.gaussian(1.0, radius=2).shape == (5, 5)
    assert K.gaussian(1.0, radius=0).shape == (1, 1)
    g = K.gaussian((1.0, 2.0))
    assert g.shape == (9, 17) and g.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(g, np.outer(K.gaussian_1d(1.0), K.gaussian_1d(2.0)))


@settings(max_examples=30, deadline=None)
@given(st.floats(0.05, 6.0))
def test_gaussian_properties(sigma):
    g = K.gaussian(sigma)
    assert g.shape[0] % 2 == 1 and g.shape[0] == g.shape[1]
    assert abs(g.sum() - 1.0) < 1e-12 and np.all(g >= 0)
    assert np.allclose(g, g.T) and np.allclose(g, g[::-1])


def test_gaussian_errors():
    for bad in (0, -1.0, np.nan, np.inf, "1", None):
        with pytest.raises(ValueError, match="sigma"):
            K.gaussian(bad)
        with pytest.raises(ValueError, match="sigma"):
            K.gaussian_1d(bad)
        with pytest.raises(ValueError, match="sigma"):
            K.laplacian_of_gaussian(bad)
    with pytest.raises(ValueError, match="sigma"):
        K.gaussian((1.0, 0.0))
    with pytest.raises(ValueError, match="radius"):
        K.gaussian(1.0, radius=-1)
    with pytest.raises(ValueError, match="radius"):
        K.gaussian_1d(1.0, radius=1.5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, (1.0, 2.5)])
def test_gaussian_filter_matches_scipy(mode, sigma, rng):
    image = rng.random((23, 29)) * 200 - 50
    span = image.max() - image.min()
    for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-10)):
        img = image.astype(dtype)
        out = gaussian_filter(img, sigma, boundary=mode, cval=1.5)
        ref = ndi.gaussian_filter(img.astype(np.float64), sigma, mode=mode, cval=1.5)
        assert out.dtype == dtype and out.shape == img.shape
        np.testing.assert_allclose(out, ref, rtol=0, atol=tol * span)


def test_gaussian_filter_colour_batch_and_ints(rng):
    rgb = rng.random((12, 14, 3))
    out = gaussian_filter(rgb, 1.2)
    for c in range(3):
        np.testing.assert_allclose(out[..., c], ndi.gaussian_filter(rgb[..., c], 1.2),
                                   atol=1e-12)
    batch = rng.random((2, 3, 10, 9))
    ref = ndi.gaussian_filter(batch, (0, 0, 1.0, 1.0))
    np.testing.assert_allclose(gaussian_filter(batch, 1.0), ref, atol=1e-12)
    u8 = (rng.random((10, 10)) * 255).astype(np.uint8)
    out = gaussian_filter(u8, 1.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, ndi.gaussian_filter(u8.astype(np.float64), 1.0),
                               atol=1e-3)


def test_gaussian_filter_tensor(rng):
    import fovea

    img = rng.random((8, 9))
    t = fovea.tensor(img, dtype="float64", requires_grad=True)
    out = gaussian_filter(t, 1.0)
    assert isinstance(out, fovea.Tensor)
    np.testing.assert_allclose(out.data, gaussian_filter(img, 1.0), atol=1e-12)
    out.sum().backward()
    # d(sum of outputs)/d(pixel) = the sum of the taps that read it: 1 (with the reflect
    # boundary the tap lost past one edge comes back by reflection, g symmetric)
    assert t.grad is not None and abs(float(t.grad.data[4, 4]) - 1.0) < 1e-12


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [3, 4, (2, 5)])
def test_box_filter_matches_uniform_filter(mode, size, rng):
    img = rng.random((15, 16))
    np.testing.assert_allclose(box_filter(img, size, boundary=mode, cval=0.5),
                               ndi.uniform_filter(img, size, mode=mode, cval=0.5), atol=1e-12)


# ---- sharpen --------------------------------------------------------------------------------
def test_sharpen_kernel():
    g = K.sharpen()
    expected = -np.full((3, 3), 1 / 9)
    expected[1, 1] += 2.0
    np.testing.assert_allclose(g, expected, atol=1e-15)
    assert g.sum() == pytest.approx(1.0)
    g2 = K.sharpen(0.5, K.gaussian(1.0))
    assert g2.shape == (9, 9) and g2.sum() == pytest.approx(1.0)
    assert g2[4, 4] == pytest.approx(1.5 - 0.5 * K.gaussian(1.0)[4, 4])
    assert np.array_equal(K.sharpen(0.0), K.impulse(3))
    with pytest.raises(ValueError, match="alpha"):
        K.sharpen(np.nan)
    with pytest.raises(ValueError, match="blur"):
        K.sharpen(1.0, np.ones(3))


def test_sharpen_image(rng):
    img = rng.random((12, 13))
    out = sharpen_image(img, alpha=0.7)
    np.testing.assert_allclose(out, img + 0.7 * (img - box_filter(img, 3)), atol=1e-12)
    flat = np.full((6, 6), 4.0)
    np.testing.assert_allclose(sharpen_image(flat, alpha=2.0), flat, atol=1e-12)
    # an edge is amplified: overshoot on both sides of a step
    step = np.repeat([[0.0] * 5 + [1.0] * 5], 4, axis=0)
    s = sharpen_image(step)
    assert s[:, 4].max() < 0 and s[:, 5].min() > 1


# ---- derivatives -------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,taps", [("central", [-0.5, 0, 0.5]), ("forward", [0, -1, 1]),
                                       ("backward", [-1, 1, 0])])
def test_derivative_kernels(kind, taps):
    gx, gy = K.derivative(1, kind), K.derivative(0, kind)
    assert gx.shape == (1, 3) and gy.shape == (3, 1)
    np.testing.assert_array_equal(gx[0], taps)
    np.testing.assert_array_equal(gy[:, 0], taps)
    assert gx.sum() == 0
    ramp = _ramp()  # 3·y + 2·x
    np.testing.assert_allclose(correlate(ramp, gx)[2:-2, 2:-2], 2.0)
    np.testing.assert_allclose(correlate(ramp, gy)[2:-2, 2:-2], 3.0)


def test_derivative_errors():
    for bad in (2, -1, 0.0, "x", True):
        with pytest.raises(ValueError, match="axis"):
            K.derivative(bad)
        with pytest.raises(ValueError, match="axis"):
            K.sobel(bad)
    with pytest.raises(ValueError, match="kind"):
        K.derivative(0, "sideways")


def test_gradient_operator_values():
    np.testing.assert_array_equal(K.sobel(1), [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    np.testing.assert_array_equal(K.prewitt(1), [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]])
    np.testing.assert_array_equal(K.scharr(1), [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]])
    for op, scale in ((K.sobel, 8), (K.prewitt, 6), (K.scharr, 32)):
        np.testing.assert_array_equal(op(0), op(1).T)
        assert op(1).sum() == 0 and op(0).sum() == 0
        np.testing.assert_array_equal(op(1), -op(1)[:, ::-1])  # antisymmetric along x
        np.testing.assert_array_equal(op(1), op(1)[::-1, :])   # symmetric across
        np.testing.assert_allclose(op(1, normalize=True), op(1) / scale)


@pytest.mark.parametrize("axis", [0, 1])
def test_sobel_and_prewitt_match_scipy(axis, rng):
    ramp = _ramp()
    out = correlate(ramp, K.sobel(axis))
    ref = ndi.sobel(ramp, axis=axis)
    np.testing.assert_allclose(out, ref, atol=1e-12)
    slope = 3.0 if axis == 0 else 2.0
    assert np.allclose(out[1:-1, 1:-1], 8 * slope)  # positive: intensity increases along +axis
    img = rng.random((10, 12))
    for mode in MODES:
        np.testing.assert_allclose(correlate(img, K.sobel(axis), boundary=mode),
                                   ndi.sobel(img, axis=axis, mode=mode), atol=1e-12)
        np.testing.assert_allclose(correlate(img, K.prewitt(axis), boundary=mode),
                                   ndi.prewitt(img, axis=axis, mode=mode), atol=1e-12)


def test_laplacian(rng):
    g = K.laplacian()
    np.testing.assert_array_equal(g, [[0, 1, 0], [1, -4, 1], [0, 1, 0]])
    assert g.sum() == 0 and np.array_equal(g, g.T) and np.array_equal(g, g[::-1, ::-1])
    img = rng.random((9, 10))
    for mode in MODES:
        np.testing.assert_allclose(correlate(img, g, boundary=mode),
                                   ndi.laplace(img, mode=mode), atol=1e-12)


@pytest.mark.parametrize("sigma", [1.0, 1.4, 2.0])
def test_laplacian_of_gaussian(sigma, rng):
    g = K.laplacian_of_gaussian(sigma)
    r = int(4 * sigma + 0.5)
    assert g.shape == (2 * r + 1, 2 * r + 1)
    assert abs(g.sum()) < 1e-14
    np.testing.assert_allclose(g, g.T, atol=1e-18)
    np.testing.assert_allclose(g, g[::-1, ::-1], atol=1e-18)
    assert g[r, r] == g.min() < 0
    # a flat image gives 0; the quadratic x² + y² (∇² = 4) gives ≈ 4
    assert np.abs(correlate(np.full((20, 20), 7.0), g)).max() < 1e-12
    x = np.arange(-r, r + 1.0)
    assert (g * (x[:, None] ** 2 + x[None, :] ** 2)).sum() == pytest.approx(4.0, rel=5e-3)
    # close to scipy's separable Gaussian second derivatives on a smooth image
    img = ndi.gaussian_filter(rng.random((48, 48)), 2.0)
    ref = ndi.gaussian_laplace(img, sigma)
    out = correlate(img, g)
    assert np.abs(out - ref).max() < 1e-2 * np.abs(ref).max()
    assert K.laplacian_of_gaussian(sigma, radius=3).shape == (7, 7)
