"""Weight initialization, in place, with PyTorch's names and formulas.

Samples come from the generator of the tensor's device (``fovea.manual_seed`` seeds them all),
in the tensor's own dtype.
"""

from __future__ import annotations

import math

from .. import backend


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity: relu √2, tanh 5/3, selu 3/4,
    leaky_relu √(2/(1+a²)), linear/conv/sigmoid 1."""
    linear = {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid", "identity"}
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def calculate_fan_in_and_fan_out(tensor):
    """fan_in = in_features·receptive field, fan_out = out_features·receptive field."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in/out need at least 2 dimensions, got shape {tensor.shape}")
    receptive = 1
    for n in tensor.shape[2:]:
        receptive *= n
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fill(tensor, values):
    xp = backend.namespace(tensor.data)
    tensor.data = xp.asarray(values, dtype=tensor.dtype).reshape(tensor.shape)
    return tensor


def _rng(tensor):
    """The generator of the device ``tensor`` lives on (``backend.rng()`` is the CPU's)."""
    device = backend.device_of(tensor.data)
    return backend.rng() if device == backend.CPU else backend.rng(device)


def uniform_(tensor, a: float = 0.0, b: float = 1.0):
    """Fill with U(a, b)."""
    return _fill(tensor, _rng(tensor).uniform(a, b, tensor.shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0):
    """Fill with N(mean, std²)."""
    return _fill(tensor, _rng(tensor).normal(mean, std, tensor.shape))


def constant_(tensor, val: float):
    return _fill(tensor, backend.namespace(tensor.data).full(tensor.shape, val))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain: float = 1.0):
    """U(−a, a) with a = gain·√(6 / (fan_in + fan_out)) (Glorot & Bengio)."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor, gain: float = 1.0):
    """N(0, std²) with std = gain·√(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu"):
    """U(−b, b) with b = gain·√(3 / fan) (He et al.). A no-op on an empty tensor."""
    if tensor.numel() == 0:
        return tensor
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu"):
    """N(0, std²) with std = gain / √fan (He et al.). A no-op on an empty tensor."""
    if tensor.numel() == 0:
        return tensor
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def orthogonal_(tensor, gain: float = 1.0):
    """A (semi-)orthogonal matrix, scaled by ``gain`` (Saxe et al.), PyTorch's algorithm.

    The tensor is viewed as a (rows, cols) matrix, rows = shape[0], cols = the product of the
    rest. A (rows, cols) standard normal matrix (transposed if it is wide) is factored as QR,
    and Q's columns are multiplied by the signs of diag(R), which makes Q uniformly
    distributed over the orthogonal matrices (Haar measure). Tall: WᵀW = gain²·I; wide:
    WWᵀ = gain²·I. A no-op on an empty tensor.
    """
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_ needs at least 2 dimensions, got shape {tensor.shape}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    xp = backend.namespace(tensor.data)
    flat = xp.asarray(_rng(tensor).normal(0.0, 1.0, (rows, cols)))
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q = q * xp.where(xp.diagonal(r) < 0, -1.0, 1.0)  # sign(0) is taken as +1
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q)


def _norm_cdf(x: float) -> float:
    """Φ(x), accurate in the lower tail (erfc does not cancel there)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _norm_ppf(p):
    """Φ⁻¹(p) elementwise for p in (0, 1): Acklam's rational approximation (relative error
    below 1.2e-9, far below float32's resolution)."""
    xp = backend.namespace(p)
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
         3.754408661907416e00)

    def poly(coef, x):
        out = xp.zeros_like(x) + coef[0]
        for k in coef[1:]:
            out = out * x + k
        return out

    p = xp.asarray(p, dtype=xp.float64)
    low = 0.02425
    tail = xp.minimum(p, 1.0 - p)  # the lower tail of p or of 1 − p
    q = xp.sqrt(-2.0 * xp.log(xp.maximum(tail, 1e-300)))
    tail_x = poly(c, q) / (poly(d, q) * q + 1.0)  # Φ⁻¹(tail) (negative)
    tail_x = xp.where(p < 0.5, tail_x, -tail_x)
    r = (p - 0.5) ** 2
    central = (p - 0.5) * poly(a, r) / (poly(b, r) * r + 1.0)
    return xp.where(tail < low, tail_x, central)


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0):
    """Fill with N(mean, std²) truncated to [a, b] (absolute bounds, as in PyTorch).

    Sampled by inverting the CDF: u ~ U(Φ(α), Φ(β)) with α = (a − mean)/std,
    β = (b − mean)/std, then x = mean + std·Φ⁻¹(u), clamped to [a, b]. An interval in the
    upper tail is sampled as the mirror of its lower-tail twin, so Φ stays accurate even
    far from the mean (where PyTorch's float32 version loses precision).
    """
    if not std > 0:
        raise ValueError(f"trunc_normal_ needs std > 0, got {std}")
    if not a < b:
        raise ValueError(f"trunc_normal_ needs a < b, got a={a}, b={b}")
    alpha, beta = (a - mean) / std, (b - mean) / std
    flip = alpha > -beta  # more of [α, β] above 0 than below: sample −x on [−β, −α]
    if flip:
        alpha, beta = -beta, -alpha
    lo, hi = _norm_cdf(alpha), _norm_cdf(beta)
    xp = backend.namespace(tensor.data)
    u = xp.asarray(_rng(tensor).uniform(lo, hi, tensor.shape))
    z = _norm_ppf(xp.clip(u, max(lo, 1e-300), hi))
    if flip:
        z = -z
    return _fill(tensor, xp.clip(mean + std * z, a, b))


