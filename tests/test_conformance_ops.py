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


# ---- arithmetic keywords ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["add", "sub"])
def test_add_sub_alpha(name):
    same(lambda a, b: getattr(fovea, name)(a, b, alpha=-3.125),
         lambda a, b: getattr(torch, name)(a, b, alpha=-3.125), randn(3, 4), randn(4))
    same(lambda a, b: getattr(a, name)(b, alpha=2), lambda a, b: getattr(a, name)(b, alpha=2),
         randn(3, 4), randn(3, 4))


@pytest.mark.parametrize("mode", ["trunc", "floor"])
def test_div_rounding_mode(mode):
    a, b = randn(4, 5) * 5, randn(5)
    same(lambda x, y: fovea.div(x, y, rounding_mode=mode),
         lambda x, y: torch.div(x, y, rounding_mode=mode), a, b)
    same(lambda x: x.div(fovea.tensor(b), rounding_mode=mode),
         lambda x: x.div(torch.from_numpy(b), rounding_mode=mode), a)
    ints, divisors = R.integers(-9, 9, 12), R.choice([-4, -3, 2, 5], 12)
    got = fovea.div(fovea.tensor(ints), fovea.tensor(divisors), rounding_mode=mode)
    want = torch.div(torch.from_numpy(ints), torch.from_numpy(divisors), rounding_mode=mode)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    check64(lambda x, y: fovea.div(x, y, rounding_mode=mode), R.uniform(0.2, 0.8, 5) + 3,
            R.uniform(1.1, 1.4, 5))
    with pytest.raises(ValueError, match="rounding_mode"):
        fovea.div(fovea.tensor(a), 2.0, rounding_mode="round")


@pytest.mark.parametrize("bounds", ["both", "min", "max", "crossed"])
def test_clamp_tensor_bounds(bounds):
    """Gradients reach tensor bounds as PyTorch's: min where a < min < max, max where
    a > max or max < min."""
    x, lo, hi = randn(4, 5), randn(5) - 0.5, randn(4, 1) + 0.5
    if bounds == "crossed":
        lo, hi = hi + 1.0, lo - 1.0
    cases = {"both": ((x, lo, hi), lambda a, b, c: (a, b, c)),
             "crossed": ((x, lo, hi), lambda a, b, c: (a, b, c)),
             "min": ((x, lo), lambda a, b: (a, b, None)),
             "max": ((x, hi), lambda a, b: (a, None, b))}
    arrays, args = cases[bounds]
    same(lambda *t: fovea.clamp(*args(*t)), lambda *t: torch.clamp(*args(*t)), *arrays)
    same(lambda *t: args(*t)[0].clamp(*args(*t)[1:]),
         lambda *t: args(*t)[0].clamp(*args(*t)[1:]), *arrays)
    # float64 central differences, away from the kinks
    check64(lambda a, b, c: fovea.clamp(a, b, c), np.array([-2.0, 0.0, 2.0, 0.5]),
            np.array([-1.0, -1.0, -1.0, 1.0]), np.array([1.0, 1.0, 1.0, -1.0]))


def test_max_min_of_two_tensors():
    same(lambda a, b: fovea.max(a, b), lambda a, b: torch.max(a, b), randn(3, 1), randn(4))
    same(lambda a, b: a.min(b), lambda a, b: a.min(b), randn(3, 4), randn(4))


# ---- softmax dtype and edge cases -----------------------------------------------------------
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_dtype_0d_and_empty(name):
    same(lambda x: getattr(F, name)(x, 1, dtype=fovea.float64),
         lambda x: getattr(TF, name)(x, 1, dtype=torch.float64), randn(3, 4))
    same(lambda x: getattr(x, name)(0, dtype=fovea.float64),
         lambda x: getattr(x, name)(0, dtype=torch.float64), randn(3, 4))
    same(lambda x: getattr(F, name)(x, 0), lambda x: getattr(TF, name)(x, 0), randn())
    same(lambda x: getattr(F, name)(x, -1), lambda x: getattr(TF, name)(x, -1), randn(5, 0, 0))
    same(lambda x: getattr(F, name)(x, 0), lambda x: getattr(TF, name)(x, 0), randn(0, 3))


# ---- shapes -------------------------------------------------------------------------------
@pytest.mark.parametrize("dim", [None, 0, -1, 1, (1,), (0, 1, 3), (), [-1, 1]])
def test_squeeze_dims(dim):
    x = randn(1, 1, 5, 1)
    args = () if dim is None else (dim,)
    same(lambda t: fovea.squeeze(t, *args), lambda t: torch.squeeze(t, *args), x)
    same(lambda t: t.squeeze(*args), lambda t: t.squeeze(*args), x)


def test_0d_shape_ops_and_errors():
    same(lambda t: fovea.squeeze(t, 0), lambda t: torch.squeeze(t, 0), randn())
    same(lambda t: fovea.squeeze(t, (-1,)), lambda t: torch.squeeze(t, (-1,)), randn())
    same(lambda t: fovea.transpose(t, 0, 0), lambda t: torch.transpose(t, 0, 0), randn())
    same(lambda t: fovea.transpose(t, -1, 0), lambda t: torch.transpose(t, -1, 0), randn())
    same(lambda t: fovea.transpose(t, 1, 1), lambda t: torch.transpose(t, 1, 1), randn(2, 3))
    for fn in (lambda t: fovea.squeeze(t, 1), lambda t: fovea.transpose(t, 0, 1),
               lambda t: fovea.squeeze(t, (0, 3))):
        with pytest.raises(IndexError, match="out of range"):
            fn(fovea.tensor(randn()))


def test_cat_skips_legacy_empty():
    same(lambda a, b, c: fovea.cat([a, b, c], 1), lambda a, b, c: torch.cat([a, b, c], 1),
         randn(0), randn(5, 2), randn(5, 3))
    same(lambda a, b: fovea.cat([a, b]), lambda a, b: torch.cat([a, b]), randn(0), randn(3))


# ---- dropout and batch_norm edge cases ------------------------------------------------------
def test_dropout_p1_on_0d():
    x = fovea.tensor(np.float32(2.5), requires_grad=True)
    y = F.dropout(x, p=1.0, training=True)
    assert y.shape == () and y.item() == 0.0
    y.backward()
    assert x.grad.item() == 0.0


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_empty_input(training):
    rm, rv = fovea.zeros(0), fovea.ones(0)
    same(lambda x: F.batch_norm(x, rm, rv, training=training),
         lambda x: TF.batch_norm(x, torch.zeros(0), torch.ones(0), training=training), randn(0))
    same(lambda x: F.batch_norm(x, fovea.zeros(3), fovea.ones(3), training=training),
         lambda x: TF.batch_norm(x, torch.zeros(3), torch.ones(3), training=training),
         randn(0, 3, 2))
