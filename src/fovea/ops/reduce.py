"""Reductions over dimensions: sum, mean, max, min (PyTorch's ``dim`` and ``keepdim``)."""

from __future__ import annotations

from .. import backend
from ..autograd import Function


def normalize_dims(dim, ndim):
    """``dim`` (None, int or tuple, negatives allowed) as a sorted tuple of axes."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    axes = []
    for d in dim:
        if not -max(ndim, 1) <= d < max(ndim, 1):
            raise IndexError(f"dim {d} out of range for a tensor with {ndim} dimensions")
        axes.append(d % ndim if ndim else 0)
    return tuple(sorted(set(axes)))


def _expand_back(g, shape, axes, keepdim):
    """Reshape a reduced gradient so it broadcasts against the input of ``shape``."""
    if not keepdim and axes:
        g = backend.namespace(g).expand_dims(g, axes)
    return g


class Sum(Function):
    """sum over ``dim``; the gradient broadcasts back."""

    def forward(self, a, dim=None, keepdim=False):
        self.shape = a.shape
        self.axes = normalize_dims(dim, a.ndim) if a.ndim else ()
        self.keepdim = keepdim
        return a.sum(axis=self.axes, keepdims=keepdim)

    def backward(self, g):
        g = _expand_back(g, self.shape, self.axes, self.keepdim)
        return backend.namespace(g).broadcast_to(g, self.shape)


class Mean(Function):
    """mean over ``dim``; each input gets g / count."""

    def forward(self, a, dim=None, keepdim=False):
        self.shape = a.shape
        self.axes = normalize_dims(dim, a.ndim) if a.ndim else ()
        self.keepdim = keepdim
        count = 1
        for ax in self.axes:
            count *= a.shape[ax]
        self.count = count
        return a.mean(axis=self.axes, keepdims=keepdim, dtype=a.dtype)

    def backward(self, g):
        g = _expand_back(g, self.shape, self.axes, self.keepdim)
        return backend.namespace(g).broadcast_to(g / backend.scalar(self.count, g.dtype),
                                                 self.shape)


class Max(Function):
    """max over ``dim`` (PyTorch's amax): ties share the gradient evenly."""

    reduce = "max"  # the method of the array that reduces

    def forward(self, a, dim=None, keepdim=False):
        self.axes = normalize_dims(dim, a.ndim) if a.ndim else ()
        self.keepdim = keepdim
        out = getattr(a, self.reduce)(axis=self.axes, keepdims=True)
        self.a, self.out_keep = a, out
        return out if keepdim else out.reshape(tuple(n for i, n in enumerate(a.shape)
                                                     if i not in self.axes))

    def backward(self, g):
        mask = self.a == self.out_keep
        count = mask.sum(axis=self.axes, keepdims=True).astype(g.dtype)
        g = _expand_back(g, self.a.shape, self.axes, self.keepdim)
        xp = backend.namespace(g)
        return xp.where(mask, g / count, xp.zeros((), dtype=g.dtype))


class Min(Max):
    """min over ``dim`` (PyTorch's amin)."""

    reduce = "min"
