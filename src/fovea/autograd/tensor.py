"""Tensor: an array on a device that records the operations applied to it, and the backward
walk over what it recorded.

A Tensor wraps a backend array (``data``). Applying a primitive :class:`~.function.Function`
to tensors that require gradients records the function as the output's creator;
``loss.backward()`` then walks the recorded graph in reverse topological order without
recursion, accumulates each tensor's gradient from all its uses, and frees every function's
saved arrays as soon as it has run.

Layering: the operators and methods (``+``, ``@``, ``.sum()``, ``.reshape()`` …) are defined
here, in the class, and each delegates to the function of the same name in :mod:`fovea.ops`.
``fovea.ops`` sits above this module: its functions make Tensors and its primitives subclass
Function, so they import this package. This module therefore reaches ``ops`` through one
module reference, ``ops``, that imports the package on first use and then replaces itself
with it; nothing is imported upwards while the modules load, and a Tensor has every operator
without anyone importing ``fovea.ops`` first.
"""

from __future__ import annotations

import builtins

from .. import backend
from ..errors import ShapeError


class _OpsOnFirstUse:
    """Stands for :mod:`fovea.ops` until an attribute is first read (see the docstring)."""

    def __getattr__(self, name):
        global ops
        from .. import ops as module  # the one upward import: ops imports this package

        ops = module
        return getattr(module, name)


ops = _OpsOnFirstUse()


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
    def device(self):
        """The device the data lives on (``fovea.device``)."""
        return backend.device_of(self.data)

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
        """The data as a NumPy array (sharing memory on the CPU, a host copy from a device)."""
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
        device = self.device
        if device != backend.CPU:
            extra = f", device='{device}'{extra}"
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

    # ---- devices and dtypes ------------------------------------------------------------
    def to(self, *args, **kwargs):
        """This tensor on another device and/or in another dtype, as ``torch.Tensor.to``:
        ``to(dtype)``, ``to(device)``, ``to(device, dtype)`` or keywords. Itself when nothing
        changes, else a copy (differentiable between floating dtypes and across devices)."""
        device, dtype = backend.to_args(*args, **kwargs)
        return ops.to(self, device, dtype)

    def cpu(self):
        """This tensor on the CPU (itself if it is there)."""
        return ops.to(self, backend.CPU, None)

    def cuda(self, device=None):
        """This tensor on a CUDA device (``device`` an index or a device; the current one by
        default)."""
        if device is None or isinstance(device, int):
            device = backend.device("cuda", device)
        return ops.to(self, backend.as_device(device), None)

    def float(self):
        return ops.to(self, None, backend.float32)

    def double(self):
        return ops.to(self, None, backend.float64)

    def long(self):
        return ops.to(self, None, backend.int64)

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
            seed = backend.namespace(self.data).ones(self.shape, dtype=self.dtype)
        else:
            seed = gradient.data if isinstance(gradient, Tensor) else backend.asarray(gradient)
            if seed.shape != self.shape:
                raise ShapeError(f"gradient shape {seed.shape} does not match {self.shape}")
            seed = seed.astype(self.dtype, copy=False)
        _run_backward(self, seed)

    # ---- operators (each is the fovea.ops function of that name) ----------------------
    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.sub(self, other)

    def __rsub__(self, other):
        return ops.sub(other, self)

    def __mul__(self, other):
        return ops.mul(self, other)

    def __rmul__(self, other):
        return ops.mul(other, self)

    def __truediv__(self, other):
        return ops.div(self, other)

    def __rtruediv__(self, other):
        return ops.div(other, self)

    def __pow__(self, other):
        return ops.pow(self, other)

    def __rpow__(self, other):
        return ops.pow(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __neg__(self):
        return ops.neg(self)

    def __abs__(self):
        return ops.abs(self)

    def __getitem__(self, idx):
        return ops.getitem(self, idx)

    def __lt__(self, other):
        return ops.lt(self, other)

    def __le__(self, other):
        return ops.le(self, other)

    def __gt__(self, other):
        return ops.gt(self, other)

    def __ge__(self, other):
        return ops.ge(self, other)

    def __eq__(self, other):
        return ops.eq(self, other)

    def __ne__(self, other):
        return ops.ne(self, other)

    # ---- methods ------------------------------------------------------------------------
    def add(self, other, alpha=1):
        return ops.add(self, other, alpha=alpha)

    def sub(self, other, alpha=1):
        return ops.sub(self, other, alpha=alpha)

    def mul(self, other):
        return ops.mul(self, other)

    def div(self, other, rounding_mode=None):
        return ops.div(self, other, rounding_mode=rounding_mode)

    def pow(self, exponent):
        return ops.pow(self, exponent)

    def neg(self):
        return ops.neg(self)

    def exp(self):
        return ops.exp(self)

    def log(self):
        return ops.log(self)

    def sqrt(self):
        return ops.sqrt(self)

    def abs(self):
        return ops.abs(self)

    def relu(self, inplace=False):
        return ops.relu(self, inplace)

    def sigmoid(self):
        return ops.sigmoid(self)

    def tanh(self):
        return ops.tanh(self)

    def clip(self, min=None, max=None):  # noqa: A002 - PyTorch's names
        return ops.clip(self, min, max)

    clamp = clip

    def maximum(self, other):
        return ops.maximum(self, other)

    def minimum(self, other):
        return ops.minimum(self, other)

    def matmul(self, other):
        return ops.matmul(self, other)

    def sum(self, dim=None, keepdim=False):
        return ops.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim=False):
        return ops.mean(self, dim, keepdim)

    def max(self, dim=None, keepdim=False):
        return ops.max(self, dim, keepdim)

    def min(self, dim=None, keepdim=False):
        return ops.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim=False):
        return ops.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim=False):
        return ops.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim=False):
        return ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return ops.argmin(self, dim, keepdim)

    def reshape(self, *shape):
        return ops.reshape(self, *shape)

    def view(self, *shape):
        return ops.reshape(self, *shape)

    def permute(self, *dims):
        return ops.permute(self, *dims)

    def transpose(self, dim0, dim1):
        return ops.transpose(self, dim0, dim1)

    @property
    def T(self):  # noqa: N802 - PyTorch's name
        return ops.permute(self, tuple(builtins.reversed(range(self.ndim))))

    def flatten(self, start_dim=0, end_dim=-1):
        return ops.flatten(self, start_dim, end_dim)

    def unsqueeze(self, dim):
        return ops.unsqueeze(self, dim)

    def squeeze(self, dim=None):
        return ops.squeeze(self, dim)

    def expand(self, *shape):
        return ops.expand(self, *shape)

    def softmax(self, dim=-1, dtype=None):
        return ops.softmax(self, dim, dtype=dtype)

    def log_softmax(self, dim=-1, dtype=None):
        return ops.log_softmax(self, dim, dtype=dtype)


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


_after_backward = []
"""Callables queued by :func:`queue_callback`, run once when the next backward pass ends."""


def queue_callback(fn) -> None:
    """Run ``fn()`` once, after the next backward pass has written every leaf's gradient (as
    PyTorch's engine callback; DistributedDataParallel sums the gradients across processes
    there)."""
    _after_backward.append(fn)


def _run_backward(root: Tensor, seed) -> None:
    try:
        _walk_backward(root, seed)
    finally:
        callbacks = _after_backward[:]
        _after_backward.clear()
    for fn in callbacks:
        fn()


def _walk_backward(root: Tensor, seed) -> None:
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
