"""The first models of the course: the linear classifier, the MLP and LeNet-5."""

from __future__ import annotations

from .. import nn
from .blocks import ACTIVATIONS, activation_module


class LinearClassifier(nn.Module):
    """The notes' f(x, W) = Wx + b over the flattened pixels: one score per class.

    Each row of W is a class template with the image's shape (see ``templates``).
    """

    def __init__(self, in_shape=(1, 28, 28), num_classes: int = 10):
        super().__init__()
        self.in_shape = tuple(in_shape)
        size = 1
        for n in self.in_shape:
            size *= n
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(size, num_classes)

    def forward(self, x):
        return self.fc(self.flatten(x))

    def templates(self):
        """W reshaped to (num_classes, *in_shape): the learned class templates."""
        return self.fc.weight.data.reshape((-1,) + self.in_shape)


class MLP(nn.Module):
    """A multilayer perceptron: Linear layers of the given sizes with an activation between.

    ``sizes`` = (input, hidden…, classes), e.g. (784, 256, 10). Inputs are flattened first.
    Each hidden layer is Linear → [BatchNorm1d] → activation → [Dropout(p)].
    """

    def __init__(self, sizes=(784, 256, 10), activation: str = "relu", dropout: float = 0.0,
                 batchnorm: bool = False):
        super().__init__()
        if len(sizes) < 2 or any(int(s) <= 0 for s in sizes):
            raise ValueError(f"MLP sizes must be at least two positive ints, got {sizes}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; choose from "
                             f"{', '.join(ACTIVATIONS)}")
        layers = [nn.Flatten()]
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(int(a), int(b)))
            if i < len(sizes) - 2:
                if batchnorm:
                    layers.append(nn.BatchNorm1d(int(b)))
                layers.append(activation_module(activation))
                if dropout:
                    layers.append(nn.Dropout(dropout))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al., 1998) adapted to 28×28 inputs: the first convolution pads by 2,
    so the 32×32 geometry of the original follows; ReLU and max-pooling as in modern use.

    conv 5×5 (6) → pool → conv 5×5 (16) → pool → 400 → 120 → 84 → classes
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, activation: str = "relu"):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), activation_module(activation),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), activation_module(activation), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), activation_module(activation),
            nn.Linear(120, 84), activation_module(activation), nn.Linear(84, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
