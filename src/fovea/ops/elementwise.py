"""Element-wise primitives: arithmetic, exp/log/sqrt/abs, maximum/minimum, where and clip.

Each class is one primitive: ``forward`` on arrays and ``backward`` from the output gradient,
side by side. Binary ops broadcast like NumPy and sum their gradients back to each input's shape.
"""

from __future__ import annotations

from .. import backend
from ..autograd import Function, unbroadcast
from ..backend import buffers


class Add(Function):
    """a + b"""

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        if a.shape == b.shape and a.dtype == b.dtype:  # e.g. a residual sum, laid out like a
            return backend.namespace(a).add(a, b, out=buffers.empty_like(a))
        return a + b

    def backward(self, g):
        sa, sb = self.shapes
        return unbroadcast(g, sa), unbroadcast(g, sb)


class Sub(Function):
    """a - b"""

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, g):
        sa, sb = self.shapes
        return unbroadcast(g, sa), unbroadcast(-g, sb) if self.needs_grad[1] else None


class Mul(Function):
    """a * b;  d/da = b, d/db = a"""

    def forward(self, a, b):
        self.a = a if self.needs_grad and self.needs_grad[1] else None
        self.b = b if self.needs_grad and self.needs_grad[0] else None
        self.shapes = (a.shape, b.shape)
        return a * b

    def backward(self, g):
        sa, sb = self.shapes
        ga = unbroadcast(g * self.b, sa) if self.needs_grad[0] else None
        gb = unbroadcast(g * self.a, sb) if self.needs_grad[1] else None
        return ga, gb


class Div(Function):
    """a / b;  d/da = 1/b, d/db = -a/b²"""

    def forward(self, a, b):
        self.a, self.b = a, b
        out = a / b
        return out

    def backward(self, g):
        a, b = self.a, self.b
        ga = unbroadcast(g / b, a.shape) if self.needs_grad[0] else None
        gb = unbroadcast(-g * a / (b * b), b.shape) if self.needs_grad[1] else None
        return ga, gb


class Pow(Function):
    """a ** b;  d/da = b·a^(b−1), d/db = a^b·log a"""

    def forward(self, a, b):
        out = a**b
        self.a, self.b, self.out = a, b, out
        return out

    def backward(self, g):
        a, b = self.a, self.b
        ga = gb = None
        if self.needs_grad[0]:
            ga = unbroadcast(g * b * a ** (b - 1), a.shape)
        if self.needs_grad[1]:
            xp = backend.namespace(a)
            with backend.errstate(a, divide="ignore", invalid="ignore"):
                loga = xp.where(a > 0, xp.log(xp.where(a > 0, a, 1)), 0).astype(a.dtype)
            gb = unbroadcast(g * self.out * loga, b.shape)
        return ga, gb


class Neg(Function):
    def forward(self, a):
        return -a

    def backward(self, g):
        return -g


class Exp(Function):
    """exp(a); d/da = exp(a)"""

    def forward(self, a):
        self.out = backend.namespace(a).exp(a)
        return self.out

    def backward(self, g):
        return g * self.out


class Log(Function):
    """log(a); d/da = 1/a"""

    def forward(self, a):
        self.a = a
        return backend.namespace(a).log(a)

    def backward(self, g):
        return g / self.a


class Sqrt(Function):
    """sqrt(a); d/da = 1/(2·sqrt(a))"""

    def forward(self, a):
        self.out = backend.namespace(a).sqrt(a)
        return self.out

    def backward(self, g):
        return g / (2 * self.out)


class Abs(Function):
    """|a|; d/da = sign(a) (0 at 0, as PyTorch)"""

    def forward(self, a):
        xp = backend.namespace(a)
        self.sign = xp.sign(a)
        return xp.abs(a)

    def backward(self, g):
        return g * self.sign


class Maximum(Function):
    """max(a, b) element-wise; a tie splits the gradient in half (as PyTorch)."""

    larger = True  # which of the two wins

    def forward(self, a, b):
        self.a, self.b = a, b
        xp = backend.namespace(a, b)
        return xp.maximum(a, b) if self.larger else xp.minimum(a, b)

    def backward(self, g):
        a, b = self.a, self.b
        wins_a = (a > b) if self.larger else (a < b)
        tie = a == b
        share_a = wins_a + 0.5 * tie
        share_a = share_a.astype(g.dtype)
        ga = unbroadcast(g * share_a, a.shape) if self.needs_grad[0] else None
        gb = unbroadcast(g * (1 - share_a), b.shape) if self.needs_grad[1] else None
        return ga, gb


class Minimum(Maximum):
    """min(a, b) element-wise."""

    larger = False


class Where(Function):
    """where(cond, a, b): a where cond is true, else b."""

    def forward(self, cond, a, b):
        self.cond = cond
        self.shapes = (a.shape, b.shape)
        return backend.namespace(cond, a, b).where(cond, a, b)

    def backward(self, g):
        xp = backend.namespace(g)
        zero = xp.zeros((), dtype=g.dtype)
        ga = unbroadcast(xp.where(self.cond, g, zero), self.shapes[0]) if self.needs_grad[1] else None
        gb = unbroadcast(xp.where(self.cond, zero, g), self.shapes[1]) if self.needs_grad[2] else None
        return None, ga, gb


class Clip(Function):
    """clip(a, min, max) = minimum(maximum(a, min), max), with number or tensor bounds.

    The gradient goes to a where min ≤ a ≤ max, to min where a < min (and min < max), to max
    where a > max (or max < min), as PyTorch's clamp.
    """

    def forward(self, a, min=None, max=None):  # noqa: A002 - PyTorch's names
        xp = backend.namespace(a)
        lo = None if min is None else xp.asarray(min, dtype=a.dtype)
        hi = None if max is None else xp.asarray(max, dtype=a.dtype)
        true = xp.ones((), dtype=bool)
        above_lo = true if lo is None else a >= lo
        below_hi = true if hi is None else a <= hi
        self.to_a = above_lo & below_hi
        self.to_lo = None if lo is None else ~above_lo & (true if hi is None else lo < hi)
        self.to_hi = None if hi is None else ~below_hi | (False if lo is None else hi < lo)
        self.shapes = (a.shape, None if lo is None else lo.shape, None if hi is None else hi.shape)
        out = a if lo is None else xp.maximum(a, lo)
        return out if hi is None else xp.minimum(out, hi)

    def backward(self, g):
        xp = backend.namespace(g)
        zero = xp.zeros((), dtype=g.dtype)
        grads = []
        for needs, mask, shape in zip(self.needs_grad, (self.to_a, self.to_lo, self.to_hi),
                                      self.shapes):
            grads.append(unbroadcast(xp.where(mask, g, zero), shape) if needs else None)
        return tuple(grads)


class RoundedDiv(Function):
    """a / b rounded toward zero ("trunc") or down ("floor"); piecewise constant, so its
    gradient is zero (as PyTorch)."""

    def forward(self, a, b, rounding_mode="trunc"):
        xp = backend.namespace(a, b)
        self.shapes = (a.shape, b.shape)
        if rounding_mode == "floor":
            return xp.floor_divide(a, b)
        if a.dtype.kind == "f":
            return xp.trunc(a / b)
        q = xp.floor_divide(a, b)  # integers: step floor back up where the signs differ
        return q + ((q < 0) & (q * b != a))

    def backward(self, g):
        xp = backend.namespace(g)
        return tuple(xp.zeros(s, dtype=g.dtype) if needs else None
                     for needs, s in zip(self.needs_grad, self.shapes))
