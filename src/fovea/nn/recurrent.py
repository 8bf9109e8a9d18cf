"""Recurrent layers with PyTorch's names, arguments, parameters and outputs: the cells
(RNNCell, LSTMCell, GRUCell: one step) and the sequence layers (RNN, LSTM, GRU: stacked,
optionally bidirectional). Each layer and direction runs as one fused op over the whole
sequence (:mod:`fovea.ops.recurrent`); a cell is that op over one step."""

from __future__ import annotations

import math
import numbers
import warnings

from .. import backend, ops
from ..backend import get_default_dtype
from ..errors import ShapeError
from ..ops.dropout import dropout as _dropout
from ..ops.recurrent import GATES, recurrence
from . import init
from .module import Module, Parameter


def _params(module, gates, input_size, hidden_size, bias, suffix, device, dtype):
    """weight_ih{suffix}, weight_hh{suffix}, bias_ih{suffix}, bias_hh{suffix}, in PyTorch's
    shapes and state_dict order."""
    with backend.on(device) as xp:
        shapes = [("weight_ih", (gates * hidden_size, input_size)),
                  ("weight_hh", (gates * hidden_size, hidden_size))]
        if bias:
            shapes += [("bias_ih", (gates * hidden_size,)), ("bias_hh", (gates * hidden_size,))]
        for name, shape in shapes:
            setattr(module, name + suffix, Parameter(xp.empty(shape, dtype=dtype)))


def _reset(module) -> None:
    """PyTorch's init: every weight and bias ~ U(−1/√H, 1/√H)."""
    bound = 1 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0
    for p in module.parameters():
        init.uniform_(p, -bound, bound)


def _check_sizes(input_size, hidden_size):
    for what, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"{what} must be a positive integer, got {v!r}")


class _CellBase(Module):
    mode = "rnn_tanh"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None,
                 dtype=None, mode=None):
        super().__init__()
        _check_sizes(input_size, hidden_size)
        self.mode = mode or self.mode
        self.input_size, self.hidden_size, self.bias = input_size, hidden_size, bias
        _params(self, GATES[self.mode], input_size, hidden_size, bias, "", device,
                dtype or get_default_dtype())
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset(self)

    def _step(self, input, hx, cx=None):
        """One step of the fused recurrence: input (N, I) or (I,), states (N, H) or (H,)."""
        name = type(self).__name__
        if input.ndim not in (1, 2):
            raise ShapeError(f"{name}: expected input 1-D (input_size,) or 2-D (batch, "
                             f"input_size), got shape {input.shape}")
        batched = input.ndim == 2
        if input.shape[-1] != self.input_size:
            raise ShapeError(f"{name}: input of shape {input.shape} does not fit "
                             f"input_size={self.input_size}")
        x = input if batched else ops.unsqueeze(input, 0)
        states = []
        for what, s in (("hx", hx), ("cx", cx)):
            if s is not None:
                want = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
                if tuple(s.shape) != want:
                    raise ShapeError(f"{name}: {what} of shape {s.shape}, expected {want} "
                                     f"for input of shape {input.shape}")
                s = s if batched else ops.unsqueeze(s, 0)
            states.append(s)
        _, h, c = recurrence(self.mode, ops.unsqueeze(x, 0), states[0], states[1],
                             self.weight_ih, self.weight_hh, self.bias_ih if self.bias else None,
                             self.bias_hh if self.bias else None)
        if not batched:
            h = ops.squeeze(h, 0)
            c = ops.squeeze(c, 0) if c is not None else None
        return h, c

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity!r}"
        return s


