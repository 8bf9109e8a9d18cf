"""Every primitive op's backward checked against central differences, in float64, on small random
shapes (fovea.autograd.gradcheck). Inputs keep away from the kinks (|x| = 0 for abs and relu,
ties for max/min and max-pooling, clip bounds) where the derivative is not defined."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fovea
from fovea.autograd import gradcheck
from fovea.ops import (
    avg_pool2d,
    conv2d,
    cross_entropy,
    expand,
    getitem,
    linear,
    max_pool2d,
    pad,
    permute,
)

pytestmark = pytest.mark.usefixtures("seeded")

R = np.random.default_rng(20240611)


def randn(*shape):
    return R.standard_normal(shape)


def positive(*shape, lo=0.5, hi=2.0):
    return R.uniform(lo, hi, shape)


def away(*shape, gap=0.1):
    """Random values with |x| ≥ gap (random sign)."""
    return R.choice([-1.0, 1.0], shape) * R.uniform(gap, 2.0, shape)


def distinct(*shape):
    """Values with no ties (gaps ≥ 0.01), in random order."""
    n = int(np.prod(shape))
    return (R.permutation(n) * 0.01 - n * 0.005 + R.uniform(0, 0.002, n)).reshape(shape)


def check(fn, *args):
    """gradcheck fn over args: float arrays become float64 leaves, the rest is passed as is."""
    inputs = [fovea.tensor(np.asarray(a), requires_grad=True)
              if isinstance(a, (np.ndarray, np.floating)) and a.dtype.kind == "f" else a
              for a in args]
    report = gradcheck(fn, inputs)
    assert report["ok"]


# ---- binary arithmetic --------------------------------------------------------------------
SHAPES = [((3, 4), (3, 4)), ((3, 1, 5), (4, 1)), ((2, 3), (3,)), ((), (2, 3)), ((4, 1), (1, 5)),
          ((1,), (3,)), ((2, 3), ())]


@pytest.mark.parametrize("sa,sb", SHAPES)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_arithmetic(op, sa, sb):
    b = away(*sb, gap=0.5) if op == "div" else randn(*sb)
    check(getattr(fovea, op), randn(*sa), b)


@pytest.mark.parametrize("sa,sb", SHAPES)
@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum(op, sa, sb):
    a, b = randn(*sa), randn(*sb)
    assert np.abs(np.subtract(a, b)).min() > 1e-4  # no ties (within eps)
    check(getattr(fovea, op), a, b)


@pytest.mark.parametrize("expr", [
    lambda t: t + 2.5, lambda t: 2.5 + t, lambda t: t - 1.5, lambda t: 1.5 - t,
    lambda t: t * -3.0, lambda t: -3.0 * t, lambda t: t / 4.0, lambda t: 4.0 / t, lambda t: -t,
    lambda t: t**2, lambda t: t**3, lambda t: t**0.5, lambda t: t**-1.5, lambda t: 2.0**t,
    lambda t: fovea.pow(t, 1.7), lambda t: fovea.neg(t),
], ids=["add_s", "radd", "sub_s", "rsub", "mul_s", "rmul", "div_s", "rdiv", "neg", "sq", "cube",
        "sqrt_pow", "neg_frac_pow", "rpow", "pow_fn", "neg_fn"])
def test_scalar_operand(expr):
    check(expr, positive(3, 4))


@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((2, 3), (3,)), ((3,), ()), ((4, 1), (1, 5))])
def test_pow_tensor_tensor(sa, sb):
    check(fovea.pow, positive(*sa), randn(*sb))


def test_pow_negative_base_integer_exponent():
    check(lambda t: t**3, randn(4, 3))


# ---- unary ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,make", [
    ("exp", randn), ("log", positive), ("sqrt", positive), ("abs", away),
    ("relu", away), ("sigmoid", lambda *s: 3 * randn(*s)), ("tanh", randn),
])
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 4)])
def test_unary(name, make, shape):
    check(getattr(fovea, name), make(*shape))


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.5), (None, 0.3), (-0.2, None)])
def test_clip(lo, hi):
    x = randn(4, 5)
    for bound in (lo, hi):  # keep away from the bounds
        if bound is not None:
            x = np.where(np.abs(x - bound) < 0.05, bound + 0.1, x)
    check(lambda t: fovea.clip(t, lo, hi), x)
    check(lambda t: t.clamp(lo, hi), x)


@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4))])
def test_where(sa, sb):
    cond = R.random((3, 4)) > 0.5
    check(lambda a, b: fovea.where(cond, a, b), randn(*sa), randn(*sb))
    check(lambda a: fovea.where(fovea.tensor(cond), a, 0.0), randn(*sa))
    check(lambda b: fovea.where(cond, 1.5, b), randn(*sb))


# ---- reductions ---------------------------------------------------------------------------
DIMS = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin"])
def test_reduction(op, dim, keepdim):
    x = distinct(2, 3, 4)
    check(lambda t: getattr(fovea.ops, op)(t, dim=dim, keepdim=keepdim), x)


@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin"])
def test_reduction_of_scalar_and_vector(op):
    check(lambda t: getattr(t, op)(), positive())
    check(lambda t: getattr(t, op)(0), distinct(5))


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_with_dim_values(op, dim, keepdim):
    check(lambda t: getattr(fovea, op)(t, dim, keepdim)[0], distinct(3, 4, 2))


def test_max_min_without_dim():
    check(fovea.max, distinct(3, 4))
    check(fovea.min, distinct(3, 4))


# ---- matmul -------------------------------------------------------------------------------
@pytest.mark.parametrize("sa,sb", [
    ((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 2)), ((3, 4), (4, 2)), ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)),
    ((2, 3, 4), (4, 2)),
])
def test_matmul(sa, sb):
    check(fovea.matmul, randn(*sa), randn(*sb))
    check(lambda a, b: a @ b, randn(*sa), randn(*sb))


# ---- shape ops --------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [
    lambda t: t.reshape(6, 4), lambda t: t.reshape(-1), lambda t: t.reshape((4, -1, 2)),
    lambda t: t.view(2, 12), lambda t: t.flatten(), lambda t: t.flatten(1),
    lambda t: t.unsqueeze(0), lambda t: t.unsqueeze(-1), lambda t: t.reshape(2, 1, 3, 4).squeeze(),
    lambda t: t.reshape(2, 1, 3, 4).squeeze(1), lambda t: t.permute(2, 0, 1),
    lambda t: permute(t, (1, 2, 0)), lambda t: t.permute(-1, -3, -2), lambda t: t.transpose(0, 2),
    lambda t: t.transpose(-1, 1), lambda t: t.T, lambda t: t.T.reshape(-1),
], ids=lambda f: "")
def test_reshape_permute(fn):
    check(fn, randn(2, 3, 4))


@pytest.mark.parametrize("shape,target", [
    ((3, 1), (3, 4)), ((3, 1), (2, 3, 4)), ((1,), (5,)), ((), (2, 3)), ((2, 1, 4), (2, 3, 4)),
    ((3, 1), (2, -1, 4)),
])
def test_expand(shape, target):
    check(lambda t: expand(t, *target), randn(*shape))
    check(lambda t: t.expand(target), randn(*shape))


INDEXES = [
    (1,), (-1,), (slice(1, 3),), (slice(None, None, 2),), (slice(None, None, -1),),
    (slice(None), 1), (1, slice(None), slice(None, None, 2)), (slice(3, 0, -2), -1, slice(1, 4)),
    (None, Ellipsis, 1), (Ellipsis, None), (Ellipsis, 2), (0, 1, 2), (None, 1, None),
    ([0, 2, 0],), (np.array([[1, 1], [0, 2]]),), ([0, 1, 1], [2, 2, 0]),
    (slice(None), [1, 1, 0]), (slice(None), np.array([3, 0, 3]), slice(1, 3)),
    (np.array([-1, 0]),), (np.array([True, False, True]),), (slice(None), np.array([True, False, True, True])),
]


@pytest.mark.parametrize("idx", INDEXES, ids=str)
def test_getitem(idx):
    index = idx[0] if len(idx) == 1 else idx
    check(lambda t: t[index], randn(3, 4, 5))
    check(lambda t: getitem(t, index), randn(3, 4, 5))


def test_getitem_boolean_mask_and_tensor_index():
    x = randn(3, 4, 5)
    mask = R.random((3, 4, 5)) > 0.5
    check(lambda t: t[mask], x)
    check(lambda t: t[fovea.tensor(mask)], x)
    rows = R.random((3, 4)) > 0.3
    check(lambda t: t[rows], x)
    check(lambda t: t[fovea.tensor([2, 0, 2])], x)
    check(lambda t: t[fovea.tensor(1)], x)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat(dim):
    shapes = [(2, 3, 4), (2, 3, 4), (2, 3, 4)]
    shapes = [tuple(s[i] + k if i == dim % 3 else s[i] for i in range(3))
              for k, s in enumerate(shapes)]
    check(lambda a, b, c: fovea.cat([a, b, c], dim=dim), *(randn(*s) for s in shapes))


def test_cat_with_constant_and_same_tensor_twice():
    const = fovea.tensor(randn(2, 3))
    check(lambda a: fovea.cat([a, const, a], dim=0), randn(2, 3))


@pytest.mark.parametrize("dim", [0, 1, 2, -1])
def test_stack(dim):
    check(lambda a, b, c: fovea.stack([a, b, c], dim=dim), randn(2, 3), randn(2, 3), randn(2, 3))


@pytest.mark.parametrize("spec,value", [
    ((1, 2), 0.0), ((1, 1, 2, 0), 0.0), ((2, 1, 0, 1, 1, 1), 0.5), ((-1, 2), 0.0),
    ((0, 0, -1, -1), 0.0), ((1, -2, -1, 3), 0.0), ((-1, -1, -1, -1), 0.0), ((0, 0), 0.0),
    ((3, -1, 1, 0, 0, -1), -2.0),
])
def test_pad(spec, value):
    check(lambda t: pad(t, spec, value=value), randn(3, 4, 5))


# ---- neural-network primitives --------------------------------------------------------------
@pytest.mark.parametrize("shape,dim", [((5,), 0), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1),
                                       ((2, 3, 4), -1), ((2, 3, 4), 0)])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax(op, shape, dim):
    check(lambda t: getattr(fovea, op)(t, dim=dim), 2 * randn(*shape))


@pytest.mark.parametrize("xshape", [(4,), (5, 4), (2, 3, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(xshape, bias):
    args = [randn(*xshape), randn(3, 4)] + ([randn(3)] if bias else [])
    check(lambda x, w, *b: linear(x, w, *b), *args)


def test_linear_only_some_inputs_require_grad():
    x, w, b = randn(5, 4), randn(3, 4), randn(3)
    check(lambda w_: linear(fovea.tensor(x), w_, fovea.tensor(b)), w)
    check(lambda b_: linear(fovea.tensor(x), fovea.tensor(w), b_), b)
    check(lambda x_: linear(x_, fovea.tensor(w)), x)


N, C = 6, 4
TARGET = np.array([0, 3, 1, 1, 2, 3])
WEIGHT = np.array([0.5, 1.0, 2.0, 0.25])


def _probs(n=N, c=C):
    e = np.exp(randn(n, c))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", [
    {}, {"weight": WEIGHT}, {"ignore_index": 1}, {"weight": WEIGHT, "ignore_index": 3},
    {"label_smoothing": 0.2}, {"label_smoothing": 0.1, "weight": WEIGHT},
    {"label_smoothing": 0.1, "weight": WEIGHT, "ignore_index": 1},
    {"probs": True}, {"probs": True, "weight": WEIGHT}, {"probs": True, "label_smoothing": 0.3},
    {"probs": True, "label_smoothing": 0.1, "weight": WEIGHT},
], ids=str)
def test_cross_entropy(case, reduction):
    case = dict(case)
    target = _probs() if case.pop("probs", False) else TARGET
    if "weight" in case:
        case["weight"] = fovea.tensor(case["weight"])
    check(lambda x: cross_entropy(x, target, reduction=reduction, **case), 2 * randn(N, C))


def test_cross_entropy_ignore_index_default_and_unbatched():
    target = TARGET.copy()
    target[[1, 4]] = -100
    check(lambda x: cross_entropy(x, target), randn(N, C))
    check(lambda x: cross_entropy(x, fovea.tensor(target), reduction="sum"), randn(N, C))
    probs = _probs(1, C)[0]
    for reduction in ("mean", "sum", "none"):
        check(lambda x, r=reduction: cross_entropy(x, np.array(2), reduction=r), randn(C))
        check(lambda x, r=reduction: cross_entropy(x, probs, reduction=r), randn(C))


CONV = [  # N, C, H, W, O, (KH, KW), stride, padding, dilation, groups, bias
    (2, 3, 5, 5, 4, (3, 3), 1, 0, 1, 1, True),
    (2, 3, 7, 9, 4, (3, 3), 2, 1, 1, 1, True),
    (1, 4, 7, 9, 6, (3, 2), 1, 2, 1, 2, False),
    (2, 2, 7, 7, 3, (3, 3), 1, 1, 2, 1, True),
    (1, 4, 6, 8, 4, (3, 3), 2, (1, 2), (2, 1), 2, True),
    (2, 2, 5, 5, 2, (1, 1), 1, 0, 1, 1, False),
    (1, 4, 6, 6, 4, (3, 3), 1, 1, 1, 4, True),
    (1, 2, 7, 9, 3, (2, 3), (2, 1), (0, 1), 1, 1, True),
    (1, 3, 9, 7, 2, (5, 5), 3, 2, 1, 1, False),
    (1, 2, 8, 7, 4, (3, 3), 2, 2, 2, 2, True),
    (1, 2, 7, 11, 3, (3, 5), (1, 2), (1, 2), 1, 1, True),  # column phases, rows unstrided
]


@pytest.mark.parametrize("n,c,h,w,o,k,stride,padding,dilation,groups,bias", CONV, ids=str)
def test_conv2d(n, c, h, w, o, k, stride, padding, dilation, groups, bias):
    args = [randn(n, c, h, w), randn(o, c // groups, *k)] + ([randn(o)] if bias else [])
    check(lambda x, wt, *b: conv2d(x, wt, *(b or [None]), stride=stride, padding=padding,
                                   dilation=dilation, groups=groups), *args)


def test_conv2d_weight_only_and_input_only():
    x, wt = randn(1, 2, 5, 6), randn(3, 2, 3, 3)
    check(lambda w_: conv2d(fovea.tensor(x), w_, padding=1), wt)
    check(lambda x_: conv2d(x_, fovea.tensor(wt), stride=2), x)


def test_conv2d_chained_on_channels_last_output():
    # conv's output is an NCHW view of channels-last memory: feed it to another conv and a pool
    check(lambda x, w1, w2: max_pool2d(conv2d(conv2d(x, w1, padding=1), w2), 2),
          randn(2, 3, 8, 8), randn(4, 3, 3, 3), randn(2, 4, 3, 3))


MAXPOOL = [  # kernel, stride, padding, dilation
    (2, None, 0, 1), (3, 1, 0, 1), (3, 2, 1, 1), (2, 1, 0, 2), ((3, 2), (2, 1), (1, 1), 1),
    (3, 2, 1, 2), (2, 2, 1, 1), (3, 3, 0, 1), (3, (1, 2), (0, 1), (1, 2)),
]


@pytest.mark.parametrize("kernel,stride,padding,dilation", MAXPOOL, ids=str)
def test_max_pool2d(kernel, stride, padding, dilation):
    check(lambda x: max_pool2d(x, kernel, stride, padding, dilation), distinct(2, 3, 7, 9))


def test_max_pool2d_unbatched():
    check(lambda x: max_pool2d(x, 3, 2, 1), distinct(3, 7, 6))


AVGPOOL = [  # kernel, stride, padding, count_include_pad, divisor_override
    (2, None, 0, True, None), (3, 1, 0, True, None), (3, 2, 1, True, None),
    (3, 2, 1, False, None), ((3, 2), (1, 2), (1, 0), False, None), (2, 1, 1, False, None),
    ((2, 3), 1, (1, 1), True, None), (3, 2, 1, True, 5),
]


@pytest.mark.parametrize("kernel,stride,padding,count_include_pad,divisor", AVGPOOL, ids=str)
def test_avg_pool2d(kernel, stride, padding, count_include_pad, divisor):
    check(lambda x: avg_pool2d(x, kernel, stride, padding,
                               count_include_pad=count_include_pad, divisor_override=divisor),
          randn(2, 3, 7, 9))


def test_avg_pool2d_unbatched():
    check(lambda x: avg_pool2d(x, 2, 1, 1, count_include_pad=False), randn(3, 5, 6))


# ---- composites ---------------------------------------------------------------------------
def test_small_network_end_to_end():
    x = randn(4, 2, 6, 6)
    target = np.array([0, 2, 1, 2])

    def net(w1, b1, w2, b2):
        h = conv2d(fovea.tensor(x), w1, b1, padding=1).relu()
        h = max_pool2d(h, 2).flatten(1)
        return cross_entropy(linear(h, w2, b2), target)

    check(net, randn(3, 2, 3, 3), randn(3), randn(3, 27), randn(3))


# ---- property: any broadcastable pair of shapes ---------------------------------------------
@settings(max_examples=30, deadline=None, derandomize=True)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                max_side=3),
       op=st.sampled_from(["add", "sub", "mul", "div", "maximum", "minimum"]))
def test_binary_any_broadcast(shapes, op):
    sa, sb = shapes.input_shapes
    a = randn(*sa)
    b = away(*sb, gap=0.5) if op == "div" else randn(*sb)
    if op in ("maximum", "minimum"):
        b = b + 3 * np.sign(b)  # |b| > 3 > |a| almost surely: no ties
        a = np.clip(a, -2.9, 2.9)
    check(getattr(fovea, op), a, b)
