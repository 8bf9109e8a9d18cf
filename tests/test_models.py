"""The course's first models: LinearClassifier, MLP and LeNet-5, and build_model by name.

LeNet-5 is compared with a torch module of the same attribute structure (features.0/3,
classifier.1/3/5): same parameter count, state_dict keys and shapes, and with the same weights
the same logits (1e-4 relative, float32) and the same parameter gradients.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close as shared_assert_close

import fovea
import fovea.nn.functional as F
from fovea import nn
from fovea.models import MLP, MODEL_NAMES, LeNet5, LinearClassifier, SmallCNN, build_model

RTOL = 1e-4

LENET_SHAPES = {
    "features.0.weight": (6, 1, 5, 5),
    "features.0.bias": (6,),
    "features.3.weight": (16, 6, 5, 5),
    "features.3.bias": (16,),
    "classifier.1.weight": (120, 400),
    "classifier.1.bias": (120,),
    "classifier.3.weight": (84, 120),
    "classifier.3.bias": (84,),
    "classifier.5.weight": (10, 84),
    "classifier.5.bias": (10,),
}


def assert_close(actual, expected, rtol=RTOL, what="value"):
    shared_assert_close(actual, expected, rtol, what)


def torch_lenet(torch, in_channels=1, num_classes=10):
    """LeNet-5 in torch with fovea's attribute structure (features, classifier)."""
    tnn = torch.nn

    class TorchLeNet5(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Conv2d(in_channels, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
                tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2))
            self.classifier = tnn.Sequential(
                tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84),
                tnn.ReLU(), tnn.Linear(84, num_classes))

        def forward(self, x):
            return self.classifier(self.features(x))

    return TorchLeNet5()


# ---- LeNet-5 ------------------------------------------------------------------------------------

def test_lenet5_parameter_count_and_layout():
    fovea.manual_seed(0)
    model = LeNet5()
    assert sum(p.numel() for p in model.parameters()) == 61_706
    assert model.num_parameters() == 61_706
    state = model.state_dict()
    assert list(state) == list(LENET_SHAPES)
    assert {k: tuple(v.shape) for k, v in state.items()} == LENET_SHAPES
    assert all(v.dtype == np.float32 for v in state.values())


def test_lenet5_output_shape_and_other_sizes():
    fovea.manual_seed(0)
    x = fovea.randn(3, 1, 28, 28)
    assert LeNet5()(x).shape == (3, 10)
    m = LeNet5(in_channels=3, num_classes=7)
    assert m(fovea.randn(2, 3, 28, 28)).shape == (2, 7)
    assert m.state_dict()["features.0.weight"].shape == (6, 3, 5, 5)
    assert m.state_dict()["classifier.5.weight"].shape == (7, 84)


def test_lenet5_state_dict_matches_torch():
    torch = pytest.importorskip("torch")
    tmodel = torch_lenet(torch)
    fmodel = LeNet5()
    tshapes = {k: tuple(v.shape) for k, v in tmodel.state_dict().items()}
    fshapes = {k: tuple(v.shape) for k, v in fmodel.state_dict().items()}
    assert list(fshapes) == list(tshapes)
    assert fshapes == tshapes
    assert sum(p.numel() for p in tmodel.parameters()) == 61_706


def test_lenet5_forward_and_backward_match_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tmodel = torch_lenet(torch)
    fmodel = LeNet5()
    fmodel.load_state_dict({k: v.detach().numpy() for k, v in tmodel.state_dict().items()})

    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 8).astype(np.int64)

    flogits = fmodel(fovea.tensor(x))
    tlogits = tmodel(torch.from_numpy(x))
    assert flogits.dtype == np.float32
    assert_close(flogits.data, tlogits.detach().numpy(), what="logits")

    F.cross_entropy(flogits, fovea.tensor(y)).backward()
    torch.nn.functional.cross_entropy(tlogits, torch.from_numpy(y)).backward()
    tparams = dict(tmodel.named_parameters())
    fparams = dict(fmodel.named_parameters())
    assert list(fparams) == list(tparams)
    for name, tp in tparams.items():
        g = fparams[name].grad
        assert g is not None, f"{name} has no gradient"
        assert g.dtype == np.float32
        assert_close(g.data, tp.grad.numpy(), what=f"grad of {name}")