class RNNCell(_CellBase):
    """h' = act(W_ih x + b_ih + W_hh h + b_hh), act tanh or relu."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity: {nonlinearity!r}; choose tanh or relu")
        super().__init__(input_size, hidden_size, bias, device, dtype, "rnn_" + nonlinearity)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        return self._step(input, hx)[0]


class LSTMCell(_CellBase):
    """(h', c'): c' = f·c + i·g, h' = o·tanh(c'), gates i, f, g, o (rows of W in that
    order) = σ, σ, tanh, σ of W_ih x + b_ih + W_hh h + b_hh."""

    mode = "lstm"

    def forward(self, input, hx=None):
        h0, c0 = (None, None) if hx is None else hx
        return self._step(input, h0, c0)


class GRUCell(_CellBase):
    """h' = (1 − z)·n + z·h, with r, z = σ(W_i x + b_i + W_h h + b_h) (rows r, z) and
    n = tanh(W_in x + b_in + r·(W_hn h + b_hn))."""

    mode = "gru"

    def forward(self, input, hx=None):
        return self._step(input, hx)[0]


class RNNBase(Module):
    """Stacked, optionally bidirectional recurrences with PyTorch's arguments and parameter
    names (weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, and ``_reverse`` for
    the backward direction). Input (T, N, I), or (N, T, I) with ``batch_first``, or (T, I)
    unbatched; states (num_layers·D, N, H) or (num_layers·D, H) unbatched."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None):
        super().__init__()
        mode = mode.lower()  # PyTorch's names: "LSTM", "GRU", "RNN_TANH", "RNN_RELU"
        if mode not in GATES:
            raise ValueError(f"Unknown mode {mode!r}; choose from LSTM, GRU, RNN_TANH, RNN_RELU")
        _check_sizes(input_size, hidden_size)
        if not isinstance(num_layers, numbers.Integral) or num_layers < 1:
            raise ValueError(f"num_layers must be a positive integer, got {num_layers!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Number) \
                or not 0 <= dropout <= 1:
            raise ValueError(f"dropout should be a number in range [0, 1] representing the "
                             f"probability of an element being zeroed, got {dropout!r}")
        if proj_size != 0:
            raise ValueError(f"proj_size={proj_size}: LSTM projections are not supported by "
                             f"fovea; use proj_size=0")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so "
                          f"non-zero dropout expects num_layers greater than 1, but got "
                          f"dropout={dropout} and num_layers={num_layers}", stacklevel=2)
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.bias, self.batch_first = num_layers, bias, batch_first
        self.dropout, self.bidirectional, self.proj_size = float(dropout), bidirectional, 0
        dtype = dtype or get_default_dtype()
        directions = 2 if bidirectional else 1
        for layer in range(num_layers):
            size = input_size if layer == 0 else hidden_size * directions
            for d in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                _params(self, GATES[mode], size, hidden_size, bias, suffix, device, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset(self)

    def _weights(self, layer, d):
        suffix = f"_l{layer}" + ("_reverse" if d else "")
        w = [getattr(self, f"{name}{suffix}") for name in ("weight_ih", "weight_hh")]
        b = ([getattr(self, f"{name}{suffix}") for name in ("bias_ih", "bias_hh")]
             if self.bias else [None, None])
        return w + b

    def _check_state(self, what, s, batch, batched, input_shape):
        d = 2 if self.bidirectional else 1
        want = ((self.num_layers * d, batch, self.hidden_size) if batched
                else (self.num_layers * d, self.hidden_size))
        if tuple(s.shape) != want:
            raise ShapeError(f"{type(self).__name__}: {what} of shape {tuple(s.shape)}, "
                             f"expected {want} for input of shape {tuple(input_shape)}")
        return s if batched else ops.unsqueeze(s, 1)

    def _run(self, input, h0, c0):
        """(output, h_n, c_n or None) for states given as tensors (or None)."""
        name = type(self).__name__
        if input.ndim not in (2, 3):
            raise ShapeError(f"{name}: expected input 2-D (T, input_size) or 3-D, got shape "
                             f"{tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise ShapeError(f"{name}: input of shape {tuple(input.shape)} does not fit "
                             f"input_size={self.input_size}")
        batched = input.ndim == 3
        if not batched:
            x = ops.unsqueeze(input, 1)
        elif self.batch_first:
            x = ops.permute(input, 1, 0, 2)
        else:
            x = input
        batch = x.shape[1]
        if h0 is not None:
            h0 = self._check_state("hx", h0, batch, batched, input.shape)
        if c0 is not None:
            c0 = self._check_state("cx", c0, batch, batched, input.shape)
        directions = 2 if self.bidirectional else 1
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:
                x = _dropout(x, self.dropout, True)
            outs = []
            for d in range(directions):
                k = layer * directions + d
                hk = None if h0 is None else ops.getitem(h0, k)
                ck = None if c0 is None else ops.getitem(c0, k)
                out, h, c = recurrence(self.mode, x, hk, ck, *self._weights(layer, d),
                                       reverse=bool(d))
                outs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = outs[0] if directions == 1 else ops.cat(outs, 2)
        h_n = ops.stack(h_n, 0)
        c_n = ops.stack(c_n, 0) if self.mode == "lstm" else None
        if not batched:
            x, h_n = ops.squeeze(x, 1), ops.squeeze(h_n, 1)
            c_n = ops.squeeze(c_n, 1) if c_n is not None else None
        elif self.batch_first:
            x = ops.permute(x, 1, 0, 2)
        return x, h_n, c_n

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for key, default in (("bias", True), ("batch_first", False), ("dropout", 0.0),
                             ("bidirectional", False)):
            if getattr(self, key) != default:
                s += f", {key}={getattr(self, key)}"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = act(W_ih x_t + b_ih + W_hh h_{t−1} + b_hh), act tanh or relu
    (``nonlinearity``). Returns (output, h_n)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity {nonlinearity!r}; choose tanh or relu")
        super().__init__("rnn_" + nonlinearity, input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        out, h_n, _ = self._run(input, hx, None)
        return out, h_n


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o = σ, σ, tanh, σ of
    W_ih x_t + b_ih + W_hh h_{t−1} + b_hh, c_t = f·c_{t−1} + i·g, h_t = o·tanh(c_t).
    Returns (output, (h_n, c_n))."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0, device=None, dtype=None):
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype)

    def forward(self, input, hx=None):
        h0, c0 = (None, None) if hx is None else hx
        out, h_n, c_n = self._run(input, h0, c0)
        return out, (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit: r, z = σ(…), n = tanh(W_in x + b_in + r·(W_hn h + b_hn)),
    h_t = (1 − z)·n + z·h_{t−1}. Returns (output, h_n)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, device=None, dtype=None):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, device=device, dtype=dtype)

    def forward(self, input, hx=None):
        out, h_n, _ = self._run(input, hx, None)
        return out, h_n
