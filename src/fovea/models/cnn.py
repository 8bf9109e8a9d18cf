"""A small VGG-style CNN for 28×28 digits: two blocks of two 3×3 convolutions with batch
normalization, then max-pooling; dropout before the classifier."""

from __future__ import annotations

from .. import nn
from .blocks import activation_module


class SmallCNN(nn.Module):
    """(conv3×3 → BN → act) ×2 → maxpool, twice (``channels`` = (c1, c2)), then
    Flatten → Dropout → Linear(hidden) → act → Dropout → Linear(classes).

    With channels (32, 64) it reaches above 99.4% on MNIST with augmentation (the recipe in
    examples/mnist_best.toml).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, channels=(32, 64),
                 hidden: int = 128, dropout: float = 0.25, activation: str = "relu",
                 in_size: int = 28):
        super().__init__()
        c1, c2 = channels

        def conv(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                    activation_module(activation)]

        self.features = nn.Sequential(
            *conv(in_channels, c1), *conv(c1, c1), nn.MaxPool2d(2),
            *conv(c1, c2), *conv(c2, c2), nn.MaxPool2d(2),
        )
        side = in_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(c2 * side * side, hidden),
            activation_module(activation), nn.Dropout(dropout), nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