# ---- LinearClassifier ---------------------------------------------------------------------------

def test_linear_classifier_is_wx_plus_b(rng):
    fovea.manual_seed(1)
    model = LinearClassifier()
    x = rng.random((5, 1, 28, 28), dtype=np.float32)
    scores = model(fovea.tensor(x))
    assert scores.shape == (5, 10) and scores.dtype == np.float32
    W = model.fc.weight.data.astype(np.float64)
    b = model.fc.bias.data.astype(np.float64)
    assert W.shape == (10, 784) and b.shape == (10,)
    manual = x.reshape(5, -1).astype(np.float64) @ W.T + b
    np.testing.assert_allclose(scores.data, manual, rtol=1e-5, atol=1e-5)
    # column by column: score_c(x) = w_c · x + b_c
    c = 3
    np.testing.assert_allclose(scores.data[:, c], x.reshape(5, -1) @ W[c] + b[c], rtol=1e-5,
                               atol=1e-5)


def test_linear_classifier_templates():
    fovea.manual_seed(2)
    model = LinearClassifier()
    t = model.templates()
    assert t.shape == (10, 1, 28, 28)
    W = model.fc.weight.data
    for c in range(10):
        np.testing.assert_array_equal(t[c], W[c].reshape(1, 28, 28))
        np.testing.assert_array_equal(t[c].ravel(), W[c])
    # other shapes: 3 channels, 5 classes
    m = LinearClassifier((3, 8, 8), 5)
    assert m.templates().shape == (5, 3, 8, 8)
    np.testing.assert_array_equal(m.templates().reshape(5, -1), m.fc.weight.data)
    assert m(fovea.randn(4, 3, 8, 8)).shape == (4, 5)


def test_linear_classifier_gradient_is_outer_product(rng):
    """dL/dW = (softmax − onehot)ᵀ x / N for the mean cross-entropy."""
    fovea.manual_seed(3)
    model = LinearClassifier()
    x = rng.random((4, 1, 28, 28), dtype=np.float32)
    y = np.array([0, 3, 9, 3])
    logits = model(fovea.tensor(x))
    F.cross_entropy(logits, fovea.tensor(y)).backward()
    s = logits.data.astype(np.float64)
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(4), y] -= 1
    np.testing.assert_allclose(model.fc.weight.grad.data, p.T @ x.reshape(4, -1) / 4,
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(model.fc.bias.grad.data, p.mean(0), rtol=1e-4, atol=1e-6)


# ---- MLP ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("activation,cls", [("relu", nn.ReLU), ("sigmoid", nn.Sigmoid),
                                            ("tanh", nn.Tanh)])
def test_mlp_sizes_and_activation(activation, cls):
    fovea.manual_seed(0)
    model = MLP((784, 64, 32, 10), activation)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 64), (64, 32), (32, 10)]
    acts = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.Sigmoid, nn.Tanh))]
    assert len(acts) == 2 and all(type(a) is cls for a in acts)
    assert model.num_parameters() == 784 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10
    x = fovea.randn(3, 1, 28, 28)
    out = model(x)
    assert out.shape == (3, 10)
    # the forward pass is Linear → act → Linear → act → Linear on the flattened input
    h = x.data.reshape(3, -1)
    fn = {"relu": lambda a: np.maximum(a, 0), "sigmoid": lambda a: 1 / (1 + np.exp(-a)),
          "tanh": np.tanh}[activation]
    for i, m in enumerate(linears):
        h = h @ m.weight.data.T + m.bias.data
        if i < 2:
            h = fn(h)
    np.testing.assert_allclose(out.data, h, rtol=1e-5, atol=1e-5)


