"""Recurrences over a whole sequence, fused: the Elman RNN (tanh or ReLU), the LSTM and the
GRU, one Function per layer and direction, with PyTorch's formulas and gate order.

    RNN:  h' = act(W_ih x + b_ih + W_hh h + b_hh)
    LSTM: i, f, g, o = σ, σ, tanh, σ of (W_ih x + b_ih + W_hh h + b_hh), rows in that order
          c' = f·c + i·g,  h' = o·tanh(c')
    GRU:  r, z = σ(W_ir x + b_ir + W_hr h + b_hr), σ(W_iz x + b_iz + W_hz h + b_hz)
          n = tanh(W_in x + b_in + r·(W_hn h + b_hn)),  h' = (1 − z)·n + z·h

The input-to-hidden products of all T steps are ONE GEMM, (T·N, I) @ W_ihᵀ, before the loop;
a step multiplies only h @ W_hhᵀ. Backpropagation through time walks the steps backwards
inside ``backward``: the whole sequence is one graph node, so a long sequence neither deepens
the graph (no recursion) nor records per-step nodes, and only the activations the derivative
needs are kept. dW_hh, dW_ih, dx and the biases are one GEMM (or sum) each over all steps
after the loop.

The Function returns ONE array Y of shape (T + 1, N, H) (LSTM: (T + 2, N, H)): the hidden
states in time order with the initial state at the end the recurrence starts from — Y[0] = h0
and Y[1:] the outputs going forwards; Y[:T] the outputs and Y[T] = h0 going in reverse — and,
for the LSTM, c_n in Y[T + 1]. :func:`recurrence` slices output, h_n and c_n from it, so that
their gradients come back as one array (h_n's adds to its output row).

Sigmoids are computed as σ(z) = ½·tanh(z/2) + ½ (no overflow for large |z|), so that each
step applies one tanh to all gates at once. For a long sequence the ½ is folded into copies of
the weights, W_hhᵀ copied contiguous (a faster GEMM operand); for a short one (generation, one
token at a time) the copies would cost more than they save, and each step scales its gates
instead (:meth:`_Recurrence._prepare`).
"""

from __future__ import annotations

from .. import backend
from ..autograd import Function
from ..errors import ShapeError
from .operands import check_same_dtype
from .shape import GetItem

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


def _blocks(w, order, h):
    """The row blocks of height h of w (gates stacked along axis 0) in ``order``."""
    xp = backend.namespace(w)
    return xp.concatenate([w[k * h:(k + 1) * h] for k in order], axis=0)


def _check(name, x, h0, c0, w_ih, w_hh, b_ih, b_hh, gates):
    if x.ndim != 3:
        raise ShapeError(f"{name}: input must be 3-D (T, N, input_size), got shape {x.shape}")
    t, n, i = x.shape
    if t == 0:
        raise ShapeError(f"{name}: the sequence is empty (input of shape {x.shape})")
    h = w_hh.shape[1] if w_hh.ndim == 2 else -1
    if w_hh.shape != (gates * h, h) or w_ih.shape != (gates * h, i):
        raise ShapeError(f"{name}: weights of shapes {w_ih.shape} (ih) and {w_hh.shape} (hh) "
                         f"do not fit input of shape {x.shape} with {gates} gate(s)")
    if (b_ih is None) != (b_hh is None):
        raise ValueError(f"{name}: give both biases (bias_ih, bias_hh) or neither")
    for what, b in (("bias_ih", b_ih), ("bias_hh", b_hh)):
        if b is not None and b.shape != (gates * h,):
            raise ShapeError(f"{name}: {what} of shape {b.shape}, expected {(gates * h,)}")
    for what, s in (("h0", h0), ("c0", c0)):
        if s is not None and s.shape != (n, h):
            raise ShapeError(f"{name}: {what} of shape {s.shape}, expected {(n, h)}")
    return t, n, i, h


