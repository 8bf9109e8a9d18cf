"""Building blocks shared by the models: activations by name, weight initialization by name,
layers whose weights are drawn once with torchvision's initialization (AlexNet, VGG, ResNet),
and the features → avgpool → classifier shape of AlexNet and VGG."""

from __future__ import annotations

from .. import nn
from ..nn import init

ACTIVATIONS = {
    "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU, "selu": nn.SELU, "gelu": nn.GELU, "silu": nn.SiLU, "softplus": nn.Softplus,
    "hardtanh": nn.Hardtanh,
}

# the gain argument calculate_gain takes for each activation (the rest count as linear)
_GAIN = {"relu": "relu", "leaky_relu": "leaky_relu", "tanh": "tanh", "selu": "selu",
         "sigmoid": "sigmoid"}

INITS = ("default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
         "orthogonal", "normal", "zeros")


def activation_module(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def initialize(model, scheme: str = "default", activation: str = "relu", std: float = 0.01):
    """Re-initialize every Linear and Conv2d weight of ``model`` by ``scheme`` (biases to 0):
    "default" keeps PyTorch's; xavier_* and kaiming_* use the activation's gain (kaiming in
    fan_in mode); "normal" is N(0, std²); "zeros" shows the symmetry problem (every unit of a
    layer stays identical)."""
    if scheme not in INITS:
        raise ValueError(f"unknown init {scheme!r}; choose from {', '.join(INITS)}")
    if scheme == "default":
        return model
    gain_name = _GAIN.get(activation, "linear")
    gain = init.calculate_gain(gain_name)
    for m in model.modules():
        if not isinstance(m, (nn.Linear, nn.Conv2d)):
            continue
        w = m.weight
        if scheme == "xavier_uniform":
            init.xavier_uniform_(w, gain)
        elif scheme == "xavier_normal":
            init.xavier_normal_(w, gain)
        elif scheme == "kaiming_uniform":
            init.kaiming_uniform_(w, nonlinearity=gain_name if gain_name != "sigmoid" else
                                  "linear")
        elif scheme == "kaiming_normal":
            init.kaiming_normal_(w, nonlinearity=gain_name if gain_name != "sigmoid" else
                                 "linear")
        elif scheme == "orthogonal":
            init.orthogonal_(w, gain)
        elif scheme == "normal":
            init.normal_(w, 0.0, std)
        else:
            init.zeros_(w)
        if m.bias is not None:
            init.zeros_(m.bias)
    return model


def _with_weights(layer, shape, fan_in, fan_out, init_name, bias):
    weight, b = nn.init.layer_weights(shape, fan_in, fan_out, init_name, bias)
    layer.weight = nn.Parameter(weight)
    if bias:
        layer.bias = nn.Parameter(b)
    return layer


def conv_layer(in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
               bias: bool = True, init: str = "torch") -> nn.Conv2d:
    """``nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=bias)`` with
    its weights drawn once by ``init`` (see :data:`fovea.nn.init.WEIGHT_INITS`)."""
    layer = nn.Conv2d(0, 0, kernel_size, stride, padding, bias=bias)  # size 0: draws nothing
    layer.in_channels, layer.out_channels = in_channels, out_channels
    kh, kw = layer.kernel_size
    shape = (out_channels, in_channels, kh, kw)
    return _with_weights(layer, shape, in_channels * kh * kw, out_channels * kh * kw, init,
                         bias)


def linear_layer(in_features: int, out_features: int, bias: bool = True,
                 init: str = "torch") -> nn.Linear:
    """``nn.Linear(in_features, out_features, bias)`` with its weights drawn once by ``init``
    (see :data:`fovea.nn.init.WEIGHT_INITS`)."""
    layer = nn.Linear(0, 0, bias=bias)  # size 0: draws nothing
    layer.in_features, layer.out_features = in_features, out_features
    return _with_weights(layer, (out_features, in_features), in_features, out_features, init,
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
