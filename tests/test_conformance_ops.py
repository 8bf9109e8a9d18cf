"""The behaviour PyTorch's OpInfo samples ask of fovea's ops (tests/test_opinfo.py), each
compared with torch directly, and the new gradients checked against central differences in
float64."""

from __future__ import annotations

import numpy as np
import pytest

import fovea
import fovea.nn.functional as F
from fovea import nn
from fovea.autograd import gradcheck
from fovea.errors import ShapeError

torch = pytest.importorskip("torch")
TF = torch.nn.functional

pytestmark = pytest.mark.usefixtures("seeded")

R = np.random.default_rng(10)


def randn(*shape, dtype=np.float32):
    return R.standard_normal(shape).astype(dtype)


def pair(a, requires_grad=True):
    """The same array as a fovea and a torch leaf."""
    grad = requires_grad and np.asarray(a).dtype.kind == "f"
    return (fovea.tensor(np.array(a), requires_grad=grad, dtype=np.asarray(a).dtype),
            torch.tensor(np.array(a), requires_grad=grad))


def same(fovea_fn, torch_fn, *arrays, tol=1e-5):
    """Equal outputs and gradients (of sum(out · random cotangent)) for every float input."""
    pairs = [pair(a) for a in arrays]
    got = fovea_fn(*(f for f, _ in pairs))
    want = torch_fn(*(t for _, t in pairs))
    assert got.dtype == np.dtype(str(want.dtype).removeprefix("torch."))
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=tol, atol=tol)
    if not want.requires_grad:
        return
    cot = R.standard_normal(tuple(want.shape)).astype(got.dtype)
    fovea.sum(got * fovea.tensor(cot, dtype=cot.dtype)).backward()
    (want * torch.from_numpy(cot)).sum().backward()
    for f, t in pairs:
        if t.requires_grad:
            tg = np.zeros(t.shape, np.float32) if t.grad is None else t.grad.numpy()
            fg = np.zeros(f.shape, np.float32) if f.grad is None else f.grad.numpy()
            np.testing.assert_allclose(fg, tg, rtol=tol, atol=tol)


def check64(fn, *arrays):
    inputs = [fovea.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    assert gradcheck(fn, inputs)["ok"]


# ---- nll_loss and cross_entropy -----------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(5,), (4, 5), (3, 5, 4), (2, 5, 3, 2)])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss(shape, reduction, weighted):
    c = 5
    target = R.integers(0, c, (shape[0],) + shape[2:] if len(shape) > 1 else ())
    if target.ndim:
        target.flat[::3] = 2  # the ignored class
    weight = R.uniform(0.5, 2, c).astype(np.float32) if weighted else None
    kw = dict(ignore_index=2, reduction=reduction)
    same(lambda x: F.nll_loss(x, fovea.tensor(target), None if weight is None
                              else fovea.tensor(weight), **kw),
         lambda x: TF.nll_loss(x, torch.from_numpy(target), None if weight is None
                               else torch.from_numpy(weight), **kw),
         randn(*shape))


def test_nll_loss_module_and_errors():
    x, t = randn(4, 3), np.array([0, 2, 1, 2])
    same(lambda a: nn.NLLLoss(reduction="sum")(a, fovea.tensor(t)),
         lambda a: torch.nn.NLLLoss(reduction="sum")(a, torch.from_numpy(t)), x)
    with pytest.raises(IndexError, match="out of range"):
        F.nll_loss(fovea.tensor(x), fovea.tensor(np.array([0, 3, 1, 1])))
    with pytest.raises(ShapeError):
        F.nll_loss(fovea.tensor(x), fovea.tensor(np.array([0, 1])))


def test_nll_loss_gradcheck():
    t = np.array([[0, 2], [1, 1], [2, 0]])
    w = fovea.tensor(np.array([0.5, 1.0, 2.0]))
    check64(lambda x: F.nll_loss(x, fovea.tensor(t), w, ignore_index=1), randn(3, 3, 2))


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_probability_targets_get_gradients(smoothing, reduction):
    w = fovea.tensor(R.uniform(0.5, 2, 4).astype(np.float32))
    same(lambda x, p: F.cross_entropy(x, p, weight=w, label_smoothing=smoothing,
                                      reduction=reduction),
         lambda x, p: TF.cross_entropy(x, p, weight=torch.from_numpy(w.numpy()),
                                       label_smoothing=smoothing, reduction=reduction),
         randn(3, 4), R.uniform(0, 1, (3, 4)).astype(np.float32))
    check64(lambda x, p: F.cross_entropy(x, p, label_smoothing=smoothing, reduction=reduction),
            randn(3, 4), R.uniform(0, 1, (3, 4)))
    check64(lambda x, p: F.cross_entropy(x, p, reduction=reduction), randn(4), R.uniform(0, 1, 4))


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_spatial(smoothing, reduction):
    """(N, C, d1, d2) logits with (N, d1, d2) indices or (N, C, d1, d2) probabilities."""
    t = R.integers(0, 3, (2, 4, 5))
    t[0, 0] = -100
    kw = dict(label_smoothing=smoothing, reduction=reduction)
    same(lambda x: F.cross_entropy(x, fovea.tensor(t), **kw),
         lambda x: TF.cross_entropy(x, torch.from_numpy(t), **kw), randn(2, 3, 4, 5))
    same(lambda x, p: F.cross_entropy(x, p, **kw), lambda x, p: TF.cross_entropy(x, p, **kw),
         randn(2, 3, 4), R.uniform(0, 1, (2, 3, 4)).astype(np.float32))
