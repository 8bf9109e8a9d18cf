"""Module machinery (registration, traversal, state_dict, modes) and initialization.

Most checks need only fovea; the ones that compare with PyTorch's key lists, reprs and init
formulas skip when torch is absent.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict

import numpy as np
import pytest
from helpers import lenet

import fovea
from fovea import nn
from fovea.errors import ShapeError
from fovea.nn import init


def _torch():
    return pytest.importorskip("torch")


# ---- models built the same way from fovea.nn or torch.nn --------------------------------------
def make_net(lib, tensor):
    """A custom module with nested containers, a bias-free layer and buffers."""

    class Block(lib.Module):
        def __init__(self):
            super().__init__()
            self.conv = lib.Conv2d(3, 4, 3, padding=1, bias=False)
            self.act = lib.ReLU()
            self.register_buffer("scale", tensor(np.ones(4, np.float32)))
            self.register_buffer("cache", tensor(np.zeros(2, np.float32)), persistent=False)

        def forward(self, x):
            return self.act(self.conv(x))

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.features = lib.Sequential(Block(), lib.MaxPool2d(2))
            self.heads = lib.ModuleList([lib.Linear(64, 5), lib.Linear(64, 3, bias=False)])
            self.register_buffer("steps", tensor(np.zeros((), np.int64)))
            self.classifier = lib.Sequential(OrderedDict(
                fc1=lib.Linear(64, 8), relu=lib.ReLU(), fc2=lib.Linear(8, 2)))

        def forward(self, x):
            h = self.features(x).flatten(1)
            return self.classifier(h)

    return Net()


NET_KEYS = [
    "steps",
    "features.0.scale", "features.0.conv.weight",
    "heads.0.weight", "heads.0.bias", "heads.1.weight",
    "classifier.fc1.weight", "classifier.fc1.bias",
    "classifier.fc2.weight", "classifier.fc2.bias",
]


def fnet():
    return make_net(nn, fovea.tensor)


# ---- state_dict names ------------------------------------------------------------------------
def test_state_dict_keys():
    fovea.manual_seed(0)
    assert list(fnet().state_dict()) == NET_KEYS
    assert list(lenet(nn).state_dict()) == [
        f"{i}.{p}" for i in (0, 3, 7, 9, 11) for p in ("weight", "bias")]


def test_state_dict_keys_equal_torch():
    torch = _torch()
    assert list(make_net(nn, fovea.tensor).state_dict()) == list(
        make_net(torch.nn, torch.tensor).state_dict())
    assert list(lenet(nn).state_dict()) == list(lenet(torch.nn).state_dict())
    fnet_, tnet = make_net(nn, fovea.tensor), make_net(torch.nn, torch.tensor)
    for method in ("named_parameters", "named_buffers", "named_modules"):
        assert [n for n, _ in getattr(fnet_, method)()] == [
            n for n, _ in getattr(tnet, method)()], method


def test_state_dict_shapes_equal_torch_and_weights_load():
    torch = _torch()
    tmod, fmod = lenet(torch.nn), lenet(nn)
    tsd = tmod.state_dict()
    for k, v in fmod.state_dict().items():
        assert v.shape == tuple(tsd[k].shape), k
    res = fmod.load_state_dict({k: v.numpy() for k, v in tsd.items()})
    assert res.missing_keys == [] and res.unexpected_keys == []
    for k, v in fmod.state_dict().items():
        assert v.dtype == np.float32
        np.testing.assert_array_equal(v.numpy(), tsd[k].numpy())


def test_shared_module_keys_as_torch():
    """A module used twice appears under both names in state_dict (as PyTorch), once in
    parameters()."""
    shared = nn.Linear(3, 3)
    m = nn.Sequential(shared, nn.ReLU(), shared)
    assert list(m.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(m.parameters())) == 2
    assert [n for n, _ in m.named_modules()] == ["", "0", "1"]
    sd = {k: np.full(v.shape, 0.5, np.float32) for k, v in m.state_dict().items()}
    m.load_state_dict(sd)
    assert float(shared.weight.data.sum()) == 4.5


def test_crossentropy_weight_is_a_buffer():
    w = np.array([1.0, 2.0, 0.5], np.float32)
    loss = nn.CrossEntropyLoss(weight=w)
    assert list(loss.state_dict()) == ["weight"]
    assert list(nn.CrossEntropyLoss().state_dict()) == []
    loss.double()
    assert loss.weight.dtype == np.float64


def test_sequential_slice_keeps_names():
    m = lenet(nn)
    assert list(m[7:].state_dict())[:2] == ["7.weight", "7.bias"]
    assert isinstance(m[-1], nn.Linear) and len(m) == 12 and len(m[3:6]) == 3


# ---- round trip and strictness ---------------------------------------------------------------
def test_state_dict_round_trip():
    fovea.manual_seed(1)
    a = fnet()
    fovea.manual_seed(2)
    b = fnet()
    x = fovea.randn(2, 3, 8, 8)
    assert not np.allclose(a(x).data, b(x).data)
    a.steps = fovea.tensor(np.array(7))
    saved = {k: v.numpy().copy() for k, v in a.state_dict().items()}
    res = b.load_state_dict(saved)
    assert res == ([], [])
    np.testing.assert_array_equal(a(x).data, b(x).data)
    assert int(b.steps.item()) == 7
    # the loaded values are copies: changing the source leaves the model alone
    saved["heads.0.weight"][...] = 0
    assert np.abs(b.heads[0].weight.data).sum() > 0
    # Tensors work as values too, and dtypes are kept (float32 parameters, int64 buffer)
    b.load_state_dict(a.state_dict())
    assert b.heads[0].weight.dtype == np.float32 and b.steps.dtype == np.int64


def test_load_state_dict_strict():
    m = fnet()
    sd = m.state_dict()
    del sd["heads.0.bias"]
    sd["extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises((KeyError, RuntimeError)) as info:
        m.load_state_dict(sd)
    assert "heads.0.bias" in str(info.value) and "extra.weight" in str(info.value)
    res = m.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["heads.0.bias"]
    assert res.unexpected_keys == ["extra.weight"]
    missing, unexpected = m.load_state_dict({"steps": np.array(3)}, strict=False)
    assert "steps" not in missing and len(missing) == len(NET_KEYS) - 1 and unexpected == []
    assert int(m.steps.item()) == 3


def test_non_persistent_buffer_not_expected():
    m = fnet()
    sd = m.state_dict()
    assert "features.0.cache" not in sd
    assert m.load_state_dict(sd) == ([], [])
    res = m.load_state_dict({**sd, "features.0.cache": np.zeros(2, np.float32)}, strict=False)
    assert res.unexpected_keys == ["features.0.cache"]


def test_load_state_dict_shape_mismatch_names_key():
    m = fnet()
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    sd = {k: np.zeros(v.shape, v.dtype) for k, v in m.state_dict().items()}
    sd["classifier.fc1.weight"] = np.zeros((8, 63), np.float32)
    with pytest.raises(ShapeError, match=r"classifier\.fc1\.weight"):
        m.load_state_dict(sd)
    with pytest.raises(ShapeError, match=r"classifier\.fc1\.weight"):
        m.load_state_dict(sd, strict=False)
    # a failed load changes nothing
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), before[k])


# ---- traversal -----------------------------------------------------------------------------
def test_parameters_order_and_counts():
    m = fnet()
    names = [n for n, _ in m.named_parameters()]
    assert names == [k for k in NET_KEYS if k not in ("steps", "features.0.scale")]
    params = list(m.parameters())
    assert len(params) == 8
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in params)
    assert [p is q for p, (_, q) in zip(params, m.named_parameters())] == [True] * 8
    assert next(n for n, _ in m.named_parameters(prefix="net")) == "net.features.0.conv.weight"
    assert list(m.heads[1].named_parameters()) == [("weight", m.heads[1].weight)]
    assert list(m.named_parameters(recurse=False)) == []


def test_children_modules_buffers():
    m = fnet()
    assert [type(c).__name__ for c in m.children()] == ["Sequential", "ModuleList", "Sequential"]
    assert [n for n, _ in m.named_children()] == ["features", "heads", "classifier"]
    names = [n for n, _ in m.named_modules()]
    assert names == ["", "features", "features.0", "features.0.conv", "features.0.act",
                     "features.1", "heads", "heads.0", "heads.1", "classifier",
                     "classifier.fc1", "classifier.relu", "classifier.fc2"]
    assert len(list(m.modules())) == 13 and next(m.modules()) is m
    assert [n for n, _ in m.named_buffers()] == ["steps", "features.0.scale", "features.0.cache"]
    assert len(list(m.buffers())) == 3
    assert next(iter(m.buffers(recurse=False))) is m.steps


def test_attribute_registration():
    m = nn.Module()
    m.w = nn.Parameter(np.zeros(3, np.float32))
    m.sub = nn.Linear(2, 2)
    m.plain = 5
    assert list(m._parameters) == ["w"] and list(m._modules) == ["sub"] and m.plain == 5
    m.w = None  # replacing a parameter by a plain value unregisters it
    assert list(m.named_parameters()) == [(n, p) for n, p in m.sub.named_parameters(prefix="sub")]
    del m.sub
    assert list(m.children()) == []
    with pytest.raises(AttributeError):
        m.missing  # noqa: B018
    m.register_parameter("b", None)
    assert list(m.parameters()) == []


def test_register_buffer():
    m = nn.Linear(2, 2)
    m.register_buffer("running", fovea.zeros(2))
    m.register_buffer("tmp", fovea.ones(2), persistent=False)
    m.register_buffer("nothing", None)
    assert list(m.state_dict()) == ["weight", "bias", "running"]
    assert [n for n, _ in m.named_buffers()] == ["running", "tmp"]
    assert m.running.requires_grad is False
    m.running = fovea.ones(2)  # assignment keeps it a buffer, in its place
    assert list(m.state_dict()) == ["weight", "bias", "running"]
    assert m.state_dict()["running"].numpy().tolist() == [1.0, 1.0]
    m.weight = nn.Parameter(np.zeros((2, 2), np.float32))  # a new parameter, same place
    assert list(m.state_dict()) == ["weight", "bias", "running"]
    m.register_buffer("tmp", fovea.ones(2), persistent=True)  # re-registered as persistent
    assert list(m.state_dict()) == ["weight", "bias", "running", "tmp"]
    m.register_buffer("arr", np.arange(3.0, dtype=np.float32))  # arrays are wrapped
    assert isinstance(m.arr, fovea.Tensor) and "arr" in m.state_dict()


def test_train_eval_propagate():
    m = fnet()
    assert all(mod.training for mod in m.modules())
    assert m.eval() is m
    assert not any(mod.training for mod in m.modules())
    m.features.train()
    assert m.features[0].conv.training and not m.training and not m.heads[0].training
    m.train()
    assert all(mod.training for mod in m.modules())
    m.train(False)
    assert not any(mod.training for mod in m.modules())


def test_zero_grad():
    m = nn.Linear(4, 3)
    x = fovea.randn(5, 4)
    m(x).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    for p in m.parameters():
        assert p.grad.shape == p.shape and p.grad.dtype == np.float32
        assert not p.grad.data.any()
    m(x).sum().backward()  # accumulates onto the zeros
    assert np.allclose(m.bias.grad.data, 5.0)
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_requires_grad_and_dtype_conversion():
    m = nn.Linear(3, 2)
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    assert m.num_parameters(trainable_only=True) == 0 and m.num_parameters() == 8
    m.requires_grad_(True).double()
    assert all(p.dtype == np.float64 for p in m.parameters())
    assert m(fovea.randn(2, 3, dtype="float64")).dtype == np.float64
    m.float()
    assert all(p.dtype == np.float32 for p in m.parameters())


def test_parameter_counts():
    def count(mod):
        return sum(p.numel() for p in mod.parameters())

    assert count(nn.Linear(400, 120)) == 400 * 120 + 120
    assert count(nn.Linear(400, 120, bias=False)) == 400 * 120
    assert count(nn.Conv2d(6, 16, 5)) == 16 * 6 * 25 + 16
    assert count(nn.Conv2d(6, 16, (3, 2), bias=False)) == 16 * 6 * 6
    assert count(nn.Conv2d(8, 16, 3, groups=4)) == 16 * 2 * 9 + 16
    assert count(lenet(nn)) == 61706
    assert lenet(nn).num_parameters() == 61706
    assert count(nn.MaxPool2d(2)) == 0


def test_apply_order_and_deepcopy():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU(), nn.Linear(2, 1)))
    seen = []
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    # children before parents, in order (PyTorch's post-order)
    assert seen == ["Linear", "ReLU", "Linear", "Sequential", "Sequential"]
    c = copy.deepcopy(m)
    assert list(c.state_dict()) == list(m.state_dict())
    c[0].weight.data[...] = 0
    assert m[0].weight.data.any()


def test_repr():
    text = repr(lenet(nn))
    assert text.startswith("Sequential(\n  (0): Conv2d(1, 6, kernel_size=(5, 5)")
    assert "(7): Linear(in_features=400, out_features=120, bias=True)" in text
    assert repr(nn.Linear(3, 2, bias=False)) == "Linear(in_features=3, out_features=2, bias=False)"
    assert repr(nn.ReLU()) == "ReLU()"
    assert "Parameter containing" in repr(nn.Linear(1, 1).weight)


@pytest.mark.parametrize("build", [
    lambda lib: lenet(lib),
    lambda lib: lib.Conv2d(8, 16, (3, 2), stride=2, padding=1, dilation=2, groups=4, bias=False),
    lambda lib: lib.Sequential(lib.AvgPool2d(3, 2, 1), lib.MaxPool2d(3, 1, 1, 2), lib.Tanh(),
                               lib.Sigmoid(), lib.Softmax(dim=1), lib.LogSoftmax(dim=-1),
                               lib.Identity(), lib.Flatten(0, 2), lib.MSELoss(),
                               lib.CrossEntropyLoss()),
], ids=["lenet", "conv", "misc"])
def test_repr_equals_torch(build):
    torch = _torch()
    assert repr(build(nn)) == repr(build(torch.nn))


# ---- default initialization -------------------------------------------------------------------
def _check_uniform(values, bound, rel=0.04):
    values = np.asarray(values, dtype=np.float64).ravel()
    assert np.abs(values).max() <= bound * (1 + 1e-6)
    assert np.abs(values).max() > 0.95 * bound  # the whole range is used
    assert abs(values.std() / (bound / math.sqrt(3)) - 1) < rel
    assert abs(values.mean()) < 0.1 * bound


@pytest.mark.parametrize("make, fan_in", [
    (lambda: nn.Linear(400, 120), 400),
    (lambda: nn.Conv2d(6, 16, 5), 150),
], ids=["Linear(400,120)", "Conv2d(6,16,5)"])
def test_default_init_distribution(make, fan_in):
    """PyTorch's default: weights and biases ~ U(−1/√fan_in, 1/√fan_in)."""
    fovea.manual_seed(3)
    bound = 1 / math.sqrt(fan_in)
    layers = [make() for _ in range(20)]
    assert all(m.weight.dtype == np.float32 and m.bias.dtype == np.float32 for m in layers)
    _check_uniform(np.concatenate([m.weight.data.ravel() for m in layers]), bound, rel=0.02)
    _check_uniform(np.concatenate([m.bias.data.ravel() for m in layers]), bound, rel=0.08)


