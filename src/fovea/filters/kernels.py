"""Filter kernels, as small float64 NumPy arrays.

Every function returns a new 2-D float64 ``numpy.ndarray`` (``gaussian_1d`` a 1-D one); callers
cast it to the image's dtype (:func:`fovea.filters.correlate` does so itself). A kernel of
shape (KH, KW) has its centre, offset (0, 0), at index (KH // 2, KW // 2), and its entry at
index (KH // 2 + k, KW // 2 + l) is g[k, l] for offsets k (down the rows, axis 0, "y") and l
(along the columns, axis 1, "x").

With that indexing (the mathematics of the notes, §1.1: row index grows downwards, column
index to the right)

* correlation:  f[m, n] = Σ_{k,l} I[m + k, n + l] · g[k, l]
* convolution:  f[m, n] = Σ_{k,l} I[m − k, n − l] · g[k, l]   (the kernel flipped)

Averaging kernels (:func:`box`, :func:`weighted_average`, :func:`gaussian`, :func:`sharpen`
with an averaging blur) sum to 1, so that a flat image passes unchanged; derivative kernels
(:func:`derivative`, :func:`sobel`, :func:`prewitt`, :func:`scharr`, :func:`laplacian`,
:func:`laplacian_of_gaussian`) sum to 0, so that a flat image gives 0. The derivative kernels
are oriented for *correlation*: correlating a ramp that increases along +axis gives a positive
response (the sign of scipy.ndimage.sobel). Convolving with them gives the negated response.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = [
    "impulse", "shift", "box", "weighted_average", "gaussian_1d", "gaussian", "sharpen",
    "derivative", "sobel", "prewitt", "scharr", "laplacian", "laplacian_of_gaussian",
]


# ---- argument checks --------------------------------------------------------------------------
def _int(value, name: str) -> int:
    """``value`` as a Python int; ValueError naming ``name`` if it is not an integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _size_pair(size, name: str, odd: bool = False) -> tuple[int, int]:
    """An int or an (h, w) pair of positive (optionally odd) ints."""
    if isinstance(size, (tuple, list, np.ndarray)):
        if len(size) != 2:
            raise ValueError(f"{name} must be an int or an (h, w) pair, got {size!r}")
        pair = (_int(size[0], name), _int(size[1], name))
    else:
        n = _int(size, name)
        pair = (n, n)
    for n in pair:
        if n < 1:
            raise ValueError(f"{name} must be positive, got {size!r}")
        if odd and n % 2 == 0:
            raise ValueError(f"{name} must be odd (the kernel needs a centre), got {size!r}")
    return pair


def _axis(axis) -> int:
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral) or axis not in (0, 1):
        raise ValueError(f"axis must be 0 (y, rows) or 1 (x, columns), got {axis!r}")
    return int(axis)


