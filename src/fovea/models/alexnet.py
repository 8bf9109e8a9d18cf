"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012) in torchvision's layout, and a small AlexNet
for 32×32 images."""

from __future__ import annotations

from .. import nn
from .blocks import FeatureClassifier, conv_layer, linear_layer


class AlexNet(FeatureClassifier):
    """torchvision's AlexNet (the one-GPU variant of the paper, without local response
    normalization): 61,100,840 parameters for 1000 classes, state_dict keys ``features.N``
    and ``classifier.N`` as torchvision's, PyTorch's default initialization.

    features: conv 11×11/4 (64) → ReLU → maxpool 3/2 → conv 5×5 (192) → ReLU → maxpool 3/2 →
    conv 3×3 (384) → ReLU → conv 3×3 (256) → ReLU → conv 3×3 (256) → ReLU → maxpool 3/2;
    avgpool: adaptive to 6×6 (so inputs other than 224×224, down to 63×63, work);
    classifier: Dropout → 9216 → 4096 → ReLU → Dropout → 4096 → ReLU → classes.
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5):
        features = nn.Sequential(
            conv_layer(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            conv_layer(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            conv_layer(192, 384, 3, padding=1), nn.ReLU(inplace=True),
            conv_layer(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            conv_layer(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        )
        classifier = nn.Sequential(
            nn.Dropout(dropout), linear_layer(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
            nn.Dropout(dropout), linear_layer(4096, 4096), nn.ReLU(inplace=True),
            linear_layer(4096, num_classes),
        )
        super().__init__(features, nn.AdaptiveAvgPool2d((6, 6)), classifier)


class AlexNetCIFAR(FeatureClassifier):
    """A small AlexNet for 32×32 images (28×28 works too): AlexNet's five convolutions with
    its widths (64, 192, 384, 256, 256) and three max-pools, but 3×3 kernels at stride 1, and
    a classifier of 1024 units instead of 4096. PyTorch's default initialization.

    features: conv 3×3 (64) → ReLU → maxpool 2 → conv 3×3 (192) → ReLU → maxpool 2 →
    conv 3×3 (384) → ReLU → conv 3×3 (256) → ReLU → conv 3×3 (256) → ReLU → maxpool 2
    (all convolutions pad 1: 32 → 16 → 8 → 4, or 28 → 14 → 7 → 3);
    avgpool: adaptive to 2×2;
    classifier: Dropout → 1024 → 1024 → ReLU → Dropout → 1024 → ReLU → classes
    (4,361,034 parameters for 10 classes and 3 input channels).
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 3, dropout: float = 0.5):
        features = nn.Sequential(
            conv_layer(in_channels, 64, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            conv_layer(64, 192, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            conv_layer(192, 384, 3, padding=1), nn.ReLU(inplace=True),
            conv_layer(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            conv_layer(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        classifier = nn.Sequential(
            nn.Dropout(dropout), linear_layer(256 * 2 * 2, 1024), nn.ReLU(inplace=True),
            nn.Dropout(dropout), linear_layer(1024, 1024), nn.ReLU(inplace=True),
            linear_layer(1024, num_classes),
        )
        super().__init__(features, nn.AdaptiveAvgPool2d((2, 2)), classifier)


def alexnet(num_classes: int = 1000, dropout: float = 0.5) -> AlexNet:
    """torchvision's ``alexnet()`` (untrained): 61,100,840 parameters for 1000 classes."""
    return AlexNet(num_classes, dropout)


def alexnet_cifar(num_classes: int = 10, in_channels: int = 3, dropout: float = 0.5):
    """The small AlexNet for 32×32 (or 28×28) images; layout in :class:`AlexNetCIFAR`."""
    return AlexNetCIFAR(num_classes, in_channels, dropout)
