"""Graph building: the traced calls become ONNX nodes, checked by onnx.checker.

A module of a known type is written by its exporter (:mod:`fovea.onnx.exporters`). Any other
module that called submodules is followed through the data flow of its calls: each
submodule's input must be the container's input or an earlier submodule's output, or a tensor
computed from those by one of the few operations a ``forward`` writes between submodules,
recognized *by value* on the traced tensors: a flatten to (N, −1), the sum of two tensors (a
residual connection), ``relu`` of such a sum, or ``relu``. Anything else is an error naming
the module, never a silently wrong graph. A module that called nothing and returned its input
unchanged is the identity.

The ``onnx`` package is optional and imported only when a graph is built.
"""

from __future__ import annotations

import numpy as np

from ..autograd import Tensor
from ..errors import ExportError
from .exporters import find_exporter
from .trace import Call, as_input, trace, values

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Softmax/LogSoftmax over one axis, Clip with input bounds
MAX_BYTES = 2**31 - 2**24  # protobuf's 2 GiB limit, with room for the graph itself


def _onnx():
    try:
        import onnx  # optional: only building a graph needs it
    except ImportError:
        raise ExportError("ONNX export needs the onnx package (pip install onnx)") from None
    return onnx


class Graph:
    """The nodes and initializers written so far, with unique value and node names; an
    exporter adds to it with ``node``, ``param``, ``constant`` and ``scalar``."""

    def __init__(self, onnx, opset: int):
        self.onnx, self.opset = onnx, opset
        self.nodes, self.initializers = [], []
        self._names: set[str] = {"input", "logits"}
        self._node_names: set[str] = {"output"}
        self._params: dict = {}  # (id(module), attr) -> initializer name, for shared modules

    def fresh(self, base: str, taken=None) -> str:
        """A new unique name (of a value, or in ``taken``) from ``base``."""
        taken = self._names if taken is None else taken
        base = base.strip("./") or "value"
        name, i = base, 1
        while name in taken:
            i += 1
            name = f"{base}_{i}"
        taken.add(name)
        return name

    def constant(self, base: str, array, dtype=np.float32) -> str:
        name = self.fresh(base)
        little_endian = np.dtype(dtype).newbyteorder("<")  # ONNX's raw_data byte order
        self.initializers.append((name, np.asarray(array, dtype=little_endian)))
        return name

    def param(self, call: Call, attr: str, array=None, shape=None) -> str:
        """A module's parameter (or buffer) as a float32 initializer named by its state_dict
        key; optionally reshaped. Written once however often the module is called."""
        key = (id(call.module), attr, shape)
        if key not in self._params:
            if array is None:
                array = values(getattr(call.module, attr))
            array = np.asarray(array, dtype=np.float32)
            if shape is not None:
                array = array.reshape(shape)
            base = f"{call.path}.{attr}" if call.path else attr
            self._params[key] = self.constant(base, array)
        return self._params[key]

    def scalar(self, call: Call, what: str, value) -> str:
        return self.constant(f"{call.path}.{what}", np.float32(value))

    def node(self, op: str, inputs, call: Call, outputs: int = 1, **attrs):
        onnx = self.onnx
        base = f"{call.path or 'model'}/{op}"
        names = [self.fresh(base if outputs == 1 else f"{base}_{i}") for i in range(outputs)]
        self.nodes.append(onnx.helper.make_node(op, list(inputs), names,
                                                name=self.fresh(base, self._node_names),
                                                **attrs))
        return names[0] if outputs == 1 else names


def _check_call(call: Call) -> None:
    if len(call.args) != 1 or call.kwargs or not isinstance(call.args[0], Tensor):
        raise ExportError(f"cannot export {call.where}: it was called with "
                          f"{len(call.args)} positional and {len(call.kwargs)} keyword "
                          f"arguments; the exporter follows modules of one tensor")
    if not isinstance(call.output, Tensor):
        raise ExportError(f"cannot export {call.where}: it returned "
                          f"{type(call.output).__name__}, not one tensor")


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    if np.array_equal(a, b):
        return True
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    return bool(np.allclose(a, b, rtol=1e-6, atol=1e-6 * scale))


