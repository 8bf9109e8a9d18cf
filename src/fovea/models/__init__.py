"""fovea.models: ready-made networks, and a registry to build them by name."""

from __future__ import annotations

from .classic import MLP, LeNet5, LinearClassifier

__all__ = ["LinearClassifier", "MLP", "LeNet5", "build_model", "MODEL_NAMES"]

MODEL_NAMES = ("linear", "mlp", "lenet5")


def build_model(name: str, in_shape=(1, 28, 28), num_classes: int = 10, **options):
    """A model by its CLI name: "linear", "mlp" (options: hidden, activation) or "lenet5"."""
    size = 1
    for n in in_shape:
        size *= n
    if name == "linear":
        return LinearClassifier(in_shape, num_classes)
    if name == "mlp":
        hidden = tuple(options.get("hidden", (256,)))
        return MLP((size, *hidden, num_classes), options.get("activation", "relu"))
    if name == "lenet5":
        return LeNet5(in_shape[0], num_classes)
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