class _Recurrence(Function):
    """Shared by the three recurrences: the checks, the input GEMM, the state buffer and the
    gradients that are GEMMs over all steps. Inputs: x (T, N, I), h0 (N, H) or None,
    c0 (N, H) or None (LSTM only), w_ih (G·H, I), w_hh (G·H, H), b_ih, b_hh (G·H,) or None."""

    gates = 1
    rows = 1  # rows of Y beyond the T + 1 hidden states

    def _start(self, x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse):
        """Check, keep what backward needs, and allocate Y with the initial state in place;
        returns (xp, Y, the step order, the input matrix (T·N, I))."""
        xp = backend.namespace(x, w_ih)
        t, n, i, h = _check(type(self).__name__, x, h0, c0, w_ih, w_hh, b_ih, b_hh,
                            self.gates)
        self.t, self.n, self.h, self.reverse = t, n, h, reverse
        x2 = xp.ascontiguousarray(x).reshape(t * n, i)
        y = xp.empty((t + 1 + self.rows, n, h), dtype=x.dtype)
        first = t if reverse else 0
        if h0 is None:
            y[first] = 0
        else:
            y[first] = h0
        self.x2, self.w_ih, self.w_hh, self.has_bias = x2, w_ih, w_hh, b_ih is not None
        self.y = y
        return xp, y, (range(t - 1, -1, -1) if reverse else range(t)), x2

    def _rows(self, t):
        """(row of h_{t−1}, row of h_t) in Y for step t."""
        return (t + 1, t) if self.reverse else (t, t + 1)

    def _prev_states(self):
        """The state each step read, (T, N, H), in step order."""
        t = self.t
        return self.y[1:t + 1] if self.reverse else self.y[0:t]

    def _outputs(self):
        t = self.t
        return self.y[0:t] if self.reverse else self.y[1:t + 1]

    def _prepare(self, xp, x2, w_ih, w_hh, b_ih, b_hh, scale, b_hn=False):
        """(xw (T, N, G·H): x W_ihᵀ + biases, W_hhᵀ for the step GEMM, the scale each step
        still applies to its gates or None). ``scale`` (G·H,) multiplies the gates before
        their tanh (½ where a sigmoid is wanted), or is None. The hidden bias joins the input
        bias, except b_hn of the GRU (its last H entries) when ``b_hn``."""
        t_len, n, h = self.t, self.n, self.h
        # copies of the weights cost about G·H·(H + I); scaling the gates at each step costs
        # T·N·G·H: fold and copy once the sequence holds at least H rows
        fold = t_len * n >= h
        if b_ih is not None:
            b = b_ih + b_hh
            if b_hn:
                b[-h:] = b_ih[-h:]
        if fold and scale is not None:
            xw = x2 @ (w_ih * scale[:, None]).T
            if b_ih is not None:
                xw += b * scale
        else:
            xw = x2 @ w_ih.T
            if b_ih is not None:
                xw += b
        if not fold:
            return xw.reshape(t_len, n, -1), w_hh.T, scale
        whh_t = xp.empty((h, w_hh.shape[0]), dtype=w_hh.dtype)
        if scale is None:
            whh_t[...] = w_hh.T
        else:
            xp.multiply(w_hh.T, scale, out=whh_t)
        return xw.reshape(t_len, n, -1), whh_t, None

    def _finish(self, dzx, w_ih_rows, dzh, dh0, dc0=None, ih_order=None, hh_order=None):
        """The gradients of all inputs from the pre-activation gradients of all steps:
        ``dzx`` (T·N, G·H) for the input side (rows of W_ih as ``w_ih_rows``), ``dzh`` for the
        hidden side; ``*_order`` puts their gate blocks back in PyTorch's order."""
        need = self.needs_grad

        def unblock_ih(a):
            return a if ih_order is None else _blocks(a, ih_order, self.h)

        def unblock_hh(a):
            return a if hh_order is None else _blocks(a, hh_order, self.h)

        dx = dw_ih = dw_hh = db_ih = db_hh = None
        if need[0]:
            dx = (dzx @ w_ih_rows).reshape(self.t, self.n, -1)
        if need[3]:
            dw_ih = unblock_ih(dzx.T @ self.x2)
        if need[4]:
            hprev = self._prev_states().reshape(self.t * self.n, self.h)
            dw_hh = unblock_hh(dzh.T @ hprev)
        if self.has_bias and need[5]:
            db_ih = unblock_ih(dzx.sum(axis=0))
        if self.has_bias and need[6]:
            # the RNN's and LSTM's two biases enter alike: one sum serves both
            db_hh = (db_ih if dzh is dzx and db_ih is not None
                     else unblock_hh(dzh.sum(axis=0)))
        return (dx, dh0 if need[1] else None, dc0 if need[2] else None,
                dw_ih, dw_hh, db_ih, db_hh)


