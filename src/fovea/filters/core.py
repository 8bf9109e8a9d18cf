"""Linear filtering: ``convolve`` and ``correlate`` with boundary modes, output shapes and three
methods (direct, separable, FFT), on NumPy arrays and on differentiable fovea Tensors.

The notes' 2-D convolution, with the kernel's centre at index [K//2, K//2] (kernel offsets k, l
counted from the centre):

    f[m, n] = (I ⊗ g)[m, n] = Σ_{k,l} I[m − k, n − l] · g[k, l]          (convolve)
    f[m, n] =                 Σ_{k,l} I[m + k, n + l] · g[k, l]          (correlate)

A convolution is a correlation with the kernel flipped. For an even size K the centre K//2 is
the later of the two middle taps, so image content moves half a pixel towards higher indices
in a correlation output and towards lower indices in a convolution output (a 2-tap mean of a
spike at p lands at p and p + 1 when correlating), exactly as in scipy.ndimage.

Every method computes a "valid" correlation of the image after it has been extended by its
boundary mode, so all three agree for every mode and shape. The direct method is the same
correlation core as ``nn.Conv2d`` (``ops.conv.correlate_batch_last``): a (H, W, C) colour image
is already in its batch-last layout, each channel a plane of the batch.
"""

from __future__ import annotations

import math

from .. import backend
from ..autograd import Tensor, is_grad_enabled
from ..errors import ShapeError
from ..nn import functional as F
from ..ops import pad
from ..ops.conv import Geometry, correlate_batch_last
from .boundary import boundary_mode, pad_planes, source_indices
from .separable import compiled_passes, compiled_passes_available, separable_passes, separate

SHAPES = ("same", "valid", "full")
METHODS = ("auto", "direct", "separable", "fft")

TIME_MODEL = {"direct": (1.4e-10, 1.8e-09), "separable": (1.4e-10, 2.8e-09),
              "fft": (6.4e-10, 1.2e-08)}
"""Per method (a, b): estimated seconds = a·cost + b·n for :func:`cost`'s multiply-adds and n
output samples (b: the per-sample overhead of padding, copies and passes). Fitted on the 2-core
Xeon (Cascade Lake) developer machine, float32, images 256²–2048², kernels 3–41, by
``benchmarks/calibrate_filters.py``; "auto" picks the method with the smallest estimate, as
scipy.signal's method="auto" does."""

COMPILED_TIME_MODEL = {"separable": (2.8e-11, 4.5e-10)}
"""The (a, b) that replace :data:`TIME_MODEL`'s where the compiled kernels run (numba chosen,
``fovea.kernels.filter1d``): both passes in one sweep, no padded copy. Fitted likewise, on
the 2-core AMD EPYC (AVX-512) machine."""


def correlate(image, kernel, boundary="reflect", shape="same", cval=0.0, method="auto"):
    """Correlate ``image`` with ``kernel``: f[m, n] = Σ_{k,l} I[m + k, n + l]·g[k, l].

    image: (H, W), (H, W, C) filtered per channel, or (N, C, H, W); a NumPy array (integers
    are computed in float32, float64 stays float64) or a fovea Tensor (differentiable with
    respect to the image and, if it is a Tensor, the kernel). kernel: 2-D.
    boundary: "constant" (with ``cval``; alias "zero"), "reflect", "mirror", "nearest" (alias
    "replicate") or "wrap", as scipy.ndimage. shape: "same" (the image's size), "valid" (only
    where the kernel fits inside the image; empty if it never does) or "full" (every
    overlap, H + KH − 1 rows), as scipy.signal. method: "auto", "direct", "separable" (rank-1
    kernels only) or "fft".
    """
    return _linear_filter(image, kernel, boundary, shape, cval, method, flip=False)


def convolve(image, kernel, boundary="reflect", shape="same", cval=0.0, method="auto"):
    """Convolve ``image`` with ``kernel``: f[m, n] = Σ_{k,l} I[m − k, n − l]·g[k, l], the notes'
    definition (the kernel flipped, then a correlation). Arguments as :func:`correlate`."""
    return _linear_filter(image, kernel, boundary, shape, cval, method, flip=True)


