"""The worked examples of the notes, §1.1 (Image Filters … Edges and Derivatives), as tests.

Where the notes slip (the coordinate schema of the convolution example, the "3 pixels" of a
9-tap shift kernel, the sign pattern of the step's derivative), the tests follow the
mathematics of the definition f[m, n] = Σ_{k,l} I[m − k, n − l]·g[k, l] with the kernel's
centre at offset (0, 0) and offsets growing down the rows and to the right.
"""

from __future__ import annotations

import numpy as np
import pytest

from fovea.filters import kernels as K
from fovea.filters.core import convolve, correlate
from fovea.filters.edges import gradient
from fovea.filters.smoothing import box_filter, gaussian_filter

MODES = ("constant", "reflect", "mirror", "nearest", "wrap")


def test_filter_as_patch_mean():
    """§1.1: the mean of the 3 × 3 patch [[8, 7, 4], [5, 9, 1], [2, 3, 6]] is 5."""
    patch = np.array([[8, 7, 4], [5, 9, 1], [2, 3, 6]], dtype=np.float64)
    assert correlate(patch, K.box(3))[1, 1] == pytest.approx(5.0)
    np.testing.assert_allclose(correlate(patch, K.box(3), shape="valid"), [[5.0]])
    # integer pixels compute in float32
    out = correlate(patch.astype(np.uint8), K.box(3), shape="valid")
    assert out.dtype == np.float32 and out[0, 0] == pytest.approx(5.0)


def test_convolution_worked_example():
    """§1.1.0: I = [[8, 5, 2], [7, 5, 3], [9, 4, 1]] convolved with three rows [−1, 0, 1]."""
    image = np.array([[8, 5, 2], [7, 5, 3], [9, 4, 1]], dtype=np.float64)
    kernel = np.array([[-1, 0, 1]] * 3, dtype=np.float64)

    def g(k, l):  # noqa: E741 - the notes' names; the kernel indexed by offsets −1 … 1
        return kernel[k + 1, l + 1]

    m = n = 1
    offsets = (-1, 0, 1)
    by_hand = sum(image[m - k, n - l] * g(k, l) for k in offsets for l in offsets)  # noqa: E741
    assert by_hand == (8 + 7 + 9) - (2 + 3 + 1) == 18
    # the notes' individual terms (in the definition's indexing): I[m+1, n−1]·g[−1, 1] = 9·1
    assert image[m + 1, n - 1] * g(-1, 1) == 9
    assert image[m + 1, n + 1] * g(-1, -1) == -1
    assert convolve(image, kernel)[1, 1] == pytest.approx(18.0)
    np.testing.assert_allclose(convolve(image, kernel, shape="valid"), [[18.0]])
    # correlation is the "+" form: the kernel not flipped, the opposite sign here
    assert correlate(image, kernel)[1, 1] == pytest.approx(-18.0)
    # convolving = correlating with the kernel flipped on both axes
    np.testing.assert_allclose(convolve(image, kernel), correlate(image, kernel[::-1, ::-1]))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [1, 3, 5])
def test_impulse_leaves_the_image_unchanged(mode, size, rng):
    """§1.1.1: g = [0 … 0 1 0 … 0] returns the central pixel: nothing changes."""
    image = rng.random((7, 8))
    np.testing.assert_allclose(correlate(image, K.impulse(size), boundary=mode), image,
                               atol=1e-15)
    np.testing.assert_allclose(convolve(image, K.impulse(size), boundary=mode), image,
                               atol=1e-15)
    rgb = rng.random((6, 5, 3)).astype(np.float32)
    out = convolve(rgb, K.impulse(size), boundary=mode)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, rgb, atol=1e-6)


@pytest.mark.parametrize("dy,dx", [(0, 3), (2, 0), (-1, 2), (3, -3), (0, -4)])
def test_off_centre_impulse_shifts_the_image(dy, dx, rng):
    """§1.1.1: an off-centre impulse shifts the image. By the definition, convolving with a 1
    at offset (dy, dx) gives f[m, n] = I[m − dy, n − dx]: the content moves by (+dy, +dx);
    correlating gives I[m + dy, n + dx]: it moves by (−dy, −dx)."""
    image = rng.random((9, 10))
    g = K.shift(dy, dx)
    np.testing.assert_allclose(convolve(image, g, boundary="wrap"),
                               np.roll(image, (dy, dx), axis=(0, 1)), atol=1e-15)
    np.testing.assert_allclose(correlate(image, g, boundary="wrap"),
                               np.roll(image, (-dy, -dx), axis=(0, 1)), atol=1e-15)


def test_notes_nine_tap_shift(rng):
    """§1.1.1: g = [1 0 0 0 0 0 0 0 0] (a 1 × 9 row; its 1 sits 4 taps left of the centre)
    convolved with the image takes, for each pixel, the pixel 4 places to its right (the notes
    say 3, counting a 7-tap kernel): the image moves 4 pixels to the left."""
    image = rng.random((5, 12))
    g = np.zeros((1, 9))
    g[0, 0] = 1.0
    out = convolve(image, g, boundary="wrap")
    np.testing.assert_allclose(out[:, :-4], image[:, 4:], atol=1e-15)
    np.testing.assert_allclose(out, np.roll(image, -4, axis=1), atol=1e-15)
    np.testing.assert_array_equal(g, K.shift(0, -4)[4:5])


