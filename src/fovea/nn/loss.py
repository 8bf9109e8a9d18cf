"""Loss modules over the functional losses."""

from __future__ import annotations

from ..autograd import Tensor
from . import functional as F
from .module import Module


class CrossEntropyLoss(Module):
    """Cross-entropy from logits with integer class targets (or class probabilities):
    −log softmax(x)[y], averaged ("mean"), summed ("sum") or per sample ("none")."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__()
        # a buffer, as in PyTorch: state_dict holds "weight" and .to(dtype) converts it
        self.register_buffer("weight", None if weight is None else Tensor(weight))
        self.ignore_index = ignore_index
        self.reduction, self.label_smoothing = reduction, label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class NLLLoss(Module):
    """Negative log-likelihood of log-probabilities: −w[y] · input[y], averaged over the
    weights ("mean"), summed ("sum") or per sample ("none")."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        self.register_buffer("weight", None if weight is None else Tensor(weight))
        self.ignore_index, self.reduction = ignore_index, reduction

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class MSELoss(Module):
    """Mean squared error (input − target)²."""

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)
