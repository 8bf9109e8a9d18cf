"""Forward and backward of every op compared with PyTorch on random float32 inputs.

Agreement means max|fovea − torch| ≤ 1e-4 · max(1, max|torch|) for the output and for the
gradient of every input, with the same random upstream gradient fed to both backward passes.
At the kinks (ties of max, relu and abs at 0, clamp bounds) PyTorch's choice is the reference.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import fovea
from fovea.ops import avg_pool2d, conv2d, cross_entropy, linear, max_pool2d, pad

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.usefixtures("seeded")

R = np.random.default_rng(7)
TOL = 1e-4


def randn(*shape, scale=1.0):
    return (scale * R.standard_normal(shape)).astype(np.float32)


def positive(*shape, lo=0.5, hi=2.0):
    return R.uniform(lo, hi, shape).astype(np.float32)


def away(*shape, gap=0.1):
    return (R.choice([-1.0, 1.0], shape) * R.uniform(gap, 2.0, shape)).astype(np.float32)


def assert_close(actual, expected, what="output", tol=TOL):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if expected.size == 0:
        return
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), f"{what}: NaN pattern differs"
    finite = ~np.isnan(expected)
    err = np.abs(actual[finite] - expected[finite]).max(initial=0.0)
    scale = max(1.0, np.abs(expected[finite]).max(initial=0.0))
    assert err <= tol * scale, f"{what}: max abs error {err:.3g} (scale {scale:.3g})"


def compare(fn_fovea, fn_torch, *arrays, tol=TOL):
    """Run both on leaves made from the float32 ``arrays``; compare outputs and gradients."""
    xf = [fovea.tensor(a, requires_grad=True) for a in arrays]
    xt = [torch.tensor(a, requires_grad=True) for a in arrays]
    out_f, out_t = fn_fovea(*xf), fn_torch(*xt)
    assert out_f.dtype == np.float32, f"output dtype {out_f.dtype}"
    assert_close(out_f.detach().numpy(), out_t.detach().numpy(), tol=tol)
    g = np.asarray(R.standard_normal(tuple(out_t.shape)), dtype=np.float32)
    out_f.backward(g)
    out_t.backward(torch.from_numpy(g))
    for i, (a, b) in enumerate(zip(xf, xt)):
        if b.grad is None:
            assert a.grad is None or not np.any(a.grad.numpy()), f"input {i}: unexpected grad"
            continue
        assert a.grad is not None, f"input {i}: no gradient"
        assert a.grad.dtype == np.float32, f"input {i}: gradient dtype {a.grad.dtype}"
        assert_close(a.grad.numpy(), b.grad.numpy(), what=f"grad of input {i}", tol=tol)
    return out_f, out_t


# ---- elementwise ------------------------------------------------------------------------------
SHAPES = [((3, 4), (3, 4)), ((3, 1, 5), (4, 1)), ((2, 3), (3,)), ((), (2, 3)), ((4, 1), (1, 5))]
BINARY = {
    "add": (fovea.add, torch.add), "sub": (fovea.sub, torch.sub), "mul": (fovea.mul, torch.mul),
    "div": (fovea.div, torch.div), "maximum": (fovea.maximum, torch.maximum),
    "minimum": (fovea.minimum, torch.minimum), "pow": (fovea.pow, torch.pow),
}


@pytest.mark.parametrize("sa,sb", SHAPES)
@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary(op, sa, sb):
    a = positive(*sa) if op == "pow" else randn(*sa)
    b = away(*sb, gap=0.5) if op == "div" else randn(*sb)
    compare(*BINARY[op], a, b)


@pytest.mark.parametrize("op", ["maximum", "minimum"])
def test_maximum_minimum_ties_split_gradient(op):
    a = np.array([[1.0, 2.0, 3.0], [0.0, -1.0, 5.0]], dtype=np.float32)
    b = np.array([[1.0, 0.0, 3.0], [0.0, 4.0, 2.0]], dtype=np.float32)
    compare(*BINARY[op], a, b)


@pytest.mark.parametrize("name", [
    "add_s", "radd", "sub_s", "rsub", "mul_s", "rmul", "div_s", "rdiv", "neg", "sq", "sqrt",
    "frac", "rpow", "np64", "operators"])
def test_scalar_operands(name):
    f = {
        "add_s": lambda t: t + 2.5, "radd": lambda t: 2.5 + t, "sub_s": lambda t: t - 1.5,
        "rsub": lambda t: 1.5 - t, "mul_s": lambda t: t * -3.0, "rmul": lambda t: -3.0 * t,
        "div_s": lambda t: t / 4.0, "rdiv": lambda t: 4.0 / t, "neg": lambda t: -t,
        "sq": lambda t: t**2, "sqrt": lambda t: t**0.5, "frac": lambda t: t**-1.5,
        "rpow": lambda t: 2.0**t, "np64": lambda t: t * np.float64(0.3) + np.float64(1.0),
        "operators": lambda t: (t * t - t / 2.0) ** 2 + 1.0 / (1.0 + t),
    }[name]
    compare(f, f, positive(4, 5))


UNARY = {
    "exp": (fovea.exp, torch.exp, randn), "log": (fovea.log, torch.log, positive),
    "sqrt": (fovea.sqrt, torch.sqrt, positive), "abs": (fovea.abs, torch.abs, randn),
    "neg": (fovea.neg, torch.neg, randn), "relu": (fovea.relu, torch.relu, randn),
    "sigmoid": (fovea.sigmoid, torch.sigmoid, lambda *s: randn(*s, scale=4.0)),
    "tanh": (fovea.tanh, torch.tanh, lambda *s: randn(*s, scale=2.0)),
}


@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary(op):
    fa, fb, make = UNARY[op]
    compare(fa, fb, make(6, 7))
    compare(lambda t: getattr(t, op)(), lambda t: getattr(t, op)(), make(3))


@pytest.mark.parametrize("op", ["abs", "relu"])
def test_unary_at_zero(op):
    compare(*UNARY[op][:2], np.array([-1.0, 0.0, 0.0, 2.0], dtype=np.float32))


@pytest.mark.parametrize("lo,hi", [(-0.5, 0.5), (None, 0.3), (-0.2, None)])
def test_clip(lo, hi):
    x = randn(5, 6)
    x[0, :3] = [-0.5, 0.5, 0.3]  # exactly on the bounds: PyTorch passes the gradient
    x[1, :2] = [-0.2, 0.0]
    compare(lambda t: fovea.clip(t, lo, hi), lambda t: torch.clamp(t, lo, hi), x)
    compare(lambda t: t.clamp(lo, hi), lambda t: t.clamp(lo, hi), x)


@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4))])
def test_where(sa, sb):
    cond = R.random((3, 4)) > 0.5
    compare(lambda a, b: fovea.where(cond, a, b),
            lambda a, b: torch.where(torch.from_numpy(cond), a, b), randn(*sa), randn(*sb))
    compare(lambda a: fovea.where(fovea.tensor(cond), a, 0.0),
            lambda a: torch.where(torch.from_numpy(cond), a, 0.0), randn(*sa))


# ---- reductions ---------------------------------------------------------------------------
DIMS = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", DIMS, ids=str)
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin"])
def test_reduction(op, dim, keepdim):
    x = randn(3, 4, 5)

    def ours(t):
        return getattr(fovea.ops, op)(t, dim=dim, keepdim=keepdim)

    def theirs(t):
        if dim is None:
            out = getattr(torch, op)(t)
            return out.reshape((1, 1, 1)) if keepdim else out
        return getattr(torch, op)(t, dim=dim, keepdim=keepdim)

    compare(ours, theirs, x)


@pytest.mark.parametrize("op", ["amax", "amin", "max", "min"])
def test_max_min_ties_without_dim(op):
    x = np.array([[3.0, 1.0, 3.0], [-2.0, 3.0, -2.0]], dtype=np.float32)
    compare(getattr(fovea, op) if op in ("max", "min") else getattr(fovea.ops, op),
            getattr(torch, op), x)


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("op", ["amax", "amin"])
def test_amax_amin_ties_share(op, dim, keepdim):
    x = R.integers(0, 3, (4, 5, 3)).astype(np.float32)  # many ties
    compare(lambda t: getattr(fovea.ops, op)(t, dim, keepdim),
            lambda t: getattr(torch, op)(t, dim, keepdim), x)


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_with_dim(op, dim, keepdim, ties):
    x = R.integers(0, 3, (4, 5, 3)).astype(np.float32) if ties else randn(4, 5, 3)
    compare(lambda t: getattr(fovea, op)(t, dim, keepdim)[0],
            lambda t: getattr(torch, op)(t, dim, keepdim)[0], x)
    idx = getattr(fovea, op)(fovea.tensor(x), dim, keepdim)[1]
    ref = getattr(torch, op)(torch.from_numpy(x), dim, keepdim)[1]
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx.numpy(), ref.numpy())


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_with_dim_of_0d_tensor(op):
    compare(lambda t: getattr(fovea, op)(t, 0)[0], lambda t: getattr(torch, op)(t, 0)[0],
            np.array(1.5, dtype=np.float32))
    assert getattr(fovea, op)(fovea.tensor(1.5), 0)[1].item() == 0


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_argmin(op):
    x = randn(4, 6)
    for dim in (None, 0, 1):
        ours = getattr(fovea.ops, op)(fovea.tensor(x), dim)
        theirs = getattr(torch, op)(torch.from_numpy(x), dim)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# ---- matmul and linear ----------------------------------------------------------------------
@pytest.mark.parametrize("sa,sb", [
    ((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 2)), ((8, 16), (16, 5)), ((2, 3, 4), (2, 4, 5)),
    ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 5)), ((2, 3, 4), (4,)), ((4,), (2, 4, 3)),
])
def test_matmul(sa, sb):
    compare(fovea.matmul, torch.matmul, randn(*sa), randn(*sb))
    compare(lambda a, b: a @ b, lambda a, b: a @ b, randn(*sa), randn(*sb))


@pytest.mark.parametrize("xshape", [(16,), (32, 16), (4, 7, 16)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(xshape, bias):
    args = [randn(*xshape), randn(10, 16)] + ([randn(10)] if bias else [])
    compare(linear, F.linear, *args)


# ---- shape ops ----------------------------------------------------------------------------
SHAPE_FNS = {
    "reshape": lambda t: t.reshape(6, 10), "reshape_neg": lambda t: t.reshape(-1, 4),
    "view": lambda t: t.view(2, 30), "flatten": lambda t: t.flatten(1),
    "unsqueeze": lambda t: t.unsqueeze(-2), "squeeze": lambda t: t.reshape(2, 1, 30).squeeze(1),
    "permute": lambda t: t.permute(2, 0, 1), "permute_neg": lambda t: t.permute(-1, -3, -2),
    "transpose": lambda t: t.transpose(0, 2), "T": lambda t: t.permute(2, 1, 0).transpose(0, 1),
    "expand": lambda t: t[:, :1].expand(2, 3, 4, 5), "expand_neg": lambda t: t.expand(2, -1, -1, -1),
}


@pytest.mark.parametrize("name", sorted(SHAPE_FNS))
def test_shape_ops(name):
    compare(SHAPE_FNS[name], SHAPE_FNS[name], randn(3, 4, 5))


def _torch_index(idx):
    items = idx if isinstance(idx, tuple) else (idx,)
    conv = tuple(torch.as_tensor(np.asarray(i)) if isinstance(i, (list, np.ndarray)) else i
                 for i in items)
    return conv if isinstance(idx, tuple) else conv[0]


INDEXES = [
    1, -1, slice(1, 3), slice(None, None, 2), (slice(None), 1), (1, slice(None), slice(None, None, 2)),
    (slice(0, 3, 2), -1, slice(1, 4)), (None, Ellipsis, 1), (Ellipsis, None), (Ellipsis, 2),
    (0, 1, 2), [0, 2, 0], np.array([[1, 1], [0, 2]]), ([0, 1, 1], [2, 2, 0]),
    (slice(None), [1, 1, 0]), (slice(None), np.array([3, 0, 3]), slice(1, 3)),
    np.array([True, False, True]), (slice(None), np.array([True, False, True, True])),
]


@pytest.mark.parametrize("idx", INDEXES, ids=str)
def test_getitem(idx):
    compare(lambda t: t[idx], lambda t: t[_torch_index(idx)], randn(3, 4, 5))


def test_getitem_negative_step_and_mask():
    # torch has no negative steps: flip and gather instead
    compare(lambda t: t[::-1, :, ::-2],
            lambda t: torch.flip(t, (0,))[:, :, torch.tensor([4, 2, 0])], randn(3, 4, 5))
    mask = R.random((3, 4, 5)) > 0.5
    compare(lambda t: t[mask], lambda t: t[torch.from_numpy(mask)], randn(3, 4, 5))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_stack(dim):
    arrays = [randn(2, 3, 4) for _ in range(3)]
    compare(lambda *ts: fovea.cat(list(ts), dim=dim), lambda *ts: torch.cat(ts, dim=dim), *arrays)
    compare(lambda *ts: fovea.stack(list(ts), dim=dim),
            lambda *ts: torch.stack(ts, dim=dim), *arrays)


@pytest.mark.parametrize("spec,value", [
    ((1, 2), 0.0), ((1, 1, 2, 0), 0.0), ((2, 1, 0, 1, 1, 1), 0.5), ((-1, 2), 0.0),
    ((0, 0, -1, -1), 0.0), ((1, -2, -1, 3), 0.0), ((3, -1, 1, 0, 0, -1), -2.0),
])
def test_pad(spec, value):
    compare(lambda t: pad(t, spec, value=value), lambda t: F.pad(t, spec, value=value),
            randn(3, 4, 5))


# ---- softmax and cross-entropy ----------------------------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax(op, dim):
    compare(lambda t: getattr(fovea, op)(t, dim=dim), lambda t: getattr(torch, op)(t, dim=dim),
            randn(4, 5, 6, scale=3.0))


N, C = 16, 10
WEIGHT = R.uniform(0.2, 2.0, C).astype(np.float32)


def _probs(n=N, c=C):
    e = np.exp(R.standard_normal((n, c)))
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


CE_CASES = [
    {}, {"weight": True}, {"ignore_index": 3}, {"weight": True, "ignore_index": 3},
    {"label_smoothing": 0.2}, {"label_smoothing": 0.1, "weight": True},
    {"label_smoothing": 0.1, "weight": True, "ignore_index": 3}, {"default_ignore": True},
    {"probs": True}, {"probs": True, "weight": True}, {"probs": True, "label_smoothing": 0.3},
    {"probs": True, "label_smoothing": 0.1, "weight": True},
]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", CE_CASES, ids=str)
def test_cross_entropy(case, reduction):
    case = dict(case)
    if case.pop("probs", False):
        target = _probs()
    else:
        target = R.integers(0, C, N)
        target[::5] = 3
        if case.pop("default_ignore", False):
            target[[1, 7]] = -100
    weight = WEIGHT if case.pop("weight", False) else None
    kw = dict(case, reduction=reduction)
    compare(lambda x: cross_entropy(x, target, weight=None if weight is None else
                                    fovea.tensor(weight), **kw),
            lambda x: F.cross_entropy(x, torch.from_numpy(target), weight=None if weight is None
                                      else torch.from_numpy(weight), **kw),
            randn(N, C, scale=2.0))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_unbatched(reduction):
    compare(lambda x: cross_entropy(x, np.array(4), reduction=reduction),
            lambda x: F.cross_entropy(x, torch.tensor(4), reduction=reduction), randn(C))
    p = _probs(1)[0]
    compare(lambda x: cross_entropy(x, p, reduction=reduction),
            lambda x: F.cross_entropy(x, torch.from_numpy(p), reduction=reduction), randn(C))


@pytest.mark.parametrize("case", ["all_ignored", "all_ignored_smoothing", "zero_weight"])
def test_cross_entropy_zero_normaliser(case):
    """mean over no (weighted) sample is 0/0: NaN loss as PyTorch, and PyTorch's gradient
    (zeros for ignored samples, NaN for a zero-weight class)."""
    target = np.array([1, 1, 1])
    kw = {"ignore_index": 1} if case.startswith("all_ignored") else {}
    if case.endswith("smoothing"):
        kw["label_smoothing"] = 0.1
    weight = np.array([1.0, 0.0, 1.0, 1.0], dtype=np.float32) if case == "zero_weight" else None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compare(lambda x: cross_entropy(x, target, weight=None if weight is None else
                                        fovea.tensor(weight), **kw),
                lambda x: F.cross_entropy(x, torch.from_numpy(target), weight=None if weight is
                                          None else torch.from_numpy(weight), **kw), randn(3, 4))


# ---- convolution and pooling on realistic sizes -------------------------------------------------
CONV = [  # N, C, H, W, O, (KH, KW), stride, padding, dilation, groups, bias
    (4, 3, 28, 28, 8, (3, 3), 1, 1, 1, 1, True),
    (4, 3, 28, 28, 6, (5, 5), 1, 0, 1, 1, True),
    (4, 16, 16, 16, 32, (3, 3), 2, 1, 1, 1, True),
    (4, 8, 17, 23, 8, (3, 2), 1, 2, 1, 2, False),
    (4, 8, 20, 20, 16, (3, 3), 1, 2, 2, 4, True),
    (4, 16, 16, 16, 16, (3, 3), 1, 1, 1, 16, True),
    (4, 16, 16, 16, 8, (1, 1), 1, 0, 1, 1, False),
    (4, 6, 19, 16, 12, (3, 3), (2, 1), (1, 0), (1, 2), 3, True),
    (4, 3, 27, 27, 4, (7, 7), 3, 3, 1, 1, True),
    (4, 8, 16, 16, 4, (1, 1), 2, 0, 1, 1, True),
    (4, 4, 18, 18, 4, (2, 2), 3, 1, 1, 2, False),
]


@pytest.mark.parametrize("n,c,h,w,o,k,stride,padding,dilation,groups,bias", CONV, ids=str)
def test_conv2d(n, c, h, w, o, k, stride, padding, dilation, groups, bias):
    args = [randn(n, c, h, w), randn(o, c // groups, *k, scale=0.3)] + ([randn(o)] if bias else [])
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    compare(lambda x, wt, *b: conv2d(x, wt, *(b or [None]), **kw),
            lambda x, wt, *b: F.conv2d(x, wt, *(b or [None]), **kw), *args)


STRIDED_CONV = [  # strided columns, short batch runs
    (2, 3, 23, 29, 8, (7, 7), 2, 3, 1, 1, True),
    (3, 4, 17, 21, 6, (3, 5), (1, 2), (1, 2), 1, 2, True),
    (2, 6, 19, 18, 4, (5, 4), (3, 2), (0, 2), (2, 1), 1, False),
    (2, 3, 30, 31, 4, (11, 11), 4, 2, 1, 1, True),
    (2, 2, 12, 17, 3, (9, 2), (1, 3), (4, 1), 1, 1, True),  # stride beyond the kernel width
]


@pytest.mark.parametrize("n,c,h,w,o,k,stride,padding,dilation,groups,bias", STRIDED_CONV,
                         ids=str)
def test_conv2d_strided(n, c, h, w, o, k, stride, padding, dilation, groups, bias):
    test_conv2d(n, c, h, w, o, k, stride, padding, dilation, groups, bias)


def test_conv_relu_pool_stack():
    def net(conv, pool, relu, x, w1, b1, w2):
        h = pool(relu(conv(x, w1, b1, padding=1)), 2)
        return pool(conv(h, w2, None, stride=1, padding=1), 3, 2, 1)

    args = [randn(4, 3, 24, 24), randn(8, 3, 3, 3, scale=0.3), randn(8), randn(6, 8, 3, 3, scale=0.2)]
    compare(lambda *a: net(conv2d, max_pool2d, fovea.relu, *a),
            lambda *a: net(F.conv2d, F.max_pool2d, torch.relu, *a), *args)


MAXPOOL = [  # kernel, stride, padding, dilation
    (2, None, 0, 1), (3, 1, 0, 1), (3, 2, 1, 1), (2, 1, 0, 2), ((3, 2), (2, 1), (1, 1), 1),
    (3, 2, 1, 2), (2, 2, 1, 1), (3, 3, 0, 1), (5, 2, 2, 1), (2, 3, 0, 1), (2, 3, 1, 2),
    (1, 2, 0, 1),
]


@pytest.mark.parametrize("kernel,stride,padding,dilation", MAXPOOL, ids=str)
@pytest.mark.parametrize("size", [(4, 3, 28, 28), (4, 16, 17, 19)])
def test_max_pool2d(size, kernel, stride, padding, dilation):
    compare(lambda x: max_pool2d(x, kernel, stride, padding, dilation),
            lambda x: F.max_pool2d(x, kernel, stride, padding, dilation), randn(*size))


@pytest.mark.parametrize("kernel,stride,padding,dilation", MAXPOOL, ids=str)
def test_max_pool2d_ties(kernel, stride, padding, dilation):
    x = R.integers(0, 3, (2, 3, 11, 12)).astype(np.float32)  # ties in most windows
    compare(lambda x: max_pool2d(x, kernel, stride, padding, dilation),
            lambda x: F.max_pool2d(x, kernel, stride, padding, dilation), x)


AVGPOOL = [  # kernel, stride, padding, count_include_pad, divisor_override
    (2, None, 0, True, None), (3, 1, 0, True, None), (3, 2, 1, True, None),
    (3, 2, 1, False, None), ((3, 2), (1, 2), (1, 0), False, None), (2, 1, 1, False, None),
    ((2, 3), 1, (1, 1), True, None), (3, 2, 1, True, 5), (5, 3, 2, False, None),
    (2, 3, 1, False, None),
]


@pytest.mark.parametrize("kernel,stride,padding,count_include_pad,divisor", AVGPOOL, ids=str)
@pytest.mark.parametrize("size", [(4, 3, 28, 28), (4, 16, 17, 19)])
def test_avg_pool2d(size, kernel, stride, padding, count_include_pad, divisor):
    kw = {"count_include_pad": count_include_pad, "divisor_override": divisor}
    compare(lambda x: avg_pool2d(x, kernel, stride, padding, **kw),
            lambda x: F.avg_pool2d(x, kernel, stride, padding, **kw), randn(*size))


def test_pool_unbatched():
    compare(lambda x: max_pool2d(x, 3, 2, 1), lambda x: F.max_pool2d(x, 3, 2, 1), randn(3, 9, 10))
    compare(lambda x: avg_pool2d(x, 3, 2, 1, count_include_pad=False),
            lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), randn(3, 9, 10))


# ---- numerical stability ----------------------------------------------------------------------
@pytest.fixture
def strict_fp():
    """Turn NumPy floating-point warnings (overflow, invalid, divide) into errors."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            yield


