"""Activation functions: primitives (forward and backward side by side) and their functionals.

ReLU, Sigmoid and Tanh (their functionals are ``fovea.relu`` & co., in :mod:`fovea.ops`),
LeakyReLU, PReLU, ELU (and SELU, a scaled ELU), GELU (exact, via erf, or the tanh
approximation), SiLU, Softplus, Hardtanh and Maxout follow ``torch.nn.functional``'s formulas,
gradients (at the kinks too) and signatures. Every op computes in its input's dtype (a float32
tensor stays float32: constants are scalars of that dtype) and is finite at any finite input:
exponentials only ever see non-positive arguments, or arguments clipped where the result has
long since saturated, so ±1000 in float32 raises no overflow or invalid-value error (results
that are smaller than the smallest float underflow to 0, as IEEE arithmetic says they should).

NumPy has no ``erf``; :func:`erf` and :func:`erfc` here are W. J. Cody's rational Chebyshev
approximations (Math. Comp. 23, 1969; the netlib SPECFUN ``CALERF`` coefficients), evaluated
branch-free over the three intervals |x| ≤ 0.46875, ≤ 4 and > 4: within 3 ulp of the true
value in float64 (≤ 7e-16 relative), about 4 ulp in float32. erfc returns 0 where the true value
is below the dtype's smallest normal number (x ≥ 26.543 in float64, x ≥ 9.194 in float32).
"""

from __future__ import annotations

from .. import backend
from ..autograd import Function, Tensor
from ..backend import buffers
from ..errors import ShapeError
from ..kernels import flat, sharing
from ..kernels.activations import relu_backward
from .operands import check_same_dtype, float_operand

__all__ = ["erf", "erfc", "leaky_relu", "prelu", "elu", "selu", "gelu", "silu", "softplus",
           "hardtanh", "maxout", "ReLU", "Sigmoid", "Tanh", "Erf", "Erfc", "LeakyReLU", "PReLU",
           "ELU", "GELU", "SiLU", "Softplus", "Hardtanh", "Maxout", "SELU_ALPHA", "SELU_SCALE"]

# torch's SELU constants (Klambauer et al., 2017)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

_SQRT1_2 = 0.7071067811865475244008443621048490  # 1/√2
_TWO_OVER_SQRT_PI = 1.1283791670955125738961589031215452  # 2/√π
_INV_SQRT_2PI = 0.3989422804014326779399460599343819  # 1/√(2π)
_SQRT_2_OVER_PI = 0.7978845608028653558798921198687637  # √(2/π)
_GELU_KAPPA = 0.044715


def _s(value, dtype):
    """A Python number as a scalar of ``dtype``: it never upcasts a float32 array."""
    return backend.scalar(value, dtype)


# ---- ReLU, sigmoid, tanh ------------------------------------------------------------------
def relu_into(x, out):
    """out = max(0, x) (out may be x), over x's memory in ranges shared by fovea's threads
    when out has x's layout."""
    xp = backend.namespace(x)
    zero = xp.zeros((), dtype=x.dtype)
    x1, out1 = flat(x), flat(out)
    if x1 is None or out1 is None or x.strides != out.strides:
        return xp.maximum(x, zero, out=out)
    sharing.split(x1.size, lambda lo, hi: xp.maximum(x1[lo:hi], zero, out=out1[lo:hi]), x1)
    return out


class ReLU(Function):
    """relu(x) = max(0, x); d/dx = 1 where x > 0."""

    def forward(self, x):
        out = relu_into(x, buffers.empty_like(x))
        self.out = out
        return out

    def backward(self, g):
        out = self.out
        if g.strides == out.strides and g.dtype == out.dtype:
            gx = buffers.empty_like(out)
            g1, out1, gx1 = flat(g), flat(out), flat(gx)
            if g1 is not None and out1 is not None:
                sharing.split(g1.size, lambda lo, hi: relu_backward(g1[lo:hi], out1[lo:hi],
                                                                    gx1[lo:hi]), g1)
                return gx
        return g * (out > 0)  # a product with the mask: several times faster than where