def test_default_init_matches_torch_statistics():
    torch = _torch()
    torch.manual_seed(0)
    fovea.manual_seed(0)
    for f, t in [(nn.Linear(400, 120), torch.nn.Linear(400, 120)),
                 (nn.Conv2d(6, 16, 5), torch.nn.Conv2d(6, 16, 5))]:
        fw, tw = f.weight.data, t.weight.detach().numpy()
        assert abs(fw.std() / tw.std() - 1) < 0.05
        assert abs(np.abs(fw).max() / np.abs(tw).max() - 1) < 0.01


def test_manual_seed_reproduces_init():
    fovea.manual_seed(42)
    a = lenet(nn).state_dict()
    fovea.manual_seed(42)
    b = lenet(nn).state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k].numpy(), b[k].numpy())


def test_empty_layer_init():
    m = nn.Linear(0, 5)  # a zero-element weight: init is a no-op, the bias bound is 0
    assert m.weight.shape == (5, 0) and not m.bias.data.any()


# ---- init functions ---------------------------------------------------------------------------
NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                  "conv_transpose2d", "conv_transpose3d", "sigmoid", "tanh", "relu", "selu",
                  "leaky_relu"]


def test_calculate_gain_values():
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    with pytest.raises(ValueError):
        init.calculate_gain("swish")


