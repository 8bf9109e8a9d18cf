"""fovea.filters on differentiable Tensors: gradient checks (float64) of convolve and correlate
with respect to the image and the kernel for every boundary mode, output shape and layout; a
fixed Gaussian inside a tiny model against an explicit computation; the FFT refusal; and the
array path taken by tensors that do not require gradients."""

from __future__ import annotations

import numpy as np
import pytest

import fovea
from fovea.autograd import gradcheck
from fovea.filters import BOUNDARY_MODES, SHAPES, convolve, correlate
from fovea.nn import functional as F
from fovea.ops import pad

pytestmark = pytest.mark.usefixtures("seeded")

R = np.random.default_rng(20240614)

LAYOUTS = [(5, 6), (4, 5, 2), (2, 2, 4, 5)]
LAYOUT_IDS = ["HW", "HWC", "NCHW"]
FUNCS = [correlate, convolve]


def leaf(array):
    return fovea.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def gaussian(sigma, radius):
    g = np.exp(-np.arange(-radius, radius + 1) ** 2 / (2.0 * sigma**2))
    return g / g.sum()


# ---- gradient checks ----------------------------------------------------------------------
@pytest.mark.parametrize("layout", LAYOUTS, ids=LAYOUT_IDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("boundary", BOUNDARY_MODES + ("zero", "replicate"))
@pytest.mark.parametrize("fn", FUNCS)
def test_gradcheck_image_and_kernel(fn, boundary, shape, layout):
    cval = 0.5 if boundary == "constant" else 0.0
    for kshape in [(3, 2), (2, 3)]:
        x, k = leaf(R.standard_normal(layout)), leaf(R.standard_normal(kshape))
        for method in ("auto", "direct"):
            def f(a, b, method=method):
                return fn(a, b, boundary=boundary, shape=shape, cval=cval, method=method)

            assert gradcheck(f, [x, k])["ok"]
            # the forward pass equals the array path
            want = fn(x.data, k.data, boundary=boundary, shape=shape, cval=cval, method="direct")
            got = f(x, k)
            assert got.requires_grad and got.dtype == fovea.float64
            np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("layout", LAYOUTS, ids=LAYOUT_IDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("boundary", BOUNDARY_MODES)
@pytest.mark.parametrize("fn", FUNCS)
def test_gradcheck_image_only_fixed_kernels(fn, boundary, shape, layout):
    """A fixed kernel (an array): the separable path for a rank-1 kernel, conv2d otherwise."""
    x = leaf(R.standard_normal(layout))
    kernels = [(np.outer(gaussian(1.0, 1), gaussian(0.7, 2)), ("auto", "separable", "direct")),
               (R.standard_normal((3, 3)), ("auto", "direct"))]
    for kernel, methods in kernels:
        for method in methods:
            def f(a, method=method, kernel=kernel):
                return fn(a, kernel, boundary=boundary, shape=shape, method=method)

            assert gradcheck(f, [x])["ok"]
            want = fn(x.data, kernel, boundary=boundary, shape=shape, method="direct")
            np.testing.assert_allclose(f(x).data, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", FUNCS)
def test_gradcheck_kernel_only(fn):
    """The image a plain array, the kernel a Tensor that requires grad."""
    image = R.standard_normal((6, 5, 2))
    k = leaf(R.standard_normal((3, 4)))
    for boundary in BOUNDARY_MODES:
        for shape in SHAPES:
            def f(b, boundary=boundary, shape=shape):
                return fn(image, b, boundary=boundary, shape=shape)

            assert gradcheck(f, [k])["ok"]


def test_float32_tensors_stay_float32():
    x = fovea.tensor(R.standard_normal((2, 3, 8, 8)).astype(np.float32), requires_grad=True)
    g = np.outer(gaussian(1.0, 2), gaussian(1.0, 2))
    for fn in FUNCS:
        y = fn(x, g)
        assert y.dtype == fovea.float32 and y.shape == x.shape
        y.sum().backward()
        assert x.grad.dtype == fovea.float32
        np.testing.assert_allclose(y.data, fn(x.data, g), rtol=1e-5, atol=1e-6)
        x.grad = None


# ---- a fixed Gaussian inside a tiny model -------------------------------------------------
NP_PAD = {"reflect": "symmetric", "mirror": "reflect", "nearest": "edge", "wrap": "wrap"}


def explicit_blur(x, kernel, boundary):
    """The correlation written out: an index-gathered padded image (np.pad on the indices),
    then a weighted sum of shifted slices, one per tap. Differentiable through getitem."""
    kh, kw = kernel.shape
    h, w = x.shape[-2:]
    top, left = kh // 2, kw // 2
    if boundary == "constant":
        xpad = pad(x, (left, kw - 1 - left, top, kh - 1 - top))
    else:
        rows = np.pad(np.arange(h), (top, kh - 1 - top), mode=NP_PAD[boundary])
        cols = np.pad(np.arange(w), (left, kw - 1 - left), mode=NP_PAD[boundary])
        xpad = x[:, :, rows[:, None], cols[None, :]]
    out = None
    for i in range(kh):
        for j in range(kw):
            term = xpad[:, :, i:i + h, j:j + w] * float(kernel[i, j])
            out = term if out is None else out + term
    return out


@pytest.mark.parametrize("boundary", BOUNDARY_MODES)
def test_gaussian_in_a_tiny_model(boundary, monkeypatch):
    kernel = np.outer(gaussian(1.0, 3), gaussian(1.5, 2))  # 7×5, rank 1
    weight = leaf(R.standard_normal((3, 2, 3, 3)) * 0.5)
    image = R.standard_normal((2, 2, 9, 10))
    target = R.standard_normal((2, 3, 9, 10))

    def model(x, blur):
        z = F.conv2d(blur(x), weight, padding=1)
        diff = fovea.tanh(z) - fovea.tensor(target)
        return (diff * diff).mean()

    shapes = []
    conv2d = F.conv2d

    def spy(x, w, *args, **kwargs):
        shapes.append(tuple(w.shape))
        return conv2d(x, w, *args, **kwargs)

    monkeypatch.setattr(F, "conv2d", spy)
    x1 = leaf(image)
    loss1 = model(x1, lambda x: correlate(x, kernel, boundary=boundary))
    assert shapes[:2] == [(1, 1, 7, 1), (1, 1, 1, 5)]  # auto took the separable path
    loss1.backward()
    grad_w1 = weight.grad.data.copy()
    weight.grad = None

    x2 = leaf(image)
    loss2 = model(x2, lambda x: explicit_blur(x, kernel, boundary))
    loss2.backward()

    assert loss1.item() == pytest.approx(loss2.item(), rel=1e-12)
    assert x1.grad is not None and np.abs(x1.grad.data).max() > 0
    np.testing.assert_allclose(x1.grad.data, x2.grad.data, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(grad_w1, weight.grad.data, rtol=1e-10, atol=1e-13)
    # convolve with the symmetric Gaussian is the same filter
    x3 = leaf(image)
    model(x3, lambda x: convolve(x, kernel[::-1, ::-1], boundary=boundary)).backward()
    np.testing.assert_allclose(x3.grad.data, x2.grad.data, rtol=1e-10, atol=1e-13)


# ---- fft refusal, the array path ----------------------------------------------------------
@pytest.mark.parametrize("fn", FUNCS)
def test_fft_on_a_tensor_that_requires_grad_raises(fn):
    with pytest.raises(ValueError, match="fft"):
        fn(leaf(R.standard_normal((6, 6))), np.ones((3, 3)), method="fft")
    with pytest.raises(ValueError, match="fft"):
        fn(R.standard_normal((6, 6)), leaf(np.ones((3, 3))), method="fft")
    with pytest.raises(ValueError, match="fft"):
        fn(leaf(R.standard_normal((2, 1, 6, 6))), leaf(np.ones((3, 3))), method="fft")


@pytest.mark.parametrize("method", ["auto", "direct", "fft", "separable"])
@pytest.mark.parametrize("fn", FUNCS)
def test_tensor_without_grad_takes_the_array_path(fn, method):
    kernel = np.outer(gaussian(1.0, 2), gaussian(2.0, 1))
    for dtype in (np.float32, np.float64):
        image = R.standard_normal((2, 3, 7, 8)).astype(dtype)
        want = fn(image, kernel, boundary="mirror", shape="full", method=method)
        for x, k in [(fovea.tensor(image), kernel), (fovea.tensor(image), fovea.tensor(kernel)),
                     (image, fovea.tensor(kernel))]:
            got = fn(x, k, boundary="mirror", shape="full", method=method)
            assert isinstance(got, fovea.Tensor) and not got.requires_grad
            assert got.dtype == want.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got.data, want)
        with fovea.no_grad():  # gradients off: the array path even for leaves that need them
            got = fn(fovea.tensor(image, requires_grad=True), kernel, boundary="mirror",
                     shape="full", method=method)
        assert isinstance(got, fovea.Tensor) and not got.requires_grad
        np.testing.assert_array_equal(got.data, want)