def test_three_tap_blur(rng):
    """§1.1.1: [0, 0, 0, ⅓, ⅓, ⅓, 0, 0, 0] as a 3 × 3 kernel: each pixel becomes the mean of
    itself and its left and right neighbours (a blur along the rows)."""
    g = np.array([0, 0, 0, 1 / 3, 1 / 3, 1 / 3, 0, 0, 0]).reshape(3, 3)
    image = rng.random((6, 9))
    expected = (np.roll(image, 1, axis=1) + image + np.roll(image, -1, axis=1)) / 3
    for op in (correlate, convolve):
        np.testing.assert_allclose(op(image, g, boundary="wrap"), expected, atol=1e-15)
    row = np.array([[0.0, 0, 3, 0, 0, 6, 6, 6]])
    np.testing.assert_allclose(correlate(row, g, boundary="constant")[0],
                               [0, 1, 1, 1, 2, 4, 6, 4])


def test_linearity(rng):
    """§1.1.1: homogeneity, additivity and superposition: T[a·X1 + b·X2] = a·T[X1] + b·T[X2]."""
    x1, x2, g = rng.random((8, 9)), rng.random((8, 9)), rng.standard_normal((3, 3))
    a, b = 2.5, -1.25
    for mode in ("constant", "reflect", "wrap"):

        def t(x, mode=mode):
            return convolve(x, g, boundary=mode)

        np.testing.assert_allclose(t(a * x1), a * t(x1), atol=1e-12)
        np.testing.assert_allclose(t(x1 + x2), t(x1) + t(x2), atol=1e-12)
        np.testing.assert_allclose(t(a * x1 + b * x2), a * t(x1) + b * t(x2), atol=1e-12)


def test_separable_filter_is_two_one_d_filters(rng):
    """§1.1.2: (f_x ⊗ f_y) ⊗ I = f_x ⊗ (f_y ⊗ I): exact with zero padding and "full" output."""
    image = rng.random((10, 11))
    fy = K.gaussian_1d(1.0)[:, None]
    fx = np.array([[1.0, 2.0, -0.5, 4.0]])
    both = convolve(image, fy @ fx, boundary="constant", shape="full")
    one_by_one = convolve(convolve(image, fy, boundary="constant", shape="full"), fx,
                          boundary="constant", shape="full")
    np.testing.assert_allclose(both, one_by_one, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
def test_separable_and_full_box_and_gaussian_agree(mode, rng):
    """§1.1.2: box and Gaussian filters, separated (a column pass then a row pass) or applied
    as the full 2-D kernel, give the same image."""
    image = rng.random((21, 19)) * 255
    for sigma in (0.8, 2.0):
        direct = gaussian_filter(image, sigma, boundary=mode, cval=10.0, method="direct")
        separable = gaussian_filter(image, sigma, boundary=mode, cval=10.0, method="separable")
        np.testing.assert_allclose(separable, direct, atol=1e-9)
    for size in (3, 4, (5, 2)):
        direct = box_filter(image, size, boundary=mode, cval=10.0, method="direct")
        separable = box_filter(image, size, boundary=mode, cval=10.0, method="separable")
        np.testing.assert_allclose(separable, direct, atol=1e-9)
    img32 = image.astype(np.float32)
    a = gaussian_filter(img32, 1.5, boundary=mode, method="direct")
    b = gaussian_filter(img32, 1.5, boundary=mode, method="separable")
    assert a.dtype == b.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-5 * 255)


def _two_edges(left, middle, right, h=6):
    """An h × 12 image: 4 columns of ``left``, 4 of ``middle``, 4 of ``right``."""
    return np.repeat([[left] * 4 + [middle] * 4 + [right] * 4], h, axis=0).astype(np.float64)


def test_derivative_of_a_step_image():
    """§1.1.3: the horizontal derivative of a 255 → 0 → 255 image is ±255 at the two edges
    and 0 elsewhere (for the one-pixel differences). The notes print +255 then −255, the
    pattern of the opposite image 0 → 255 → 0; both are checked from the definition."""
    image = _two_edges(255, 0, 255)  # edges between columns 3|4 and 7|8
    forward = correlate(image, K.derivative(1, "forward"))  # I[n+1] − I[n]
    expected = np.zeros(12)
    expected[3], expected[7] = -255, 255
    np.testing.assert_array_equal(forward, np.tile(expected, (6, 1)))
    backward = correlate(image, K.derivative(1, "backward"))  # I[n] − I[n−1]
    np.testing.assert_array_equal(backward, np.tile(np.roll(expected, 1), (6, 1)))
    # the central difference spreads each jump over the two pixels beside it
    central = correlate(image, K.derivative(1, "central"))
    expected_c = np.zeros(12)
    expected_c[[3, 4]], expected_c[[7, 8]] = -127.5, 127.5
    np.testing.assert_array_equal(central, np.tile(expected_c, (6, 1)))
    # the normalized Sobel operator agrees with the central difference on a column-constant
    # image, and so does fovea.filters.edges.gradient (dy = 0)
    np.testing.assert_allclose(correlate(image, K.sobel(1, normalize=True)), central,
                               atol=1e-9)
    dy, dx = gradient(image)
    np.testing.assert_allclose(dx, central, atol=1e-9)
    np.testing.assert_allclose(dy, 0.0, atol=1e-9)
    # the notes' image, 0 → 255 → 0: +255 then −255
    notes = correlate(_two_edges(0, 255, 0), K.derivative(1, "forward"))
    np.testing.assert_array_equal(notes, -forward)
