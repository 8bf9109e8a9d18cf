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


def _pad_source(n, lo, hi, mode, xp):
    """For each position of an axis of length n padded by (lo, hi), the input position it
    copies: the edge (replicate), the mirror image without repeating the edge (reflect) or the
    wrapped-around position (circular)."""
    if mode == "circular":
        return _circular_source(n, lo, hi, xp)
    j = xp.arange(-lo, n + hi)
    if mode == "replicate":
        return xp.clip(j, 0, n - 1)
    if mode == "reflect":
        j = xp.abs(j)
        return xp.where(j > n - 1, 2 * (n - 1) - j, j)


def _circular_source(n, lo, hi, xp):
    # negative widths crop first; the wrap-around then copies from the cropped axis (PyTorch)
    start, m = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
    return xp.arange(-max(lo, 0), m + max(hi, 0)) % m + start


class PadIndexed(Function):
    """reflect, replicate and circular padding with PyTorch's spec (``pad`` lists (before,
    after) pairs from the last dimension backwards): a gather along each padded axis; the
    gradient scatter-adds back, axis by axis in reverse order."""

    def forward(self, a, pad, mode):
        k = len(pad) // 2
        if len(pad) % 2 or not 1 <= k <= 3 or a.ndim not in (k + 1, k + 2):
            raise NotImplementedError(
                f"pad mode {mode!r}: padding of length {len(pad)} needs a {k + 1}-D or "
                f"{k + 2}-D input, got shape {a.shape}")
        xp = backend.namespace(a)
        self.steps = []
        out = a
        for i in range(k):
            axis, (lo, hi) = a.ndim - 1 - i, pad[2 * i:2 * i + 2]
            n = a.shape[axis]
            limit = {"reflect": n - 1, "circular": n}.get(mode, None)
            kept = n + min(lo, 0) + min(hi, 0) if mode == "circular" else n
            if kept <= 0 or n + lo + hi < 0 or (limit is not None and (lo > limit or hi > limit)):
                raise ShapeError(f"pad mode {mode!r}: padding ({lo}, {hi}) of dimension {axis} "
                                 f"does not fit its size {n}")
            if lo or hi:
                idx = _pad_source(n, lo, hi, mode, xp)
                out = xp.take(out, idx, axis=axis)
                self.steps.append((axis, n, idx))
        return out

    def backward(self, g):
        xp = backend.namespace(g)
        for axis, n, idx in reversed(self.steps):
            shape = list(g.shape)
            shape[axis] = n
            dx = xp.zeros(shape, dtype=g.dtype)
            backend.scatter_add(dx, (slice(None),) * axis + (idx,), g)
            g = dx
        return g