def test_mlp_without_hidden_layers_is_linear():
    model = MLP((20, 4))
    assert [type(m) for m in model.modules() if isinstance(m, (nn.Linear, nn.ReLU))] == [nn.Linear]
    assert model(fovea.randn(2, 20)).shape == (2, 4)


def test_mlp_unknown_activation():
    with pytest.raises(ValueError, match="activation"):
        MLP((784, 10, 10), activation="gelu-ish")


@pytest.mark.parametrize("sizes", [(), (784,), (784, 0, 10), (784, -5, 10), (0, 10)])
def test_mlp_bad_sizes(sizes):
    with pytest.raises(ValueError, match="sizes"):
        MLP(sizes)


# ---- build_model --------------------------------------------------------------------------------

MNIST_MODELS = ("linear", "mlp", "lenet5", "cnn")  # the others: tests/test_architectures.py


def test_model_names():
    assert tuple(MODEL_NAMES[:4]) == MNIST_MODELS
    assert {"alexnet", "vgg16", "vgg11_bn", "resnet18", "resnet18_cifar"} <= set(MODEL_NAMES)


@pytest.mark.parametrize("name", MNIST_MODELS)
def test_build_model_each_name(name):
    fovea.manual_seed(0)
    model = build_model(name)
    assert isinstance(model, nn.Module)
    expected = {"linear": LinearClassifier, "mlp": MLP, "lenet5": LeNet5, "cnn": SmallCNN}[name]
    assert type(model) is expected
    out = model(fovea.randn(2, 1, 28, 28))
    assert out.shape == (2, 10) and out.dtype == np.float32
    assert model.training


def test_build_model_options():
    fovea.manual_seed(0)
    mlp = build_model("mlp", hidden=(32, 16), activation="tanh")
    linears = [m for m in mlp.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 32), (32, 16), (16, 10)]
    assert any(isinstance(m, nn.Tanh) for m in mlp.modules())
    default = build_model("mlp")
    assert [m.out_features for m in default.modules() if isinstance(m, nn.Linear)] == [256, 10]
    lin = build_model("linear", in_shape=(3, 32, 32), num_classes=5)
    assert lin.templates().shape == (5, 3, 32, 32)
    mlp3 = build_model("mlp", in_shape=(3, 4, 4), num_classes=2, hidden=[8])
    assert mlp3(fovea.randn(1, 3, 4, 4)).shape == (1, 2)
    assert build_model("lenet5", num_classes=4)(fovea.randn(1, 1, 28, 28)).shape == (1, 4)


def test_build_model_unknown_name():
    with pytest.raises(ValueError) as info:
        build_model("resnet9000")
    assert "resnet9000" in str(info.value)
    for name in MNIST_MODELS:
        assert name in str(info.value)


def test_same_seed_same_weights():
    for name in MNIST_MODELS:
        fovea.manual_seed(42)
        a = build_model(name).state_dict()
        fovea.manual_seed(42)
        b = build_model(name).state_dict()
        for k in a:
            np.testing.assert_array_equal(a[k].data, b[k].data)


def test_build_model_init_batchnorm_dropout():
    fovea.manual_seed(0)
    mlp = build_model("mlp", hidden=(64,), batchnorm=True, dropout=0.3, init="zeros")
    kinds = [type(m).__name__ for m in mlp.layers]
    assert kinds == ["Flatten", "Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear"]
    assert all(np.all(m.weight.data == 0) for m in mlp.modules() if isinstance(m, nn.Linear))
    ortho = build_model("lenet5", init="orthogonal")
    w = ortho.classifier[1].weight.data.astype(np.float64)   # (120, 400): orthonormal rows
    np.testing.assert_allclose(w @ w.T, np.eye(120) * 2, atol=1e-4)  # relu gain √2 squared
    with pytest.raises(ValueError, match="init"):
        build_model("mlp", init="magic")
    cnn = build_model("cnn", activation="gelu", dropout=0.1)
    assert any(isinstance(m, nn.GELU) for m in cnn.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in cnn.modules())