def test_calculate_gain_equals_torch():
    torch = _torch()
    for name in NONLINEARITIES:
        assert init.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name)), name
    for slope in (0, 0.2, 1, 3):
        assert init.calculate_gain("leaky_relu", slope) == pytest.approx(
            torch.nn.init.calculate_gain("leaky_relu", slope))


@pytest.mark.parametrize("shape", [(7, 3), (16, 6, 5, 5), (4, 2, 3), (8, 3, 1, 2, 2)])
def test_fan_in_fan_out(shape):
    t = nn.Parameter(np.empty(shape, np.float32))
    fan_in, fan_out = init.calculate_fan_in_and_fan_out(t)
    receptive = int(np.prod(shape[2:]))
    assert (fan_in, fan_out) == (shape[1] * receptive, shape[0] * receptive)
    torch = pytest.importorskip("torch")
    assert (fan_in, fan_out) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


def test_fan_needs_two_dims():
    with pytest.raises(ValueError):
        init.calculate_fan_in_and_fan_out(nn.Parameter(np.zeros(3, np.float32)))


SHAPE = (300, 200, 3)  # fan_in 600, fan_out 900: 180,000 samples


def _fans():
    return 200 * 3, 300 * 3


def _expected(fn, kwargs):
    """The std of PyTorch's formula for each init, and whether it is uniform (with its bound)."""
    fan_in, fan_out = _fans()
    gain = kwargs.get("gain", 1.0)
    if fn in ("xavier_uniform_", "xavier_normal_"):
        std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    else:
        fan = fan_in if kwargs.get("mode", "fan_in") == "fan_in" else fan_out
        g = init.calculate_gain(kwargs.get("nonlinearity", "leaky_relu"), kwargs.get("a", 0))
        std = g / math.sqrt(fan)
    return std, fn.endswith("uniform_")


