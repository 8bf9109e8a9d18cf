"""Every nn layer and loss against torch.nn: forward and backward on random float32 inputs.

The torch module's weights are copied into the fovea module through ``load_state_dict``, both
run on the same input, and the output, the input gradient and every parameter gradient must
agree to a relative error of 1e-4 (max|a − b| ≤ 1e-4 · max(1, max|b|)).
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close as shared_assert_close
from helpers import lenet

import fovea
from fovea import nn

torch = pytest.importorskip("torch")

RTOL = 1e-4


def assert_close(actual, expected, rtol=RTOL, what="value"):
    shared_assert_close(actual, expected, rtol, what)


def copy_weights(fmod, tmod):
    fmod.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})


def check_module(fmod, tmod, *inputs, seed=0):
    """Forward and backward (with a random upstream gradient) of both modules must agree."""
    copy_weights(fmod, tmod)
    f_in = [fovea.tensor(a, requires_grad=True) for a in inputs]
    t_in = [torch.tensor(a, requires_grad=True) for a in inputs]
    fy, ty = fmod(*f_in), tmod(*t_in)
    assert fy.dtype == np.float32, f"output dtype {fy.dtype}"
    assert_close(fy.data, ty.detach().numpy(), what="output")
    g = np.random.default_rng(seed + 1000).standard_normal(tuple(ty.shape)).astype(np.float32)
    fy.backward(g)
    ty.backward(torch.from_numpy(g))
    for i, (fx, tx) in enumerate(zip(f_in, t_in)):
        assert fx.grad is not None and fx.grad.dtype == np.float32
        assert_close(fx.grad.data, tx.grad.numpy(), what=f"grad of input {i}")
    check_param_grads(fmod, tmod)
    return fy, ty


def check_param_grads(fmod, tmod):
    fparams, tparams = dict(fmod.named_parameters()), dict(tmod.named_parameters())
    assert list(fparams) == list(tparams)
    for name, tp in tparams.items():
        fg = fparams[name].grad
        assert fg is not None, f"{name} has no gradient"
        assert fg.dtype == np.float32, f"{name}.grad dtype {fg.dtype}"
        assert_close(fg.data, tp.grad.numpy(), what=f"grad of {name}")


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# ---- Linear ------------------------------------------------------------------------------
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5, 7), (3, 4, 7), (7,)])
def test_linear(bias, shape):
    torch.manual_seed(0)
    check_module(nn.Linear(7, 6, bias=bias), torch.nn.Linear(7, 6, bias=bias), randn(*shape))


# ---- Conv2d ------------------------------------------------------------------------------
CONV_CASES = [
    # in, out, kernel, stride, padding, dilation, groups, bias, (H, W)
    (3, 4, 3, 1, 0, 1, 1, True, (8, 8)),
    (1, 6, 5, 1, 2, 1, 1, True, (12, 12)),
    (6, 16, 5, 1, 0, 1, 1, False, (9, 9)),
    (3, 6, 3, 2, 1, 1, 3, True, (9, 7)),
    (4, 8, (3, 2), (2, 1), (1, 0), 1, 2, False, (7, 6)),
    (2, 4, 3, 1, 2, 2, 1, True, (7, 8)),
    (4, 4, 3, 1, 1, 1, 4, False, (6, 6)),
    (3, 2, 1, 1, 0, 1, 1, True, (5, 4)),
    (2, 3, (2, 3), (3, 2), (1, 2), (2, 1), 1, False, (10, 9)),
    (4, 6, 4, 3, 0, 1, 2, True, (11, 13)),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=[str(i) for i in range(len(CONV_CASES))])
def test_conv2d(case):
    cin, cout, k, s, p, d, g, bias, (h, w) = case
    torch.manual_seed(1)
    tmod = torch.nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=bias)
    fmod = nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=bias)
    assert fmod.weight.shape == tuple(tmod.weight.shape)
    check_module(fmod, tmod, randn(2, cin, h, w, seed=1))


# ---- pooling -----------------------------------------------------------------------------
POOL_CASES = [
    # kernel, stride, padding, dilation
    (2, None, 0, 1),
    (3, 2, 1, 1),
    (3, 1, 1, 1),
    ((2, 3), (1, 2), (1, 1), 1),
    (2, 2, 0, 2),
    (3, 3, 1, 1),
    (3, (2, 1), 0, (1, 2)),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=[str(i) for i in range(len(POOL_CASES))])
def test_maxpool2d(case):
    k, s, p, d = case
    x = randn(2, 3, 9, 8, seed=2)
    check_module(nn.MaxPool2d(k, s, p, d), torch.nn.MaxPool2d(k, s, p, d), x)


@pytest.mark.parametrize("case", [(2, None, 0, 1), (3, 1, 1, 1), (3, 2, 1, 2)])
def test_maxpool2d_ties_and_unbatched(case):
    """Tied maxima (few distinct values) send the gradient where PyTorch does; (C, H, W)."""
    k, s, p, d = case
    x = np.random.default_rng(3).integers(0, 3, (3, 8, 7)).astype(np.float32)
    check_module(nn.MaxPool2d(k, s, p, d), torch.nn.MaxPool2d(k, s, p, d), x)


AVG_CASES = [
    # kernel, stride, padding, count_include_pad, divisor_override
    (2, None, 0, True, None),
    (3, 2, 1, True, None),
    (3, 2, 1, False, None),
    ((2, 3), (1, 2), (1, 1), False, None),
    (3, 1, 1, True, 4),
    (3, (2, 1), (0, 1), False, None),
]


@pytest.mark.parametrize("case", AVG_CASES, ids=[str(i) for i in range(len(AVG_CASES))])
def test_avgpool2d(case):
    k, s, p, cip, div = case
    x = randn(2, 3, 9, 8, seed=4)
    check_module(nn.AvgPool2d(k, s, p, count_include_pad=cip, divisor_override=div),
                 torch.nn.AvgPool2d(k, s, p, count_include_pad=cip, divisor_override=div), x)


def test_avgpool2d_unbatched():
    check_module(nn.AvgPool2d(2), torch.nn.AvgPool2d(2), randn(3, 6, 5, seed=5))


# ---- shape and activations -----------------------------------------------------------------
@pytest.mark.parametrize("dims", [(1, -1), (0, -1), (2, 3), (1, 2), (-2, -1)])
def test_flatten(dims):
    check_module(nn.Flatten(*dims), torch.nn.Flatten(*dims), randn(2, 3, 4, 5, seed=6))


@pytest.mark.parametrize("name", ["ReLU", "Sigmoid", "Tanh", "Identity"])
def test_activation(name):
    x = randn(4, 5, 6, seed=7) * 4
    x[0, 0, :3] = 0.0  # ReLU's gradient at 0 is 0, as PyTorch
    x[1, 0, 0], x[1, 0, 1] = 60.0, -60.0  # saturated sigmoid and tanh
    check_module(getattr(nn, name)(), getattr(torch.nn, name)(), x)


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax(name, dim):
    x = randn(3, 4, 5, seed=8) * 3
    x[0, 0, 0] = 80.0  # large logits must not overflow
    check_module(getattr(nn, name)(dim=dim), getattr(torch.nn, name)(dim=dim), x)


# ---- losses ------------------------------------------------------------------------------
def check_loss(fmod, tmod, logits, target, seed=0):
    """Compare a loss's value and its gradient with respect to the input."""
    fx = fovea.tensor(logits, requires_grad=True)
    tx = torch.tensor(logits, requires_grad=True)
    ft = fovea.tensor(target)
    tt = torch.tensor(target)
    fy, ty = fmod(fx, ft), tmod(tx, tt)
    assert fy.dtype == np.float32, f"loss dtype {fy.dtype}"
    assert_close(fy.data, ty.detach().numpy(), what="loss")
    g = np.random.default_rng(seed).standard_normal(tuple(ty.shape)).astype(np.float32)
    fy.backward(g)
    ty.backward(torch.from_numpy(g))
    assert fx.grad.dtype == np.float32
    assert_close(fx.grad.data, tx.grad.numpy(), what="input grad")


