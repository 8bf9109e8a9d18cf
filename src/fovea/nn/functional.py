"""fovea.nn.functional: torch.nn.functional's names and signatures, over fovea's ops."""

from __future__ import annotations

from ..errors import ShapeError
from ..ops import (
    avg_pool2d,
    conv2d,
    conv_transpose2d,
    cross_entropy,
    embedding,
    interpolate,
    linear,
    log_softmax,
    max_pool2d,
    mean,
    nll_loss,
    pad,
    relu,
    sigmoid,
    softmax,
    sum,
    tanh,
)
from ..ops.activations import elu, gelu, hardtanh, leaky_relu, maxout, prelu, selu, silu, softplus
from ..ops.attention import scaled_dot_product_attention
from ..ops.dropout import dropout, dropout2d
from ..ops.norm import batch_norm, group_norm, layer_norm, local_response_norm, rms_norm
from ..ops.pooling import adaptive_avg_pool2d

__all__ = ["linear", "conv2d", "max_pool2d", "avg_pool2d", "relu", "sigmoid", "tanh", "softmax",
           "log_softmax", "cross_entropy", "nll_loss", "mse_loss", "leaky_relu", "prelu", "elu",
           "selu", "gelu", "silu", "softplus", "hardtanh", "maxout", "dropout", "dropout2d",
           "batch_norm", "layer_norm", "group_norm", "local_response_norm", "adaptive_avg_pool2d",
           "conv_transpose2d", "pad", "interpolate", "upsample", "upsample_nearest",
           "upsample_bilinear", "embedding", "scaled_dot_product_attention", "rms_norm"]


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Deprecated in PyTorch in favour of :func:`interpolate`, which it calls."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input, size=None, scale_factor=None):
    """``interpolate(mode="nearest")``."""
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None):
    """``interpolate(mode="bilinear", align_corners=True)``, as PyTorch's."""
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def mse_loss(input, target, reduction: str = "mean"):
    """Mean squared error: mean((input − target)²) ("sum" and "none" as PyTorch)."""
    if tuple(input.shape) != tuple(target.shape):
        raise ShapeError(f"mse_loss: input shape {tuple(input.shape)} and target shape "
                         f"{tuple(target.shape)} differ")
    sq = (input - target) ** 2
    if reduction == "mean":
        return mean(sq)
    if reduction == "sum":
        return sum(sq)
    if reduction == "none":
        return sq
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