class Sigmoid(Function):
    """σ(x) = 1 / (1 + e^(−x));  σ'(x) = σ(x)(1 − σ(x)). Stable for any |x|."""

    def forward(self, x):
        xp = backend.namespace(x)
        e = xp.exp(-xp.abs(x))
        one = xp.ones((), dtype=x.dtype)
        out = xp.where(x >= 0, one / (one + e), e / (one + e))
        self.out = out
        return out

    def backward(self, g):
        s = self.out
        return g * s * (1 - s)


class Tanh(Function):
    """tanh(x);  d/dx = 1 − tanh²(x)."""

    def forward(self, x):
        self.out = backend.namespace(x).tanh(x)
        return self.out

    def backward(self, g):
        return g * (1 - self.out * self.out)


# ---- erf and erfc: W. J. Cody's rational approximations ---------------------------------
_A = (3.16112374387056560e00, 1.13864154151050156e02, 3.77485237685302021e02,
      3.20937758913846947e03, 1.85777706184603153e-1)
_B = (2.36012909523441209e01, 2.44024637934444173e02, 1.28261652607737228e03,
      2.84423683343917062e03)
_C = (5.64188496988670089e-1, 8.88314979438837594e00, 6.61191906371416295e01,
      2.98635138197400131e02, 8.81952221241769090e02, 1.71204761263407058e03,
      2.05107837782607147e03, 1.23033935479799725e03, 2.15311535474403846e-8)
_D = (1.57449261107098347e01, 1.17693950891312499e02, 5.37181101862009858e02,
      1.62138957456669019e03, 3.29079923573345963e03, 4.36261909014324716e03,
      3.43936767414372164e03, 1.23033935480374942e03)
_P = (3.05326634961232344e-1, 3.60344899949804439e-1, 1.25781726111229246e-1,
      1.60837851487422766e-2, 6.58749161529837803e-4, 1.63153871373020978e-2)
_Q = (2.56852019228982242e00, 1.87295284992346725e00, 5.27905102951428412e-1,
      6.05183413124413191e-2, 2.33520497626869185e-3)
_THRESH = 0.46875
_SQRPI = 5.6418958354775628695e-1  # 1/√π


def _rational(z, num_coef, den_coef):
    """Cody's Horner scheme, in place on fresh temporaries:
    ((((c[n]·z + c[0])·z + c[1])·z + …)·z + c[n−1]) / ((((z + d[0])·z + d[1])·z + …) + d[n−1])
    with n = len(den_coef)."""
    dt = z.dtype
    n = len(den_coef)
    num = z * _s(num_coef[n], dt)
    den = z.copy()
    for i in range(n - 1):
        num += _s(num_coef[i], dt)
        num *= z
        den += _s(den_coef[i], dt)
        den *= z
    num += _s(num_coef[n - 1], dt)
    den += _s(den_coef[n - 1], dt)
    num /= den
    return num


def _exp_minus_square(y):
    """exp(−y²) without the rounding error of y² in the exponent (Cody's split y = s + (y − s)
    with s a multiple of 1/16, so s² is exact): exp(−s²)·exp(−(y − s)(y + s)), y ≥ 0."""
    xp = backend.namespace(y)
    dt = y.dtype
    s = y * _s(16, dt)
    xp.trunc(s, out=s)
    s *= _s(1 / 16, dt)
    d = y - s
    d *= y + s
    xp.negative(d, out=d)
    xp.exp(d, out=d)
    s *= s
    xp.negative(s, out=s)
    xp.exp(s, out=s)
    s *= d
    return s