def cost(kernel_shape, image_shape) -> dict:
    """Multiply-adds of each method for a "same"-shaped filter of an image: direct k_h·k_w·n,
    separable (k_h + k_w)·n, FFT n'·log₂ n' (n' the padded size), n the number of output
    samples (all planes of a colour image or batch)."""
    kh, kw = (int(v) for v in kernel_shape)
    h, w, planes = _plane_dims(tuple(int(v) for v in image_shape))
    n = h * w * planes
    nfft = next_fast_len(h + kh - 1) * next_fast_len(w + kw - 1)
    return {"direct": kh * kw * n, "separable": (kh + kw) * n,
            "fft": int(planes * nfft * math.log2(max(nfft, 2)))}


def estimate_seconds(kernel_shape, image_shape, compiled=None) -> dict:
    """Estimated seconds of each method on this machine, by :data:`TIME_MODEL`, with
    :data:`COMPILED_TIME_MODEL` where ``compiled`` (default: where the compiled kernels run
    now)."""
    if compiled is None:
        compiled = compiled_passes_available()
    model = {**TIME_MODEL, **COMPILED_TIME_MODEL} if compiled else TIME_MODEL
    h, w, planes = _plane_dims(tuple(int(v) for v in image_shape))
    n = h * w * planes
    return {m: a * units + b * n
            for m, units in cost(kernel_shape, image_shape).items()
            for a, b in [model[m]]}


def choose_method(kernel, image_shape) -> str:
    """The method "auto" runs: the smallest :func:`estimate_seconds` among those that apply
    (separable only for rank-1 kernels)."""
    return _cheapest(kernel.shape, image_shape, _factors(kernel, "auto") is not None)


def _cheapest(kernel_shape, image_shape, separable: bool, compiled=None) -> str:
    estimates = estimate_seconds(kernel_shape, image_shape, compiled)
    if not separable:
        del estimates["separable"]
    return min(estimates, key=estimates.get)


def _factors(kernel, method):
    """The rank-1 factors a method may use: any within 1e-6 for an explicit "separable";
    for "auto" only what is exact in the kernel's dtype; none for the other methods."""
    if method == "separable":
        return separate(kernel)
    if method == "auto":
        return separate(kernel, _auto_tol(kernel))
    return None


def _auto_tol(kernel) -> float:
    """``separate``'s tolerance when "auto" may swap in the rank-1 factors: the approximation
    must cost no more than the dtype's own rounding (1e-6 would lose 8 digits of float64)."""
    return 1e-12 if getattr(kernel, "dtype", None) == backend.float64 else 1e-6


