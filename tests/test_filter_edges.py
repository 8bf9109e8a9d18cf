"""fovea.filters.edges: gradients, orientation, zero crossings and the Canny detector."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fovea.errors import ShapeError
from fovea.filters import kernels as K
from fovea.filters.core import correlate
from fovea.filters.edges import (
    LUMA_WEIGHTS,
    OPERATORS,
    canny,
    gradient,
    gradient_magnitude,
    gradient_orientation,
    zero_crossings,
)

ndi = pytest.importorskip("scipy.ndimage")


def _ramp(a, b, h=12, w=14, dtype=np.float64):
    """I = a·y + b·x (y down the rows, x along the columns)."""
    y, x = np.mgrid[:h, :w]
    return (a * y + b * x).astype(dtype)


# ---- gradient -----------------------------------------------------------------------------
@pytest.mark.parametrize("operator", OPERATORS)
@pytest.mark.parametrize("a,b", [(0.0, 2.0), (3.0, 0.0), (-1.5, 0.5)])
def test_gradient_of_a_ramp(operator, a, b):
    dy, dx = gradient(_ramp(a, b), operator=operator)
    # interior (the reflect boundary flattens the outermost pixels)
    np.testing.assert_allclose(dy[1:-1, 1:-1], a, atol=1e-12)
    np.testing.assert_allclose(dx[1:-1, 1:-1], b, atol=1e-12)
    mag = gradient_magnitude(_ramp(a, b), operator=operator)
    np.testing.assert_allclose(mag[1:-1, 1:-1], math.hypot(a, b), atol=1e-12)


def test_gradient_unnormalized_matches_scipy(rng):
    img = rng.random((10, 11))
    for mode in ("reflect", "constant", "wrap", "nearest", "mirror"):
        dy, dx = gradient(img, boundary=mode, normalize=False)
        np.testing.assert_allclose(dy, ndi.sobel(img, axis=0, mode=mode), atol=1e-12)
        np.testing.assert_allclose(dx, ndi.sobel(img, axis=1, mode=mode), atol=1e-12)
        dy, dx = gradient(img, boundary=mode, operator="prewitt", normalize=False)
        np.testing.assert_allclose(dx, ndi.prewitt(img, axis=1, mode=mode), atol=1e-12)
    dy, dx = gradient(_ramp(1.0, 1.0), operator="central", normalize=False)
    np.testing.assert_allclose(dx[1:-1, 1:-1], 2.0)
    mag = gradient_magnitude(img, normalize=False)
    np.testing.assert_allclose(mag, np.hypot(ndi.sobel(img, 0), ndi.sobel(img, 1)), atol=1e-12)


def test_gradient_dtypes_and_layouts(rng):
    img32 = rng.random((8, 9)).astype(np.float32)
    for out in (*gradient(img32), gradient_magnitude(img32), gradient_orientation(img32)):
        assert out.dtype == np.float32 and out.shape == (8, 9)
    u8 = (rng.random((8, 9)) * 255).astype(np.uint8)
    assert gradient_magnitude(u8).dtype == np.float32
    rgb = rng.random((8, 9, 3))
    mag = gradient_magnitude(rgb)
    assert mag.shape == (8, 9, 3)
    np.testing.assert_allclose(mag[..., 1], gradient_magnitude(rgb[..., 1]), atol=1e-12)
    batch = rng.random((2, 3, 8, 9))
    dy, dx = gradient(batch)
    assert dy.shape == batch.shape
    np.testing.assert_allclose(dx[1, 2], gradient(batch[1, 2])[1], atol=1e-12)
    with pytest.raises(ValueError, match="operator"):
        gradient(img32, operator="roberts")


def test_gradient_magnitude_of_a_tensor(rng, seeded):
    import fovea
    from fovea.autograd import gradcheck

    img = rng.random((7, 8))  # |∇I| > 0 everywhere: differentiable
    t = fovea.tensor(img, dtype="float64", requires_grad=True)
    mag = gradient_magnitude(t)
    assert isinstance(mag, fovea.Tensor)
    np.testing.assert_allclose(mag.data, gradient_magnitude(img), atol=1e-12)
    for operator in ("sobel", "central"):
        gradcheck(lambda x, op=operator: gradient_magnitude(x, operator=op, method="direct"),
                  [t])
    # where the gradient is exactly 0 the subgradient 0 is used, not NaN
    zero = fovea.zeros(6, 6, dtype="float64", requires_grad=True)
    gradient_magnitude(zero).sum().backward()
    np.testing.assert_array_equal(zero.grad.data, 0.0)
    theta = gradient_orientation(t)
    assert isinstance(theta, fovea.Tensor) and not theta.requires_grad
    np.testing.assert_allclose(theta.data, gradient_orientation(img), atol=1e-12)


def test_orientation_of_ramps():
    assert np.allclose(gradient_orientation(_ramp(0.0, 1.0))[1:-1, 1:-1], 0.0)
    assert np.allclose(gradient_orientation(_ramp(1.0, 0.0))[1:-1, 1:-1], np.pi / 2)
    assert np.allclose(gradient_orientation(_ramp(0.0, -1.0))[1:-1, 1:-1], np.pi)
    assert np.allclose(gradient_orientation(_ramp(-1.0, 0.0))[1:-1, 1:-1], -np.pi / 2)
    assert np.allclose(gradient_orientation(_ramp(1.0, 1.0))[1:-1, 1:-1], np.pi / 4)


# ---- zero crossings ----------------------------------------------------------------------------
def test_zero_crossings_small_cases():
    lap = np.array([[1.0, -1.0, -2.0],
                    [2.0, 0.0, -3.0],
                    [-1.0, 0.5, 4.0]])
    out = zero_crossings(lap)
    assert out.dtype == bool
    # by hand (0 counts as positive): (0,0) 1|−1 right; (0,1) −1 over 0 below;
    # (0,2) −2|−3 no; (1,0) 2 over −1; (1,1) 0|−3 right; (1,2) −3 over 4;
    # (2,0) −1|0.5 right; (2,1) 0.5|4 no; (2,2) no neighbours
    expected = np.array([[True, True, False], [True, True, True], [True, False, False]])
    np.testing.assert_array_equal(out, expected)
    # |a − b| must exceed the threshold
    assert not zero_crossings(np.array([[0.1, -0.1]]), threshold=0.2).any()
    assert zero_crossings(np.array([[0.1, -0.15]]), threshold=0.2)[0, 0]
    # no sign change: nothing, zeros included
    assert not zero_crossings(np.zeros((4, 4))).any()
    assert not zero_crossings(np.abs(np.random.default_rng(0).random((5, 5)))).any()
    with pytest.raises(ShapeError):
        zero_crossings(np.zeros((3, 3, 3)))
    with pytest.raises(ValueError, match="threshold"):
        zero_crossings(lap, threshold=-1)


def test_zero_crossings_of_log_ring_around_a_disk():
    h = w = 64
    cy, cx, radius = 31.5, 32.0, 14.0
    y, x = np.mgrid[:h, :w]
    dist = np.hypot(y - cy, x - cx)
    disk = (dist <= radius).astype(np.float64)
    log = correlate(disk, K.laplacian_of_gaussian(2.0), boundary="constant")
    edges = zero_crossings(log, threshold=0.05 * np.abs(log).max())
    assert edges.sum() > 50
    # every crossing lies near the disk's edge …
    assert np.all(np.abs(dist[edges] - radius) <= 2.0)
    # … and the crossings go all the way round
    angles = np.arctan2(y[edges] - cy, x[edges] - cx)
    hist, _ = np.histogram(angles, bins=16, range=(-np.pi, np.pi))
    assert np.all(hist > 0)


# ---- Canny ----------------------------------------------------------------------------------
TOP, BOTTOM, LEFT, RIGHT = 16, 48, 20, 46  # the square: rows TOP … BOTTOM−1, cols LEFT … RIGHT−1


def _square(noise=0.03, seed=7, h=64, w=64):
    img = np.full((h, w), 0.2)
    img[TOP:BOTTOM, LEFT:RIGHT] = 0.8
    return img + np.random.default_rng(seed).normal(0.0, noise, img.shape)


def test_canny_finds_the_square():
    edges = canny(_square())
    assert edges.dtype == bool and edges.shape == (64, 64)
    # nothing in the flat regions: every edge pixel within 2 pixels of the square's border
    y, x = np.nonzero(edges)
    near_rows = (np.abs(y - (TOP - 0.5)) <= 2) | (np.abs(y - (BOTTOM - 0.5)) <= 2)
    near_cols = (np.abs(x - (LEFT - 0.5)) <= 2) | (np.abs(x - (RIGHT - 0.5)) <= 2)
    inside_box = (y >= TOP - 3) & (y <= BOTTOM + 2) & (x >= LEFT - 3) & (x <= RIGHT + 2)
    assert np.all(inside_box & ((near_rows & (x >= LEFT - 3) & (x <= RIGHT + 2))
                                | (near_cols & (y >= TOP - 3) & (y <= BOTTOM + 2))))
    # thin: away from the corners each side is one pixel thick
    for c in range(LEFT + 4, RIGHT - 4):
        assert edges[TOP - 3:TOP + 3, c].sum() == 1
        assert edges[BOTTOM - 3:BOTTOM + 3, c].sum() == 1
    for r in range(TOP + 4, BOTTOM - 4):
        assert edges[r, LEFT - 3:LEFT + 3].sum() == 1
        assert edges[r, RIGHT - 3:RIGHT + 3].sum() == 1
    # closed: the background cannot reach the square's inside without crossing an edge
    labels, _ = ndi.label(~edges)  # 4-connected regions of non-edge pixels
    assert labels[0, 0] != labels[(TOP + BOTTOM) // 2, (LEFT + RIGHT) // 2]
    assert labels[(TOP + BOTTOM) // 2, (LEFT + RIGHT) // 2] == labels[TOP + 3, LEFT + 3]


def test_canny_thresholds():
    noisy = _square(noise=0.12, seed=3)
    counts = [canny(noisy, sigma=1.0, low=0.05, high=h).sum() for h in (0.1, 0.2, 0.4, 0.8)]
    assert all(a >= b for a, b in zip(counts, counts[1:]))
    assert counts[0] > counts[-1]
    # hysteresis only adds weak pixels: a lower "low" never removes edges
    strong_only = canny(noisy, low=0.3, high=0.3)
    with_weak = canny(noisy, low=0.1, high=0.3)
    assert np.all(with_weak[strong_only]) and with_weak.sum() >= strong_only.sum()
    # absolute thresholds are gradient magnitudes (intensity per pixel): the step of 0.6
    # gives normalized Sobel magnitudes ≤ 0.3, so 1.0 finds nothing
    clean = _square(noise=0.0)
    assert not canny(clean, low=0.5, high=1.0, relative=False).any()
    assert np.array_equal(canny(clean, low=0.01, high=0.05, relative=False), canny(clean))


def test_canny_flat_and_degenerate_images():
    assert not canny(np.full((16, 16), 3.0)).any()
    assert not canny(np.zeros((16, 16), dtype=np.uint8)).any()
    assert canny(np.zeros((0, 5))).shape == (0, 5)
    edges = canny(_square(noise=0.0), sigma=0)  # no smoothing
    assert edges.any()


def test_canny_colour_and_integer_input():
    gray = _square(noise=0.02)
    rgb = np.zeros(gray.shape + (3,))
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = gray * 0.9, gray, gray * 0.5
    luma = sum(w * rgb[..., c] for c, w in enumerate(LUMA_WEIGHTS))
    np.testing.assert_array_equal(canny(rgb), canny(luma))
    assert canny(rgb).sum() > 50
    rgba = np.concatenate([rgb, np.ones(gray.shape + (1,))], axis=2)
    np.testing.assert_array_equal(canny(rgba), canny(rgb))
    u8 = np.clip(gray * 255, 0, 255).astype(np.uint8)
    edges = canny(u8)
    assert edges.dtype == bool and edges.sum() > 50
    u8_rgb = np.repeat(u8[..., None], 3, axis=2)
    np.testing.assert_array_equal(canny(u8_rgb), edges)


def test_canny_errors():
    img = _square()
    with pytest.raises(ValueError, match="low"):
        canny(img, low=0.5, high=0.2)
    with pytest.raises(ValueError, match="sigma"):
        canny(img, sigma=-1)
    with pytest.raises(ValueError, match="high"):
        canny(img, high=np.nan)
    with pytest.raises(ShapeError):
        canny(np.zeros((2, 8, 8)))
    with pytest.raises(ShapeError):
        canny(np.zeros((1, 1, 8, 8)))
