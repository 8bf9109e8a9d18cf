"""Function: a primitive differentiable op, and how applying one records the graph."""

from __future__ import annotations

from .. import backend
from .grad_mode import is_grad_enabled
from .tensor import Tensor


class Function:
    """A primitive differentiable op: ``forward`` and ``backward`` side by side.

    Subclasses implement ``forward(self, *arrays, **params) -> array`` and
    ``backward(self, grad) -> tuple`` (one gradient array or None per tensor input). Anything
    backward needs is saved on ``self`` in forward; it is deleted after backward has run.
    ``self.needs_grad`` tells forward which inputs need a gradient, so it can skip saving.
    Both work on the arrays of any backend: they take the namespace from their inputs
    (``xp = backend.namespace(a)``).
    """

    __slots__ = ("parents", "needs_grad", "__dict__")

    @classmethod
    def apply(cls, *inputs, **params):
        fn = cls()
        arrays = [t.data if isinstance(t, Tensor) else t for t in inputs]
        # under no_grad nothing more is looked at (generation runs ~60 ops per token)
        needs = tuple(isinstance(t, Tensor) and t.requires_grad for t in inputs) \
            if is_grad_enabled() else ()
        record = any(needs)
        fn.needs_grad = needs if record else ()
        out = fn.forward(*arrays, **params)
        if not isinstance(out, backend.registry.array_types):
            # NumPy reductions return scalars, not 0-d arrays
            out = backend.namespace(*arrays).asarray(out)
        if not record:
            return Tensor._wrap(out)
        fn.parents = [t if isinstance(t, Tensor) else None for t in inputs]
        result = Tensor._wrap(out, requires_grad=True)
        result._ctx = fn
        return result

    def forward(self, *arrays, **params):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    def release(self) -> None:
        """Free what forward saved (called once backward has used it)."""
        self.__dict__.clear()
        self.parents = None


def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the gradient of broadcasting an array of that shape."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad
