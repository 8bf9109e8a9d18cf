"""fovea.filters.convolve / correlate against scipy: scipy.ndimage (every boundary mode, "same"
shape) and scipy.signal.convolve2d / correlate2d ("valid" and "full"), for every method.

The references are computed in float64 on the same data. Tolerances are relative to the image's
scale: ``scale`` = max(range, max |x|, |cval|) of the image (a 1×1 image has range 0), and every
kernel is normalized to Σ|g| = 1 so that an output can be no larger than that scale (float32
rounding grows with Σ|g|·|x|; a kernel of unit L1 norm keeps the bound a property of the image).
Kernel sizes, image sizes, methods and dtypes are looped inside each parametrized case so that
the grid stays exhaustive and fast.
"""

from __future__ import annotations

import numpy as np
import pytest

from fovea.errors import ShapeError
from fovea.filters import convolve, correlate

ndi = pytest.importorskip("scipy.ndimage")
signal = pytest.importorskip("scipy.signal")

R = np.random.default_rng(20240612)

# (fovea boundary name, cval, scipy.ndimage mode)
MODES = [
    ("constant", 0.0, "constant"),
    ("constant", 0.5, "constant"),
    ("zero", 0.0, "constant"),
    ("reflect", 0.0, "reflect"),
    ("mirror", 0.0, "mirror"),
    ("nearest", 0.0, "nearest"),
    ("replicate", 0.0, "nearest"),
    ("wrap", 0.0, "wrap"),
]
MODE_IDS = [f"{b}-{c:g}" for b, c, _ in MODES]

ODD = [(k, k) for k in range(1, 16, 2)]
OTHER = [(2, 2), (4, 4), (6, 6), (3, 5), (5, 2), (1, 7), (6, 1), (2, 9)]
KERNEL_SHAPES = ODD + OTHER

# 1×1, one row, one column, smaller than most kernels, and a few ordinary sizes
IMAGE_SHAPES = [(1, 1), (1, 9), (9, 1), (2, 3), (4, 6), (11, 13)]

FUNCS = [(correlate, "correlate"), (convolve, "convolve")]
TOL = {np.float32: 1e-5, np.float64: 1e-10}


def unit_l1(a):
    return a / np.abs(a).sum()


def random_kernel(shape):
    return unit_l1(R.standard_normal(shape))


def separable_kernel(shape):
    return unit_l1(np.outer(R.standard_normal(shape[0]), R.standard_normal(shape[1])))


def scale_of(img, cval=0.0):
    x = np.asarray(img, dtype=np.float64)
    if x.size == 0:
        return max(1.0, abs(cval))
    return max(float(np.ptp(x)), float(np.abs(x).max()), abs(cval), 1e-30)


def ndi_ref(name, img, kernel, mode, cval):
    """scipy.ndimage on float64 data, per (H, W) plane."""
    fn = getattr(ndi, name)
    return fn(np.asarray(img, dtype=np.float64), np.asarray(kernel, dtype=np.float64),
              mode=mode, cval=cval)


def assert_close(got, want, tol, scale, dtype):
    assert got.dtype == dtype, (got.dtype, dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    if got.size:
        err = np.abs(got.astype(np.float64) - want).max()
        assert err <= tol * scale, f"max abs error {err:.3g} > {tol:g} × {scale:.3g}"


# ---- "same" shape against scipy.ndimage, the exhaustive grid ------------------------------
@pytest.mark.parametrize("kshape", KERNEL_SHAPES, ids=[f"{a}x{b}" for a, b in KERNEL_SHAPES])
@pytest.mark.parametrize(("boundary", "cval", "mode"), MODES, ids=MODE_IDS)
def test_same_matches_ndimage(boundary, cval, mode, kshape):
    general = random_kernel(kshape)
    rank1 = separable_kernel(kshape)
    for ishape in IMAGE_SHAPES:
        img64 = R.uniform(-1.0, 1.0, ishape)
        for kernel, methods in ((general, ("direct", "fft", "auto")),
                                (rank1, ("direct", "fft", "separable", "auto"))):
            for fn, name in FUNCS:
                want = ndi_ref(name, img64, kernel, mode, cval)
                for dtype in (np.float64, np.float32):
                    img = img64.astype(dtype)
                    want_d = want if dtype == np.float64 else ndi_ref(name, img, kernel, mode,
                                                                      cval)
                    scale = scale_of(img, cval)
                    for method in methods:
                        got = fn(img, kernel, boundary=boundary, cval=cval, method=method)
                        assert_close(got, want_d, TOL[dtype], scale, dtype)


@pytest.mark.parametrize(("boundary", "cval", "mode"), MODES, ids=MODE_IDS)
@pytest.mark.parametrize("dtype", [np.uint8, np.int16])
def test_integer_images_give_float32(boundary, cval, mode, dtype):
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -1000), min(info.max, 1000)
    for ishape in [(1, 1), (3, 8), (12, 10)]:
        img = R.integers(lo, hi + 1, ishape).astype(dtype)
        for kshape in [(3, 3), (5, 4), (7, 7)]:
            for kernel, methods in ((random_kernel(kshape), ("direct", "fft", "auto")),
                                    (separable_kernel(kshape), ("separable", "auto"))):
                for fn, name in FUNCS:
                    want = ndi_ref(name, img, kernel, mode, cval)
                    for method in methods:
                        got = fn(img, kernel, boundary=boundary, cval=cval, method=method)
                        assert_close(got, want, 1e-5, scale_of(img, cval), np.float32)


