"""Tracing: run the model once and record every module call with forward hooks.

The record is a tree of :class:`Call`: which module ran (and its dotted path), on which
tensor, giving which tensor, and the calls made inside it. The graph is written from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..autograd import Tensor, no_grad
from ..backend import to_numpy
from ..errors import ExportError


@dataclass(eq=False)
class Call:
    """One call of a module's forward: its inputs, output and the calls made inside it."""

    module: object
    path: str
    args: tuple
    kwargs: dict
    output: object = None
    calls: list = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.path or '<model>'} ({type(self.module).__name__})"

    @property
    def x(self):
        return self.args[0]


def values(t) -> np.ndarray:
    """A traced tensor's values as a host NumPy array."""
    return np.asarray(to_numpy(t.data))


def as_input(example_input, model=None) -> Tensor:
    """The example as a Tensor of the model's floating dtype (float32 for a float32 model)."""
    arr = example_input.data if isinstance(example_input, Tensor) else example_input
    arr = np.asarray(to_numpy(arr))
    if arr.ndim < 2 or arr.shape[0] < 1:
        raise ExportError(f"example_input must be a batch (N, C, H, W) with N >= 1, got shape "
                          f"{arr.shape}")
    if arr.dtype.kind not in "fiub":
        raise ExportError(f"example_input must be numeric, got dtype {arr.dtype}")
    dtype = np.float32
    if model is not None:
        floating = [p.data.dtype for p in model.parameters() if p.data.dtype.kind == "f"]
        dtype = floating[0] if floating else np.float32
    return Tensor(arr.astype(dtype))


def trace(model, x) -> tuple[Call, object]:
    """Run ``model`` on ``x`` in eval mode without gradients, recording every module call;
    (root call, output). The training flags and ``inplace`` flags are restored afterwards
    and the tracing hooks removed. A module with hooks of its own is refused: the graph is
    read from the modules' types, so what a hook changes would be silently lost."""
    paths = {}
    for name, m in model.named_modules():
        if m._forward_pre_hooks or m._forward_hooks:
            raise ExportError(f"cannot export {name or '<model>'} ({type(m).__name__}): it has "
                              f"forward hooks, which the exporter does not follow")
        paths[id(m)] = name
    modules = list(model.modules())
    root = Call(None, "", (), {})
    stack = [root]

    def enter(module, args, kwargs):
        call = Call(module, paths[id(module)], args, kwargs)
        stack[-1].calls.append(call)
        stack.append(call)

    def leave(module, args, output):
        stack.pop().output = output

    modes = [m.training for m in modules]
    # in-place activations would overwrite the traced tensors the graph is read from
    inplace = [m for m in modules if getattr(m, "inplace", False)]
    handles = []
    try:
        for m in inplace:
            m.inplace = False
        for m in modules:
            handles.append(m.register_forward_pre_hook(enter, with_kwargs=True))
            handles.append(m.register_forward_hook(leave))
        model.eval()
        with no_grad():
            out = model(x)
    finally:
        for handle in handles:
            handle.remove()
        for m, mode in zip(modules, modes):
            m.training = mode
        for m in inplace:
            m.inplace = True
    if len(root.calls) != 1:  # pragma: no cover - model(x) is one call of the root
        raise ExportError("tracing the model recorded no call of its forward")
    return root.calls[0], out
