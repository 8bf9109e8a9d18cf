"""fovea.train: the fit loop, evaluation and run directories (``Normalize``, the input
transform of a run, is :class:`fovea.data.Normalize`)."""

from ..data.preprocess import Normalize
from .loop import evaluate, fit, train_epoch
from .run import RunDir

__all__ = ["fit", "evaluate", "train_epoch", "Normalize", "RunDir"]
