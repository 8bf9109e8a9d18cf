"""Export a fovea model to ONNX: ``export(model, example_input, path, opset=17)``.

The model is *traced*: it runs once, in eval mode and without gradients, on the example
input while every submodule's ``forward`` is wrapped to record its calls — which module ran,
on which tensor, giving which tensor, and the calls made inside it. The graph is then written
from that record:

- a module of a known type (Conv2d, Linear, the poolings, BatchNorm, the activations, …; see
  :data:`EXPORTERS`) becomes its ONNX operators, its parameters float32 initializers;
- any other module that called submodules (Sequential, LeNet5, SmallCNN, VGG, ResNet and its
  residual blocks, a user's own container) is followed through the data flow of its calls:
  each submodule's input must be the container's input or an earlier submodule's output —
  or a tensor computed from those by one of the few operations a ``forward`` writes between
  submodules, which the exporter recognizes *by value* on the traced tensors: a flatten to
  (N, −1) (``torch.flatten(x, 1)`` before a classifier), the sum of two tensors (a residual
  connection, ``out + identity``), ``relu`` of such a sum, or ``relu``. Anything else is
  an error naming the module, never a silently wrong graph;
- a module that called nothing and returned its input unchanged is the identity.

Dropout is the identity and BatchNorm uses its running statistics (the eval-mode network).
The graph has one input, "input", of the example's shape with a dynamic batch dimension
("batch"), and one output, "logits". The model's own preprocessing (a run's normalization
or whitening) is not part of the graph: feed it preprocessed input.

``onnx`` is an optional dependency, imported only here (``pip install onnx``);
:func:`compare_onnxruntime` checks an exported file against the model with onnxruntime.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import FoveaError

__all__ = ["export", "build", "compare_onnxruntime", "ExportError", "EXPORTERS",
           "register_exporter", "DEFAULT_OPSET", "MIN_OPSET"]

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Softmax/LogSoftmax over one axis, Clip with input bounds


class ExportError(FoveaError, ValueError):
    """A model (or a module in it) the ONNX exporter cannot write; the message names it."""


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ExportError("ONNX export needs the onnx package (pip install onnx)") from None
    return onnx


# ---- tracing ---------------------------------------------------------------------------------
@dataclass(eq=False)
class _Call:
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


def _trace(model, x) -> tuple[_Call, object]:
    """Run ``model`` on ``x`` in eval mode, recording every module call; (root call, output).
    The modules' training flags and forwards are restored afterwards."""
    from .autograd import no_grad

    paths = {}
    for name, m in model.named_modules():
        paths.setdefault(id(m), name)
    root = _Call(None, "", (), {})
    stack = [root]

    def wrap(m, forward):
        def recording_forward(*args, **kwargs):
            call = _Call(m, paths[id(m)], args, kwargs)
            stack[-1].calls.append(call)
            stack.append(call)
            try:
                out = forward(*args, **kwargs)
            finally:
                stack.pop()
            call.output = out
            return out
        return recording_forward

    modules = list(model.modules())
    modes = [m.training for m in modules]
    # in-place activations would overwrite the traced tensors the graph is read from
    inplace = [m for m in modules if getattr(m, "inplace", False)]
    saved = []
    try:
        for m in inplace:
            object.__setattr__(m, "inplace", False)
        for m in modules:
            saved.append((m, m.__dict__.get("forward")))
            object.__setattr__(m, "forward", wrap(m, m.forward))
        model.eval()
        with no_grad():
            out = model(x)
    finally:
        for m, previous in saved:
            if previous is None:
                m.__dict__.pop("forward", None)
            else:
                object.__setattr__(m, "forward", previous)
        for m, mode in zip(modules, modes):
            object.__setattr__(m, "training", mode)
        for m in inplace:
            object.__setattr__(m, "inplace", True)
    if len(root.calls) != 1:  # pragma: no cover - model(x) is one call of the root
        raise ExportError("tracing the model recorded no call of its forward")
    return root.calls[0], out


def _values(t) -> np.ndarray:
    from .backend import to_numpy

    return np.asarray(to_numpy(t.data))


