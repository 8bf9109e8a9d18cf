"""Reverse-mode automatic differentiation: Tensor, Function, the graph walk, no_grad, gradcheck.

A :class:`Tensor` wraps a backend array. Applying a primitive :class:`Function` to tensors that
require gradients records the function as the output's creator; ``loss.backward()`` then walks
the recorded graph in reverse topological order without recursion, accumulates each tensor's
gradient from all its uses, and frees every function's saved arrays as soon as it has run.
"""

from __future__ import annotations

import contextlib
import math
import threading

from . import backend
from .backend import xp
from .errors import ShapeError

_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether operations are being recorded for backward (False inside ``no_grad``)."""
    return getattr(_state, "grad_enabled", True)


def _set_grad_enabled(mode: bool) -> None:
    _state.grad_enabled = bool(mode)


class _GradMode(contextlib.ContextDecorator):
    mode = True

    def __enter__(self):
        self.prev = is_grad_enabled()
        _set_grad_enabled(self.mode)

    def __exit__(self, *exc):
        _set_grad_enabled(self.prev)
        return False

    def _recreate_cm(self):
        # a fresh instance per decorated call: recursion (or threads) must not share ``prev``
        return type(self)()


class no_grad(_GradMode):
    """Context manager (and decorator, with or without parentheses) in which no graph is
    recorded."""

    mode = False

    def __new__(cls, func=None):
        if func is None:
            return super().__new__(cls)
        return cls()(func)  # bare @no_grad on a function


class enable_grad(_GradMode):
    """Context manager (and decorator) that turns recording back on inside ``no_grad``."""

    mode = True


class Function:
    """A primitive differentiable op: ``forward`` and ``backward`` side by side.

    Subclasses implement ``forward(self, *arrays, **params) -> array`` and
    ``backward(self, grad) -> tuple`` (one gradient array or None per tensor input). Anything
    backward needs is saved on ``self`` in forward; it is deleted after backward has run.
    ``self.needs_grad`` tells forward which inputs need a gradient, so it can skip saving.
    """

    __slots__ = ("parents", "needs_grad", "__dict__")

    @classmethod
    def apply(cls, *inputs, **params):
        fn = cls()
        arrays = []
        tensors = []
        for t in inputs:
            if isinstance(t, Tensor):
                arrays.append(t.data)
                tensors.append(t)
            else:
                arrays.append(t)
                tensors.append(None)
        record = is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)
        fn.needs_grad = tuple(t is not None and t.requires_grad for t in tensors) if record else ()
        out = fn.forward(*arrays, **params)
        if not isinstance(out, xp.ndarray):  # NumPy reductions return scalars, not 0-d arrays
            out = xp.asarray(out)
        if not record:
            return Tensor._wrap(out)
        fn.parents = tensors
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


class Tensor:
    """An n-dimensional array that can record the operations applied to it.

    ``data`` is the backend array; ``grad`` the accumulated gradient (a Tensor) after
    ``backward``. Arithmetic operators, comparisons, indexing and most methods of
    ``torch.Tensor`` are available and differentiable where that makes sense.
    """

    __array_priority__ = 1000  # make ndarray <op> Tensor defer to Tensor

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        if isinstance(data, Tensor):
            data = data.data
        self.data = backend.asarray(data, dtype)
        self.grad = None
        self._ctx = None
        self._retain = False
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array, requires_grad: bool = False):
        t = cls.__new__(cls)
        t.data = array
        t.grad = None
        t._ctx = None
        t._retain = False
        t.requires_grad = requires_grad
        return t

    # ---- basic properties ------------------------------------------------------------
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numel(self) -> int:
        return int(self.data.size)

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    def numpy(self):
        """The data as a NumPy array (shares memory on the CPU)."""
        if self.requires_grad:
            raise RuntimeError("call .detach().numpy() on a tensor that requires grad")
        return backend.to_numpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.data.tolist()

    def __repr__(self) -> str:
        extra = ", requires_grad=True" if self.requires_grad else ""
        body = repr(backend.to_numpy(self.data)).replace("array(", "tensor(", 1)
        if body.endswith(")"):
            body = body[:-1]
        return f"{body}{extra})"

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iu":
            raise TypeError("only integer tensors can be used as an index")
        return int(self.item())

    def __hash__(self):
        return id(self)

    # ---- graph control ----------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and not backend.is_floating(self.data.dtype):
            raise TypeError(f"only floating tensors can require gradients, not {self.dtype}")
        if not requires_grad and self._ctx is not None:
            raise RuntimeError("requires_grad can only be turned off on leaf tensors; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """A tensor sharing the data, cut from the graph."""
        return Tensor._wrap(self.data)

    def retain_grad(self) -> None:
        """Keep ``.grad`` on this non-leaf tensor after backward."""
        self._retain = True

    def zero_grad_(self) -> None:
        self.grad = None

    def backward(self, gradient=None) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` is needed unless self has one element. The graph is freed as it is walked,
        so backward through the same graph twice raises an error.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() without a gradient needs a scalar, got shape {self.shape}"
                )
            seed = xp.ones(self.shape, dtype=self.dtype)
        else:
            seed = gradient.data if isinstance(gradient, Tensor) else backend.asarray(gradient)
            if seed.shape != self.shape:
                raise ShapeError(f"gradient shape {seed.shape} does not match {self.shape}")
            seed = seed.astype(self.dtype, copy=False)
        _run_backward(self, seed)


def _topological_order(root: Tensor) -> list:
    """Tensors reachable from root through recorded functions, each after all its users."""
    order = []
    visited = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            if ctx.parents is None:
                raise RuntimeError(
                    "this graph was already freed by an earlier backward(); "
                    "recompute the forward pass"
                )
            for parent in ctx.parents:
                if parent is not None and parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    order.reverse()
    return order


def _accumulate(grads: dict, tensor: Tensor, g) -> None:
    key = id(tensor)
    prev = grads.get(key)
    if prev is None:
        grads[key] = g
    else:
        grads[key] = prev + g


def _run_backward(root: Tensor, seed) -> None:
    grads = {id(root): seed}
    for node in _topological_order(root):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        ctx = node._ctx
        if ctx is None or node._retain:
            gt = node.grad
            # a leaf owns its gradient: g may be shared with other inputs or read-only
            node.grad = Tensor._wrap(g.copy(order="K") if gt is None else gt.data + g)
            if ctx is None:
                continue
        needs = ctx.needs_grad
        in_grads = ctx.backward(g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        parents = ctx.parents
        ctx.release()
        for parent, need, pg in zip(parents, needs, in_grads):
            if need and pg is not None:
                if pg.shape != parent.shape:
                    raise ShapeError(
                        f"internal error: {type(ctx).__name__}.backward gave a gradient of "
                        f"shape {pg.shape} for an input of shape {parent.shape}"
                    )
                if pg.dtype != parent.dtype:
                    pg = pg.astype(parent.dtype)
                _accumulate(grads, parent, pg)


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


# ---- gradient checking ------------------------------------------------------------------
class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree."""


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True):
    """Compare the analytic gradient of ``fn(*inputs)`` with central finite differences.

    Works in float64: floating inputs are converted first. ``fn`` returns a Tensor (any shape:
    a random projection of it is differentiated). Returns a dict with the worst element
    (``input``, ``index``, ``analytic``, ``numeric``, ``abs_err``) and ``ok``; raises
    GradcheckError with that report when a gradient is off by more than atol + rtol*|numeric|.
    """
    tensors = []
    for x in inputs:
        if isinstance(x, Tensor) and backend.is_floating(x.dtype):
            # a C-contiguous copy, so that perturbing its flat view perturbs the input
            data = xp.array(x.data, dtype=backend.float64, order="C", copy=True)
            tensors.append(Tensor(data, requires_grad=x.requires_grad))
        else:
            tensors.append(x)
    with enable_grad():
        out = fn(*tensors)
    proj = xp.asarray(backend.rng().standard_normal(out.shape), dtype=backend.float64)

    def value(*args):
        with no_grad():
            return float((fn(*args).data.astype(backend.float64) * proj).sum())

    for t in tensors:
        if isinstance(t, Tensor):
            t.grad = None
    (out * Tensor(proj)).sum().backward()

    worst = {"ok": True, "abs_err": 0.0, "excess": -1.0, "input": None, "index": None,
             "analytic": None, "numeric": None}
    for i, t in enumerate(tensors):
        if not (isinstance(t, Tensor) and t.requires_grad):
            continue
        analytic = xp.zeros(t.shape) if t.grad is None else t.grad.data
        flat = t.data.reshape(-1)
        for j in range(flat.size):
            orig = flat[j]
            flat[j] = orig + eps
            plus = value(*tensors)
            flat[j] = orig - eps
            minus = value(*tensors)
            flat[j] = orig
            numeric = (plus - minus) / (2 * eps)
            a = float(analytic.reshape(-1)[j])
            err = abs(a - numeric)
            excess = err - (atol + rtol * abs(numeric))
            if math.isnan(excess):  # NaN in either gradient is a failure
                excess = float("inf")
            if excess > worst["excess"]:
                idx = tuple(int(k) for k in xp.unravel_index(j, t.shape))
                worst.update(input=i, index=idx, analytic=a, numeric=numeric, abs_err=err,
                             excess=excess)
    worst["ok"] = worst["excess"] <= 0
    if not worst["ok"] and raise_exception:
        raise GradcheckError(
            f"gradient of input {worst['input']} at {worst['index']}: analytic "
            f"{worst['analytic']:.6g}, numeric {worst['numeric']:.6g} "
            f"(abs error {worst['abs_err']:.3g})"
        )
    return worst