HUGE = np.array([[1000.0, -1000.0, 0.0, 999.0], [-1000.0, -1000.0, -999.0, -1000.0],
                 [1000.0, 1000.0, 1000.0, 1000.0]], dtype=np.float32)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_huge_logits(op, strict_fp):
    out, _ = compare(lambda t: getattr(fovea, op)(t, dim=1),
                     lambda t: getattr(torch, op)(t, dim=1), HUGE)
    assert np.isfinite(out.detach().numpy()).all()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_huge_logits(reduction, strict_fp):
    target = np.array([1, 0, 2])
    out, _ = compare(lambda t: cross_entropy(t, target, reduction=reduction),
                     lambda t: F.cross_entropy(t, torch.from_numpy(target), reduction=reduction),
                     HUGE)
    assert np.isfinite(out.detach().numpy()).all()
    compare(lambda t: cross_entropy(t, target, label_smoothing=0.1, reduction=reduction),
            lambda t: F.cross_entropy(t, torch.from_numpy(target), label_smoothing=0.1,
                                      reduction=reduction), HUGE)


def test_sigmoid_huge(strict_fp):
    x = np.array([-1000.0, -100.0, -20.0, 0.0, 20.0, 100.0, 1000.0], dtype=np.float32)
    out, _ = compare(fovea.sigmoid, torch.sigmoid, x)
    values = out.detach().numpy()
    assert values[0] == 0.0 and values[-1] == 1.0
    assert not np.isnan(values).any()
    compare(fovea.tanh, torch.tanh, x)


