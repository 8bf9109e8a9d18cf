"""VGG (Simonyan & Zisserman, 2014) in torchvision's layout: configurations A, B, D, E (VGG-11,
-13, -16, -19), with or without batch normalization, and CIFAR-sized variants.

Every convolution is 3×3 with padding 1, every pooling a 2×2 max-pool: the network is a stack
of blocks that halve the image and double the channels (up to 512), then three fully
connected layers. torchvision's initialization: convolutions kaiming_normal_(fan_out, relu)
with zero bias, batch norm weight 1 and bias 0, Linear weights N(0, 0.01²) with zero bias.
"""

from __future__ import annotations

from .. import nn
from .blocks import FeatureClassifier, conv_layer, linear_layer

CFGS = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "D": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
          "M"),
    "E": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512,
          512, 512, 512, "M"),
}
"""torchvision's configurations: output channels of each 3×3 convolution, "M" a max-pool."""

DEPTHS = {11: "A", 13: "B", 16: "D", 19: "E"}


def make_layers(cfg, batch_norm: bool = False, in_channels: int = 3) -> nn.Sequential:
    """torchvision's ``make_layers``: conv → [BatchNorm2d] → ReLU per number, MaxPool2d(2)
    per "M", numbered 0, 1, … in one Sequential (so keys read ``features.N``)."""
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers.append(conv_layer(in_channels, v, 3, padding=1, init="kaiming_out"))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        in_channels = v
    return nn.Sequential(*layers)


class VGG(FeatureClassifier):
    """features → adaptive average pool to 7×7 → 25088 → 4096 → ReLU → Dropout → 4096 → ReLU
    → Dropout → classes (torchvision's ``VGG``; ``features`` from :func:`make_layers`)."""

    def __init__(self, features, num_classes: int = 1000, dropout: float = 0.5):
        classifier = nn.Sequential(
            linear_layer(512 * 7 * 7, 4096, init="normal"), nn.ReLU(inplace=True), nn.Dropout(dropout),
            linear_layer(4096, 4096, init="normal"), nn.ReLU(inplace=True), nn.Dropout(dropout),
            linear_layer(4096, num_classes, init="normal"),
        )
        super().__init__(features, nn.AdaptiveAvgPool2d((7, 7)), classifier)


class VGGCIFAR(FeatureClassifier):
    """VGG for 32×32 images (28×28 works too): the ``features`` of a VGG configuration (same
    keys ``features.N``) without its last max-pool, then global average pooling and
    ``classifier = Linear(512, num_classes)``.

    The last max-pool is left out because the global average pool does the remaining
    reduction: 2×2 → 1×1 at 32×32, while at 28×28 (28 → 14 → 7 → 3 → 1 after four pools) a
    fifth pool would have nothing left to pool. VGG-16-bn has 14,728,266 parameters for 10
    classes, VGG-11-bn 9,231,114.
    """

    def __init__(self, cfg, num_classes: int = 10, in_channels: int = 3,
                 batch_norm: bool = True):
        features = make_layers(cfg[:-1] if cfg[-1] == "M" else cfg, batch_norm, in_channels)
        super().__init__(features, nn.AdaptiveAvgPool2d(1),
                         linear_layer(512, num_classes, init="normal"))


def _vgg(depth: int, batch_norm: bool, num_classes: int, dropout: float) -> VGG:
    return VGG(make_layers(CFGS[DEPTHS[depth]], batch_norm), num_classes, dropout)


def vgg11(num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """VGG-11 (configuration A): 132,863,336 parameters for 1000 classes."""
    return _vgg(11, False, num_classes, dropout)


def vgg13(num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """VGG-13 (configuration B): 133,047,848 parameters for 1000 classes."""
    return _vgg(13, False, num_classes, dropout)


def vgg16(num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """VGG-16 (configuration D): 138,357,544 parameters for 1000 classes."""
    return _vgg(16, False, num_classes, dropout)


def vgg19(num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """VGG-19 (configuration E): 143,667,240 parameters for 1000 classes."""
    return _vgg(19, False, num_classes, dropout)


def vgg11_bn(num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """VGG-11 with batch normalization: 132,868,840 parameters for 1000 classes."""
    return _vgg(11, True, num_classes, dropout)


def vgg13_bn(num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """VGG-13 with batch normalization: 133,053,736 parameters for 1000 classes."""
    return _vgg(13, True, num_classes, dropout)


def vgg16_bn(num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """VGG-16 with batch normalization: 138,365,992 parameters for 1000 classes."""
    return _vgg(16, True, num_classes, dropout)


def vgg19_bn(num_classes: int = 1000, dropout: float = 0.5) -> VGG:
    """VGG-19 with batch normalization: 143,678,248 parameters for 1000 classes."""
    return _vgg(19, True, num_classes, dropout)


def vgg11_bn_cifar(num_classes: int = 10, in_channels: int = 3) -> VGGCIFAR:
    """VGG-11-bn for 32×32 images: see :class:`VGGCIFAR`."""
    return VGGCIFAR(CFGS["A"], num_classes, in_channels)


def vgg16_bn_cifar(num_classes: int = 10, in_channels: int = 3) -> VGGCIFAR:
    """VGG-16-bn for 32×32 images: see :class:`VGGCIFAR`."""
    return VGGCIFAR(CFGS["D"], num_classes, in_channels)
