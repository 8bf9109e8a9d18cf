"""fovea.models: ready-made networks, and a registry to build them by name."""

from __future__ import annotations

from .alexnet import AlexNet, AlexNetCIFAR, alexnet, alexnet_cifar
from .bigram import BigramLM
from .blocks import ACTIVATIONS, INITS, activation_module, initialize
from .char_rnn import CharRNN
from .classic import MLP, LeNet5, LinearClassifier
from .cnn import SmallCNN
from .gpt import GPT
from .resnet import BasicBlock, ResNet, resnet18, resnet18_cifar, resnet34
from .vgg import (
    VGG,
    VGGCIFAR,
    vgg11,
    vgg11_bn,
    vgg11_bn_cifar,
    vgg13,
    vgg13_bn,
    vgg16,
    vgg16_bn,
    vgg16_bn_cifar,
    vgg19,
    vgg19_bn,
)
from .vit import ViT

__all__ = ["LinearClassifier", "MLP", "LeNet5", "SmallCNN", "build_model", "MODEL_NAMES",
           "ACTIVATIONS", "INITS", "activation_module", "initialize",
           "AlexNet", "AlexNetCIFAR", "VGG", "VGGCIFAR", "ResNet", "BasicBlock",
           "alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn",
           "vgg19_bn", "resnet18", "resnet34", "alexnet_cifar", "vgg11_bn_cifar",
           "vgg16_bn_cifar", "resnet18_cifar", "BigramLM", "LANGUAGE_MODELS", "ViT", "CharRNN",
           "GPT"]

# torchvision's ImageNet architectures (3-channel input, 1000 classes by default) and the
# CIFAR-sized variants (any input channels); "dropout" applies to those that have it
IMAGENET_MODELS = {
    "alexnet": alexnet, "vgg11": vgg11, "vgg13": vgg13, "vgg16": vgg16, "vgg19": vgg19,
    "vgg11_bn": vgg11_bn, "vgg13_bn": vgg13_bn, "vgg16_bn": vgg16_bn, "vgg19_bn": vgg19_bn,
    "resnet18": resnet18, "resnet34": resnet34,
}
CIFAR_MODELS = {"alexnet_cifar": alexnet_cifar, "vgg11_bn_cifar": vgg11_bn_cifar,
                "vgg16_bn_cifar": vgg16_bn_cifar, "resnet18_cifar": resnet18_cifar}
_WITH_DROPOUT = ("alexnet", "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn",
                 "vgg16_bn", "vgg19_bn", "alexnet_cifar")

MODEL_NAMES = ("linear", "mlp", "lenet5", "cnn", *IMAGENET_MODELS, *CIFAR_MODELS, "vit")

LANGUAGE_MODELS = {"bigram": BigramLM, "char_rnn": CharRNN, "char_gpt": GPT}
"""The character language models by CLI name, each built as ``cls(vocab_size=V, **options)``
with forward(idx (N, T)) -> logits (N, T, V), ``block_size`` (int or None), ``prefill`` and
``decode`` (the contract the generator, :mod:`fovea.train.generate`, relies on)."""


def _torchvision_model(name, in_shape, num_classes, options):
    """One of the torchvision architectures (ReLU only; ``dropout`` defaults to 0.5)."""
    if options.get("activation", "relu") != "relu":
        raise ValueError(f"{name} uses ReLU as torchvision does; got activation "
                         f"{options['activation']!r}")
    kwargs = {"num_classes": num_classes}
    if name in _WITH_DROPOUT:
        kwargs["dropout"] = options.get("dropout", 0.5)
    if name in CIFAR_MODELS:
        return CIFAR_MODELS[name](in_channels=in_shape[0], **kwargs)
    if in_shape[0] != 3:
        raise ValueError(f"{name} takes 3-channel images, got input shape {tuple(in_shape)}; "
                         f"the *_cifar models take any number of channels")
    return IMAGENET_MODELS[name](**kwargs)


def build_model(name: str, in_shape=(1, 28, 28), num_classes: int = 10, **options):
    """A model by its CLI name: "linear", "mlp" (options: hidden, activation, dropout,
    batchnorm), "lenet5" (activation), "cnn" (channels, hidden, dropout, activation), one of
    torchvision's ImageNet architectures ("alexnet", "vgg11" … "vgg19", "vgg11_bn" …
    "vgg19_bn", "resnet18", "resnet34": 3-channel input; dropout for AlexNet and VGG, 0.5 by
    default) or a CIFAR-sized one ("alexnet_cifar" (dropout), "vgg11_bn_cifar",
    "vgg16_bn_cifar", "resnet18_cifar": in_channels from in_shape[0]), or "vit" (a Vision
    Transformer for 28×28 or 32×32 images, any channels; dropout, GELU whatever
    ``activation``); every model also takes ``init`` (see :func:`initialize`; "default" keeps
    torchvision's for its models and the ViT's own)."""
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
    elif name in IMAGENET_MODELS or name in CIFAR_MODELS:
        model = _torchvision_model(name, in_shape, num_classes, options)
    elif name == "vit":
        model = ViT(tuple(in_shape[1:]), in_channels=in_shape[0], num_classes=num_classes,
                    dropout=options.get("dropout", 0.0))
    else:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
    return initialize(model, options.get("init", "default"), act)
