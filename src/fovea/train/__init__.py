"""fovea.train: the fit loop, evaluation and run directories."""

from .loop import Normalize, evaluate, fit, train_epoch
from .run import RunDir

__all__ = ["fit", "evaluate", "train_epoch", "Normalize", "RunDir"]