def _erf_array(x, complement: bool):
    """erf(x), or erfc(x) if ``complement``, of a floating array, in its dtype.

    Branch-free (each interval's formula on the input clipped into that interval, the results
    picked with ``where``): no boolean gathers and scatters, which cost more than the
    arithmetic on the CPU and a device sync on a GPU. The far tail |x| > 4 is evaluated only
    when some |x| is there. NaN stays NaN.
    """
    xp = backend.namespace(x)
    if x.ndim == 0:  # arithmetic on 0-d arrays gives scalars, which the in-place steps need not
        return _erf_array(x.reshape(1), complement).reshape(())
    dt = x.dtype
    thresh, four = _s(_THRESH, dt), _s(4, dt)
    xbig = _s(26.543 if dt == backend.float64 else 9.194, dt)  # erfc(xbig) ≈ the smallest normal
    y = xp.abs(x)
    # |x| ≤ 0.46875: erf(x) = x·R(x²)
    t = xp.clip(x, -thresh, thresh)
    e = t * _rational(t * t, _A, _B)
    # 0.46875 < |x| ≤ 4: erfc(|x|) = exp(−x²)·R(|x|)  (NaN goes this way and stays NaN)
    t = xp.clip(y, thresh, four)
    c = _exp_minus_square(t)
    c *= _rational(t, _C, _D)
    if xp.any(y > four):
        # 4 < |x| < xbig: erfc(|x|) = exp(−x²)/|x|·(1/√π − R(1/x²)/x²);  0 beyond xbig
        t = xp.clip(y, four, xbig)
        z = _s(1, dt) / (t * t)
        far = _s(_SQRPI, dt) - z * _rational(z, _P, _Q)
        far /= t
        far *= _exp_minus_square(t)
        c = xp.where(y > four, xp.where(y >= xbig, _s(0, dt), far), c)
    inner = y <= thresh
    negative = x < 0
    if complement:
        return xp.where(inner, _s(1, dt) - e, xp.where(negative, _s(2, dt) - c, c))
    half = _s(0.5, dt)
    v = half - c
    v += half
    return xp.where(inner, e, xp.where(negative, -v, v))


def _as_float_array(x):
    xp = backend.namespace(x)
    x = xp.asarray(x)
    if x.dtype.kind != "f":
        return x.astype(backend.float64)
    if x.dtype.itemsize < 4:  # float16: compute in float32, return float16
        return x.astype(backend.float32)
    return x


def _erf_dispatch(x, complement):
    if isinstance(x, Tensor):
        op = Erfc if complement else Erf
        return op.apply(float_operand(x))
    arr = _as_float_array(x)
    out = _erf_array(arr, complement)
    dt = getattr(x, "dtype", None)
    return out.astype(dt) if dt is not None and dt.kind == "f" and dt != out.dtype else out


def erf(x):
    """The error function erf(x) = 2/√π ∫₀ˣ e^(−t²) dt.

    On a Tensor, the differentiable op (``torch.erf``); on an array or a number, the plain
    array function (float arrays keep their dtype; integers and Python numbers give float64).
    """
    return _erf_dispatch(x, complement=False)


def erfc(x):
    """erfc(x) = 1 − erf(x), accurate where erf(x) is close to 1 (Tensor or array, as erf)."""
    return _erf_dispatch(x, complement=True)


def _gauss(x, half: bool):
    """exp(−x²/2) if half else exp(−x²), with x clipped where the result is 0 anyway, so x² can
    not overflow."""
    xp = backend.namespace(x)
    dt = x.dtype
    xc = xp.clip(x, _s(-40, dt), _s(40, dt))
    sq = xc * xc
    return xp.exp(-(sq * _s(0.5, dt)) if half else -sq)


class Erf(Function):
    """erf(x);  d/dx = 2/√π · e^(−x²)."""

    def forward(self, x):
        if self.needs_grad:
            self.x = x
        return _erf_array(x, complement=False)

    def backward(self, g):
        return g * (_s(_TWO_OVER_SQRT_PI, g.dtype) * _gauss(self.x, half=False))


