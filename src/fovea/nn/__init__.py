"""fovea.nn: modules, layers, losses and initialization with PyTorch's names."""

from . import functional, init
from .layers import (
                     AvgPool2d,
                     Conv2d,
                     Flatten,
                     Identity,
                     Linear,
                     LogSoftmax,
                     MaxPool2d,
                     ReLU,
                     Sigmoid,
                     Softmax,
                     Tanh,
)
from .loss import CrossEntropyLoss, MSELoss
from .module import Module, ModuleList, Parameter, Sequential

__all__ = ["functional", "init", "Module", "ModuleList", "Parameter", "Sequential", "Linear",
           "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten", "Identity", "ReLU", "Sigmoid", "Tanh",
           "Softmax", "LogSoftmax", "CrossEntropyLoss", "MSELoss"]