class RNN(_Recurrence):
    """h' = act(W_ih x + b_ih + W_hh h + b_hh), act tanh or relu (``nonlinearity``)."""

    rows = 0

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False,
                nonlinearity="tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; choose tanh or relu")
        xp, y, steps, x2 = self._start(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
        self.relu = nonlinearity == "relu"
        xw, whh_t, _ = self._prepare(xp, x2, w_ih, w_hh, b_ih, b_hh, None)
        for t in steps:
            prev, cur = self._rows(t)
            h = y[cur]
            xp.matmul(y[prev], whh_t, out=h)
            h += xw[t]
            if self.relu:
                xp.maximum(h, 0, out=h)
            else:
                xp.tanh(h, out=h)
        return y

    def backward(self, g):
        xp = backend.namespace(g)
        out = self._outputs()
        # act'(z) from the outputs: 1 − h² for tanh, [h > 0] for relu
        dz = (out > 0).astype(out.dtype) if self.relu else 1 - out * out
        dh = xp.zeros((self.n, self.h), dtype=g.dtype)
        w_hh = self.w_hh
        steps = range(self.t) if self.reverse else range(self.t - 1, -1, -1)
        for t in steps:
            dh += g[self._rows(t)[1]]
            xp.multiply(dh, dz[t], out=dz[t])
            xp.matmul(dz[t], w_hh, out=dh)
        dz2 = dz.reshape(self.t * self.n, self.h)
        return self._finish(dz2, self.w_ih, dz2, dh)


class LSTM(_Recurrence):
    """c' = f·c + i·g, h' = o·tanh(c') with i, f, g, o = σ, σ, tanh, σ of
    W_ih x + b_ih + W_hh h + b_hh (gate rows in that order)."""

    gates, rows = 4, 1

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
        xp, y, steps, x2 = self._start(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
        t_len, n, h = self.t, self.n, self.h
        # σ(z) = ½·tanh(z/2) + ½ for i, f, o, tanh(z) for g: a = tanh(z·m)·m + k
        m = xp.full(4 * h, 0.5, dtype=x.dtype)
        m[2 * h:3 * h] = 1
        k = xp.full(4 * h, 0.5, dtype=x.dtype)
        k[2 * h:3 * h] = 0
        xw, whh_t, pre = self._prepare(xp, x2, w_ih, w_hh, b_ih, b_hh, m)
        acts = xp.empty((t_len, n, 4 * h), dtype=x.dtype)   # i, f, g, o after σ / tanh
        cs = xp.empty((t_len + 1, n, h), dtype=x.dtype)     # cell states, rows as Y's
        tc = xp.empty((t_len, n, h), dtype=x.dtype)         # tanh(c')
        tmp = xp.empty((n, h), dtype=x.dtype)
        first = t_len if reverse else 0
        if c0 is None:
            cs[first] = 0
        else:
            cs[first] = c0
        for t in steps:
            prev, cur = self._rows(t)
            a = acts[t]
            xp.matmul(y[prev], whh_t, out=a)
            a += xw[t]
            if pre is not None:
                a *= pre
            xp.tanh(a, out=a)
            xp.multiply(a, m, out=a)
            xp.add(a, k, out=a)
            c = cs[cur]
            xp.multiply(a[:, h:2 * h], cs[prev], out=c)
            xp.multiply(a[:, :h], a[:, 2 * h:3 * h], out=tmp)
            c += tmp
            xp.tanh(c, out=tc[t])
            xp.multiply(a[:, 3 * h:], tc[t], out=y[cur])
        y[t_len + 1] = cs[0 if reverse else t_len]
        self.acts, self.cs, self.tc = acts, cs, tc
        return y

    def backward(self, g):
        #   dc += dh·q,  dz_{i,f,g} = dc·p_{i,f,g},  dz_o = dh·p_o,  dc_prev = dc·f,
        #   dh_prev = dz @ W_hh,  with q = o·(1 − tanh²(c)), p_i = g·σ'(i),
        #   p_f = c_prev·σ'(f), p_g = i·(1 − g²), p_o = tanh(c)·σ'(o), σ' = a(1 − a).
        # p and q do not depend on dh, dc: they are computed for a block of steps at once
        # (into dz, and over tanh(c), which backward no longer needs), a block small enough
        # to stay in cache (whole-sequence passes cost more than the per-step calls they
        # save); the steps then only multiply them by dh and dc.
        xp = backend.namespace(g)
        t_len, n, h = self.t, self.n, self.h
        one = g.dtype.type(1)  # a typed scalar: a Python number costs a conversion per call
        a4 = self.acts.reshape(t_len, n, 4, h)
        q = self.tc
        cprev = self.cs[1:] if self.reverse else self.cs[:t_len]
        dz = xp.empty((t_len, n, 4 * h), dtype=g.dtype)
        dz4 = dz.reshape(t_len, n, 4, h)
        dh = xp.zeros((n, h), dtype=g.dtype)
        dc = g[t_len + 1].copy()
        tmp = xp.empty((n, h), dtype=g.dtype)
        w_hh = self.w_hh
        block = max(1, (1 << 17) // (n * 4 * h))  # about 512 KiB of float32 per block
        starts = range(0, t_len, block) if self.reverse else \
            range((t_len - 1) // block * block, -1, -block)
        for lo in starts:
            hi = min(lo + block, t_len)
            a, p, tc = a4[lo:hi], dz4[lo:hi], q[lo:hi]
            xp.subtract(one, a, out=p)
            p *= a
            pg = p[:, :, 2]
            xp.multiply(a[:, :, 2], a[:, :, 2], out=pg)
            xp.subtract(one, pg, out=pg)
            p[:, :, 0] *= a[:, :, 2]
            p[:, :, 1] *= cprev[lo:hi]
            pg *= a[:, :, 0]
            p[:, :, 3] *= tc
            xp.multiply(tc, tc, out=tc)
            xp.subtract(one, tc, out=tc)
            tc *= a[:, :, 3]
            for t in (range(lo, hi) if self.reverse else range(hi - 1, lo - 1, -1)):
                dh += g[self._rows(t)[1]]
                xp.multiply(dh, q[t], out=tmp)
                dc += tmp
                d4 = dz4[t]
                d4[:, :3] *= dc[:, None, :]
                d4[:, 3] *= dh
                dc *= a4[t, :, 1]
                xp.matmul(dz[t], w_hh, out=dh)
        dz2 = dz.reshape(t_len * n, 4 * h)
        return self._finish(dz2, self.w_ih, dz2, dh, dc)


class GRU(_Recurrence):
    """r, z = σ(W_ir x + b_ir + W_hr h + b_hr), σ(W_iz x + b_iz + W_hz h + b_hz);
    n = tanh(W_in x + b_in + r·(W_hn h + b_hn)); h' = (1 − z)·n + z·h."""

    gates, rows = 3, 0

    def forward(self, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
        xp, y, steps, x2 = self._start(x, h0, c0, w_ih, w_hh, b_ih, b_hh, reverse)
        t_len, n, h = self.t, self.n, self.h
        s = 2 * h  # r and z, scaled by ½ for σ(z) = ½·tanh(z/2) + ½
        scale = xp.full(3 * h, 0.5, dtype=x.dtype)
        scale[s:] = 1
        xw, whh_t, pre = self._prepare(xp, x2, w_ih, w_hh, b_ih, b_hh, scale, b_hn=True)
        bhn = None if b_ih is None else b_hh[s:]
        acts = xp.empty((t_len, n, 3 * h), dtype=x.dtype)   # r, z, n
        hn = xp.empty((t_len, n, h), dtype=x.dtype)         # W_hn h + b_hn
        hw = xp.empty((n, 3 * h), dtype=x.dtype)
        half = x.dtype.type(0.5)
        for t in steps:
            prev, cur = self._rows(t)
            hp = y[prev]
            xp.matmul(hp, whh_t, out=hw)
            if bhn is not None:
                hw[:, s:] += bhn
            a = acts[t]
            rz = a[:, :s]
            xp.add(xw[t, :, :s], hw[:, :s], out=rz)
            if pre is not None:
                rz *= half
            xp.tanh(rz, out=rz)
            rz *= half
            rz += half
            hn[t] = hw[:, s:]
            nn = a[:, s:]
            xp.multiply(a[:, :h], hw[:, s:], out=nn)
            nn += xw[t, :, s:]
            xp.tanh(nn, out=nn)
            hc = y[cur]
            xp.subtract(hp, nn, out=hc)
            hc *= a[:, h:s]
            hc += nn
        self.acts, self.hn = acts, hn
        return y

    def backward(self, g):
        # per step, into the slots of dz (n, 4, h): dn = dh·(1 − z)(1 − n²) (the input side's
        # n gradient), dz = dh·(h − n)·σ'(z), dr = dn·hn·σ'(r), dhn = dn·r (the hidden
        # side's n gradient); the input side reads slots 0–2 (W_ih rows n, z, r), the
        # hidden side slots 1–3 (W_hh rows z, r, n); dh_prev = dh·z + dz[1:4] @ W_hh
        xp = backend.namespace(g)
        t_len, n, h = self.t, self.n, self.h
        s = 2 * h
        one = g.dtype.type(1)
        acts, hn, y = self.acts, self.hn, self.y
        dz = xp.empty((t_len, n, 4 * h), dtype=g.dtype)
        dz4 = dz.reshape(t_len, n, 4, h)
        dh = xp.zeros((n, h), dtype=g.dtype)
        tmp = xp.empty((n, h), dtype=g.dtype)
        whh = _blocks(self.w_hh, (1, 0, 2), h)
        steps = range(t_len) if self.reverse else range(t_len - 1, -1, -1)
        for t in steps:
            prev, cur = self._rows(t)
            a = acts[t]
            r, z, nn = a[:, :h], a[:, h:s], a[:, s:]
            dn, dzz, dr, dhn = dz4[t, :, 0], dz4[t, :, 1], dz4[t, :, 2], dz4[t, :, 3]
            dh += g[cur]
            xp.subtract(one, z, out=tmp)
            xp.multiply(nn, nn, out=dn)
            xp.subtract(one, dn, out=dn)
            dn *= tmp
            dn *= dh
            xp.subtract(y[prev], nn, out=dzz)
            dzz *= tmp
            dzz *= z
            dzz *= dh
            xp.subtract(one, r, out=dr)
            dr *= r
            dr *= hn[t]
            dr *= dn
            xp.multiply(dn, r, out=dhn)
            xp.multiply(dh, z, out=tmp)
            xp.matmul(dz[t, :, h:], whh, out=dh)
            dh += tmp
        dz2 = dz.reshape(t_len * n, 4 * h)
        return self._finish(dz2[:, :3 * h], _blocks(self.w_ih, (2, 1, 0), h), dz2[:, h:], dh,
                            None, (2, 1, 0), (1, 0, 2))


_FUNCTIONS = {"rnn_tanh": RNN, "rnn_relu": RNN, "lstm": LSTM, "gru": GRU}


def recurrence(mode, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, reverse=False):
    """One layer and direction of ``mode`` ("rnn_tanh", "rnn_relu", "lstm", "gru") over the
    sequence x (T, N, I) from h0 (and c0), both (N, H) or None (zeros): returns (output
    (T, N, H), h_n (N, H), c_n (N, H) or None)."""
    if mode not in _FUNCTIONS:
        raise ValueError(f"unknown recurrence {mode!r}; choose from {', '.join(_FUNCTIONS)}")
    check_same_dtype(mode, x, h0, c0, w_ih, w_hh, b_ih, b_hh)
    params = {"reverse": reverse}
    if mode.startswith("rnn_"):
        params["nonlinearity"] = mode[4:]
    y = _FUNCTIONS[mode].apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, **params)
    t = x.shape[0]

    def getitem(a, idx):
        return GetItem.apply(a, idx=idx)

    if reverse:
        out, h_n = getitem(y, slice(0, t)), getitem(y, 0)
    else:
        out, h_n = getitem(y, slice(1, t + 1)), getitem(y, t)
    c_n = getitem(y, t + 1) if mode == "lstm" else None
    return out, h_n, c_n
