"""Dropout layers: Dropout (units) and Dropout2d (whole feature maps); identity in eval()."""

from __future__ import annotations

from ..ops import dropout as D
from .module import Module


class Dropout(Module):
    """In training, zero each element with probability p and scale the others by 1/(1 − p);
    in eval mode, the identity. ``inplace`` is accepted for PyTorch compatibility (fovea
    never overwrites the input)."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        self.p, self.inplace = D.check_p(p), inplace

    def forward(self, x):
        return D.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """In training, zero whole channels (n, c) of (N, C, H, W) with probability p, scaling the
    kept ones by 1/(1 − p); in eval mode, the identity."""

    def forward(self, x):
        return D.dropout2d(x, self.p, self.training)