def _real(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    return float(value)


def _sigmas(sigma) -> tuple[float, float]:
    """sigma (a number or a (sigma_y, sigma_x) pair) as a pair of positive floats."""
    pair = tuple(sigma) if isinstance(sigma, (tuple, list, np.ndarray)) else (sigma, sigma)
    if len(pair) != 2:
        raise ValueError(f"sigma must be a number or a (sigma_y, sigma_x) pair, got {sigma!r}")
    out = tuple(_real(s, "sigma") for s in pair)
    if min(out) <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    return out


def _radius(radius, sigma: float) -> int:
    """The default radius is scipy.ndimage.gaussian_filter's: int(4·sigma + 0.5)."""
    if radius is None:
        return int(4.0 * sigma + 0.5)
    r = _int(radius, "radius")
    if r < 0:
        raise ValueError(f"radius must be >= 0, got {radius!r}")
    return r


def _radii(radius, sigmas) -> tuple[int, int]:
    if isinstance(radius, (tuple, list, np.ndarray)):
        if len(radius) != 2:
            raise ValueError(f"radius must be an int or a (ry, rx) pair, got {radius!r}")
        return _radius(radius[0], sigmas[0]), _radius(radius[1], sigmas[1])
    return _radius(radius, sigmas[0]), _radius(radius, sigmas[1])


# ---- averaging and moving -----------------------------------------------------------------------
def impulse(size=3) -> np.ndarray:
    """The identity kernel δ: a (size × size) array of zeros with a 1 at the centre.

    g[k, l] = 1 if k = l = 0 else 0, so ``correlate(I, impulse()) == I`` for every boundary
    mode. ``size`` is an odd positive int (or an (h, w) pair of them).
    """
    h, w = _size_pair(size, "size", odd=True)
    g = np.zeros((h, w))
    g[h // 2, w // 2] = 1.0
    return g


def shift(dy, dx) -> np.ndarray:
    """An off-centre impulse: g[dy, dx] = 1 (offsets from the centre), zero elsewhere.

    The kernel is square, of size 2·max(|dy|, |dx|) + 1. From the definitions,

    * correlation gives f[m, n] = I[m + dy, n + dx]: each output pixel *reads* the pixel dy
      below and dx to the right, so the content moves **up** by dy and **left** by dx
      (``np.roll(I, (-dy, -dx), (0, 1))`` with a "wrap" boundary);
    * convolution gives f[m, n] = I[m − dy, n − dx]: the content moves **down** by dy and
      **right** by dx (``np.roll(I, (dy, dx), (0, 1))`` with a "wrap" boundary).

    So ``convolve(I, shift(dy, dx))`` shifts the image by (dy, dx). The notes' 1 × 9 kernel
    [1 0 0 0 0 0 0 0 0] is the middle row of ``shift(0, -4)``: convolving with it moves the
    content 4 pixels to the left (each pixel takes the value 4 pixels to its right).
    """
    dy, dx = _int(dy, "dy"), _int(dx, "dx")
    r = max(abs(dy), abs(dx))
    g = np.zeros((2 * r + 1, 2 * r + 1))
    g[r + dy, r + dx] = 1.0
    return g


def box(size) -> np.ndarray:
    """The box (mean) filter: an (h × w) array with every entry 1/(h·w).

    ``size`` is a positive int (a square) or an (h, w) pair; even sizes are allowed (their
    centre is at index (h // 2, w // 2)). Correlating gives the mean of each h × w patch.
    """
    h, w = _size_pair(size, "size")
    return np.full((h, w), 1.0 / (h * w))


def weighted_average(weights) -> np.ndarray:
    """A weighted-average kernel: g = W / ΣW for a non-negative matrix W.

    ``weights`` is a 2-D array (a 1-D one becomes a 1 × n row); ValueError if any weight is
    negative or not finite, or if the weights sum to zero.
    """
    w = np.array(weights, dtype=np.float64)
    if w.ndim == 1:
        w = w[None, :]
    if w.ndim != 2 or w.size == 0:
        raise ValueError(f"weights must be a non-empty 1-D or 2-D array, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights must be finite")
    if np.any(w < 0):
        raise ValueError("weights must be non-negative")
    total = w.sum()
    if total <= 0:
        raise ValueError("weights must not sum to zero")
    return w / total


def gaussian_1d(sigma, radius=None) -> np.ndarray:
    """The sampled, normalized 1-D Gaussian: g[x] = exp(−x²/(2σ²)) / Σ_x exp(−x²/(2σ²)),
    x = −radius … radius.

    ``radius`` defaults to int(4·σ + 0.5), scipy.ndimage.gaussian_filter's (truncate=4.0), so
    the taps equal scipy's. ValueError unless σ > 0.
    """
    s = _real(sigma, "sigma")
    if s <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    r = _radius(radius, s)
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-0.5 * (x / s) ** 2)
    return g / g.sum()


def gaussian(sigma, radius=None) -> np.ndarray:
    """The 2-D Gaussian kernel g[y, x] ∝ exp(−(y² + x²)/(2σ²)) / (2πσ²), normalized to sum 1.

    It is the outer product of two :func:`gaussian_1d` (the Gaussian is separable), of shape
    (2·radius + 1) square; ``radius`` defaults to int(4·σ + 0.5) as in
    scipy.ndimage.gaussian_filter, whose result :func:`fovea.filters.gaussian_filter` then
    reproduces. ``sigma`` (and ``radius``) may also be (y, x) pairs for an anisotropic kernel.
    ValueError unless σ > 0.
    """
    sy, sx = _sigmas(sigma)
    ry, rx = _radii(radius, (sy, sx))
    return np.outer(gaussian_1d(sy, ry), gaussian_1d(sx, rx))


def sharpen(alpha=1.0, blur=None) -> np.ndarray:
    """The unsharp-mask kernel g = (1 + α)·δ − α·blur: the image plus α times its detail
    (image − blurred image).

    ``blur`` defaults to ``box(3)``; the impulse δ has the blur's shape (centre at index
    (h // 2, w // 2)). With a blur that sums to 1, g sums to 1: flat regions stay unchanged.
    """
    a = _real(alpha, "alpha")
    b = box(3) if blur is None else np.array(blur, dtype=np.float64)
    if b.ndim != 2 or b.size == 0:
        raise ValueError(f"blur must be a non-empty 2-D kernel, got shape {b.shape}")
    delta = np.zeros(b.shape)
    delta[b.shape[0] // 2, b.shape[1] // 2] = 1.0
    return (1.0 + a) * delta - a * b


# ---- derivatives -------------------------------------------------------------------------------
_DIFFERENCES = {
    "central": (-0.5, 0.0, 0.5),   # (I[n+1] − I[n−1]) / 2
    "forward": (0.0, -1.0, 1.0),   # I[n+1] − I[n]
    "backward": (-1.0, 1.0, 0.0),  # I[n] − I[n−1]
}


def derivative(axis, kind="central") -> np.ndarray:
    """A 3-tap finite difference along ``axis`` (0: y, down the rows; 1: x, along the columns),
    centred so that *correlating* with it estimates ∂I/∂axis:

    * "central":  [−½, 0, ½]  →  (I[n+1] − I[n−1]) / 2
    * "forward":  [0, −1, 1]  →  I[n+1] − I[n]
    * "backward": [−1, 1, 0]  →  I[n] − I[n−1]

    Shape (1, 3) for axis 1, (3, 1) for axis 0.
    """
    axis = _axis(axis)
    if kind not in _DIFFERENCES:
        raise ValueError(f"kind must be one of {', '.join(_DIFFERENCES)}, got {kind!r}")
    d = np.array(_DIFFERENCES[kind])
    return d[None, :] if axis == 1 else d[:, None]


def _gradient_operator(smooth, axis, normalize: bool) -> np.ndarray:
    """outer(smooth, [−1, 0, 1]) for axis 1 (its transpose for axis 0); normalized, divided by
    2·Σsmooth so that a ramp of slope s gives s."""
    axis = _axis(axis)
    s = np.asarray(smooth, dtype=np.float64)
    g = np.outer(s, [-1.0, 0.0, 1.0])
    if normalize:
        g /= 2.0 * s.sum()
    return g if axis == 1 else np.ascontiguousarray(g.T)


def sobel(axis, normalize=False) -> np.ndarray:
    """The 3 × 3 Sobel operator: smoothing [1, 2, 1] across ``axis``, central difference
    [−1, 0, 1] along it. ``sobel(1)`` is [[−1, 0, 1], [−2, 0, 2], [−1, 0, 1]].

    Correlating gives scipy.ndimage.sobel(image, axis) (positive where intensity increases
    along +axis), which is 8× the slope of a ramp; ``normalize=True`` divides by 8 so that the
    response is the derivative estimate itself.
    """
    return _gradient_operator([1.0, 2.0, 1.0], axis, normalize)


def prewitt(axis, normalize=False) -> np.ndarray:
    """The 3 × 3 Prewitt operator: smoothing [1, 1, 1] across ``axis``, [−1, 0, 1] along it.
    ``prewitt(1)`` is [[−1, 0, 1]] × 3 rows; correlating gives scipy.ndimage.prewitt's sign and
    6× the slope of a ramp (``normalize=True`` divides by 6)."""
    return _gradient_operator([1.0, 1.0, 1.0], axis, normalize)


def scharr(axis, normalize=False) -> np.ndarray:
    """The 3 × 3 Scharr operator: smoothing [3, 10, 3] across ``axis``, [−1, 0, 1] along it.
    ``scharr(1)`` is [[−3, 0, 3], [−10, 0, 10], [−3, 0, 3]]; correlating gives 32× the slope of
    a ramp (``normalize=True`` divides by 32)."""
    return _gradient_operator([3.0, 10.0, 3.0], axis, normalize)


def laplacian() -> np.ndarray:
    """The 5-point Laplacian ∇²I ≈ I[m−1,n] + I[m+1,n] + I[m,n−1] + I[m,n+1] − 4·I[m,n]:
    [[0, 1, 0], [1, −4, 1], [0, 1, 0]] (symmetric, so correlation = convolution)."""
    return np.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])


def laplacian_of_gaussian(sigma, radius=None) -> np.ndarray:
    """The sampled Laplacian of a Gaussian (the "Mexican hat", negated):

        ∇²G(x, y) = (x² + y² − 2σ²) / σ⁴ · exp(−(x² + y²)/(2σ²)) / (2πσ²),

    on x, y = −radius … radius (radius defaults to int(4·σ + 0.5)), then made zero-sum by
    subtracting its mean from every tap (as MATLAB's fspecial("log")), so that a flat image
    gives exactly 0. Negative at the centre: a bright blob gives a negative response, and the
    response to the quadratic x² + y² is ≈ 4 (= ∇²). ValueError unless σ > 0.
    """
    s = _real(sigma, "sigma")
    if s <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    r = _radius(radius, s)
    x = np.arange(-r, r + 1, dtype=np.float64)
    r2 = x[:, None] ** 2 + x[None, :] ** 2
    g = (r2 - 2.0 * s * s) / s**4 * np.exp(-r2 / (2.0 * s * s)) / (2.0 * np.pi * s * s)
    return g - g.mean()