def test_float32_survives_a_small_network():
    x = fovea.tensor(randn(2, 3, 8, 8))
    w = fovea.tensor(randn(4, 3, 3, 3), requires_grad=True)
    b = fovea.tensor(randn(4), requires_grad=True)
    h = max_pool2d(conv2d(x, w, b, padding=1).relu(), 2)
    h = avg_pool2d(h, 2, count_include_pad=False).flatten(1)
    loss = cross_entropy(h.softmax(-1) * 0.5 + h.tanh().sigmoid(), np.array([1, 3]),
                         label_smoothing=0.1)
    assert loss.dtype == np.float32
    loss.backward()
    assert w.grad.dtype == np.float32 and b.grad.dtype == np.float32


# ---- layouts and upstream gradients the ops must not assume away --------------------------------
LAYOUT_CASES = {
    "conv_flipped_strided": (
        lambda x, w: conv2d(x[:, :, ::-1, ::2], w, padding=1),
        lambda x, w: F.conv2d(torch.flip(x, (2,))[:, :, :, ::2], w, padding=1)),
    "conv_transposed_hw": (
        lambda x, w: conv2d(x.transpose(2, 3), w, stride=2),
        lambda x, w: F.conv2d(x.transpose(2, 3), w, stride=2)),
    "conv_of_conv": (
        lambda x, w: conv2d(conv2d(x, w, padding=1)[:, :3], w, padding=1),
        lambda x, w: F.conv2d(F.conv2d(x, w, padding=1)[:, :3], w, padding=1)),
    "maxpool_of_permuted": (
        lambda x, w: max_pool2d(x.permute(1, 0, 3, 2), 3, 2, 1),
        lambda x, w: F.max_pool2d(x.permute(1, 0, 3, 2), 3, 2, 1)),
    "avgpool_of_conv": (
        lambda x, w: avg_pool2d(conv2d(x, w), 2, 1, 1, count_include_pad=False),
        lambda x, w: F.avg_pool2d(F.conv2d(x, w), 2, 1, 1, count_include_pad=False)),
    "linear_of_flattened_conv": (
        lambda x, w: linear(conv2d(x, w).flatten(1), conv2d(x, w).flatten(1)[1:3]),
        lambda x, w: F.linear(F.conv2d(x, w).flatten(1), F.conv2d(x, w).flatten(1)[1:3])),
}