INIT_CASES = [
    ("xavier_uniform_", {}),
    ("xavier_uniform_", {"gain": 5 / 3}),
    ("xavier_normal_", {}),
    ("xavier_normal_", {"gain": math.sqrt(2)}),
    ("kaiming_uniform_", {}),
    ("kaiming_uniform_", {"a": math.sqrt(5)}),
    ("kaiming_uniform_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_uniform_", {"mode": "fan_in", "nonlinearity": "tanh"}),
    ("kaiming_normal_", {}),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "relu"}),
    ("kaiming_normal_", {"a": 0.2, "mode": "fan_in", "nonlinearity": "leaky_relu"}),
    ("kaiming_normal_", {"mode": "fan_out", "nonlinearity": "selu"}),
]


@pytest.mark.parametrize("fn, kwargs", INIT_CASES, ids=[f"{f}-{k}" for f, k in INIT_CASES])
def test_init_std_and_bounds(fn, kwargs):
    fovea.manual_seed(5)
    t = nn.Parameter(np.empty(SHAPE, np.float32))
    assert getattr(init, fn)(t, **kwargs) is t
    assert t.dtype == np.float32 and t.shape == SHAPE
    std, uniform = _expected(fn, kwargs)
    v = t.data.astype(np.float64)
    assert abs(v.std() / std - 1) < 0.01
    assert abs(v.mean()) < 0.01 * std
    if uniform:
        bound = std * math.sqrt(3)
        assert np.abs(v).max() <= bound * (1 + 1e-6) and np.abs(v).max() > 0.999 * bound
    else:
        assert np.abs(v).max() > 3.5 * std  # a normal, not a uniform, has tails


