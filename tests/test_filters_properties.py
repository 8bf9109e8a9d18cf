"""Algebraic properties of fovea.filters on random small float64 images and kernels
(hypothesis): linearity in the image and the kernel, commutativity and associativity of "full"
convolution with a zero boundary, separable cascades, shift invariance with "wrap", and the
identities that tie convolve, correlate, cval and the adjoint together."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fovea.filters import SHAPES, convolve, correlate

SETTINGS = settings(max_examples=60, deadline=None)

MODES = ["constant", "zero", "reflect", "mirror", "nearest", "replicate", "wrap"]
METHODS = ["direct", "fft", "auto"]
FUNCS = [convolve, correlate]

values = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False, width=64)
modes = st.sampled_from(MODES)
shapes = st.sampled_from(SHAPES)
methods = st.sampled_from(METHODS)
funcs = st.sampled_from(FUNCS)
scalars = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)


def arrays(shape):
    return hnp.arrays(np.float64, shape, elements=values)


def sides(lo=1, hi=8):
    return st.tuples(st.integers(lo, hi), st.integers(lo, hi))


@st.composite
def image_and_kernel(draw, n_images=1, n_kernels=1, max_image=8, max_kernel=5):
    ishape = draw(sides(1, max_image))
    kshape = draw(sides(1, max_kernel))
    images = [draw(arrays(ishape)) for _ in range(n_images)]
    kernels = [draw(arrays(kshape)) for _ in range(n_kernels)]
    return images, kernels


def close(a, b, scale=1.0):
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10 * max(scale, 1.0))


def mag(*arrays):
    """A bound on the size of the sums involved."""
    total = 1.0
    for a in arrays:
        total *= 1.0 + np.abs(a).sum()
    return total


# ---- linearity ----------------------------------------------------------------------------
@SETTINGS
@given(image_and_kernel(n_images=1), scalars, modes, shapes, methods, funcs)
def test_homogeneity(data, a, mode, shape, method, fn):
    (x,), (k,) = data
    got = fn(a * x, k, boundary=mode, shape=shape, method=method)
    close(got, a * fn(x, k, boundary=mode, shape=shape, method=method), abs(a) * mag(x, k))


@SETTINGS
@given(image_and_kernel(n_images=2), modes, shapes, methods, funcs)
def test_additivity(data, mode, shape, method, fn):
    (x, y), (k,) = data
    got = fn(x + y, k, boundary=mode, shape=shape, method=method)
    want = (fn(x, k, boundary=mode, shape=shape, method=method)
            + fn(y, k, boundary=mode, shape=shape, method=method))
    close(got, want, mag(x, y, k))


@SETTINGS
@given(image_and_kernel(n_images=2), scalars, scalars, modes, shapes, methods, funcs)
def test_superposition(data, a, b, mode, shape, method, fn):
    (x, y), (k,) = data
    got = fn(a * x + b * y, k, boundary=mode, shape=shape, method=method)
    want = (a * fn(x, k, boundary=mode, shape=shape, method=method)
            + b * fn(y, k, boundary=mode, shape=shape, method=method))
    close(got, want, (abs(a) + abs(b)) * mag(x, y, k))


@SETTINGS
@given(image_and_kernel(n_kernels=2), scalars, modes, shapes, methods, funcs)
def test_linear_in_the_kernel(data, a, mode, shape, method, fn):
    (x,), (g, h) = data
    got = fn(x, a * g + h, boundary=mode, shape=shape, method=method)
    want = (a * fn(x, g, boundary=mode, shape=shape, method=method)
            + fn(x, h, boundary=mode, shape=shape, method=method))
    close(got, want, (1 + abs(a)) * mag(x, g, h))


@SETTINGS
@given(image_and_kernel(), st.floats(-3.0, 3.0), shapes, funcs)
def test_cval_is_an_offset(data, c, shape, fn):
    """A constant border c: T_c[X] = T_0[X − c] + c·Σg (the image shifted so the border is 0)."""
    (x,), (k,) = data
    got = fn(x, k, boundary="constant", cval=c, shape=shape)
    want = fn(x - c, k, boundary="constant", cval=0.0, shape=shape) + c * k.sum()
    close(got, want, (1 + abs(c)) * mag(x, k))


# ---- convolution algebra, "full" with a zero boundary -------------------------------------
@SETTINGS
@given(arrays(sides(1, 7)), arrays(sides(1, 7)), methods)
def test_full_convolution_commutes(a, b, method):
    got = convolve(a, b, boundary="constant", shape="full", method=method)
    close(got, convolve(b, a, boundary="zero", shape="full", method=method), mag(a, b))


@SETTINGS
@given(arrays(sides(1, 6)), arrays(sides(1, 4)), arrays(sides(1, 4)), methods)
def test_full_convolution_associates(a, b, c, method):
    def conv(u, v):
        return convolve(u, v, boundary="constant", shape="full", method=method)

    close(conv(conv(a, b), c), conv(a, conv(b, c)), mag(a, b, c))


@SETTINGS
@given(arrays(sides(1, 8)), arrays(st.tuples(st.just(1), st.integers(1, 6))),
       arrays(st.tuples(st.integers(1, 6), st.just(1))), methods)
def test_separable_cascade(image, fx, fy, method):
    """(f_x ⊗ f_y) ⊗ I = f_x ⊗ (f_y ⊗ I), and f_x ⊗ f_y is the outer product f_y·f_xᵀ."""
    def conv(u, v):
        return convolve(u, v, boundary="zero", shape="full", method=method)

    fxy = conv(fx, fy)
    close(fxy, np.outer(fy[:, 0], fx[0]), mag(fx, fy))
    close(conv(image, fxy), conv(conv(image, fy), fx), mag(image, fx, fy))
    close(conv(fxy, image), conv(fx, conv(fy, image)), mag(image, fx, fy))


@SETTINGS
@given(arrays(sides(1, 8)), arrays(st.tuples(st.just(1), st.integers(1, 6))),
       arrays(st.tuples(st.integers(1, 6), st.just(1))), modes, methods, funcs)
def test_separable_cascade_same_shape_every_mode(image, fx, fy, mode, method, fn):
    """A column pass then a row pass, each with the boundary mode, equals the 2-D filter with
    the outer-product kernel (the extension of every mode is a product of one per axis)."""
    kernel = np.outer(fy[:, 0], fx[0])
    got = fn(fn(image, fy, boundary=mode, method=method), fx, boundary=mode, method=method)
    close(got, fn(image, kernel, boundary=mode, method=method), mag(image, fx, fy))


# ---- shift invariance, identities ---------------------------------------------------------
@SETTINGS
@given(image_and_kernel(max_kernel=9), st.integers(-10, 10), st.integers(-10, 10), methods,
       funcs)
def test_shift_invariance_with_wrap(data, dy, dx, method, fn):
    (x,), (k,) = data

    def roll(a):
        return np.roll(a, (dy, dx), axis=(0, 1))

    got = fn(roll(x), k, boundary="wrap", method=method)
    close(got, roll(fn(x, k, boundary="wrap", method=method)), mag(x, k))


@SETTINGS
@given(image_and_kernel(), modes, st.sampled_from(["valid", "full"]), methods)
def test_convolve_is_correlate_with_the_flipped_kernel(data, mode, shape, method):
    (x,), (k,) = data
    got = convolve(x, k, boundary=mode, shape=shape, method=method)
    close(got, correlate(x, k[::-1, ::-1], boundary=mode, shape=shape, method=method),
          mag(x, k))


@SETTINGS
@given(image_and_kernel(), modes)
def test_odd_kernels_same_shape_flip_identity(data, mode):
    (x,), (k,) = data
    if k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        k = k[: k.shape[0] - 1 + k.shape[0] % 2, : k.shape[1] - 1 + k.shape[1] % 2]
    close(convolve(x, k, boundary=mode), correlate(x, k[::-1, ::-1], boundary=mode), mag(x, k))


@SETTINGS
@given(arrays(sides(1, 8)), sides(1, 6), modes, methods)
def test_delta_kernel_is_the_identity(x, kshape, mode, method):
    kh, kw = kshape
    delta = np.zeros(kshape)
    delta[kh // 2, kw // 2] = 1.0  # the centre, for convolve and correlate alike
    close(correlate(x, delta, boundary=mode, method=method), x)
    close(convolve(x, delta, boundary=mode, method=method), x)
    # one tap after the centre: correlate reads the next sample, convolve the previous one
    if kw > 1 and kw // 2 + 1 < kw:
        shifted = np.zeros(kshape)
        shifted[kh // 2, kw // 2 + 1] = 1.0
        padded = np.pad(x, ((0, 0), (1, 1)))
        close(correlate(x, shifted, boundary="zero", method=method), padded[:, 2:])
        close(convolve(x, shifted, boundary="zero", method=method), padded[:, :-2])


@SETTINGS
@given(image_and_kernel(), methods, st.data())
def test_valid_correlation_is_the_adjoint_of_full_convolution(data, method, draw):
    """⟨corr(X, g, valid), Y⟩ = ⟨X, conv(Y, g, full)⟩ with a zero boundary: the backward pass
    of a valid correlation is a full convolution."""
    (x,), (k,) = data
    if x.shape[0] < k.shape[0] or x.shape[1] < k.shape[1]:
        x = np.pad(x, ((0, max(0, k.shape[0] - x.shape[0])), (0, max(0, k.shape[1] - x.shape[1]))))
    oshape = (x.shape[0] - k.shape[0] + 1, x.shape[1] - k.shape[1] + 1)
    y = draw.draw(arrays(oshape))
    lhs = float((correlate(x, k, boundary="zero", shape="valid", method=method) * y).sum())
    rhs = float((x * convolve(y, k, boundary="zero", shape="full", method=method)).sum())
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-10 * mag(x, y, k))
