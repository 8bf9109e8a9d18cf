"""Smoothing shortcuts (notes §1.1.1–1.1.2): Gaussian, box and unsharp-mask filtering.

Each builds its kernel from :mod:`fovea.filters.kernels` and runs :func:`fovea.filters.correlate`
with shape "same" (the image's size). The kernels are symmetric, so correlation and convolution
agree (for an even box size the window covers offsets −size//2 … size − 1 − size//2, as in
scipy.ndimage.uniform_filter). Images are what ``correlate`` accepts: (H, W), (H, W, C) filtered
per channel, or (N, C, H, W); NumPy arrays (integers computed in float32, float32 and float64
kept) or differentiable fovea Tensors.

The Gaussian and box kernels are separable (rank 1): ``method="auto"`` lets ``correlate`` run
them as a column pass then a row pass, 2k multiply-adds per pixel instead of k² (notes §1.1.2).
"""

from __future__ import annotations

from . import kernels
from .core import correlate

__all__ = ["gaussian_filter", "box_filter", "sharpen_image"]


def gaussian_filter(image, sigma, boundary="reflect", cval=0.0, radius=None, method="auto"):
    """Blur ``image`` with the normalized Gaussian of standard deviation ``sigma`` (a number,
    or a (sigma_y, sigma_x) pair) in pixels.

    The kernel is :func:`kernels.gaussian` with radius int(4·sigma + 0.5) unless ``radius`` is
    given, so the result equals scipy.ndimage.gaussian_filter(image, sigma, mode=boundary,
    cval=cval) (truncate=4.0) on the spatial axes. ``boundary`` and ``method`` are those of
    :func:`fovea.filters.correlate`.
    """
    return correlate(image, kernels.gaussian(sigma, radius), boundary=boundary, shape="same",
                     cval=cval, method=method)


def box_filter(image, size, boundary="reflect", cval=0.0, method="auto"):
    """The mean over each ``size`` × ``size`` (or (h, w)) window: :func:`kernels.box`, equal to
    scipy.ndimage.uniform_filter(image, size, mode=boundary, cval=cval) on the spatial axes."""
    return correlate(image, kernels.box(size), boundary=boundary, shape="same", cval=cval,
                     method=method)


def sharpen_image(image, alpha=1.0, boundary="reflect", cval=0.0, blur=None, method="auto"):
    """Unsharp masking: I + α·(I − blur ⋆ I), one correlation with :func:`kernels.sharpen`
    ((1 + α)·δ − α·blur; ``blur`` defaults to the 3 × 3 box). Flat regions are unchanged,
    differences across edges are amplified by up to (1 + α)."""
    return correlate(image, kernels.sharpen(alpha, blur), boundary=boundary, shape="same",
                     cval=cval, method=method)
