"""Activation modules with PyTorch's names, signatures and reprs.

ReLU, Sigmoid, Tanh, Softmax, LogSoftmax, LeakyReLU, PReLU, ELU, SELU, GELU, SiLU, Softplus,
Hardtanh and Maxout, thin over the functionals of :mod:`fovea.nn.functional`. ``inplace`` is
accepted where PyTorch has it, for drop-in compatibility, and shown in the repr; these compute
out of place, which gives the same values (``nn.ReLU`` alone honours it, where no graph is
recorded).
"""

from __future__ import annotations

from .. import backend
from ..backend import get_default_dtype
from . import functional as F
from . import init
from .module import Module, Parameter

__all__ = ["ReLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "LeakyReLU", "PReLU", "ELU",
           "SELU", "GELU", "SiLU", "Softplus", "Hardtanh", "Maxout"]


def _inplace(inplace: bool, first: bool = False) -> str:
    if not inplace:
        return ""
    return "inplace=True" if first else ", inplace=True"


class ReLU(Module):
    """max(0, x). With ``inplace=True`` the input is overwritten where no graph is recorded
    (see :func:`fovea.relu`), as torchvision's models do at inference."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x, inplace=self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    """σ(x) = 1 / (1 + e^(−x))"""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Module):
    """tanh(x)"""

    def forward(self, x):
        return F.tanh(x)


class Softmax(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x):
        return F.log_softmax(x, self.dim)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope·x"""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace(self.inplace)}"


class PReLU(Module):
    """x if x > 0 else a·x with a learnable slope ``weight`` of shape (num_parameters,):
    one slope shared by all channels, or one per channel (dim 1 of the input), as PyTorch.
    Initialized to ``init``; state_dict key "weight".
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        dtype = dtype or get_default_dtype()
        with backend.on(device) as xp:
            self.weight = Parameter(xp.empty((num_parameters,), dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.constant_(self.weight, self.init)

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class ELU(Module):
    """x if x > 0 else alpha·(eˣ − 1)"""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace(self.inplace)}"


class SELU(Module):
    """scale·ELU(x, alpha) with torch's constants (alpha ≈ 1.6733, scale ≈ 1.0507)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.selu(x)

    def extra_repr(self) -> str:
        return _inplace(self.inplace, first=True)


class GELU(Module):
    """x·Φ(x) (approximate="none", exact via erf) or its tanh approximation ("tanh")."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x·σ(x) (swish)"""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.silu(x)

    def extra_repr(self) -> str:
        return _inplace(self.inplace, first=True)


class Softplus(Module):
    """log(1 + e^(βx))/β, linear (x itself) where βx > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """clip(x, min_val, max_val); the gradient is 0 outside and at the bounds."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None):
        super().__init__()
        # min_value / max_value: PyTorch's deprecated spellings, still accepted
        self.min_val = min_val if min_value is None else min_value
        self.max_val = max_val if max_value is None else max_value
        self.inplace = inplace
        if self.max_val < self.min_val:
            raise ValueError(f"max_val {self.max_val} is below min_val {self.min_val}")

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace(self.inplace)}"


class Maxout(Module):
    """Maxout over the channel dimension (dim 1): (N, k·m, …) → (N, m, …).

    Output channel j is the max of input channels j·k … j·k + k − 1 (k consecutive pieces,
    as a maxout unit over k linear pieces in Goodfellow et al., 2013: put it after a
    Linear(in, k·m) or Conv2d(in, k·m, …)). The gradient goes to the winning piece, the first
    one on ties. PyTorch has no Maxout; this is ``x.view(N, m, k, …).max(dim=2).values``.
    """

    def __init__(self, k: int):
        super().__init__()
        if int(k) != k or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        self.k = int(k)

    def forward(self, x):
        return F.maxout(x, self.k)

    def extra_repr(self) -> str:
        return f"k={self.k}"
