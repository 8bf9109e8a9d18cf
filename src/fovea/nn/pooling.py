"""Adaptive pooling layers: a fixed output size whatever the input's (PyTorch's names)."""

from __future__ import annotations

from ..ops.pooling import adaptive_avg_pool2d
from .module import Module


class AdaptiveAvgPool2d(Module):
    """Average pooling of (N, C, H, W) or (C, H, W) to ``output_size`` (an int, a pair, or a
    pair with None keeping that input dimension), with PyTorch's bins
    [⌊i·H/OH⌋, ⌈(i+1)·H/OH⌉). ``AdaptiveAvgPool2d(1)`` is global average pooling; the
    torchvision models put one before their classifier so that any input size works."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
