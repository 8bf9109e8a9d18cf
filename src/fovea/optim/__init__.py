"""fovea.optim: optimizers with PyTorch's names and update rules."""

from . import lr_scheduler
from .adagrad import AdaGrad, Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSProp, RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "AdaGrad", "RMSprop", "RMSProp",
           "lr_scheduler"]