# ---- the graph under construction ------------------------------------------------------------
class _Graph:
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

    def param(self, call: _Call, attr: str, array=None, shape=None) -> str:
        """A module's parameter (or buffer) as a float32 initializer named by its state_dict
        key; optionally reshaped. Written once however often the module is called."""
        key = (id(call.module), attr, shape)
        if key not in self._params:
            if array is None:
                array = _values(getattr(call.module, attr))
            array = np.asarray(array, dtype=np.float32)
            if shape is not None:
                array = array.reshape(shape)
            base = f"{call.path}.{attr}" if call.path else attr
            self._params[key] = self.constant(base, array)
        return self._params[key]

    def scalar(self, call: _Call, what: str, value) -> str:
        return self.constant(f"{call.path}.{what}", np.float32(value))

    def node(self, op: str, inputs, call: _Call, outputs: int = 1, **attrs):
        onnx = self.onnx
        base = f"{call.path or 'model'}/{op}"
        names = [self.fresh(base if outputs == 1 else f"{base}_{i}") for i in range(outputs)]
        self.nodes.append(onnx.helper.make_node(op, list(inputs), names,
                                                name=self.fresh(base, self._node_names),
                                                **attrs))
        return names[0] if outputs == 1 else names


# ---- exporters of known modules --------------------------------------------------------------
def _pair(v, name):
    from .ops.conv import pair

    return pair(v, name)


def _conv2d(g, call, x):
    m = call.module
    if getattr(m, "padding_mode", "zeros") != "zeros":
        raise ExportError(f"cannot export {call.where}: padding_mode {m.padding_mode!r}")
    (ph, pw), (sh, sw) = _pair(m.padding, "padding"), _pair(m.stride, "stride")
    kh, kw = m.weight.shape[2:]
    inputs = [x, g.param(call, "weight")]
    if m.bias is not None:
        inputs.append(g.param(call, "bias"))
    return g.node("Conv", inputs, call, kernel_shape=[int(kh), int(kw)], strides=[sh, sw],
                  pads=[ph, pw, ph, pw], dilations=list(_pair(m.dilation, "dilation")),
                  group=int(m.groups))


def _linear(g, call, x):
    m = call.module
    if call.x.ndim == 2:
        inputs = [x, g.param(call, "weight")]
        if m.bias is not None:
            inputs.append(g.param(call, "bias"))
        return g.node("Gemm", inputs, call, transB=1)
    wt = g.param(call, "weight.T", _values(m.weight).T)
    y = g.node("MatMul", [x, wt], call)
    return y if m.bias is None else g.node("Add", [y, g.param(call, "bias")], call)