@pytest.mark.parametrize("fn, kwargs", INIT_CASES, ids=[f"{f}-{k}" for f, k in INIT_CASES])
def test_init_std_equals_torch(fn, kwargs):
    torch = _torch()
    torch.manual_seed(5)
    tt = getattr(torch.nn.init, fn)(torch.empty(SHAPE), **kwargs)
    std, _ = _expected(fn, kwargs)
    assert abs(tt.std().item() / std - 1) < 0.01  # our formula is PyTorch's


def test_simple_inits():
    fovea.manual_seed(6)
    t = nn.Parameter(np.empty((400, 250), np.float32))
    init.normal_(t, 2.0, 0.5)
    assert abs(t.data.mean() - 2.0) < 0.01 and abs(t.data.std() - 0.5) < 0.01
    init.uniform_(t, -3.0, 1.0)
    assert t.data.min() >= -3.0 and t.data.max() <= 1.0
    assert abs(t.data.mean() + 1.0) < 0.02 and abs(t.data.std() - 4 / math.sqrt(12)) < 0.01
    init.uniform_(t)
    assert t.data.min() >= 0.0 and t.data.max() <= 1.0
    init.zeros_(t)
    assert not t.data.any()
    init.ones_(t)
    assert (t.data == 1).all()
    init.constant_(t, 0.25)
    assert (t.data == 0.25).all() and t.dtype == np.float32
    init.normal_(t)
    assert abs(t.data.std() - 1) < 0.01


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn, kwargs", [
    ("uniform_", {}), ("normal_", {}), ("constant_", {"val": 0.3}), ("zeros_", {}),
    ("ones_", {}), ("xavier_uniform_", {}), ("xavier_normal_", {}),
    ("kaiming_uniform_", {"a": math.sqrt(5)}), ("kaiming_normal_", {}),
])
def test_init_keeps_dtype(dtype, fn, kwargs):
    t = nn.Parameter(np.empty((6, 5, 2), dtype))
    getattr(init, fn)(t, **kwargs)
    assert t.dtype == dtype and t.shape == (6, 5, 2) and t.requires_grad
    assert np.isfinite(t.data).all()


def test_layer_dtype_argument():
    for dtype in (np.float32, np.float64):
        lin, conv = nn.Linear(3, 2, dtype=dtype), nn.Conv2d(2, 3, 3, dtype=dtype)
        assert all(p.dtype == dtype for p in [*lin.parameters(), *conv.parameters()])


def test_dtype_mismatch_raises_instead_of_upcasting():
    """A float64 input to a float32 layer raises (as PyTorch) instead of silently upcasting."""
    x64 = fovea.randn(2, 3, 5, 5, dtype="float64")
    with pytest.raises(TypeError):
        nn.Linear(5, 2)(x64)
    with pytest.raises(TypeError):
        nn.Conv2d(3, 2, 3)(x64)
    assert nn.Conv2d(3, 2, 3).double()(x64).dtype == np.float64
    assert nn.Linear(5, 2).double()(x64).dtype == np.float64


def test_load_state_dict_copies_in_place_so_earlier_views_see_it():
    model = nn.Linear(3, 2)
    before = model.state_dict()
    other = nn.Linear(3, 2)
    model.load_state_dict(other.state_dict())
    np.testing.assert_array_equal(before["weight"].numpy(), other.weight.detach().numpy())
