"""Direct convolution at stride 1 (fovea.kernels.direct, fovea.ops.direct_conv).

The two kernels, ``correlate`` and ``weight_grad``, give the same results on both paths
(NumPy reference and numba) and write every element of their output, for kernel widths 1 to
12 (every branch of loops.add_taps and loops.dot_taps: 1 to 5 taps, and the chunks of five
with what remains); both match their definitions and are adjoint to each other. The ops
match the definitions too, and conv2d through the public API runs directly where
``applies`` says so (the tests check that it did), agreeing with PyTorch, with central
differences and across the two kernel paths."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close
from numpy.lib.stride_tricks import sliding_window_view

import fovea
import fovea.nn.functional as F
from fovea import kernels
from fovea.autograd.gradcheck import gradcheck
from fovea.kernels import direct as kd
from fovea.ops import direct_conv as dc

PATHS = ("numpy", "numba")
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
TOL = {np.float32: 1e-5, np.float64: 1e-12}  # between the two kernel paths


def _path(path):
    """``kernels.forced(path)``, the test skipped when it is numba's and numba is missing."""
    if path == "numba":
        pytest.importorskip("numba")
    return kernels.forced(path)


def _rand(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _nan(shape, dtype):
    return np.full(shape, np.nan, dtype)


def _batch_last(a):
    return np.ascontiguousarray(a.transpose(1, 2, 3, 0))


# ---- the kernels --------------------------------------------------------------------------
KERNEL_CASES = [
    # O, C, KH, KW, HP, WP, N: the padded input (C, HP, WP, N); kernel widths 1 to 12
    (3, 1, 1, 1, 4, 6, 3),
    (2, 2, 3, 3, 7, 9, 1),
    (4, 1, 5, 5, 9, 8, 3),
    (3, 3, 2, 7, 5, 12, 1),    # 7 taps: 5 + 2
    (2, 1, 7, 2, 11, 4, 3),
    (1, 2, 11, 4, 13, 9, 3),
    (3, 1, 12, 1, 14, 3, 1),
    (2, 3, 2, 6, 4, 8, 3),     # 6 = 5 + 1
    (3, 1, 1, 8, 3, 10, 1),    # 8 = 5 + 3
    (2, 2, 3, 9, 6, 9, 3),     # 9 = 5 + 4, a single output column
    (4, 1, 2, 10, 2, 13, 1),   # 10 = 5 + 5, a single output row
    (2, 2, 1, 11, 5, 15, 3),   # 11 = 5 + 5 + 1
    (1, 3, 2, 12, 4, 12, 1),   # 12 = 5 + 5 + 2, one output pixel per row
]


def _shapes(case):
    o, c, kh, kw, hp, wp, n = case
    return (c, hp, wp, n), (o, c, kh, kw), (o, hp - kh + 1, wp - kw + 1, n)


def _inputs(case, dtype, rng):
    """Random xpad, w, bias and an output gradient g for the case."""
    xshape, wshape, oshape = _shapes(case)
    return (_rand(rng, xshape, dtype), _rand(rng, wshape, dtype), _rand(rng, wshape[:1], dtype),
            _rand(rng, oshape, dtype))


def _run_kernels(path, xpad, w, bias, g):
    """correlate and weight_grad on one path, their outputs NaN-filled first."""
    out, dw = _nan(g.shape, xpad.dtype), _nan(w.shape, xpad.dtype)
    with _path(path):
        kd.correlate(xpad, w, bias, out)
        kd.weight_grad(xpad, g, dw)
    return out, dw


@DTYPES
@pytest.mark.parametrize("case", KERNEL_CASES, ids=str)
def test_kernel_paths_agree_and_write_everything(case, dtype):
    args = _inputs(case, dtype, np.random.default_rng(0))
    got = {path: _run_kernels(path, *args) for path in PATHS}
    for name, a, b in zip(("correlate", "weight_grad"), got["numba"], got["numpy"]):
        for path, arr in (("numba", a), ("numpy", b)):
            assert arr.dtype == dtype
            assert np.isfinite(arr).all(), f"{name} ({path}) left elements unwritten"
        assert_close(a, b, TOL[dtype], what=name)


def _windows(xpad, kh, kw):
    """(C, OH, OW, N, KH, KW): tap (i, j) of the window of every output pixel."""
    return sliding_window_view(xpad, (kh, kw), axis=(1, 2))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", KERNEL_CASES, ids=str)
def test_kernels_follow_the_definitions(case, path):
    """out[o, y, x, n] = bias[o] + Σ_{c,i,j} w[o, c, i, j]·xpad[c, y + i, x + j, n] and
    dw[o, c, i, j] = Σ_{y,x,n} g[o, y, x, n]·xpad[c, y + i, x + j, n], in float64; and
    weight_grad is correlate's adjoint in w: ⟨correlate(xpad, w, 0), g⟩ = ⟨w, dw⟩."""
    xpad, w, bias, g = _inputs(case, np.float64, np.random.default_rng(1))
    win = _windows(xpad, *w.shape[2:])
    out_def = np.einsum("ocij,cyxnij->oyxn", w, win) + bias[:, None, None, None]
    dw_def = np.einsum("oyxn,cyxnij->ocij", g, win)
    out, dw = _run_kernels(path, xpad, w, bias, g)
    assert_close(out, out_def, 1e-12, what="correlate")
    assert_close(dw, dw_def, 1e-12, what="weight_grad")
    out0, _ = _run_kernels(path, xpad, w, np.zeros_like(bias), g)
    lhs, rhs = np.vdot(out0, g), np.vdot(w, dw)
    assert abs(lhs - rhs) <= 1e-10 * (abs(lhs) + 1), (lhs, rhs)


# ---- correlate and gradients of fovea.ops.direct_conv -------------------------------------
OPS_CASES = [
    # N, C, O, H, W, KH, KW, padding
    (2, 1, 3, 7, 6, 3, 3, (0, 0)),
    (1, 1, 2, 6, 9, 5, 5, (2, 2)),
    (3, 1, 4, 5, 8, 2, 7, (1, 6)),
    (2, 1, 2, 9, 4, 7, 2, (6, 0)),
    (1, 2, 3, 6, 7, 3, 4, (1, 3)),   # two channels: the kernels take any C
    (2, 1, 1, 3, 3, 5, 5, (4, 4)),   # output rows and columns that read padding only
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", OPS_CASES, ids=str)
def test_ops_follow_the_definitions(case, path):
    """correlate pads by (ph, pw) and returns the padded input with the output; gradients
    gives the weight gradient by the definition on that padded input, and the input gradient
    as correlate's adjoint in x: ⟨correlate(x, w), g⟩ = ⟨x, dx⟩; each alone when only it is
    asked for."""
    n, c, o, h, w, kh, kw, (ph, pw) = case
    rng = np.random.default_rng(2)
    xb, weight = _rand(rng, (c, h, w, n)), _rand(rng, (o, c, kh, kw))
    bias = _rand(rng, (o,))
    oshape = (o, h + 2 * ph - kh + 1, w + 2 * pw - kw + 1, n)
    g = _rand(rng, oshape)
    pad = np.zeros((c, h + 2 * ph, w + 2 * pw, n))
    pad[:, ph:ph + h, pw:pw + w] = xb
    win = _windows(pad, kh, kw)
    with _path(path):
        out, xpad = dc.correlate(xb, weight, bias, (ph, pw))
        out0, _ = dc.correlate(xb, weight, None, (ph, pw))
        dx, dw = dc.gradients(g, xpad, weight, xb.shape, (ph, pw), True, True)
        only_x = dc.gradients(g, xpad, weight, xb.shape, (ph, pw), True, False)
        only_w = dc.gradients(g, xpad, weight, xb.shape, (ph, pw), False, True)
    np.testing.assert_array_equal(xpad, pad)
    assert out.shape == oshape and dx.shape == xb.shape and dw.shape == weight.shape
    assert_close(out, np.einsum("ocij,cyxnij->oyxn", weight, win) + bias[:, None, None, None],
                 1e-12, what="output")
    assert_close(out0, out - bias[:, None, None, None], 1e-12, what="output without bias")
    assert_close(dw, np.einsum("oyxn,cyxnij->ocij", g, win), 1e-12, what="weight grad")
    lhs, rhs = np.vdot(out0, g), np.vdot(xb, dx)
    assert abs(lhs - rhs) <= 1e-10 * (abs(lhs) + 1), (lhs, rhs)
    assert only_x[1] is None and only_w[0] is None
    np.testing.assert_array_equal(only_x[0], dx)
    np.testing.assert_array_equal(only_w[1], dw)


def test_applies():
    base = dict(c=1, o=6, kh=5, kw=5, stride=(1, 1), dilation=(1, 1), groups=1, padding=(2, 2))
    assert dc.applies(**base)
    for change in ({"padding": (4, 4)}, {"padding": (0, 0)}, {"kh": 1, "kw": 1,
                                                                "padding": (0, 0)},
                   {"kh": 2, "kw": 12, "padding": (1, 11)}, {"c": 2, "o": 8}, {"o": 16}):
        assert dc.applies(**{**base, **change}), change
    for change in ({"c": 3}, {"o": 17}, {"c": 2, "o": 9}, {"stride": (2, 2)}, {"stride": (1, 2)}, {"dilation": (2, 2)},
                   {"dilation": (2, 1)}, {"groups": 2}, {"padding": (5, 5)},
                   {"padding": (5, 0)}, {"padding": (0, 5)}, {"kw": 2, "padding": (2, 2)}):
        assert not dc.applies(**{**base, **change}), change


# ---- through the public API ---------------------------------------------------------------
@pytest.fixture
def calls(monkeypatch):
    """Counts the calls of fovea.ops.direct_conv.correlate and .gradients (as conv2d makes
    them): {"correlate": n, "gradients": n}."""
    count = {"correlate": 0, "gradients": 0}
    for name in count:
        fn = getattr(dc, name)

        def counted(*args, _fn=fn, _name=name):
            count[_name] += 1
            return _fn(*args)

        monkeypatch.setattr(dc, name, counted)
    return count


def _fovea_conv(x, weight, bias, cot, x_grad=True, module=False, **kwargs):
    """conv2d (functional, or an nn.Conv2d holding the weights) of arrays and the gradients of
    sum(out · cot): [out, dx or None, dW, db or None] as arrays, and the Function that ran."""
    fx = fovea.tensor(x.copy(), requires_grad=x_grad)
    if module:
        o, c, kh, kw = weight.shape
        layer = fovea.nn.Conv2d(c, o, (kh, kw), bias=bias is not None, dtype=x.dtype, **kwargs)
        layer.load_state_dict({"weight": weight.copy(),
                               **({} if bias is None else {"bias": bias.copy()})})
        fw, fb = layer.weight, layer.bias
        out = layer(fx)
    else:
        fw = fovea.tensor(weight.copy(), requires_grad=True)
        fb = None if bias is None else fovea.tensor(bias.copy(), requires_grad=True)
        out = F.conv2d(fx, fw, fb, **kwargs)
    fn = out._ctx
    (out * fovea.tensor(cot)).sum().backward()
    return [out.detach().numpy().copy(), None if fx.grad is None else fx.grad.numpy().copy(),
            fw.grad.numpy().copy(), None if fb is None else fb.grad.numpy().copy()], fn


def _torch_conv(torch, x, weight, bias, cot, **kwargs):
    """The same as _fovea_conv by torch.nn.functional.conv2d."""
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(weight, requires_grad=True)
    tb = None if bias is None else torch.tensor(bias, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw, tb, **kwargs)
    (ty * torch.tensor(cot)).sum().backward()
    return [ty.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(),
            None if tb is None else tb.grad.numpy()]


def _data(n, c, o, h, w, kernel, dtype=np.float32, seed=4, **kwargs):
    """x, weight, bias and a cotangent of the output's shape (from torch's rule for it)."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    rng = np.random.default_rng(seed)
    x = _rand(rng, (n, c, h, w), dtype)
    weight = (_rand(rng, (o, c, kh, kw)) / np.sqrt(c * kh * kw)).astype(dtype)
    bias = _rand(rng, (o,), dtype)
    stride, dilation = kwargs.get("stride", 1), kwargs.get("dilation", 1)
    padding = kwargs.get("padding", 0)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    oh = (h + 2 * ph - dilation * (kh - 1) - 1) // stride + 1
    ow = (w + 2 * pw - dilation * (kw - 1) - 1) // stride + 1
    return x, weight, bias, _rand(rng, (n, o, oh, ow), dtype)


NAMES = ("out", "x.grad", "w.grad", "b.grad")


def _assert_all_close(got, ref, rtol, what=""):
    for name, a, b in zip(NAMES, got, ref):
        if a is None:
            continue
        assert a.dtype == b.dtype
        assert_close(a, b, rtol, what=f"{name}{what}")


@pytest.mark.parametrize("grads", ["bias", "no-bias", "no-x-grad"])
@pytest.mark.parametrize("padding", [0, 1, 2, (1, 2), (2, 0)], ids=str)
@pytest.mark.parametrize("kernel", [3, 5, 7, (3, 5), (7, 3)], ids=str)
def test_conv2d_runs_directly_and_matches_torch(kernel, padding, grads, calls, torch):
    with_bias, x_grad = grads != "no-bias", grads != "no-x-grad"
    x, weight, bias, cot = _data(3, 1, 4, 9, 8, kernel, padding=padding)
    bias = bias if with_bias else None
    got, fn = _fovea_conv(x, weight, bias, cot, x_grad, padding=padding)
    assert calls == {"correlate": 1, "gradients": 1}, "conv2d did not run directly"
    assert fn.__dict__ == {}  # backward released what forward kept
    ref = _torch_conv(torch, x, weight, bias, cot, padding=padding)
    assert (got[1] is None) != x_grad and (got[3] is None) != with_bias
    _assert_all_close(got, ref, 1e-4)


@pytest.mark.parametrize("x_grad", [True, False], ids=["x-grad", "no-x-grad"])
def test_conv2d_keeps_what_backward_needs(x_grad, calls):
    """The Function that ran directly keeps the padded input only for the weight gradient,
    and nothing when no gradient is needed."""
    x, weight, bias, _ = _data(2, 1, 3, 6, 6, 3, padding=1)
    fx = fovea.tensor(x, requires_grad=x_grad)
    out = F.conv2d(fx, fovea.tensor(weight, requires_grad=True), fovea.tensor(bias), padding=1)
    xpad, w, xshape, padding = out._ctx.direct
    assert xpad.shape == (1, 8, 8, 2) and xshape == (1, 6, 6, 2) and padding == (1, 1)
    assert w.shape == weight.shape
    out = F.conv2d(fx, fovea.tensor(weight), fovea.tensor(bias, requires_grad=True), padding=1)
    assert out._ctx.direct[0] is None  # no weight gradient: the padded input is not kept
    with fovea.no_grad():
        out = F.conv2d(fx, fovea.tensor(weight), fovea.tensor(bias), padding=1)
    assert calls["correlate"] == 3 and out._ctx is None


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # PyTorch's note
@pytest.mark.parametrize("module", [False, True], ids=["functional", "module"])
@pytest.mark.parametrize("padding", [(2, 1), "same", "valid"], ids=str)
def test_lenet_shapes_and_padding_strings(padding, module, calls, torch):
    """A LeNet-5-like first layer (six 5×5 kernels, and a 4×4 one for 'same' with an even
    kernel, padded by pad first) as F.conv2d and as nn.Conv2d."""
    kernel = (4, 4) if padding == "same" else 5
    x, weight, bias, _ = _data(4, 1, 6, 12, 10, kernel)
    ty = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(weight), padding=padding)
    cot = _rand(np.random.default_rng(5), tuple(ty.shape), np.float32)
    got, _ = _fovea_conv(x, weight, bias, cot, module=module, padding=padding)
    assert calls == {"correlate": 1, "gradients": 1}
    _assert_all_close(got, _torch_conv(torch, x, weight, bias, cot, padding=padding), 1e-4)


@pytest.mark.parametrize("kwargs", [
    {"c": 6}, {"stride": 2}, {"dilation": 2}, {"padding": 3}, {"padding": (0, 4)},
    {"kernel": (3, 1), "padding": 1},
], ids=str)
def test_conv2d_outside_applies_matches_torch(kwargs, calls, torch):
    """More than MAX_CHANNEL_PAIRS channel pairs (6 · 3), stride 2, dilation 2 or padding of
    the kernel's size or more in either axis run by im2col (or Winograd), and agree with
    PyTorch all the same."""
    c, kernel = kwargs.pop("c", 1), kwargs.pop("kernel", 3)
    x, weight, bias, cot = _data(2, c, 3, 9, 10, kernel, **kwargs)
    got, _ = _fovea_conv(x, weight, bias, cot, **kwargs)
    assert calls == {"correlate": 0, "gradients": 0}
    _assert_all_close(got, _torch_conv(torch, x, weight, bias, cot, **kwargs), 1e-4)
    _fovea_conv(*_data(2, 1, 3, 9, 10, 3, padding=1), padding=1)
    assert calls == {"correlate": 1, "gradients": 1}  # the same counter sees a direct run


GRADCHECK = [
    # N, O, H, W, kernel, padding, bias
    (2, 2, 5, 6, 3, (1, 1), True),
    (1, 3, 4, 7, (2, 4), (1, 3), True),
    (2, 1, 6, 4, (3, 2), (2, 0), False),
]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("case", GRADCHECK, ids=str)
def test_conv2d_direct_gradcheck(case, calls):
    """float64 central differences through conv2d run directly, with every input, then with
    the weight or the input alone requiring a gradient."""
    n, o, h, w, kernel, padding, with_bias = case
    x, weight, bias, _ = _data(n, 1, o, h, w, kernel, np.float64, padding=padding)
    arrays = (x, weight, bias) if with_bias else (x, weight)
    leaves = [fovea.tensor(a, requires_grad=True) for a in arrays]

    def conv(x_, w_, *b):
        return F.conv2d(x_, w_, *(b or [None]), padding=padding)

    assert gradcheck(conv, leaves)["ok"]
    assert calls["correlate"] and calls["gradients"] == 1
    assert gradcheck(lambda w_: conv(fovea.tensor(x), w_), [leaves[1]])["ok"]
    assert gradcheck(lambda x_: conv(x_, fovea.tensor(weight)), [leaves[0]])["ok"]
    assert calls["gradients"] == 3


@DTYPES
@pytest.mark.parametrize("module", [False, True], ids=["functional", "module"])
@pytest.mark.parametrize("case", [
    # N, O, H, W, kernel, padding
    (3, 6, 12, 10, 5, 2), (1, 4, 9, 13, (2, 11), (1, 4)), (5, 3, 8, 13, 12, (11, 0)),
], ids=str)
def test_kernel_paths_agree_through_conv2d(case, module, dtype, calls):
    """The forced NumPy path and the forced numba path give the same conv2d and gradients."""
    n, o, h, w, kernel, padding = case
    args = _data(n, 1, o, h, w, kernel, dtype, padding=padding)
    got = {}
    for path in PATHS:
        with _path(path):
            got[path], _ = _fovea_conv(*args, module=module, padding=padding)
    assert calls == {"correlate": 2, "gradients": 2}
    for arr in got["numba"]:
        assert np.isfinite(arr).all()
    _assert_all_close(got["numba"], got["numpy"], 10 * TOL[dtype], " (numba vs numpy)")


@pytest.mark.parametrize("channels", [1, 3], ids=["direct", "im2col"])
@pytest.mark.parametrize("padding", [-1, (0, -2)], ids=str)
def test_negative_padding_is_refused(channels, padding):
    """PyTorch refuses negative padding; fovea says so instead of cropping (im2col) or failing
    inside a copy (the direct path)."""
    x = fovea.tensor(np.zeros((1, channels, 6, 6), np.float32))
    w = fovea.tensor(np.zeros((2, channels, 3, 3), np.float32))
    with pytest.raises(ValueError, match="padding must not be negative"):
        F.conv2d(x, w, padding=padding)
    with pytest.raises(ValueError, match="padding must not be negative"):
        F.conv_transpose2d(x, fovea.tensor(np.zeros((channels, 2, 3, 3), np.float32)),
                           padding=padding)
