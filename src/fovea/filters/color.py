"""Pixel values: integer images scaled to [0, 1], and the luminance of a colour image."""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError

__all__ = ["LUMA_WEIGHTS", "luminance", "to_unit_range"]

LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights of R, G, B: Y = 0.299 R + 0.587 G + 0.114 B (the weights of
Pillow's convert("L") and OpenCV's cvtColor(..., COLOR_RGB2GRAY))."""

_FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def to_unit_range(pixels):
    """Pixels as float32 on a [0, 1] scale: 8-bit divided by 255, 16-bit by 65535, anything
    else taken as values already on that scale (converted, not clipped)."""
    scale = _FULL_SCALE.get(pixels.dtype, 1.0)
    return pixels.astype(np.float32) / np.float32(scale)


def luminance(image, axis=-1):
    """Y = 0.299 R + 0.587 G + 0.114 B over the channel ``axis`` of a colour image (3 channels,
    or 4 with the alpha ignored), in the image's floating dtype (other dtypes in float32).
    (H, W, 3) → (H, W) with the default ``axis``; (3, H, W) → (H, W) with ``axis=0``."""
    if image.shape[axis] not in (3, 4):
        raise ShapeError(f"luminance needs 3 (RGB) or 4 (RGBA) channels along axis {axis}, "
                         f"got shape {image.shape}")
    if image.dtype.kind != "f":
        image = image.astype(np.float32)
    r, g, b = (image.take(c, axis=axis) for c in range(3))
    wr, wg, wb = (image.dtype.type(w) for w in LUMA_WEIGHTS)
    return wr * r + wg * g + wb * b
