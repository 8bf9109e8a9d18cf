"""Edges and derivatives (notes §1.1.3): image gradients, zero crossings and the Canny detector.

Coordinates are array coordinates: axis 0 is y and grows *downwards* (rows), axis 1 is x and
grows to the right (columns). ``gradient`` returns (∂I/∂y, ∂I/∂x) in that frame, so an image
that brightens downwards has a positive dy and an orientation of +π/2.

``gradient`` and ``gradient_magnitude`` accept whatever :func:`fovea.filters.correlate` accepts
((H, W), (H, W, C) per channel, (N, C, H, W); NumPy arrays or differentiable Tensors).
``zero_crossings`` and ``canny`` work on 2-D NumPy arrays (``canny`` also on colour images, which
it converts to luminance first).
"""

from __future__ import annotations

import math
import numbers

from .. import backend, ops
from ..autograd import Tensor
from ..errors import ShapeError
from . import kernels
from .color import LUMA_WEIGHTS, luminance
from .core import correlate
from .smoothing import gaussian_filter

__all__ = ["gradient", "gradient_magnitude", "gradient_orientation", "zero_crossings", "canny",
           "LUMA_WEIGHTS", "OPERATORS"]

OPERATORS = ("sobel", "prewitt", "scharr", "central")

def _operator_kernel(operator, axis, normalize):
    if operator == "central":
        d = kernels.derivative(axis, "central")
        return d if normalize else 2.0 * d
    make = {"sobel": kernels.sobel, "prewitt": kernels.prewitt, "scharr": kernels.scharr}
    if operator not in make:
        raise ValueError(f"unknown operator {operator!r}; choose from {', '.join(OPERATORS)}")
    return make[operator](axis, normalize=normalize)


def gradient(image, boundary="reflect", operator="sobel", normalize=True, cval=0.0,
             method="auto"):
    """The image gradient (dy, dx) = (∂I/∂y, ∂I/∂x), each the size of the image.

    operator: "sobel" (default), "prewitt", "scharr" (3 × 3: a central difference along the
    axis, smoothed across it) or "central" ([−½, 0, ½]). Each is correlated with the image
    (:func:`kernels.sobel` etc.), so intensity increasing along +axis gives a positive
    derivative. With ``normalize=True`` (default) the kernels are scaled to estimate the
    derivative itself: a ramp I = a·y + b·x gives dy = a, dx = b exactly (away from the
    boundary). ``normalize=False`` uses the integer operators (Sobel 8×, Prewitt 6×, Scharr 32×,
    central [−1, 0, 1] 2× the slope), so that ``dx`` equals scipy.ndimage.sobel(image, axis=1).
    """
    dy = correlate(image, _operator_kernel(operator, 0, normalize), boundary=boundary,
                   shape="same", cval=cval, method=method)
    dx = correlate(image, _operator_kernel(operator, 1, normalize), boundary=boundary,
                   shape="same", cval=cval, method=method)
    return dy, dx


def _magnitude(dy, dx):
    if isinstance(dy, Tensor) or isinstance(dx, Tensor):
        sq = dy * dy + dx * dx
        positive = sq.data > 0
        # sqrt has an infinite slope at 0: route zero pixels around it, so that their
        # gradient is 0 (a subgradient) instead of NaN
        return ops.where(positive, ops.sqrt(ops.where(positive, sq, 1.0)), 0.0)
    return backend.namespace(dy).hypot(dy, dx)


def gradient_magnitude(image, boundary="reflect", operator="sobel", normalize=True, cval=0.0,
                       method="auto"):
    """|∇I| = √(dy² + dx²) from :func:`gradient` (same arguments); the image's dtype (float32
    for integer images). For a Tensor it is differentiable, with gradient 0 where |∇I| = 0."""
    dy, dx = gradient(image, boundary, operator, normalize, cval, method)
    return _magnitude(dy, dx)


