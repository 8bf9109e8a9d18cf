"""Normalization layers: BatchNorm1d/2d, LayerNorm, RMSNorm, GroupNorm, LocalResponseNorm (PyTorch's
names, arguments, parameters and state_dict keys)."""

from __future__ import annotations

import numbers

from .. import backend
from ..backend import get_default_dtype, int64
from ..errors import ShapeError
from ..ops import norm
from .module import Module, Parameter


class _BatchNorm(Module):
    """Batch normalization over every dimension but the channels (dim 1).

    Training: normalize with the batch mean and (biased) variance and, with
    ``track_running_stats``, update ``running_mean`` and ``running_var`` (unbiased batch
    variance) with ``momentum`` — or, for ``momentum=None``, their cumulative average over
    the ``num_batches_tracked`` batches seen. Eval: normalize with the running statistics
    (with the batch's when ``track_running_stats`` is False).
    """

    _dims = ()  # the accepted input ranks
    _sync = False  # statistics over the processes of a distributed job (SyncBatchNorm)

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device=None,
                 dtype=None):
        super().__init__()
        dtype = dtype or get_default_dtype()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        with backend.on(device) as xp:
            if affine:
                self.weight = Parameter(xp.ones((num_features,), dtype=dtype))
                self.bias = Parameter(xp.zeros((num_features,), dtype=dtype))
            else:
                self.register_parameter("weight", None)
                self.register_parameter("bias", None)
            if track_running_stats:
                self.register_buffer("running_mean", xp.zeros((num_features,), dtype=dtype))
                self.register_buffer("running_var", xp.ones((num_features,), dtype=dtype))
                self.register_buffer("num_batches_tracked", xp.zeros((), dtype=int64))
            else:
                self.register_buffer("running_mean", None)
                self.register_buffer("running_var", None)
                self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            self.weight.data[...] = 1
            self.bias.data[...] = 0

    def _check_input(self, x) -> None:
        if x.ndim not in self._dims:
            want = " or ".join(f"{d}-D" for d in self._dims)
            raise ShapeError(f"{type(self).__name__} expects {want} input, got shape "
                             f"{tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}({self.num_features}) got input of shape "
                             f"{tuple(x.shape)} with {x.shape[1]} channels")

    def forward(self, x):
        self._check_input(x)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data += 1  # in place: a state_dict shares it, as torch
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch = self.training or (self.running_mean is None and self.running_var is None)
        track = not self.training or self.track_running_stats
        return norm.batch_norm(x, self.running_mean if track else None,
                               self.running_var if track else None, self.weight, self.bias,
                               use_batch, factor, self.eps, sync=self._sync and self.training)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) input (statistics per channel C)."""

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) input (statistics per channel C)."""

    _dims = (4,)


class SyncBatchNorm(_BatchNorm):
    """Batch normalization of (N, C, *) input whose training statistics are those of the
    global batch: the union of every process's share in a distributed job (``mpiexec``), so N
    processes normalize as one process would the whole batch. In eval mode, and in a job of
    one process, it is BatchNorm. ``process_group`` is accepted for PyTorch's signature; the
    group is always the whole job."""

    _dims = tuple(range(2, 9))
    _sync = True

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, process_group=None,
                 device=None, dtype=None):
        if process_group is not None:
            raise ValueError("SyncBatchNorm: process groups are not supported; the group is "
                             "every process of the job")
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype)

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with every BatchNorm1d/2d (itself included) replaced by a SyncBatchNorm
        holding the same parameters and running statistics; returns the converted module."""
        if isinstance(module, (BatchNorm1d, BatchNorm2d)):
            sync = cls(module.num_features, module.eps, module.momentum, module.affine,
                       module.track_running_stats, process_group)
            for name in ("weight", "bias"):
                setattr(sync, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                sync.register_buffer(name, getattr(module, name))
            sync.train(module.training)
            return sync
        for name, child in list(module._modules.items()):
            if child is not None:
                module._modules[name] = cls.convert_sync_batchnorm(child, process_group)
        return module


def _elementwise(module, normalized_shape, eps, elementwise_affine, bias, device, dtype):
    """LayerNorm's and RMSNorm's settings and parameters: weight (ones) and, unless ``bias``
    is None (RMSNorm has none) or False, bias (zeros), of shape normalized_shape."""
    dtype = dtype or get_default_dtype()
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (normalized_shape,)
    module.normalized_shape = tuple(int(n) for n in normalized_shape)
    module.eps, module.elementwise_affine = eps, elementwise_affine
    with backend.on(device) as xp:
        module.register_parameter("weight", Parameter(
            xp.ones(module.normalized_shape, dtype=dtype)) if elementwise_affine else None)
        if bias is not None:
            module.register_parameter("bias", Parameter(
                xp.zeros(module.normalized_shape, dtype=dtype)) if elementwise_affine and bias
                else None)


class LayerNorm(Module):
    """Normalize over the last len(normalized_shape) dimensions; weight (ones) and bias
    (zeros) of shape normalized_shape when ``elementwise_affine``."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        _elementwise(self, normalized_shape, eps, elementwise_affine, bias, device, dtype)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, x):
        return norm.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class RMSNorm(Module):
    """x / √(mean(x²) + eps) · weight over the last len(normalized_shape) dimensions; weight
    (ones) of shape normalized_shape when ``elementwise_affine``; ``eps`` None is the input
    dtype's machine epsilon (PyTorch's default)."""

    def __init__(self, normalized_shape, eps: float | None = None,
                 elementwise_affine: bool = True, device=None, dtype=None):
        super().__init__()
        _elementwise(self, normalized_shape, eps, elementwise_affine, None, device, dtype)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            self.weight.data[...] = 1

    def forward(self, x):
        return norm.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class GroupNorm(Module):
    """Normalize (N, C, *) over groups of C/num_groups channels (and all positions), with a
    per-channel affine (weight ones, bias zeros) when ``affine``."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device=None, dtype=None):
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        dtype = dtype or get_default_dtype()
        self.num_groups, self.num_channels = num_groups, num_channels
        self.eps, self.affine = eps, affine
        if affine:
            with backend.on(device) as xp:
                self.weight = Parameter(xp.ones((num_channels,), dtype=dtype))
                self.bias = Parameter(xp.zeros((num_channels,), dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.affine:
            self.weight.data[...] = 1
            self.bias.data[...] = 0

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ShapeError(f"GroupNorm({self.num_groups}, {self.num_channels}) expects input "
                             f"(N, {self.num_channels}, *), got shape {tuple(x.shape)}")
        return norm.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class LocalResponseNorm(Module):
    """AlexNet's local response normalization across channels:
    b_c = a_c / (k + α/size · Σ_{window(c)} a_j²)^β (PyTorch's semantics)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return norm.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