def next_fast_len(n: int) -> int:
    """The smallest 2^a·3^b·5^c ≥ n: an FFT size pocketfft transforms quickly."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


# ---- argument handling --------------------------------------------------------------------
def _plane_dims(shape):
    """(H, W, planes) of an image shape (H, W), (H, W, C) or (N, C, H, W)."""
    if len(shape) == 2:
        return shape[0], shape[1], 1
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    if len(shape) == 4:
        return shape[2], shape[3], shape[0] * shape[1]
    raise ShapeError(f"image must be (H, W), (H, W, C) or (N, C, H, W), got shape {shape}")


def _check(kernel_shape, shape, method):
    if len(kernel_shape) != 2 or 0 in kernel_shape:
        raise ShapeError(f"kernel must be a non-empty 2-D array, got shape {kernel_shape}")
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose from {', '.join(SHAPES)}")
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def _pads(kernel_shape, shape, flip):
    """(top, bottom, left, right) extension of the image for the output ``shape``."""
    pads = []
    for k in kernel_shape:
        if shape == "valid":
            pads += [0, 0]
        elif shape == "full":
            pads += [k - 1, k - 1]
        else:  # same: the correlation centre is K//2, or K−1−K//2 for the flipped kernel
            before = k - 1 - k // 2 if flip else k // 2
            pads += [before, k - 1 - before]
    return pads


def _compute_dtype(dtype):
    return backend.float64 if dtype == backend.float64 else backend.float32


def _linear_filter(image, kernel, boundary, shape, cval, method, flip):
    mode = boundary_mode(boundary)
    kshape = tuple(kernel.shape) if hasattr(kernel, "shape") else backend.asarray(kernel).shape
    _check(kshape, shape, method)
    if isinstance(image, Tensor) or isinstance(kernel, Tensor):
        if _needs_grad(image, kernel):
            return _tensor_filter(image, kernel, mode, shape, cval, method, flip)
        image = image.data if isinstance(image, Tensor) else image
        kernel = kernel.data if isinstance(kernel, Tensor) else kernel
        return Tensor(_array_filter(image, kernel, mode, shape, cval, method, flip))
    return _array_filter(image, kernel, mode, shape, cval, method, flip)


# ---- NumPy arrays -------------------------------------------------------------------------
def _as_planes(img):
    """An (H, W, P) view or copy of the image, and the function that restores its layout."""
    if img.ndim == 2:
        return img[:, :, None], lambda o: o[:, :, 0]
    if img.ndim == 3:
        return img, lambda o: o
    if img.ndim == 4:
        n, c, h, w = img.shape
        planes = img.transpose(2, 3, 0, 1).reshape(h, w, n * c)
        return planes, lambda o: o.reshape(o.shape[0], o.shape[1], n, c).transpose(2, 3, 0, 1)
    raise ShapeError(f"image must be (H, W), (H, W, C) or (N, C, H, W), got shape {img.shape}")


def _array_filter(image, kernel, mode, shape, cval, method, flip):
    xp = backend.namespace(image)
    img = xp.asarray(image)
    if img.dtype.kind not in "biuf":
        raise TypeError(f"image must be numeric, got dtype {img.dtype}")
    dtype = _compute_dtype(img.dtype)
    ker = xp.asarray(kernel, dtype=dtype)
    if flip:
        ker = ker[::-1, ::-1]
    planes, restore = _as_planes(img.astype(dtype, copy=False))
    top, bottom, left, right = _pads(ker.shape, shape, flip)
    h, w = planes.shape[:2]
    oh, ow = h + top + bottom - ker.shape[0] + 1, w + left + right - ker.shape[1] + 1
    if oh <= 0 or ow <= 0:  # "valid" with a kernel larger than the image
        return restore(xp.zeros((max(oh, 0), max(ow, 0), planes.shape[2]), dtype=dtype))
    factors = _factors(ker, method)
    if method == "auto":
        method = _cheapest(ker.shape, img.shape, factors is not None, compiled_passes(planes))
    elif method == "separable" and factors is None:
        raise ValueError(f"method 'separable' needs a rank-1 kernel; this {ker.shape} kernel "
                         "is not separable (use 'direct', 'fft' or 'auto')")
    if method == "separable" and compiled_passes(planes):
        return restore(separable_passes(planes, ker, factors, (top, bottom, left, right), mode,
                                        cval))
    xpad = pad_planes(planes, top, bottom, left, right, mode, cval)
    if method == "separable":  # a column pass then a row pass: (k_h + k_w)·n, not k_h·k_w·n
        col, row = (xp.asarray(f, dtype=dtype) for f in factors)
        out = correlate_valid(correlate_valid(xpad, col[:, None]), row[None, :])
    elif method == "fft":
        out = _fft(xpad, ker)
    else:
        out = correlate_valid(xpad, ker)
    return restore(out)


def correlate_valid(xpad, ker):
    """Valid correlation of padded planes (Hp, Wp, P) with a 2-D kernel, by the shared core."""
    kh, kw = ker.shape
    hp, wp, p = xpad.shape
    oh, ow = hp - kh + 1, wp - kw + 1
    xp = backend.namespace(xpad)
    out, *_ = correlate_batch_last(xp.ascontiguousarray(xpad)[None], ker.reshape(1, kh * kw),
                                   Geometry(kh, kw, oh, ow))
    return out.reshape(oh, ow, p)


def _fft(xpad, ker):
    """Valid correlation via the FFT: the valid part of a circular convolution with the
    flipped kernel over a transform at least as large as the padded image (no wrap-around
    reaches the valid part)."""
    kh, kw = ker.shape
    hp, wp = xpad.shape[:2]
    xp = backend.namespace(xpad)
    size = (next_fast_len(hp), next_fast_len(wp))
    spectrum = xp.fft.rfft2(xpad, s=size, axes=(0, 1))
    spectrum *= xp.fft.rfft2(ker[::-1, ::-1], s=size)[:, :, None]
    full = xp.fft.irfft2(spectrum, s=size, axes=(0, 1))
    return xp.ascontiguousarray(full[kh - 1:hp, kw - 1:wp]).astype(ker.dtype, copy=False)


# ---- differentiable Tensors ---------------------------------------------------------------
def _needs_grad(*items):
    return is_grad_enabled() and any(isinstance(t, Tensor) and t.requires_grad for t in items)


def _tensor_planes(x):
    """x as (P, 1, H, W) planes for conv2d, and the function that restores its layout."""
    if x.ndim == 2:
        h, w = x.shape
        return x.reshape(1, 1, h, w), lambda o: o.reshape(o.shape[2], o.shape[3])
    if x.ndim == 3:
        h, w, c = x.shape
        return (x.permute(2, 0, 1).reshape(c, 1, h, w),
                lambda o: o.reshape(c, o.shape[2], o.shape[3]).permute(1, 2, 0))
    if x.ndim == 4:
        n, c, h, w = x.shape
        return x.reshape(n * c, 1, h, w), lambda o: o.reshape(n, c, o.shape[2], o.shape[3])
    raise ShapeError(f"image must be (H, W), (H, W, C) or (N, C, H, W), got shape {x.shape}")


def _tensor_filter(image, kernel, mode, shape, cval, method, flip):
    x = image if isinstance(image, Tensor) else Tensor(backend.namespace(image).asarray(image))
    if x.dtype.kind != "f" or x.dtype not in (backend.float32, backend.float64):
        x = x.to(backend.float32)
    xp = backend.namespace(x.data)
    k = kernel if isinstance(kernel, Tensor) else Tensor(xp.asarray(kernel, dtype=x.dtype))
    k = k.to(x.dtype)
    if flip:
        k = k[::-1, ::-1]
    if method == "fft":
        raise ValueError("method 'fft' is not differentiable; use 'direct', 'separable' or "
                         "'auto' on tensors that require gradients")
    planes, restore = _tensor_planes(x)
    top, bottom, left, right = _pads(k.shape, shape, flip)
    h, w = planes.shape[2:]
    if h + top + bottom < k.shape[0] or w + left + right < k.shape[1]:
        raise ShapeError(f"shape 'valid': the kernel {tuple(k.shape)} is larger than the image "
                         f"({h}, {w}); the result would be empty")
    if mode == "constant":
        xpad = pad(planes, (left, right, top, bottom), value=cval)
    else:
        rows = xp.asarray(source_indices(h, top, bottom, mode))
        cols = xp.asarray(source_indices(w, left, right, mode))
        xpad = planes[:, :, rows[:, None], cols[None, :]]
    if method == "separable" and k.requires_grad:
        raise ValueError("method 'separable' does not differentiate with respect to the "
                         "kernel; use 'direct' or 'auto' for a kernel that requires grad")
    factors = None if k.requires_grad else _factors(k.data, method)
    if method == "separable" and factors is None:
        raise ValueError(f"method 'separable' needs a rank-1 kernel; this {tuple(k.shape)} "
                         "kernel is not separable")
    if factors is not None:
        col, row = (Tensor(xp.asarray(f, dtype=x.dtype)) for f in factors)
        out = F.conv2d(xpad, col.reshape(1, 1, -1, 1))
        out = F.conv2d(out, row.reshape(1, 1, 1, -1))
    else:
        out = F.conv2d(xpad, k.reshape(1, 1, *k.shape))
    return restore(out)