def _out_len(n, k, s, p, d, ceil):
    span = n + 2 * p - d * (k - 1) - 1
    return (-(-span // s) if ceil else span // s) + 1


def _pool_attrs(call, kernel, stride, padding, dilation, ceil_mode, op):
    """ONNX MaxPool/AveragePool attributes; ceil_mode only where it changes the output size,
    and only when ONNX's output size agrees with the traced one."""
    k, s = _pair(kernel, "kernel_size"), _pair(stride or kernel, "stride")
    p, d = _pair(padding, "padding"), _pair(dilation, "dilation")
    in_hw, out_hw = tuple(call.x.shape[-2:]), tuple(call.output.shape[-2:])
    floor = tuple(_out_len(n, k[i], s[i], p[i], d[i], False) for i, n in enumerate(in_hw))
    ceil = tuple(_out_len(n, k[i], s[i], p[i], d[i], True) for i, n in enumerate(in_hw))
    attrs = dict(kernel_shape=list(k), strides=list(s), pads=[p[0], p[1], p[0], p[1]])
    if d != (1, 1):
        attrs["dilations"] = list(d)
    if ceil_mode and ceil != floor:
        if op == "AveragePool" or ceil != out_hw:
            raise ExportError(f"cannot export {call.where}: ceil_mode=True windows that run "
                              f"past the input ({in_hw} -> {out_hw}) have no exact ONNX "
                              f"{op}")
        attrs["ceil_mode"] = 1
    elif floor != out_hw:
        raise ExportError(f"cannot export {call.where}: output {out_hw} from {in_hw} does not "
                          f"follow the pooling arithmetic")
    return attrs


def _maxpool2d(g, call, x):
    m = call.module
    attrs = _pool_attrs(call, m.kernel_size, m.stride, m.padding, getattr(m, "dilation", 1),
                        m.ceil_mode, "MaxPool")
    return g.node("MaxPool", [x], call, **attrs)


def _avgpool2d(g, call, x):
    m = call.module
    if getattr(m, "divisor_override", None) is not None:
        raise ExportError(f"cannot export {call.where}: divisor_override has no ONNX "
                          f"AveragePool")
    attrs = _pool_attrs(call, m.kernel_size, m.stride, m.padding, 1, m.ceil_mode,
                        "AveragePool")
    if any(attrs["pads"]):
        attrs["count_include_pad"] = int(bool(m.count_include_pad))
    return g.node("AveragePool", [x], call, **attrs)


def _adaptive_bins(n, out):
    """PyTorch's adaptive pooling windows [start, end) of ``out`` bins over ``n`` positions."""
    return [((i * n) // out, -(-((i + 1) * n) // out)) for i in range(out)]


def _adaptive_avgpool2d(g, call, x):
    """1×1 output: GlobalAveragePool; a size that divides the input: AveragePool; otherwise
    (overlapping windows, or upsampling) two MatMuls with the averaging matrices: the mean
    over a window of rows × columns is separable, A_h · X · A_wᵀ."""
    if call.x.ndim != 4:
        raise ExportError(f"cannot export {call.where}: expects (N, C, H, W) input, got "
                          f"{tuple(call.x.shape)}")
    (h, w), (oh, ow) = tuple(call.x.shape[2:]), tuple(call.output.shape[2:])
    if (oh, ow) == (1, 1):
        return g.node("GlobalAveragePool", [x], call)
    if h % oh == 0 and w % ow == 0:
        k = [h // oh, w // ow]
        return g.node("AveragePool", [x], call, kernel_shape=k, strides=k)
    y = x
    if w != ow:
        a = np.zeros((w, ow), np.float32)
        for j, (s, e) in enumerate(_adaptive_bins(w, ow)):
            a[s:e, j] = 1 / (e - s)
        y = g.node("MatMul", [y, g.constant(f"{call.path}.avg_cols", a)], call)
    if h != oh:
        a = np.zeros((oh, h), np.float32)
        for i, (s, e) in enumerate(_adaptive_bins(h, oh)):
            a[i, s:e] = 1 / (e - s)
        y = g.node("MatMul", [g.constant(f"{call.path}.avg_rows", a), y], call)
    return y if y != x else g.node("Identity", [x], call)


def _adaptive_maxpool2d(g, call, x):
    if getattr(call.module, "return_indices", False):
        raise ExportError(f"cannot export {call.where}: return_indices=True")
    (h, w), (oh, ow) = tuple(call.x.shape[2:]), tuple(call.output.shape[2:])
    if (oh, ow) == (1, 1):
        return g.node("GlobalMaxPool", [x], call)
    if h % oh == 0 and w % ow == 0:
        k = [h // oh, w // ow]
        return g.node("MaxPool", [x], call, kernel_shape=k, strides=k)
    raise ExportError(f"cannot export {call.where}: adaptive max pooling {h}×{w} -> {oh}×{ow} "
                      f"has overlapping windows (no ONNX MaxPool)")


def _batchnorm(g, call, x):
    m = call.module
    if m.running_mean is None or m.running_var is None:
        raise ExportError(f"cannot export {call.where}: without running statistics "
                          f"(track_running_stats=False) it normalizes with the batch's own "
                          f"statistics even in eval mode")
    c = m.num_features
    scale = g.param(call, "weight") if m.weight is not None else \
        g.param(call, "weight", np.ones(c))
    bias = g.param(call, "bias") if m.bias is not None else g.param(call, "bias", np.zeros(c))
    return g.node("BatchNormalization", [x, scale, bias, g.param(call, "running_mean"),
                                         g.param(call, "running_var")], call,
                  epsilon=float(m.eps))


def _layernorm(g, call, x):
    m = call.module
    if g.opset < 17:
        raise ExportError(f"cannot export {call.where}: LayerNormalization needs opset >= 17")
    shape = m.normalized_shape
    scale = g.param(call, "weight") if m.weight is not None else \
        g.param(call, "weight", np.ones(shape))
    bias = g.param(call, "bias") if m.bias is not None else g.param(call, "bias", np.zeros(shape))
    return g.node("LayerNormalization", [x, scale, bias], call, axis=-len(shape),
                  epsilon=float(m.eps))


def _groupnorm(g, call, x):
    """Reshape to (N, G, −1), InstanceNormalization (statistics per sample and group),
    reshape back, then the per-channel affine."""
    m = call.module
    shape = tuple(call.x.shape)
    groups = m.num_groups
    y = g.node("Reshape", [x, g.constant(f"{call.path}.group_shape", [0, groups, -1],
                                         np.int64)], call)
    y = g.node("InstanceNormalization", [y, g.param(call, "ones", np.ones(groups)),
                                         g.param(call, "zeros", np.zeros(groups))], call,
               epsilon=float(m.eps))
    y = g.node("Reshape", [y, g.constant(f"{call.path}.shape", [0, *shape[1:]], np.int64)],
               call)
    if m.weight is None:
        return y
    per_channel = (shape[1],) + (1,) * (len(shape) - 2)
    y = g.node("Mul", [y, g.param(call, "weight", shape=per_channel)], call)
    return g.node("Add", [y, g.param(call, "bias", shape=per_channel)], call)


def _lrn(g, call, x):
    m = call.module
    if m.size % 2 == 0:
        raise ExportError(f"cannot export {call.where}: ONNX LRN centres an even size window "
                          f"differently from PyTorch's; use an odd size")
    return g.node("LRN", [x], call, size=int(m.size), alpha=float(m.alpha),
                  beta=float(m.beta), bias=float(m.k))


def _identity(g, call, x):
    return x


def _flatten(g, call, x):
    m = call.module
    ndim = call.x.ndim
    start, end = m.start_dim % ndim, m.end_dim % ndim
    if start == 1 and end == ndim - 1:
        return g.node("Flatten", [x], call, axis=1)
    out = list(call.output.shape)
    target = ([0] if start > 0 else [-1]) + [int(n) for n in out[1:]]
    return g.node("Reshape", [x, g.constant(f"{call.path}.shape", target, np.int64)], call)


def _unary(op):
    def export(g, call, x):
        return g.node(op, [x], call)
    export.__name__ = f"_{op.lower()}"
    return export


def _softmax(op):
    def export(g, call, x):
        dim = call.module.dim
        return g.node(op, [x], call, axis=int(-1 if dim is None else dim))
    return export


def _leaky_relu(g, call, x):
    return g.node("LeakyRelu", [x], call, alpha=float(call.module.negative_slope))


def _elu(g, call, x):
    return g.node("Elu", [x], call, alpha=float(call.module.alpha))


def _selu(g, call, x):
    from .ops.activations import SELU_ALPHA, SELU_SCALE

    return g.node("Selu", [x], call, alpha=float(SELU_ALPHA), gamma=float(SELU_SCALE))


def _gelu(g, call, x):
    approximate = call.module.approximate
    if g.opset >= 20:
        return g.node("Gelu", [x], call, approximate=approximate)
    if approximate == "tanh":  # 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
        x3 = g.node("Mul", [g.node("Mul", [x, x], call), x], call)
        inner = g.node("Add", [x, g.node("Mul", [x3, g.scalar(call, "kappa", 0.044715)],
                                         call)], call)
        t = g.node("Tanh", [g.node("Mul", [inner, g.scalar(call, "sqrt_2_over_pi",
                                                           math.sqrt(2 / math.pi))], call)],
                   call)
    else:  # 0.5·x·(1 + erf(x/√2))
        t = g.node("Erf", [g.node("Mul", [x, g.scalar(call, "sqrt1_2", math.sqrt(0.5))],
                                  call)], call)
    one_plus = g.node("Add", [t, g.scalar(call, "one", 1.0)], call)
    return g.node("Mul", [g.node("Mul", [x, one_plus], call), g.scalar(call, "half", 0.5)],
                  call)


def _silu(g, call, x):
    return g.node("Mul", [x, g.node("Sigmoid", [x], call)], call)


def _softplus(g, call, x):
    """log(1 + e^(βx))/β, and x itself where βx > threshold (as PyTorch)."""
    m = call.module
    beta = float(m.beta)
    bx = x if beta == 1 else g.node("Mul", [x, g.scalar(call, "beta", beta)], call)
    sp = g.node("Softplus", [bx], call)
    if beta != 1:
        sp = g.node("Div", [sp, g.scalar(call, "beta", beta)], call)
    over = g.node("Greater", [bx, g.scalar(call, "threshold", m.threshold)], call)
    return g.node("Where", [over, x, sp], call)


def _hardtanh(g, call, x):
    m = call.module
    return g.node("Clip", [x, g.scalar(call, "min_val", m.min_val),
                           g.scalar(call, "max_val", m.max_val)], call)


def _prelu(g, call, x):
    m = call.module
    n, ndim = m.weight.numel(), call.x.ndim
    shape = (n,) if n == 1 or ndim < 2 else (n,) + (1,) * (ndim - 2)
    return g.node("PRelu", [x, g.param(call, "weight", shape=shape)], call)


def _maxout(g, call, x):
    k = call.module.k
    shape = tuple(call.x.shape)
    target = [0, shape[1] // k, k, *shape[2:]]
    y = g.node("Reshape", [x, g.constant(f"{call.path}.shape", target, np.int64)], call)
    if g.opset >= 18:
        return g.node("ReduceMax", [y, g.constant(f"{call.path}.axes", [2], np.int64)], call,
                      keepdims=0)
    return g.node("ReduceMax", [y], call, axes=[2], keepdims=0)


def _default_exporters() -> dict:
    from . import nn

    table = {
        nn.Conv2d: _conv2d, nn.Linear: _linear, nn.MaxPool2d: _maxpool2d,
        nn.AvgPool2d: _avgpool2d, nn.BatchNorm1d: _batchnorm, nn.BatchNorm2d: _batchnorm,
        nn.LayerNorm: _layernorm, nn.GroupNorm: _groupnorm, nn.LocalResponseNorm: _lrn,
        nn.Dropout: _identity, nn.Dropout2d: _identity, nn.Identity: _identity,
        nn.Flatten: _flatten, nn.ReLU: _unary("Relu"), nn.Sigmoid: _unary("Sigmoid"),
        nn.Tanh: _unary("Tanh"), nn.Softmax: _softmax("Softmax"),
        nn.LogSoftmax: _softmax("LogSoftmax"), nn.LeakyReLU: _leaky_relu, nn.ELU: _elu,
        nn.SELU: _selu, nn.GELU: _gelu, nn.SiLU: _silu, nn.Softplus: _softplus,
        nn.Hardtanh: _hardtanh, nn.PReLU: _prelu, nn.Maxout: _maxout,
    }
    # modules that may not exist in every version of fovea.nn: keyed by class name
    table.update({"AdaptiveAvgPool2d": _adaptive_avgpool2d,
                  "AdaptiveMaxPool2d": _adaptive_maxpool2d,
                  "Dropout1d": _identity, "Dropout3d": _identity, "AlphaDropout": _identity})
    return table


EXPORTERS: dict = {}
"""Module class (or class name) → ``fn(graph, call, input_name) -> output_name``. A class
matches its subclasses that keep its ``forward``; a subclass with its own forward does not."""


def register_exporter(cls_or_name, fn) -> None:
    """Export modules of ``cls_or_name`` (a class, or a class name) with ``fn``."""
    _exporters()[cls_or_name] = fn


def _exporters() -> dict:
    if not EXPORTERS:
        EXPORTERS.update(_default_exporters())
    return EXPORTERS


def _find_exporter(module):
    table = _exporters()
    cls = type(module)
    for base in cls.__mro__:
        fn = table.get(base, table.get(base.__name__))
        if fn is not None:
            return fn if getattr(base, "forward", None) is getattr(cls, "forward", None) \
                else None
    return None


# ---- the data flow of a container ------------------------------------------------------------
def _check_call(call: _Call) -> None:
    from .autograd import Tensor

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


def _explain(g: _Graph, call: _Call, target, available: list) -> str:
    """The graph value for ``target``, a tensor computed inside ``call``'s forward (not by a
    submodule) from the ``available`` (tensor, name) pairs: recognized by its values."""
    t = _values(target)
    recent = available[::-1]
    vals = {}

    def v(tensor):
        if id(tensor) not in vals:
            vals[id(tensor)] = _values(tensor)
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


def _export_call(g: _Graph, call: _Call, x: str) -> str:
    _check_call(call)
    fn = _find_exporter(call.module)
    if fn is not None:
        return fn(g, call, x)
    if call.calls:
        return _export_flow(g, call, x)
    if call.output is call.x:
        return x
    raise ExportError(f"cannot export {call.where}: no ONNX exporter for "
                      f"{type(call.module).__name__}")


def _export_flow(g: _Graph, call: _Call, x: str) -> str:
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


# ---- the API ---------------------------------------------------------------------------------
def _as_input(example_input, model=None):
    """The example as a Tensor of the model's floating dtype (float32 for a float32 model)."""
    from .autograd import Tensor
    from .backend import to_numpy

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


def _rename(nodes, old: str, new: str) -> None:
    for node in nodes:
        for seq in (node.input, node.output):
            for i, name in enumerate(seq):
                if name == old:
                    seq[i] = new


MAX_BYTES = 2**31 - 2**24  # protobuf's 2 GiB limit, with room for the graph itself


def build(model, example_input, opset: int = DEFAULT_OPSET):
    """The ONNX ModelProto of ``model`` traced on ``example_input`` (checked, not written)."""
    return _build(model, example_input, opset)[0]


def _build(model, example_input, opset: int):
    """(ModelProto, its serialized bytes), checked with onnx.checker (full check)."""
    onnx = _onnx()
    from onnx import TensorProto, helper

    max_opset = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, int) \
            or not MIN_OPSET <= opset <= max_opset:
        raise ExportError(f"opset must be an integer in {MIN_OPSET}..{max_opset}, got {opset!r}")
    x = _as_input(example_input, model)
    root, out = _trace(model, x)
    out_shape = tuple(out.shape) if hasattr(out, "shape") else ()
    if not out_shape or out_shape[0] != x.shape[0]:
        raise ExportError(f"the model's output of shape {out_shape} has no batch dimension "
                          f"(the input's {x.shape[0]})")
    g = _Graph(onnx, opset)
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
        [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                       ["batch", *(int(n) for n in x.shape[1:])])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT,
                                       ["batch", *(int(n) for n in out_shape[1:])])])
    from . import __version__

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


def export(model, example_input, path, opset: int = DEFAULT_OPSET) -> Path:
    """Write ``model`` as an ONNX file at ``path`` (atomically); returns the path.

    ``example_input`` (a Tensor or array (N, C, H, W); use realistic, non-constant values:
    the tracer recognizes the steps between submodules by their values) is run once through
    the model in eval mode to trace it; the graph's input "input" has its shape with a
    dynamic batch dimension, the output is "logits". Dropout is the identity, BatchNorm uses
    its running statistics; the model's training flags are restored afterwards. Raises
    :class:`ExportError` (a FoveaError) naming the first module it cannot export, with its
    dotted path.
    """
    from .serialization import atomic_write_bytes

    _, data = _build(model, example_input, opset)
    return atomic_write_bytes(path, data)


def compare_onnxruntime(onnx_model, model, example_input) -> float:
    """Run ``onnx_model`` (a file's path, its bytes or a ModelProto) with onnxruntime and the
    model (eval mode, no grad) on ``example_input``; the largest absolute difference of their
    outputs relative to the model's largest absolute output. Needs onnxruntime
    (``pip install onnxruntime``)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ExportError("checking an ONNX file needs onnxruntime (pip install "
                          "onnxruntime)") from None
    from .autograd import no_grad

    x = _as_input(example_input, model)
    if hasattr(onnx_model, "SerializeToString"):
        onnx_model = onnx_model.SerializeToString()
    source = onnx_model if isinstance(onnx_model, bytes) else str(onnx_model)
    where = "the ONNX model" if isinstance(onnx_model, bytes) else str(onnx_model)
    try:
        session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ExportError(f"{where}: onnxruntime cannot load it ({exc})") from None
    (got,) = session.run(["logits"], {"input": _values(x).astype(np.float32)})
    training = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with no_grad():
            want = _values(model(x)).astype(np.float32)
    finally:
        for m, mode in training:
            object.__setattr__(m, "training", mode)
    if got.shape != want.shape:
        raise ExportError(f"{where}: onnxruntime gives shape {got.shape}, the model "
                          f"{want.shape}")
    scale = max(float(np.max(np.abs(want))), 1e-12) if want.size else 1.0
    return float(np.max(np.abs(got - want))) / scale if want.size else 0.0
