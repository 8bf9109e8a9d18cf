"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012) in torchvision's layout, and a small AlexNet
for 32×32 images; plus what AlexNet, VGG and ResNet share: layers whose weights are drawn once,
in float32, with torchvision's initialization.

torchvision builds a layer (PyTorch's default init) and then re-initializes it; drawn that way
here, VGG-16's first Linear (102.8M weights) would cost two draws through float64 temporaries
of 822 MB. ``conv_layer`` and ``linear_layer`` instead make the layer at size zero (its
constructor draws nothing) and give it weights drawn directly in the default dtype.
"""

from __future__ import annotations

import math

from .. import backend, nn
from ..backend import get_default_dtype

WEIGHT_INITS = ("torch", "kaiming_out", "normal")
"""How ``conv_layer``/``linear_layer`` draw weights: "torch" is PyTorch's default (weight and
bias ~ U(±1/√fan_in)); "kaiming_out" torchvision's ``kaiming_normal_(mode="fan_out",
nonlinearity="relu")`` for convolutions, N(0, 2/fan_out), bias 0; "normal" VGG's Linear init,
N(0, 0.01²), bias 0."""


def _draw(shape, dtype, normal: bool, scale: float):
    """scale·N(0, 1) or U(−scale, scale) samples from the global generator, in ``dtype``
    without a float64 temporary (float32 and float64 are drawn directly)."""
    dtype = backend.dtype_of(dtype)
    draw_dtype = dtype if dtype in (backend.float32, backend.float64) else backend.float32
    rng = backend.rng()
    if normal:
        a = rng.standard_normal(shape, dtype=draw_dtype)
        a *= scale
    else:
        a = rng.random(shape, dtype=draw_dtype)
        a *= 2 * scale
        a -= scale
    return backend.asarray(a, dtype)


def _set_weights(layer, shape, fan_in, fan_out, init, bias):
    if init not in WEIGHT_INITS:
        raise ValueError(f"unknown weight init {init!r}; choose from {', '.join(WEIGHT_INITS)}")
    dtype = get_default_dtype()
    if init == "torch":
        bound = 1 / math.sqrt(fan_in)
        layer.weight = nn.Parameter(_draw(shape, dtype, False, bound))
        if bias:
            layer.bias = nn.Parameter(_draw((shape[0],), dtype, False, bound))
        return layer
    std = math.sqrt(2.0 / fan_out) if init == "kaiming_out" else 0.01
    layer.weight = nn.Parameter(_draw(shape, dtype, True, std))
    if bias:
        layer.bias = nn.Parameter(backend.get().xp.zeros((shape[0],), dtype=dtype))
    return layer


def conv_layer(in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
               bias: bool = True, init: str = "torch") -> nn.Conv2d:
    """``nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)`` with
    its weights drawn once by ``init`` (see WEIGHT_INITS)."""
    layer = nn.Conv2d(0, 0, kernel_size, stride, padding, bias=bias)  # size 0: draws nothing
    layer.in_channels, layer.out_channels = in_channels, out_channels
    kh, kw = layer.kernel_size
    shape = (out_channels, in_channels, kh, kw)
    return _set_weights(layer, shape, in_channels * kh * kw, out_channels * kh * kw, init, bias)


def linear_layer(in_features: int, out_features: int, bias: bool = True,
                 init: str = "torch") -> nn.Linear:
    """``nn.Linear(in_features, out_features, bias)`` with its weights drawn once by ``init``
    (see WEIGHT_INITS)."""
    layer = nn.Linear(0, 0, bias=bias)  # size 0: draws nothing
    layer.in_features, layer.out_features = in_features, out_features
    return _set_weights(layer, (out_features, in_features), in_features, out_features, init,
                        bias)


class FeatureClassifier(nn.Module):
    """features → avgpool → flatten → classifier: the shape of AlexNet and VGG, with
    torchvision's attribute (and so state_dict) names."""

    def __init__(self, features, avgpool, classifier):
        super().__init__()
        self.features = features
        self.avgpool = avgpool
        self.classifier = classifier

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


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