def gradient_orientation(image, boundary="reflect", operator="sobel", cval=0.0, method="auto"):
    """The gradient direction atan2(dy, dx) in radians, in (−π, π], from :func:`gradient`.

    0 points along +x (intensity increasing to the right), +π/2 along +y (increasing
    *downwards*, since rows grow downwards), ±π to the left. Where the gradient is zero the
    angle is 0 (atan2(0, 0)). For a Tensor the result is a Tensor outside the graph (the angle
    is not differentiated).
    """
    dy, dx = gradient(image, boundary, operator, True, cval, method)
    if isinstance(dy, Tensor):
        return Tensor(backend.namespace(dy.data).arctan2(dy.data, dx.data))
    return backend.namespace(dy).arctan2(dy, dx)


def _nonneg_real(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return float(value)


def zero_crossings(laplacian_image, threshold=0.0):
    """A bool mask of the zero crossings of a 2-D (Laplacian-filtered) image.

    Pixel (m, n) is marked when the sign changes between it and its right neighbour
    (m, n + 1) or its lower neighbour (m + 1, n), and the two values differ by more than
    ``threshold`` (|a − b| > threshold). Zero counts as positive, so a crossing that passes
    exactly through a zero sample (+, 0, −) is still found once, and a zero region next to a
    positive one is not a crossing. Use a threshold above the noise level: the Laplacian of a
    flat region is ±(rounding error), and every such sign flip crosses a zero threshold.
    """
    lap = laplacian_image.data if isinstance(laplacian_image, Tensor) else laplacian_image
    xp = backend.namespace(lap)
    lap = xp.asarray(lap)
    if lap.ndim != 2:
        raise ShapeError(f"zero_crossings needs a 2-D image, got shape {lap.shape}")
    t = _nonneg_real(threshold, "threshold")
    positive = lap >= 0
    out = xp.zeros(lap.shape, dtype=bool)
    right = (positive[:, :-1] != positive[:, 1:]) & (xp.abs(lap[:, :-1] - lap[:, 1:]) > t)
    down = (positive[:-1] != positive[1:]) & (xp.abs(lap[:-1] - lap[1:]) > t)
    out[:, :-1] |= right
    out[:-1] |= down
    return out


# ---- Canny ----------------------------------------------------------------------------------
def _grayscale(image):
    """A 2-D float image: float64 stays float64, anything else becomes float32; an (H, W, 3)
    or (H, W, 4) colour image becomes its BT.601 luma (alpha ignored), (H, W, 1) is squeezed."""
    img = image.data if isinstance(image, Tensor) else backend.namespace(image).asarray(image)
    if img.dtype.kind not in "biuf":
        raise TypeError(f"image must be numeric, got dtype {img.dtype}")
    dtype = backend.float64 if img.dtype == backend.float64 else backend.float32
    img = img.astype(dtype, copy=False)
    if img.ndim == 3 and img.shape[2] == 1:
        return img[:, :, 0]
    if img.ndim == 3 and img.shape[2] in (3, 4):
        return luminance(img)
    if img.ndim != 2:
        raise ShapeError("canny needs a 2-D grayscale image or an (H, W, 3) colour image, "
                         f"got shape {img.shape}")
    return img


def _shifted(padded, dy, dx):
    """The (H, W) window of a 1-pixel padded array holding each pixel's (dy, dx) neighbour."""
    h, w = padded.shape[0] - 2, padded.shape[1] - 2
    return padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]


def _non_maximum_suppression(mag, dy, dx):
    """Keep the pixels whose magnitude is a maximum along the gradient direction, quantized to
    0°, 45°, 90° and 135° (angles in array coordinates, y down). Ties between two neighbours
    along the gradient keep the one at lower index only, so an edge is one pixel wide."""
    xp = backend.namespace(mag)
    angle = xp.rad2deg(xp.arctan2(dy, dx)) % 180.0
    padded = xp.pad(mag, 1)
    keep = xp.zeros(mag.shape, dtype=bool)
    # the four direction sectors of [0°, 180°) and each one's neighbour offset (y, x)
    sectors = (
        (angle < 22.5) | (angle >= 157.5),  # gradient along x: compare left and right
        (angle >= 22.5) & (angle < 67.5),    # dy, dx of one sign: down-right / up-left
        (angle >= 67.5) & (angle < 112.5),   # gradient along y: compare up and down
        (angle >= 112.5) & (angle < 157.5),  # dy > 0 > dx: down-left / up-right
    )
    offsets = ((0, 1), (1, 1), (1, 0), (1, -1))
    for sector, (oy, ox) in zip(sectors, offsets):
        ahead = _shifted(padded, oy, ox)
        behind = _shifted(padded, -oy, -ox)
        keep |= sector & (mag >= ahead) & (mag > behind)
    return keep & (mag > 0)


