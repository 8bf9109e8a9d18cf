"""Building blocks shared by the models: activations by name, weight initialization by name."""

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
