"""fovea.models: ready-made networks, and a registry to build them by name."""

from __future__ import annotations

from .blocks import ACTIVATIONS, INITS, activation_module, initialize
from .classic import MLP, LeNet5, LinearClassifier
from .cnn import SmallCNN

__all__ = ["LinearClassifier", "MLP", "LeNet5", "SmallCNN", "build_model", "MODEL_NAMES",
           "ACTIVATIONS", "INITS", "activation_module", "initialize"]

MODEL_NAMES = ("linear", "mlp", "lenet5", "cnn")


def build_model(name: str, in_shape=(1, 28, 28), num_classes: int = 10, **options):
    """A model by its CLI name: "linear", "mlp" (options: hidden, activation, dropout,
    batchnorm), "lenet5" (activation) or "cnn" (channels, hidden, dropout, activation); every
    model also takes ``init`` (see :func:`initialize`)."""
    size = 1
    for n in in_shape:
        size *= n
    act = options.get("activation", "relu")
    if name == "linear":
        model = LinearClassifier(in_shape, num_classes)
    elif name == "mlp":
        hidden = tuple(options.get("hidden", (256,)))
        model = MLP((size, *hidden, num_classes), act, options.get("dropout", 0.0),
                    options.get("batchnorm", False))
    elif name == "lenet5":
        model = LeNet5(in_shape[0], num_classes, act)
    elif name == "cnn":
        model = SmallCNN(in_shape[0], num_classes, tuple(options.get("channels", (32, 64))),
                         options.get("hidden_cnn", 128), options.get("dropout", 0.25), act,
                         in_shape[-1])
    else:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    return initialize(model, options.get("init", "default"), act)