def _explain(g: Graph, call: Call, target, available: list) -> str:
    """The graph value for ``target``, a tensor computed inside ``call``'s forward (not by a
    submodule) from the ``available`` (tensor, name) pairs: recognized by its values."""
    t = values(target)
    recent = available[::-1]
    vals = {}

    def v(tensor):
        if id(tensor) not in vals:
            vals[id(tensor)] = values(tensor)
        return vals[id(tensor)]

    for a, name in recent:  # the identity (a view or copy of the same values)
        if tuple(a.shape) == t.shape and _same(v(a), t):
            return name
    for a, name in recent:  # flatten to (N, -1)
        if a.ndim > 2 and t.ndim == 2 and t.shape[0] == a.shape[0] \
                and t.size == v(a).size and _same(v(a).reshape(t.shape), t):
            return g.node("Flatten", [name], call, axis=1)
    same_shape = [(a, name) for a, name in recent if tuple(a.shape) == t.shape]
    for i, (a, name_a) in enumerate(same_shape):  # a sum, or relu of a sum
        for b, name_b in same_shape[i + 1:]:
            s = v(a) + v(b)
            if _same(s, t):
                return g.node("Add", [name_a, name_b], call)
            if _same(np.maximum(s, 0), t):
                return g.node("Relu", [g.node("Add", [name_a, name_b], call)], call)
    for a, name in same_shape:
        if _same(np.maximum(v(a), 0), t):
            return g.node("Relu", [name], call)
    raise ExportError(f"cannot export {call.where}: its forward computes a tensor of shape "
                      f"{tuple(target.shape)} between its submodules by an operation the "
                      f"exporter does not follow (it follows flatten, +, relu); write that "
                      f"step as a module or register an exporter for "
                      f"{type(call.module).__name__}")


def _export_call(g: Graph, call: Call, x: str) -> str:
    _check_call(call)
    fn = find_exporter(call.module)
    if fn is not None:
        return fn(g, call, x)
    if call.calls:
        return _export_flow(g, call, x)
    if call.output is call.x:
        return x
    raise ExportError(f"cannot export {call.where}: no ONNX exporter for "
                      f"{type(call.module).__name__}")


def _export_flow(g: Graph, call: Call, x: str) -> str:
    names = {id(call.x): x}
    available = [(call.x, x)]
    for sub in call.calls:
        _check_call(sub)
        name = names.get(id(sub.x))
        if name is None:
            name = _explain(g, call, sub.x, available)
            names[id(sub.x)] = name
            available.append((sub.x, name))
        out = _export_call(g, sub, name)
        names[id(sub.output)] = out
        available.append((sub.output, out))
    name = names.get(id(call.output))
    return name if name is not None else _explain(g, call, call.output, available)


def _rename(nodes, old: str, new: str) -> None:
    for node in nodes:
        for seq in (node.input, node.output):
            for i, name in enumerate(seq):
                if name == old:
                    seq[i] = new


def serialize(model, example_input, opset: int = DEFAULT_OPSET):
    """(ModelProto, its serialized bytes) of ``model`` traced on ``example_input``, checked
    with onnx.checker (full check)."""
    onnx = _onnx()
    helper, float_type = onnx.helper, onnx.TensorProto.FLOAT
    max_opset = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) \
            or not MIN_OPSET <= opset <= max_opset:
        raise ExportError(f"opset must be an integer in {MIN_OPSET}..{max_opset}, got {opset!r}")
    x = as_input(example_input, model)
    root, out = trace(model, x)
    out_shape = tuple(out.shape) if hasattr(out, "shape") else ()
    if not out_shape or out_shape[0] != x.shape[0]:
        raise ExportError(f"the model's output of shape {out_shape} has no batch dimension "
                          f"(the input's {x.shape[0]})")
    g = Graph(onnx, opset)
    final = _export_call(g, root, "input")
    if final == "input" or final in {name for name, _ in g.initializers}:
        g.nodes.append(helper.make_node("Identity", [final], ["logits"], name="output"))
    else:
        _rename(g.nodes, final, "logits")
    size = sum(arr.nbytes for _, arr in g.initializers)
    if size > MAX_BYTES:
        raise ExportError(f"the model's weights take {size / 2**30:.1f} GiB; one ONNX file "
                          f"holds under 2 GiB (external data is not supported)")
    graph = helper.make_graph(
        g.nodes, type(model).__name__,
        [helper.make_tensor_value_info("input", float_type,
                                       ["batch", *(int(n) for n in x.shape[1:])])],
        [helper.make_tensor_value_info("logits", float_type,
                                       ["batch", *(int(n) for n in out_shape[1:])])])
    from .. import __version__  # at call time: fovea/__init__ imports this package

    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="fovea",
                              producer_version=__version__)
    for name, arr in g.initializers:  # written in place: a 500 MB VGG is copied only once
        t = proto.graph.initializer.add()
        t.name, t.data_type = name, helper.np_dtype_to_tensor_dtype(arr.dtype)
        t.dims.extend(arr.shape)
        t.raw_data = arr.tobytes()
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    data = proto.SerializeToString()
    try:
        onnx.checker.check_model(data, full_check=True)
    except Exception as exc:  # pragma: no cover - a bug in an exporter
        raise ExportError(f"the exported graph is not valid ONNX ({exc})") from None
    return proto, data