def _dilate(mask):
    """3 × 3 (8-connected) binary dilation."""
    padded = backend.namespace(mask).pad(mask, 1)
    out = mask.copy()
    for oy in (-1, 0, 1):
        for ox in (-1, 0, 1):
            if oy or ox:
                out |= _shifted(padded, oy, ox)
    return out


def _hysteresis(strong, weak):
    """The weak pixels 8-connected (through weak pixels) to a strong one: strong pixels grown
    one ring at a time within ``weak`` until nothing changes."""
    edges = strong & weak
    xp = backend.namespace(edges)
    while True:
        grown = _dilate(edges) & weak
        if xp.array_equal(grown, edges):
            return edges
        edges = grown


_NOISE_ULPS = 64
"""Gradient magnitudes up to this many units in the last place of the image's largest value
count as zero in :func:`canny` (the rounding noise of smoothing a flat region)."""


def canny(image, sigma=1.4, low=0.1, high=0.3, relative=True):
    """The Canny edge detector: a bool map, True on edge pixels.

    1. Luminance: an (H, W, 3) RGB image (or RGBA, alpha ignored) becomes
       Y = 0.299 R + 0.587 G + 0.114 B (ITU-R BT.601, :data:`LUMA_WEIGHTS`); integer images are
       computed in float32.
    2. Smoothing by :func:`gaussian_filter` with ``sigma`` (reflect boundary; sigma = 0 skips it).
    3. Sobel gradients (normalized: derivative estimates, intensity units per pixel) and their
       magnitude.
    4. Non-maximum suppression along the gradient direction, quantized to 4 directions: a
       pixel survives if its magnitude is not below its two neighbours along the gradient
       (so edges are 1 pixel wide).
    5. Double threshold: pixels with magnitude ≥ ``high`` are strong, ≥ ``low`` weak; with
       ``relative=True`` (default) both are fractions of the largest gradient magnitude,
       otherwise absolute magnitudes.
    6. Hysteresis: the strong pixels plus every weak pixel 8-connected to one through weak
       pixels (iterated dilation until nothing changes).

    Magnitudes within rounding noise (64 ulps of the image's largest value, about 1e-14 of it
    in float64 and 8e-6 in float32) count as zero, so a flat image has no edges.
    ValueError unless 0 ≤ low ≤ high (and sigma ≥ 0).
    """
    s = _nonneg_real(sigma, "sigma")
    lo = _nonneg_real(low, "low")
    hi = _nonneg_real(high, "high")
    if lo > hi:
        raise ValueError(f"low must not exceed high, got low={low!r}, high={high!r}")
    img = _grayscale(image)
    xp = backend.namespace(img)
    if img.size == 0:
        return xp.zeros(img.shape, dtype=bool)
    if s > 0:
        img = gaussian_filter(img, s, boundary="reflect")
    dy, dx = gradient(img, boundary="reflect", operator="sobel")
    mag = xp.hypot(dy, dx)
    # rounding noise of the filters: a flat image's "gradient" is a few ulps of its values,
    # which relative thresholds would otherwise blow up into edges
    floor = _NOISE_ULPS * float(xp.finfo(img.dtype).eps) * float(xp.abs(img).max())
    peak = float(mag.max())
    if not peak > floor:
        return xp.zeros(mag.shape, dtype=bool)
    if relative:
        lo, hi = lo * peak, hi * peak
    thin = _non_maximum_suppression(mag, dy, dx) & (mag > floor)
    return _hysteresis(thin & (mag >= hi), thin & (mag >= lo))