@pytest.mark.parametrize("name", sorted(LAYOUT_CASES))
def test_non_contiguous_layouts(name):
    compare(*LAYOUT_CASES[name], randn(4, 3, 12, 10), randn(4, 3, 3, 3, scale=0.3))


REDUCED = {  # outputs reduced by sum/mean: backward gets a zero-stride (broadcast) gradient
    "conv": (lambda x: conv2d(x, x[:2, :, :3, :3], padding=1),
             lambda x: F.conv2d(x, x[:2, :, :3, :3], padding=1)),
    "maxpool": (lambda x: max_pool2d(x, 2), lambda x: F.max_pool2d(x, 2)),
    "maxpool_overlap": (lambda x: max_pool2d(x, 3, 1, 1), lambda x: F.max_pool2d(x, 3, 1, 1)),
    "avgpool": (lambda x: avg_pool2d(x, 3, 2, 1), lambda x: F.avg_pool2d(x, 3, 2, 1)),
    "linear": (lambda x: linear(x.flatten(1), x.flatten(1)[:3]),
               lambda x: F.linear(x.flatten(1), x.flatten(1)[:3])),
    "softmax": (lambda x: x.softmax(1) * x, lambda x: x.softmax(1) * x),
    "log_softmax": (lambda x: x.log_softmax(-1), lambda x: x.log_softmax(-1)),
    "matmul": (lambda x: x @ x.transpose(2, 3), lambda x: x @ x.transpose(2, 3)),
    "relu": (lambda x: x.relu(), lambda x: x.relu()),
}


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("name", sorted(REDUCED))
def test_broadcast_upstream_gradient(name, reduce):
    ours, theirs = REDUCED[name]
    compare(lambda x: getattr(ours(x), reduce)(), lambda x: getattr(theirs(x), reduce)(),
            randn(4, 3, 8, 8))


def test_float64_ops_stay_float64():
    x = R.standard_normal((2, 3, 9, 9))
    w = R.standard_normal((4, 3, 3, 3))
    out = conv2d(fovea.tensor(x), fovea.tensor(w), padding=1)
    ref = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), padding=1)
    assert out.dtype == np.float64
    assert_close(out.numpy(), ref.numpy(), tol=1e-12)
    for o in (max_pool2d(out, 2), avg_pool2d(out, 2), out.softmax(1), out.sigmoid()):
        assert o.dtype == np.float64
