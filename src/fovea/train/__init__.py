"""fovea.train: the fit loop, the inference path (evaluation, prediction) and run
directories."""

from ..data.preprocess import Normalize
from .loop import fit, train_epoch
from .predict import evaluate, predict_logits, predict_proba
from .run import RunDir

__all__ = ["fit", "evaluate", "train_epoch", "predict_logits", "predict_proba", "Normalize",
           "RunDir"]
