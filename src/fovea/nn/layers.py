"""Layers: Linear and Conv2d (with PyTorch's default init), Flatten and Identity."""

from __future__ import annotations

import math

from .. import backend
from ..backend import get_default_dtype
from ..ops import conv
from . import functional as F
from . import init
from .module import Module, Parameter


def _uniform_bias(bias, fan_in):
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    init.uniform_(bias, -bound, bound)


class Linear(Module):
    """y = x Wᵀ + b with W of shape (out_features, in_features).

    Init as PyTorch: W and b ~ U(−1/√in, 1/√in) (kaiming_uniform_ with a = √5).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None):
        super().__init__()
        dtype = dtype or get_default_dtype()
        self.in_features, self.out_features = in_features, out_features
        with backend.on(device) as xp:
            self.weight = Parameter(xp.empty((out_features, in_features), dtype=dtype))
            self.bias = Parameter(xp.empty((out_features,), dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            _uniform_bias(self.bias, self.in_features)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Conv2d(Module):
    """2-D convolution (a correlation, as in every CNN library) over (N, C, H, W).

    Weight (out_channels, in_channels/groups, kh, kw); init as PyTorch.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, device=None, dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels {in_channels} and out_channels {out_channels} must "
                             f"be divisible by groups {groups}")
        dtype = dtype or get_default_dtype()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = conv.pair(kernel_size, "kernel_size")
        self.stride, self.padding = conv.pair(stride, "stride"), conv.pair(padding, "padding")
        self.dilation, self.groups = conv.pair(dilation, "dilation"), groups
        shape = (out_channels, in_channels // groups) + self.kernel_size
        with backend.on(device) as xp:
            self.weight = Parameter(xp.empty(shape, dtype=dtype))
            self.bias = Parameter(xp.empty((out_channels,), dtype=dtype)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            _uniform_bias(self.bias, fan_in)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + ("" if self.bias is not None else ", bias=False")


class Flatten(Module):
    """Flattens dims start_dim..end_dim (by default all but the batch dimension)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Identity(Module):
    def forward(self, x):
        return x
