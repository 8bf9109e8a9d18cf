"""Resampling layers (PyTorch's names): Upsample over ``F.interpolate``."""

from __future__ import annotations

from . import functional as F
from .module import Module


class Upsample(Module):
    """Resamples (N, C, *spatial) to ``size`` or by ``scale_factor`` with ``F.interpolate``'s
    modes (nearest, nearest-exact, area, linear, bilinear, bicubic, trilinear)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None,
                 recompute_scale_factor=None):
        super().__init__()
        self.size, self.mode, self.align_corners = size, mode, align_corners
        self.scale_factor = (tuple(float(s) for s in scale_factor)
                             if isinstance(scale_factor, (tuple, list))
                             else float(scale_factor) if scale_factor else None)
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        size = (f"scale_factor={self.scale_factor!r}" if self.scale_factor is not None
                else f"size={self.size!r}")
        return f"{size}, mode={self.mode!r}"