class Erfc(Function):
    """erfc(x) = 1 − erf(x);  d/dx = −2/√π · e^(−x²)."""

    def forward(self, x):
        if self.needs_grad:
            self.x = x
        return _erf_array(x, complement=True)

    def backward(self, g):
        return g * (_s(-_TWO_OVER_SQRT_PI, g.dtype) * _gauss(self.x, half=False))


# ---- piecewise-linear ---------------------------------------------------------------------
class LeakyReLU(Function):
    """x if x > 0 else slope·x;  d/dx = 1 if x > 0 else slope (slope at 0, as PyTorch)."""

    def forward(self, x, negative_slope=0.01):
        xp = backend.namespace(x)
        slope = _s(negative_slope, x.dtype)
        pos = x > 0
        if self.needs_grad:
            self.pos, self.slope = pos, slope
        return xp.where(pos, x, x * slope)

    def backward(self, g):
        xp = backend.namespace(g)
        return xp.where(self.pos, g, g * self.slope)


class PReLU(Function):
    """x if x > 0 else w·x, w learnable: one slope, or one per channel (dim 1).

    d/dx = 1 if x > 0 else w;  d/dw = Σ x·g over the entries with x ≤ 0 (over everything but
    the channel dimension when w has one slope per channel).
    """

    def forward(self, x, weight):
        xp = backend.namespace(x)
        if weight.size == 1:
            w = weight.reshape(())
            self.axes = None  # sum everything
        else:
            w = weight.reshape((1, weight.size) + (1,) * (x.ndim - 2))
            self.axes = (0,) + tuple(range(2, x.ndim))
        pos = x > 0
        if self.needs_grad:
            self.pos, self.w, self.wshape = pos, w, weight.shape
            self.x = x if self.needs_grad[1] else None
        return xp.where(pos, x, x * w)

    def backward(self, g):
        xp = backend.namespace(g)
        gx = gw = None
        if self.needs_grad[0]:
            gx = xp.where(self.pos, g, g * self.w)
        if self.needs_grad[1]:
            gxneg = xp.where(self.pos, _s(0, g.dtype), g * self.x)
            gw = gxneg.sum(axis=self.axes).reshape(self.wshape)
        return gx, gw


class Hardtanh(Function):
    """clip(x, min_val, max_val);  d/dx = 1 strictly inside (0 at the bounds, as PyTorch)."""

    def forward(self, x, min_val=-1.0, max_val=1.0):
        xp = backend.namespace(x)
        lo, hi = _s(min_val, x.dtype), _s(max_val, x.dtype)
        if self.needs_grad:
            self.inside = (x > lo) & (x < hi)
        return xp.clip(x, lo, hi)

    def backward(self, g):
        return g * self.inside