def eye_(tensor):
    """The identity matrix (a 2-D tensor only): the "pass the input through" initialization."""
    if tensor.ndim != 2:
        raise ValueError(f"eye_ needs a 2-D tensor, got shape {tensor.shape}")
    return _fill(tensor, backend.namespace(tensor.data).eye(*tensor.shape))


def dirac_(tensor, groups: int = 1):
    """The Dirac delta for a 3-, 4- or 5-D convolution weight (out, in, *kernel): output
    channel d of each group copies input channel d at the kernel's centre, so the layer is
    the identity on as many channels as both sides have (PyTorch's layout)."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError(f"dirac_ needs a 3-, 4- or 5-D tensor, got shape {tensor.shape}")
    out_channels = tensor.shape[0]
    if groups < 1 or out_channels % groups:
        raise ValueError(f"dirac_: {out_channels} output channels do not split into "
                         f"{groups} groups")
    per_group = out_channels // groups
    n = min(per_group, tensor.shape[1])
    xp = backend.namespace(tensor.data)
    values = xp.zeros(tensor.shape)
    d = xp.arange(n)
    centre = tuple(k // 2 for k in tensor.shape[2:])
    for g in range(groups):
        values[(g * per_group + d, d, *centre)] = 1.0
    return _fill(tensor, values)


# ---- a new layer's weights, drawn once ----------------------------------------------------------
WEIGHT_INITS = ("torch", "kaiming_out", "normal")
"""How :func:`layer_weights` draws: "torch" is PyTorch's default (weight and bias
~ U(±1/√fan_in)); "kaiming_out" torchvision's ``kaiming_normal_(mode="fan_out",
nonlinearity="relu")`` for convolutions, N(0, 2/fan_out), bias 0; "normal" VGG's Linear init,
N(0, 0.01²), bias 0."""


def _draw(shape, dtype, normal: bool, scale: float):
    """scale·N(0, 1) or U(−scale, scale) samples from the global generator, in ``dtype``
    without a float64 temporary (float32 and float64 are drawn directly)."""
    dtype = backend.dtype_of(dtype)
    draw_dtype = dtype if dtype in (backend.float32, backend.float64) else backend.float32
    rng = backend.rng()
    if normal:
        a = rng.standard_normal(shape, dtype=draw_dtype)
        a *= scale
    else:
        a = rng.random(shape, dtype=draw_dtype)
        a *= 2 * scale
        a -= scale
    return backend.asarray(a, dtype)


def layer_weights(shape, fan_in: int, fan_out: int, init: str = "torch", bias: bool = True):
    """(weight, bias) arrays for a new layer whose weight has ``shape``, drawn once by
    ``init`` (see WEIGHT_INITS) directly in the default dtype; bias has shape (shape[0],),
    or is None when ``bias`` is False.

    torchvision builds a layer (PyTorch's default init) and then re-initializes it; drawn
    that way, VGG-16's first Linear (102.8M weights) would cost two draws through float64
    temporaries of 822 MB.
    """
    if init not in WEIGHT_INITS:
        raise ValueError(f"unknown weight init {init!r}; choose from {', '.join(WEIGHT_INITS)}")
    dtype = backend.get_default_dtype()
    if init == "torch":
        bound = 1 / math.sqrt(fan_in)
        weight = _draw(shape, dtype, False, bound)
        return weight, (_draw((shape[0],), dtype, False, bound) if bias else None)
    std = math.sqrt(2.0 / fan_out) if init == "kaiming_out" else 0.01
    weight = _draw(shape, dtype, True, std)
    return weight, (backend.get().xp.zeros((shape[0],), dtype=dtype) if bias else None)
