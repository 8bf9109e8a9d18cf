"""Layers: Linear, Conv2d and ConvTranspose2d (with PyTorch's default init), Flatten and
Identity."""

from __future__ import annotations

import math

from .. import backend, ops
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


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _make_conv_params(module, shape, bias, device, dtype) -> None:
    """A convolution's weight of ``shape``, its bias (one per output channel) and PyTorch's
    init of both."""
    out_channels = module.out_channels
    with backend.on(device) as xp:
        module.weight = Parameter(xp.empty(shape, dtype=dtype))
        module.bias = Parameter(xp.empty((out_channels,), dtype=dtype)) if bias else None
    module.reset_parameters()


def _reset_conv(module) -> None:
    """PyTorch's init of a convolution: kaiming_uniform_(a=√5) weights, bias ~ U(±1/√fan_in)."""
    init.kaiming_uniform_(module.weight, a=math.sqrt(5))
    if module.bias is not None:
        fan_in, _ = init.calculate_fan_in_and_fan_out(module.weight)
        _uniform_bias(module.bias, fan_in)


def _conv_repr(module) -> str:
    s = (f"{module.in_channels}, {module.out_channels}, kernel_size={module.kernel_size}, "
         f"stride={module.stride}")
    if module.padding != (0, 0):
        s += f", padding={module.padding}"
    if getattr(module, "output_padding", (0, 0)) != (0, 0):
        s += f", output_padding={module.output_padding}"
    if module.dilation != (1, 1):
        s += f", dilation={module.dilation}"
    if module.groups != 1:
        s += f", groups={module.groups}"
    s += "" if module.bias is not None else ", bias=False"
    return s + ("" if module.padding_mode == "zeros" else f", padding_mode={module.padding_mode}")


class Conv2d(Module):
    """2-D convolution (a correlation, as in every CNN library) over (N, C, H, W) or (C, H, W).

    Weight (out_channels, in_channels/groups, kh, kw); init as PyTorch. ``padding`` is an int,
    a pair, "valid" or "same" (stride 1; an even kernel's extra pixel after); ``padding_mode``
    "zeros", or "reflect", "replicate", "circular", which pad with ``F.pad`` before an
    unpadded convolution.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels {in_channels} and out_channels {out_channels} must "
                             f"be divisible by groups {groups}")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {PADDING_MODES}, got "
                             f"{padding_mode!r}")
        dtype = dtype or get_default_dtype()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = conv.pair(kernel_size, "kernel_size")
        self.stride = conv.pair(stride, "stride")
        self.dilation, self.groups = conv.pair(dilation, "dilation"), groups
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"Invalid padding string {padding!r}, should be one of "
                                 f"{{'valid', 'same'}}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
            pairs = (ops.same_padding(self.kernel_size, self.dilation) if padding == "same"
                     else [(0, 0), (0, 0)])
        else:
            self.padding = conv.pair(padding, "padding")
            pairs = [(p, p) for p in self.padding]
        # F.pad's order: the last dimension first
        self._reversed_padding_repeated_twice = tuple(v for lo_hi in reversed(pairs)
                                                      for v in lo_hi)
        _make_conv_params(self, (out_channels, in_channels // groups) + self.kernel_size, bias, device, dtype)

    def reset_parameters(self) -> None:
        _reset_conv(self)

    def forward(self, x):
        if self.padding_mode != "zeros":
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation,
                            self.groups)
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def extra_repr(self) -> str:
        return _conv_repr(self)


class ConvTranspose2d(Module):
    """2-D transposed convolution (the adjoint of Conv2d in its input) over (N, C, H, W) or
    (C, H, W). Weight (in_channels, out_channels/groups, kh, kw) and init as PyTorch; output
    size (H − 1)·stride − 2·padding + dilation·(kh − 1) + output_padding + 1, or the
    ``output_size`` given to forward (which chooses output_padding)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"in_channels {in_channels} and out_channels {out_channels} must "
                             f"be divisible by groups {groups}")
        if padding_mode != "zeros":
            raise ValueError(f'Only "zeros" padding mode is supported for ConvTranspose2d, got '
                             f"{padding_mode!r}")
        dtype = dtype or get_default_dtype()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = conv.pair(kernel_size, "kernel_size")
        self.stride, self.padding = conv.pair(stride, "stride"), conv.pair(padding, "padding")
        self.output_padding = conv.pair(output_padding, "output_padding")
        self.dilation, self.groups = conv.pair(dilation, "dilation"), groups
        self.padding_mode = padding_mode
        _make_conv_params(self, (in_channels, out_channels // groups) + self.kernel_size, bias, device, dtype)

    def reset_parameters(self) -> None:
        _reset_conv(self)

    def _output_padding(self, x, output_size):
        """The output_padding that gives ``output_size`` (its last two entries), as PyTorch."""
        if output_size is None:
            return self.output_padding
        output_size = tuple(output_size)[-2:]
        result = []
        for i in range(2):
            lo = ((x.shape[-2 + i] - 1) * self.stride[i] - 2 * self.padding[i]
                  + self.dilation[i] * (self.kernel_size[i] - 1) + 1)
            hi = lo + self.stride[i] - 1
            if not lo <= output_size[i] <= hi:
                raise ValueError(f"requested an output size of {output_size}, but valid sizes "
                                 f"range from {lo} to {hi} (for an input of {x.shape[-2:]})")
            result.append(output_size[i] - lo)
        return tuple(result)

    def forward(self, x, output_size=None):
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self._output_padding(x, output_size), self.groups,
                                  self.dilation)

    def extra_repr(self) -> str:
        return _conv_repr(self)


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