CLASS_WEIGHT = np.array([0.5, 2.0, 1.0, 0.25, 3.0], dtype=np.float32)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_class_targets(reduction, weighted, ignore, smoothing):
    logits = randn(8, 5, seed=9) * 2
    target = np.random.default_rng(9).integers(0, 5, 8).astype(np.int64)
    kwargs = {"reduction": reduction, "label_smoothing": smoothing}
    if ignore:
        target[[1, 4]] = 3
        kwargs["ignore_index"] = 3
    fkw, tkw = dict(kwargs), dict(kwargs)
    if weighted:
        fkw["weight"], tkw["weight"] = CLASS_WEIGHT, torch.from_numpy(CLASS_WEIGHT)
    check_loss(nn.CrossEntropyLoss(**fkw), torch.nn.CrossEntropyLoss(**tkw), logits, target)


def test_cross_entropy_default_ignore_index():
    logits = randn(6, 4, seed=10)
    target = np.array([0, -100, 3, 2, -100, 1], dtype=np.int64)
    check_loss(nn.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), logits, target)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_probability_targets(reduction, weighted, smoothing):
    logits = randn(7, 5, seed=11) * 2
    probs = np.random.default_rng(11).dirichlet(np.ones(5), 7).astype(np.float32)
    fkw = {"reduction": reduction, "label_smoothing": smoothing}
    tkw = dict(fkw)
    if weighted:
        fkw["weight"], tkw["weight"] = CLASS_WEIGHT, torch.from_numpy(CLASS_WEIGHT)
    check_loss(nn.CrossEntropyLoss(**fkw), torch.nn.CrossEntropyLoss(**tkw), logits, probs)


