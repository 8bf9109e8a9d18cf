"""The exporters of known module types, and their registry.

An exporter is ``fn(graph, call, x) -> name``: it writes the ONNX nodes of one traced module
call (``call``, see :mod:`fovea.onnx.trace`) whose input is the graph value ``x``, and returns
the name of its output. The module's parameters become float32 initializers through
``graph.param``; what ONNX cannot express exactly is an :class:`~fovea.errors.ExportError`
naming the module.
"""

from __future__ import annotations

import math

import numpy as np

from .. import nn
from ..errors import ExportError
from ..ops.activations import SELU_ALPHA, SELU_SCALE
from ..ops.conv import pair
from .trace import values


def _conv2d(g, call, x):
    m = call.module
    if m.padding_mode != "zeros":
        raise ExportError(f"cannot export {call.where}: padding_mode={m.padding_mode!r} (only "
                          f"zero padding is exported)")
    # (left, right, top, bottom): "same" with an even kernel pads more after than before
    left, right, top, bottom = m._reversed_padding_repeated_twice
    sh, sw = pair(m.stride, "stride")
    kh, kw = m.weight.shape[2:]
    inputs = [x, g.param(call, "weight")]
    if m.bias is not None:
        inputs.append(g.param(call, "bias"))
    return g.node("Conv", inputs, call, kernel_shape=[int(kh), int(kw)], strides=[sh, sw],
                  pads=[top, left, bottom, right], dilations=list(pair(m.dilation, "dilation")),
                  group=int(m.groups))


def _linear(g, call, x):
    m = call.module
    if call.x.ndim == 2:
        inputs = [x, g.param(call, "weight")]
        if m.bias is not None:
            inputs.append(g.param(call, "bias"))
        return g.node("Gemm", inputs, call, transB=1)
    wt = g.param(call, "weight.T", values(m.weight).T)
    y = g.node("MatMul", [x, wt], call)
    return y if m.bias is None else g.node("Add", [y, g.param(call, "bias")], call)


def _out_len(n, k, s, p, d, ceil):
    span = n + 2 * p - d * (k - 1) - 1
    return (-(-span // s) if ceil else span // s) + 1


def _pool_attrs(call, kernel, stride, padding, dilation, ceil_mode, op):
    """ONNX MaxPool/AveragePool attributes; ceil_mode only where it changes the output size,
    and only when ONNX's output size agrees with the traced one."""
    k, s = pair(kernel, "kernel_size"), pair(stride or kernel, "stride")
    p, d = pair(padding, "padding"), pair(dilation, "dilation")
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
    if m.return_indices:
        raise ExportError(f"cannot export {call.where}: return_indices=True")
    attrs = _pool_attrs(call, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode,
                        "MaxPool")
    return g.node("MaxPool", [x], call, **attrs)


def _avgpool2d(g, call, x):
    m = call.module
    if m.divisor_override is not None:
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


EXPORTERS: dict = {
    nn.Conv2d: _conv2d, nn.Linear: _linear, nn.MaxPool2d: _maxpool2d, nn.AvgPool2d: _avgpool2d,
    nn.AdaptiveAvgPool2d: _adaptive_avgpool2d, nn.BatchNorm1d: _batchnorm,
    nn.BatchNorm2d: _batchnorm, nn.LayerNorm: _layernorm, nn.GroupNorm: _groupnorm,
    nn.LocalResponseNorm: _lrn, nn.Dropout: _identity, nn.Dropout2d: _identity,
    nn.Identity: _identity, nn.Flatten: _flatten, nn.ReLU: _unary("Relu"),
    nn.Sigmoid: _unary("Sigmoid"), nn.Tanh: _unary("Tanh"), nn.Softmax: _softmax("Softmax"),
    nn.LogSoftmax: _softmax("LogSoftmax"), nn.LeakyReLU: _leaky_relu, nn.ELU: _elu,
    nn.SELU: _selu, nn.GELU: _gelu, nn.SiLU: _silu, nn.Softplus: _softplus,
    nn.Hardtanh: _hardtanh, nn.PReLU: _prelu, nn.Maxout: _maxout,
}
"""Module class (or class name) → ``fn(graph, call, input_name) -> output_name``. A class
matches its subclasses that keep its ``forward``; a subclass with its own forward does not."""


def register_exporter(cls_or_name, fn) -> None:
    """Export modules of ``cls_or_name`` (a class, or a class name) with ``fn``."""
    EXPORTERS[cls_or_name] = fn


def find_exporter(module):
    """The exporter of ``module``'s class or of the nearest base whose ``forward`` it keeps;
    None when there is none."""
    cls = type(module)
    for base in cls.__mro__:
        fn = EXPORTERS.get(base, EXPORTERS.get(base.__name__))
        if fn is not None:
            return fn if getattr(base, "forward", None) is getattr(cls, "forward", None) \
                else None
    return None
