"""Gradient clipping, as ``torch.nn.utils``: clip_grad_norm_, clip_grad_value_ (and the two
halves of the first, get_total_norm and clip_grads_with_norm_).

Call them between ``loss.backward()`` and ``optimizer.step()``. Parameters whose ``grad`` is
None are skipped. The gradients are scaled or clamped in place, as PyTorch does: a leaf's
``.grad`` array is its own (autograd copies it out of the graph, and ``zero_grad`` makes fresh
arrays), so nothing else sees the change. A grad array that is read-only, or shared by
several parameters (only possible if assigned by hand), is never written: those parameters
get a new, clipped array each.
"""

from __future__ import annotations

import math

from .. import backend
from ..autograd import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]


def _params(parameters) -> list:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p for p in parameters if p.grad is not None]


def _writable(params) -> list:
    """For each parameter: may its grad array be changed in place (writeable, not shared
    with another parameter's grad, nor a view of one)?"""
    grads = [p.grad.data for p in params]
    bases = [g if g.base is None else g.base for g in grads]
    counts = {}
    for b in bases:
        counts[id(b)] = counts.get(id(b), 0) + 1
    return [backend.is_writeable(g) and counts[id(b)] == 1 for g, b in zip(grads, bases)]


def _vector_norm(a, norm_type: float):
    """‖a‖ of the flattened array ``a`` (or of a vector of norms), in a's dtype."""
    xp = backend.namespace(a)
    a = xp.abs(a.reshape(-1))
    if a.size == 0:
        return xp.zeros((), dtype=a.dtype)
    if norm_type == math.inf:
        return a.max()
    if norm_type == -math.inf:
        return a.min()
    if norm_type == 0:
        return xp.asarray(xp.count_nonzero(a), dtype=a.dtype)
    if norm_type == 1:
        return a.sum()
    if norm_type == 2:
        return xp.sqrt(xp.dot(a, a))
    return (a ** a.dtype.type(norm_type)).sum() ** a.dtype.type(1.0 / norm_type)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False) -> Tensor:
    """The p-norm of all ``tensors`` taken together (as one concatenated vector), as a 0-d
    Tensor in their dtype: the norm of the per-tensor norms, as PyTorch computes it.
    ``norm_type`` may be ``inf`` (largest absolute value). Raises RuntimeError for a NaN or
    infinite total when ``error_if_nonfinite``. No tensors: 0."""
    tensors = [tensors] if isinstance(tensors, Tensor) else [t for t in tensors if t is not None]
    norm_type = float(norm_type)
    if not tensors:
        return Tensor._wrap(backend.asarray(0.0, dtype=backend.float32))
    norms = [_vector_norm(t.data if isinstance(t, Tensor) else t, norm_type) for t in tensors]
    xp = backend.namespace(*norms)
    dtype = xp.result_type(*norms)
    total = _vector_norm(xp.stack([xp.asarray(n, dtype=dtype) for n in norms]), norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"the total norm of order {norm_type} of the gradients is non-finite ({float(total)}),"
            " so it cannot be clipped; pass error_if_nonfinite=False to scale by it anyway")
    return Tensor._wrap(xp.asarray(total))


def clip_grads_with_norm_(parameters, max_norm: float, total_norm) -> None:
    """Scale every gradient by min(max_norm / (total_norm + 1e-6), 1)."""
    params = _params(parameters)
    if not params:
        return
    total = (total_norm.data if isinstance(total_norm, Tensor)
             else backend.namespace(params[0].grad.data).asarray(total_norm))
    xp = backend.namespace(total)
    coef = xp.minimum(total.dtype.type(float(max_norm)) / (total + total.dtype.type(1e-6)),
                      total.dtype.type(1.0))
    for p, in_place in zip(params, _writable(params)):
        g = p.grad.data
        c = coef.astype(g.dtype)
        # inf · 0 = nan for a non-finite total, as torch
        with backend.errstate(g, invalid="ignore"):
            if in_place:
                g *= c
            else:
                p.grad = Tensor._wrap(g * c)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> Tensor:
    """Scale the gradients of ``parameters`` (an iterable of Tensors, or one Tensor) in place
    so that their total ``norm_type``-norm is at most ``max_norm``; as PyTorch, the factor is
    min(max_norm / (total + 1e-6), 1).

    Returns the total norm *before* clipping, as a 0-d Tensor (``float(...)`` or ``.item()``
    gives the number), like PyTorch's."""
    params = _params(parameters)
    total = get_total_norm([p.grad for p in params], norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clamp every gradient of ``parameters`` to [−clip_value, clip_value], in place."""
    clip_value = float(clip_value)
    params = _params(parameters)
    for p, in_place in zip(params, _writable(params)):
        g = p.grad.data
        lo, hi = g.dtype.type(-clip_value), g.dtype.type(clip_value)
        xp = backend.namespace(g)
        if in_place:
            xp.clip(g, lo, hi, out=g)
        else:
            p.grad = Tensor._wrap(xp.clip(g, lo, hi))