@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_unbatched(reduction):
    logits = randn(5, seed=12)
    check_loss(nn.CrossEntropyLoss(reduction=reduction),
               torch.nn.CrossEntropyLoss(reduction=reduction), logits, np.int64(2))
    probs = np.random.default_rng(12).dirichlet(np.ones(5)).astype(np.float32)
    check_loss(nn.CrossEntropyLoss(reduction=reduction),
               torch.nn.CrossEntropyLoss(reduction=reduction), logits, probs)


def test_cross_entropy_float64_weight_keeps_float32():
    """A float64 class weight must not upcast float32 logits or their gradient."""
    logits = randn(6, 5, seed=13)
    target = np.random.default_rng(13).integers(0, 5, 6).astype(np.int64)
    probs = np.random.default_rng(13).dirichlet(np.ones(5), 6).astype(np.float32)
    w64 = CLASS_WEIGHT.astype(np.float64)
    for tgt in (target, probs):
        for smoothing in (0.0, 0.1):
            check_loss(nn.CrossEntropyLoss(weight=w64, reduction="none",
                                           label_smoothing=smoothing),
                       torch.nn.CrossEntropyLoss(weight=torch.from_numpy(CLASS_WEIGHT),
                                                 reduction="none", label_smoothing=smoothing),
                       logits, tgt)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    a, b = randn(4, 3, 5, seed=14), randn(4, 3, 5, seed=15)
    fa, fb = fovea.tensor(a, requires_grad=True), fovea.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    fy = nn.MSELoss(reduction=reduction)(fa, fb)
    ty = torch.nn.MSELoss(reduction=reduction)(ta, tb)
    assert fy.dtype == np.float32
    assert_close(fy.data, ty.detach().numpy(), what="loss")
    g = np.random.default_rng(16).standard_normal(tuple(ty.shape)).astype(np.float32)
    fy.backward(g)
    ty.backward(torch.from_numpy(g))
    assert_close(fa.grad.data, ta.grad.numpy(), what="input grad")
    assert_close(fb.grad.data, tb.grad.numpy(), what="target grad")


# ---- a whole network ---------------------------------------------------------------------
def test_lenet5_loss_and_gradients():
    torch.manual_seed(17)
    tmod, fmod = lenet(torch.nn), lenet(nn)
    copy_weights(fmod, tmod)
    x = randn(8, 1, 28, 28, seed=17)
    y = np.random.default_rng(17).integers(0, 10, 8).astype(np.int64)
    floss = nn.CrossEntropyLoss()(fmod(fovea.tensor(x, requires_grad=True)), fovea.tensor(y))
    tloss = torch.nn.CrossEntropyLoss()(tmod(torch.from_numpy(x)), torch.from_numpy(y))
    assert floss.dtype == np.float32
    assert_close(floss.data, tloss.detach().numpy(), what="loss")
    floss.backward()
    tloss.backward()
    check_param_grads(fmod, tmod)
    assert len(list(fmod.parameters())) == 10