def test_integer_kernel_and_list_inputs():
    img = R.uniform(0, 1, (6, 7)).astype(np.float32)
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    for fn, name in FUNCS:
        want = ndi_ref(name, img, sobel, "reflect", 0.0)
        assert_close(fn(img, sobel), want, 1e-5 * 8, 1.0, np.float32)
        assert_close(fn(img, sobel.tolist()), want, 1e-5 * 8, 1.0, np.float32)


def test_non_contiguous_inputs_and_no_mutation():
    base = R.uniform(-1, 1, (20, 30))
    kernel = random_kernel((5, 3))
    views = [base.T, base[::2, ::3], base[::-1, 5:], np.asfortranarray(base)]
    for view in views:
        before = view.copy()
        kbefore = kernel.copy()
        for method in ("direct", "fft", "auto"):
            for fn, name in FUNCS:
                want = ndi_ref(name, view, kernel, "mirror", 0.0)
                got = fn(view, kernel, boundary="mirror", method=method)
                assert_close(got, want, 1e-10, scale_of(view), np.float64)
        np.testing.assert_array_equal(view, before)
        np.testing.assert_array_equal(kernel, kbefore)


# ---- colour images and batches ------------------------------------------------------------
@pytest.mark.parametrize(("boundary", "cval", "mode"), MODES, ids=MODE_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_colour_per_channel(boundary, cval, mode, dtype):
    img = R.uniform(0, 1, (9, 7, 3)).astype(dtype)
    for kernel, methods in ((random_kernel((5, 4)), ("direct", "fft", "auto")),
                            (separable_kernel((3, 7)), ("separable", "fft", "auto"))):
        for fn, name in FUNCS:
            want = np.stack([ndi_ref(name, img[:, :, c], kernel, mode, cval) for c in range(3)],
                            axis=-1)
            for method in methods:
                got = fn(img, kernel, boundary=boundary, cval=cval, method=method)
                assert_close(got, want, TOL[dtype], scale_of(img, cval), dtype)


@pytest.mark.parametrize(("boundary", "cval", "mode"), MODES, ids=MODE_IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_nchw_per_plane(boundary, cval, mode, dtype):
    img = R.uniform(0, 1, (2, 3, 8, 6)).astype(dtype)
    for kernel, methods in ((random_kernel((3, 5)), ("direct", "fft", "auto")),
                            (separable_kernel((5, 5)), ("separable", "fft", "auto"))):
        for fn, name in FUNCS:
            want = np.empty(img.shape)
            for n in range(2):
                for c in range(3):
                    want[n, c] = ndi_ref(name, img[n, c], kernel, mode, cval)
            for method in methods:
                got = fn(img, kernel, boundary=boundary, cval=cval, method=method)
                assert_close(got, want, TOL[dtype], scale_of(img, cval), dtype)


# ---- "valid" and "full" against scipy.signal ----------------------------------------------
SIGNAL_FUNCS = [(correlate, signal.correlate2d), (convolve, signal.convolve2d)]
SIGNAL_BOUNDARY = [("constant", 0.0, "fill"), ("zero", 0.0, "fill"), ("constant", -0.75, "fill"),
                   ("reflect", 0.0, "symm"), ("wrap", 0.0, "wrap")]


def fits(ishape, kshape):
    return ishape[0] >= kshape[0] and ishape[1] >= kshape[1]


@pytest.mark.parametrize("shape", ["valid", "full"])
@pytest.mark.parametrize(("boundary", "cval", "sig_boundary"), SIGNAL_BOUNDARY,
                         ids=[f"{b}-{c:g}" for b, c, _ in SIGNAL_BOUNDARY])
def test_valid_full_match_signal(shape, boundary, cval, sig_boundary):
    for ishape in IMAGE_SHAPES:
        for kshape in [(1, 1), (3, 3), (2, 2), (4, 3), (1, 5), (5, 1), (7, 7), (15, 15)]:
            if shape == "valid" and not fits(ishape, kshape):
                continue  # scipy.signal swaps or refuses; fovea's empty result is tested below
            img64 = R.uniform(-1, 1, ishape)
            for kernel, methods in ((random_kernel(kshape), ("direct", "fft", "auto")),
                                    (separable_kernel(kshape), ("separable",))):
                for fn, ref in SIGNAL_FUNCS:
                    want = ref(img64, kernel, mode=shape, boundary=sig_boundary, fillvalue=cval)
                    for dtype in (np.float64, np.float32):
                        img = img64.astype(dtype)
                        for method in methods:
                            got = fn(img, kernel, boundary=boundary, shape=shape, cval=cval,
                                     method=method)
                            assert_close(got, want, TOL[dtype], scale_of(img, cval), dtype)


NP_PAD = {"constant": "constant", "reflect": "symmetric", "mirror": "reflect", "nearest": "edge",
          "wrap": "wrap"}


@pytest.mark.parametrize(("boundary", "cval", "mode"), MODES, ids=MODE_IDS)
def test_full_every_mode_matches_ndimage_on_padded_image(boundary, cval, mode):
    """"full" = every position where the kernel overlaps the image: the correlation of the image
    extended by K−1 on each side (np.pad), read at the kernel's centre by scipy.ndimage."""
    for ishape in IMAGE_SHAPES:
        for kshape in [(1, 1), (3, 3), (2, 4), (5, 2), (7, 7)]:
            kh, kw = kshape
            img = R.uniform(-1, 1, ishape)
            kwargs = {"constant_values": cval} if NP_PAD[mode] == "constant" else {}
            padded = np.pad(img, ((kh - 1, kh - 1), (kw - 1, kw - 1)), mode=NP_PAD[mode],
                            **kwargs)
            kernel = random_kernel(kshape)
            oh, ow = ishape[0] + kh - 1, ishape[1] + kw - 1
            rows = slice(kh // 2, kh // 2 + oh)
            cols = slice(kw // 2, kw // 2 + ow)
            want_corr = ndi.correlate(padded, kernel, mode="constant")[rows, cols]
            want_conv = ndi.correlate(padded, kernel[::-1, ::-1], mode="constant")[rows, cols]
            for method in ("direct", "fft", "auto"):
                got = correlate(img, kernel, boundary=boundary, shape="full", cval=cval,
                                method=method)
                assert_close(got, want_corr, 1e-10, scale_of(img, cval), np.float64)
                got = convolve(img, kernel, boundary=boundary, shape="full", cval=cval,
                               method=method)
                assert_close(got, want_conv, 1e-10, scale_of(img, cval), np.float64)


@pytest.mark.parametrize("fn", [correlate, convolve])
@pytest.mark.parametrize("method", ["direct", "fft", "separable", "auto"])
def test_valid_kernel_larger_than_image_is_empty(fn, method):
    kernel = np.ones((5, 4))
    cases = [((3, 3), (0, 0)), ((4, 10), (0, 7)), ((10, 3), (6, 0)), ((1, 1), (0, 0))]
    for ishape, oshape in cases:
        for dtype in (np.float32, np.float64, np.uint8):
            got = fn(np.ones(ishape, dtype=dtype), kernel, shape="valid", method=method)
            assert got.shape == oshape
            assert got.dtype == (np.float64 if dtype == np.float64 else np.float32)
    got = fn(np.ones((3, 2, 3)), kernel, shape="valid", method=method)
    assert got.shape == (0, 0, 3)
    got = fn(np.ones((2, 3, 4, 9)), kernel, shape="valid", method=method)
    assert got.shape == (2, 3, 0, 6)


# ---- errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [correlate, convolve])
def test_unknown_names_list_the_choices(fn):
    img, k = np.ones((5, 5)), np.ones((3, 3))
    with pytest.raises(ValueError, match="unknown boundary.*'fill'.*constant.*reflect.*mirror"
                                         ".*nearest.*wrap"):
        fn(img, k, boundary="fill")
    with pytest.raises(ValueError, match="unknown shape.*'middle'.*same.*valid.*full"):
        fn(img, k, shape="middle")
    with pytest.raises(ValueError, match="unknown method.*'winograd'.*auto.*direct.*separable"
                                         ".*fft"):
        fn(img, k, method="winograd")


@pytest.mark.parametrize("fn", [correlate, convolve])
def test_bad_shapes(fn):
    img = np.ones((5, 5))
    for kernel in (np.ones(3), np.ones((0, 3)), np.ones((3, 0)), np.ones((3, 3, 1)),
                   np.float64(1.0)):
        with pytest.raises(ShapeError, match="kernel"):
            fn(img, kernel)
    for image in (np.ones((1, 2, 3, 5, 5)), np.ones(5)):
        with pytest.raises(ShapeError, match=r"\(H, W\)"):
            fn(image, np.ones((3, 3)))


@pytest.mark.parametrize("fn", [correlate, convolve])
def test_separable_method_refuses_rank2_kernel(fn):
    with pytest.raises(ValueError, match="separable"):
        fn(np.ones((6, 6)), np.eye(3), method="separable")
    with pytest.raises(ValueError, match="separable"):
        fn(np.ones((6, 6)), R.standard_normal((4, 5)), method="separable")
