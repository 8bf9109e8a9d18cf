"""Dropout: inverted dropout of single units and of whole channels (feature maps).

In training each unit is kept with probability 1 − p and scaled by 1/(1 − p), so that its
expected value equals the input: at test time the network runs unchanged (identity). The
mask comes from the generator of the input's device (seeded by ``fovea.manual_seed``) and is
saved for backward: dx = g · mask.
"""

from __future__ import annotations

import numbers

from .. import backend
from ..autograd import Function, Tensor
from ..errors import ShapeError


def _uniform(rng, shape, strides=None):
    """Uniform [0, 1) float32 samples from ``rng``; laid out in memory like an array with
    ``strides`` (a batch-last view gets a batch-last mask, so that x · mask streams both in
    order)."""
    if strides is None or len(shape) < 2:
        return rng.random(shape, dtype=backend.float32)
    order = sorted(range(len(shape)), key=lambda i: -strides[i])  # outermost axis first
    u = rng.random(tuple(shape[i] for i in order), dtype=backend.float32)
    return u.transpose(tuple(order.index(i) for i in range(len(shape))))


def keep_mask(x, shape, p, strides=None):
    """1/(1 − p) where a unit is kept (probability 1 − p), 0 where dropped (all 0 for p = 1),
    in x's dtype, drawn on x's device."""
    dtype = x.dtype
    rng = backend.rng(backend.device_of(x))
    # asarray: a 0-d comparison gives a NumPy scalar, which the in-place ops below refuse
    keep = backend.namespace(x).asarray(
        _uniform(rng, shape, strides) >= backend.scalar(p, backend.float32))
    mask = keep.astype(dtype)
    if p < 1:
        mask *= backend.scalar(1.0 / (1.0 - p), dtype)
    else:
        mask[...] = 0
    return mask


class Dropout(Function):
    """Inverted dropout: out = x · mask, mask = Bernoulli(1 − p) / (1 − p) per element."""

    def forward(self, x, p=0.5):
        mask = keep_mask(x, x.shape, p, x.strides)
        if self.needs_grad:
            self.mask = mask
        return x * mask

    def backward(self, g):
        return g * self.mask


class ChannelDropout(Function):
    """Channel (feature-map) dropout of (N, C, *): each (n, c) map is kept whole, scaled by
    1/(1 − p), or zeroed; the mask has shape (N, C, 1, …) and broadcasts."""

    def forward(self, x, p=0.5):
        mask = keep_mask(x, x.shape[:2] + (1,) * (x.ndim - 2), p)
        if self.needs_grad:
            self.mask = mask
        return x * mask

    def backward(self, g):
        return g * self.mask


# ---- functional wrappers (torch.nn.functional's names and signatures) -------------------------
def check_p(p):
    """p as a float in [0, 1], or a ValueError."""
    if not isinstance(p, numbers.Real) or not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    return float(p)


def _as_tensor(x):
    t = x if isinstance(x, Tensor) else Tensor(x)
    if not backend.is_floating(t.dtype):
        raise TypeError(f"dropout needs a floating tensor, got {t.dtype}")
    return t


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1 − p) (training only;
    otherwise, or for p = 0, the input itself). ``inplace`` is accepted for PyTorch
    compatibility; fovea always returns a new tensor."""
    p = check_p(p)
    x = _as_tensor(input)
    if not training or p == 0.0:
        return x
    return Dropout.apply(x, p=p)


def dropout2d(input, p=0.5, training=True, inplace=False):
    """Zero whole channels (feature maps) of (N, C, H, W) with probability p, scaling the kept
    ones by 1/(1 − p) (training only). As PyTorch, a 3-D input is read as (N, C, L)."""
    p = check_p(p)
    x = _as_tensor(input)
    if x.ndim < 2:
        raise ShapeError(f"dropout2d expects input (N, C, H, W), got shape {tuple(x.shape)}")
    if not training or p == 0.0:
        return x
    return ChannelDropout.apply(x, p=p)