class Maxout(Function):
    """Max over groups of k consecutive channels: (N, k·m, …) → (N, m, …).

    Channels j·k … j·k + k − 1 form group j (Goodfellow et al., 2013: a maxout unit is the
    max of k linear pieces, laid out next to each other). The gradient goes to the piece that
    won, the first one on ties.
    """

    def forward(self, x, k):
        xp = backend.namespace(x)
        n, c = x.shape[0], x.shape[1]
        xr = x.reshape((n, c // k, k) + x.shape[2:])
        out = xr[:, :, 0].copy()
        track = bool(self.needs_grad)
        if track:  # which piece won, for backward
            idx = xp.zeros(out.shape, dtype=xp.int8 if k < 128 else xp.int64)
            self.idx, self.k, self.shape = idx, k, x.shape
        for i in range(1, k):  # a loop over the k pieces, not over elements
            piece = xr[:, :, i]
            better = piece > out  # strict: the first piece wins a tie
            better |= piece != piece  # NaN propagates, as in PyTorch
            xp.copyto(out, piece, where=better)
            if track:
                xp.copyto(idx, xp.asarray(i, dtype=idx.dtype), where=better)
        return out

    def backward(self, g):
        xp = backend.namespace(g)
        idx, k = self.idx, self.k
        pieces = xp.arange(k).reshape((1, 1, k) + (1,) * (idx.ndim - 2))
        won = idx[:, :, None] == pieces
        return xp.where(won, g[:, :, None], _s(0, g.dtype)).reshape(self.shape)


# ---- smooth -------------------------------------------------------------------------------
class ELU(Function):
    """scale·x if x > 0 else scale·alpha·(eˣ − 1)  (ELU: scale 1; SELU: torch's constants).

    d/dx = scale if x > 0 else scale·alpha·eˣ = out + scale·alpha.
    """

    def forward(self, x, alpha=1.0, scale=1.0):
        xp = backend.namespace(x)
        dt = x.dtype
        zero = _s(0, dt)
        sa = _s(scale * alpha, dt)
        pos = x > 0
        neg = sa * xp.expm1(xp.minimum(x, zero))  # never exp of a positive number
        if scale == 1.0:
            out = xp.where(pos, x, neg)
        else:
            out = xp.where(pos, x * _s(scale, dt), neg)
        if self.needs_grad:
            self.pos, self.out, self.sa, self.scale = pos, out, sa, _s(scale, dt)
        return out

    def backward(self, g):
        xp = backend.namespace(g)
        slope = xp.where(self.pos, self.scale, self.out + self.sa)
        return g * slope


# Abramowitz & Stegun 7.1.26: erfc(z) ≈ t·(a₁ + a₂t + … + a₅t⁴)·e^(−z²), t = 1/(1 + p·z), z ≥ 0,
# |error| ≤ 1.5e-7 — float32's own resolution, and the formula of PyTorch's vectorized CPU erf
_AS_P = 0.3275911
_AS_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
# its float32 scalars, made once: p/√2, ½a₅ … ½a₁ (Φ = ½·erfc), 1, 40, −½, ½, 1/√(2π)
_AS_F32 = tuple(backend.scalar(c, backend.float32) for c in (
    _AS_P * _SQRT1_2, *(0.5 * a for a in _AS_A[::-1]), 1, 40, -0.5, 0.5, _INV_SQRT_2PI))


# float32 bit masks: magnitude and sign (copysign as two ands and an or, in a third less time)
_MAGNITUDE, _SIGN = backend.scalar(0x7FFFFFFF, "int32"), backend.scalar(-0x80000000, "int32")


_GELU_BLOCK = 1 << 16
"""Elements per block of _gelu_float32: its ~20 passes stay within L2 (1 MiB)."""


def _gelu_float32(x, keep: bool):
    """(x·Φ(x), Φ(x) + x·φ(x)) of a float32 array: GELU and its derivative, Φ the standard
    normal CDF to ≤ 1e-7 absolute, φ its density; the derivative (what backward needs) is
    None unless ``keep``.

    Φ(−|x|) = ½·erfc(|x|/√2) by A&S 7.1.26, then Φ(x) = ½ + copysign(½ − Φ(−|x|), x): sign
    arithmetic, not a ``where`` (a random boolean mask costs NumPy ten times an add). A fifth
    of the time of Cody's erfc. The passes run block by block, in place in the outputs (or in
    scratch blocks), so that the data stays in cache between them: in a training step a fifth
    faster than passes over whole arrays; the derivative costs three passes in cache there
    and leaves backward a single product.
    """
    xp = backend.namespace(x)
    if x.ndim == 0:  # the in-place steps need arrays, and 0-d arithmetic gives scalars
        out, deriv = _gelu_float32(x.reshape(1), keep)
        return out.reshape(()), None if deriv is None else deriv.reshape(())
    p, a5, a4, a3, a2, a1, one, forty, minus_half, half, inv_sqrt_2pi = _AS_F32
    flat = x.reshape(-1)
    block = min(_GELU_BLOCK, flat.size)
    out = xp.empty_like(flat)
    deriv = xp.empty_like(flat) if keep else xp.empty(block, dtype=flat.dtype)
    cdf, scratch = xp.empty(block, dtype=flat.dtype), xp.empty(block, dtype=flat.dtype)
    for i in range(0, flat.size, block):
        xs = flat[i:i + block]
        n = xs.size
        a = deriv[i:i + n] if keep else deriv[:n]
        r, t = cdf[:n], scratch[:n]
        xp.abs(xs, out=a)
        xp.minimum(a, forty, out=a)  # Φ(−40) is 0 long before; a² cannot overflow
        xp.multiply(a, p, out=t)
        t += one
        xp.reciprocal(t, out=t)
        xp.multiply(t, a5, out=r)  # ½ folded into the coefficients: r = Φ(−|x|)
        for c in (a4, a3, a2, a1):
            r += c
            r *= t
        a *= a
        a *= minus_half
        xp.exp(a, out=a)  # e^(−x²/2)
        r *= a
        xp.subtract(half, r, out=r)
        ri, signs = r.view("int32"), t.view("int32")  # r = copysign(r, xs), bit for bit
        xp.bitwise_and(ri, _MAGNITUDE, out=ri)
        xp.bitwise_and(xs.view("int32"), _SIGN, out=signs)  # t is spent: its block holds them
        ri |= signs
        r += half  # Φ(x)
        xp.multiply(xs, r, out=out[i:i + n])
        if keep:
            a *= xs
            a *= inv_sqrt_2pi
            a += r
    return out.reshape(x.shape), deriv.reshape(x.shape) if keep else None


class GELU(Function):
    """x·Φ(x), Φ the standard normal CDF = ½·erfc(−x/√2)  (approximate="none"; in float32 by
    A&S 7.1.26 as PyTorch's CPU kernel, to 1e-7, else by Cody's erfc), or
    ½x·(1 + tanh(√(2/π)·(x + 0.044715x³)))  (approximate="tanh").

    d/dx = Φ(x) + x·φ(x) with φ(x) = e^(−x²/2)/√(2π); for "tanh", PyTorch's formula.
    """

    def forward(self, x, approximate="none"):
        xp = backend.namespace(x)
        dt = x.dtype
        self.approximate = approximate
        if approximate == "none":
            if dt == backend.float32:
                out, self.deriv = _gelu_float32(x, keep=bool(self.needs_grad))
                return out
            cdf = _s(0.5, dt) * _erf_array(x * _s(-_SQRT1_2, dt), True)
            if self.needs_grad:
                self.x, self.cdf, self.deriv = x, cdf, None
            return x * cdf
        # tanh: x clipped inside tanh (it is ±1 long before |x| = 50), so x³ cannot overflow
        xc = xp.clip(x, _s(-50, dt), _s(50, dt))
        xsq = xc * xc
        t = xp.tanh(_s(_SQRT_2_OVER_PI, dt) * (xc + _s(_GELU_KAPPA, dt) * xsq * xc))
        if self.needs_grad:
            self.x, self.t, self.xsq = x, t, xsq
        return _s(0.5, dt) * x * (_s(1, dt) + t)

    def backward(self, g):
        dt = g.dtype
        if self.approximate == "none":
            if self.deriv is not None:
                return g * self.deriv
            x = self.x
            return g * (self.cdf + x * (_s(_INV_SQRT_2PI, dt) * _gauss(x, half=True)))
        x = self.x
        t, one, half = self.t, _s(1, dt), _s(0.5, dt)
        inner_d = _s(_SQRT_2_OVER_PI, dt) * (one + _s(3 * _GELU_KAPPA, dt) * self.xsq)
        return g * (half * (one + t) + half * x * (one - t * t) * inner_d)


def _sigmoid(x):
    """σ(x), stable for any |x|: e^(−|x|) never overflows."""
    xp = backend.namespace(x)
    one = _s(1, x.dtype)
    e = xp.exp(-xp.abs(x))
    r = one / (one + e)
    return xp.where(x >= 0, r, e * r)


class SiLU(Function):
    """x·σ(x) (swish);  d/dx = σ(x)·(1 + x·(1 − σ(x)))."""

    def forward(self, x):
        s = _sigmoid(x)
        if self.needs_grad:
            self.x, self.s = x, s
        return x * s

    def backward(self, g):
        s = self.s
        one = _s(1, s.dtype)
        return g * (s * (one + self.x * (one - s)))


class Softplus(Function):
    """log(1 + e^(βx))/β, and x itself where βx > threshold (PyTorch's semantics).

    Computed as max(βx, 0) + log1p(e^(−|βx|)), which never overflows; d/dx = σ(βx) (1 above
    the threshold).
    """

    def forward(self, x, beta=1.0, threshold=20.0):
        xp = backend.namespace(x)
        dt = x.dtype
        z = x if beta == 1.0 else x * _s(beta, dt)
        linear = z > _s(threshold, dt)
        sp = xp.maximum(z, _s(0, dt)) + xp.log1p(xp.exp(-xp.abs(z)))
        if beta != 1.0:
            sp = sp / _s(beta, dt)
        if self.needs_grad:
            self.z, self.linear = z, linear
        return xp.where(linear, x, sp)

    def backward(self, g):
        xp = backend.namespace(g)
        return xp.where(self.linear, g, g * _sigmoid(self.z))


# ---- functionals (torch.nn.functional's names and signatures) ------------------------------
# ``inplace`` is accepted for PyTorch compatibility; fovea computes out of place (same values).
def leaky_relu(x, negative_slope=0.01, inplace=False):
    return LeakyReLU.apply(float_operand(x), negative_slope=float(negative_slope))


def prelu(x, weight):
    """x if x > 0 else weight·x; ``weight`` has 1 element, or one per channel (dim 1)."""
    x = float_operand(x)
    weight = weight if isinstance(weight, Tensor) else Tensor(weight, dtype=x.dtype)
    check_same_dtype("prelu", x, weight)
    n = weight.numel()
    if weight.ndim > 1:
        raise ShapeError(f"prelu: weight must be 1-D (or a scalar), got shape {weight.shape}")
    if n != 1:
        channels = x.shape[1] if x.ndim >= 2 else 1
        if channels != n:
            raise ShapeError(f"prelu: weight has {n} elements but the input has {channels} "
                             f"channels (dim 1) in shape {x.shape}")
    return PReLU.apply(x, weight)


def elu(x, alpha=1.0, inplace=False):
    return ELU.apply(float_operand(x), alpha=float(alpha), scale=1.0)


def selu(x, inplace=False):
    return ELU.apply(float_operand(x), alpha=SELU_ALPHA, scale=SELU_SCALE)


def gelu(x, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return GELU.apply(float_operand(x), approximate=approximate)


def silu(x, inplace=False):
    return SiLU.apply(float_operand(x))


def softplus(x, beta=1.0, threshold=20.0):
    return Softplus.apply(float_operand(x), beta=float(beta), threshold=float(threshold))


def hardtanh(x, min_val=-1.0, max_val=1.0, inplace=False):
    if max_val < min_val:
        raise ValueError(f"hardtanh: max_val {max_val} is below min_val {min_val}")
    return Hardtanh.apply(float_operand(x), min_val=float(min_val), max_val=float(max_val))


def maxout(x, k):
    """Max over groups of ``k`` consecutive channels (dim 1): (N, k·m, …) → (N, m, …).

    Channels j·k … j·k + k − 1 form output channel j; the gradient goes to the winning piece,
    the first on ties.
    """
    x = float_operand(x)
    k = int(k)
    if k < 1:
        raise ValueError(f"maxout: k must be a positive integer, got {k}")
    if x.ndim < 2 or x.shape[1] % k:
        raise ShapeError(f"maxout: input of shape {x.shape} needs a dim 1 divisible by k={k}")
    return Maxout.apply(x, k=k)
