"""Shape primitives: reshape, permute, indexing, cat, stack, pad, expand. Gradients move data
back to where it came from (scatter for indexing, slicing for cat and pad)."""

from __future__ import annotations

import itertools

from .. import backend
from ..autograd import Function, unbroadcast
from ..errors import ShapeError


class Reshape(Function):
    """reshape/view: the gradient is reshaped back."""

    def forward(self, a, shape):
        self.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ShapeError(f"cannot reshape a tensor of shape {a.shape} to {shape}") from None

    def backward(self, g):
        return g.reshape(self.shape)


class Permute(Function):
    """permute(dims): the gradient is permuted by the inverse permutation."""

    def forward(self, a, dims):
        self.inverse = tuple(sorted(range(len(dims)), key=dims.__getitem__))
        return a.transpose(dims)

    def backward(self, g):
        return g.transpose(self.inverse)


class Expand(Function):
    """broadcast_to(shape): the gradient is summed back."""

    def forward(self, a, shape):
        self.shape = a.shape
        try:
            return backend.namespace(a).broadcast_to(a, shape)
        except ValueError:
            raise ShapeError(f"cannot expand shape {a.shape} to {tuple(shape)}") from None

    def backward(self, g):
        return unbroadcast(g, self.shape)


def _is_basic_index(idx) -> bool:
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(isinstance(i, (int, slice)) or i is None or i is Ellipsis for i in items)


def _has_bool_mask_only(idx) -> bool:
    return hasattr(idx, "dtype") and idx.dtype == bool


class GetItem(Function):
    """a[idx] for slices, integers, integer arrays and boolean masks.

    The gradient scatters back: assignment for slices and masks, accumulation for integer
    arrays (an index repeated k times receives k contributions).
    """

    def forward(self, a, idx):
        self.shape, self.dtype, self.idx = a.shape, a.dtype, idx
        return a[idx]

    def backward(self, g):
        out = backend.namespace(g).zeros(self.shape, dtype=g.dtype)
        idx = self.idx
        if _is_basic_index(idx) or _has_bool_mask_only(idx):
            out[idx] = g
        else:
            backend.scatter_add(out, idx, g)
        return out


class Cat(Function):
    """cat(tensors, dim): the gradient is split back along dim."""

    def forward(self, *arrays, dim=0):
        self.dim = dim % arrays[0].ndim
        self.sizes = [a.shape[self.dim] for a in arrays]
        try:
            return backend.namespace(*arrays).concatenate(arrays, axis=self.dim)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise ShapeError(f"cat along dim {dim}: shapes {shapes} do not fit") from None

    def backward(self, g):
        bounds = list(itertools.accumulate(self.sizes))[:-1]
        return tuple(backend.namespace(g).split(g, bounds, axis=self.dim))


class Stack(Function):
    """stack(tensors, dim): the gradient is indexed back along dim."""

    def forward(self, *arrays, dim=0):
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ShapeError(f"stack needs equal shapes, got {sorted(shapes)}")
        self.dim = dim % (arrays[0].ndim + 1)
        self.n = len(arrays)
        return backend.namespace(*arrays).stack(arrays, axis=self.dim)

    def backward(self, g):
        xp = backend.namespace(g)
        return tuple(xp.take(g, i, axis=self.dim) for i in range(self.n))


class Pad(Function):
    """Constant padding with PyTorch's spec: ``pad`` lists (before, after) pairs from the last
    dimension backwards. Negative padding crops. The gradient is the matching slice."""

    def forward(self, a, pad, value=0.0):
        if len(pad) % 2 or len(pad) // 2 > a.ndim:
            raise ShapeError(f"pad {tuple(pad)} does not fit a tensor of shape {a.shape}")
        widths = [(0, 0)] * a.ndim
        for i in range(len(pad) // 2):
            widths[a.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
        grow = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
        out = a
        if any(lo or hi for lo, hi in grow):
            shape = tuple(n + lo + hi for n, (lo, hi) in zip(a.shape, grow))
            out = backend.namespace(a).full(shape, value, dtype=a.dtype)
            out[tuple(slice(lo, lo + n) for n, (lo, _) in zip(a.shape, grow))] = a
        crop = tuple(slice(-min(lo, 0), n + min(hi, 0))
                     for n, (lo, hi) in zip(out.shape, widths))
        out = out[crop]
        self.shape, self.widths = a.shape, widths
        return out

    def backward(self, g):
        widths = self.widths
        # undo the crop by padding the gradient with zeros, then cut away the added border
        undo = [(max(-lo, 0), max(-hi, 0)) for lo, hi in widths]
        if any(lo or hi for lo, hi in undo):
            g = backend.namespace(g).pad(g, undo)
        keep = tuple(slice(max(lo, 0), max(lo, 0) + n) for n, (lo, _) in zip(self.shape, widths))
        return g[keep]
