"""Winograd F(2×2, 3×3) and F(4×4, 3×3) (fovea.kernels.winograd, fovea.ops.winograd).

The four transform kernels give the same results on both paths (NumPy reference and numba),
write every element of their output, match the transforms' definitions (Bᵀ d B and Aᵀ M A
tile by tile) and the adjoint kernels are the adjoints; ``correlate`` and ``gradients``
match PyTorch's conv2d; conv2d through the public API runs by Winograd where ``applies``
says so (the tests check that it did) and agrees with PyTorch, with the im2col path and with
central differences; ``choose`` follows its documented cost rule."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close

import fovea
import fovea.nn.functional as F
from fovea import kernels
from fovea.autograd.gradcheck import gradcheck
from fovea.kernels import winograd as kw
from fovea.ops import direct_conv
from fovea.ops import winograd as wg

pytest.importorskip("numba")

PLANS = {"F2": wg.F2, "F4": wg.F4}
PATHS = ("numpy", "numba")
TOL = {np.float32: 1e-5, np.float64: 1e-12}  # between the two kernel paths


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _nan(shape, dtype):
    return np.full(shape, np.nan, dtype)


# ---- the transform kernels ----------------------------------------------------------------
KERNEL_CASES = [
    # C, H, W, N, ph, pw
    (2, 9, 7, 1, 0, 0),     # odd sizes, output 7×5, N = 1
    (3, 8, 8, 3, 1, 1),     # even sizes, output a multiple of 2 and 4
    (2, 11, 9, 2, 1, 1),    # output 11×9: partial last tiles of both plans
    (2, 1, 8, 2, 2, 2),     # output 3×10: an image row shorter than the kernel
    (2, 6, 11, 4, 1, 2),    # ph != pw
    (3, 10, 7, 1, 2, 0),    # ph != pw, no column padding
    (1, 4, 5, 5, 0, 1),     # output 2×5: one row of tiles, F4's cut to 2 rows
    (2, 13, 6, 2, 0, 2),    # output 11×8
    (2, 2, 3, 3, 3, 1),     # padding wider than the kernel's reach: rows of padding only
]


def _tiles(case, plan):
    c, h, w, n, ph, pw = case
    oh, ow = h + 2 * ph - 2, w + 2 * pw - 2
    return oh, ow, kw.tiles(oh, plan.m), kw.tiles(ow, plan.m)


def _run_kernels(case, plan, dtype, rng):
    """Every kernel on random inputs, on both paths, outputs NaN-filled first:
    {path: (v, dx, y, dm)} and the inputs (xb, dv, mt, bias, g)."""
    c, h, w, n, ph, pw = case
    oh, ow, th, tw = _tiles(case, plan)
    aa, o = (plan.m + 2) ** 2, c + 1
    xb = _rand(rng, (c, h, w, n), dtype)
    dv = _rand(rng, (c, aa, th, tw, n), dtype)
    mt = _rand(rng, (o, aa, th, tw, n), dtype)
    bias = _rand(rng, (o,), dtype)
    g = _rand(rng, (o, oh, ow, n), dtype)
    bt, at = plan.bt.astype(dtype), plan.at.astype(dtype)
    got = {}
    for path in PATHS:
        v, dx = _nan(dv.shape, dtype), _nan(xb.shape, dtype)
        y, dm = _nan(g.shape, dtype), _nan(mt.shape, dtype)
        with kernels.forced(path):
            kw.input_transform(xb, bt, v, ph, pw)
            kw.input_transform_adjoint(dv, bt, dx, ph, pw)
            kw.output_transform(mt, at, bias, y)
            kw.output_transform_adjoint(g, at, dm)
        got[path] = v, dx, y, dm
    return got, (xb, dv, mt, bias, g)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("case", KERNEL_CASES, ids=str)
def test_kernel_paths_agree_and_write_everything(case, plan, dtype):
    plan = PLANS[plan]
    got, _ = _run_kernels(case, plan, dtype, np.random.default_rng(0))
    names = ("input_transform", "input_transform_adjoint", "output_transform",
             "output_transform_adjoint")
    for name, a, b in zip(names, got["numba"], got["numpy"]):
        for path, arr in (("numba", a), ("numpy", b)):
            assert np.isfinite(arr).all(), f"{name} ({path}) left elements unwritten"
        assert_close(a, b, TOL[dtype], what=name)


def _padded(xb, ph, pw, rows, cols):
    """xb (C, H, W, N) zero-padded by (ph, pw) before and cut or zero-extended to rows × cols."""
    c, h, w, n = xb.shape
    p = np.zeros((c, max(rows, h + ph), max(cols, w + pw), n), xb.dtype)
    p[:, ph:ph + h, pw:pw + w] = xb
    return p[:, :rows, :cols]


@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("case", KERNEL_CASES, ids=str)
def test_kernels_follow_the_definitions(case, plan):
    """V = Bᵀ d B for each a×a input tile d (zero outside the image); y = Aᵀ M A + bias for
    each tile, cut at the output's edge; and the adjoint kernels are the adjoints:
    ⟨input_transform(x), dv⟩ = ⟨x, input_transform_adjoint(dv)⟩ and
    ⟨output_transform(M, bias 0), g⟩ = ⟨M, output_transform_adjoint(g)⟩, on both paths."""
    name, plan = plan, PLANS[plan]
    c, h, w, n, ph, pw = case
    oh, ow, th, tw = _tiles(case, plan)
    m, a = plan.m, plan.m + 2
    rng = np.random.default_rng(1)
    got, (xb, dv, mt, bias, g) = _run_kernels(case, plan, np.float64, rng)
    p = _padded(xb, ph, pw, m * th + 2, m * tw + 2)
    d = np.stack([np.stack([p[:, m * ty:m * ty + a, m * tx:m * tx + a] for tx in range(tw)],
                           axis=1) for ty in range(th)], axis=1)  # (C, TH, TW, a, a, N)
    v_def = np.einsum("ri,ctuijn,qj->crqtun", plan.bt, d, plan.bt).reshape(c, a * a, th, tw, n)
    mm = mt.reshape(mt.shape[0], a, a, th, tw, n)
    y_tiles = np.einsum("ir,orqtun,bq->otiubn", plan.at, mm, plan.at)  # (O, TH, m, TW, m, N)
    y_def = y_tiles.reshape(mt.shape[0], m * th, m * tw, n)[:, :oh, :ow]
    y_def = y_def + bias[:, None, None, None]
    zero = np.zeros_like(bias)
    for path in PATHS:
        v, dx, y, dm = got[path]
        assert_close(v, v_def, 1e-12, what=f"{name} {path} input_transform")
        assert_close(y, y_def, 1e-12, what=f"{name} {path} output_transform")
        lhs, rhs = np.vdot(v, dv), np.vdot(xb, dx)
        assert abs(lhs - rhs) <= 1e-10 * (abs(lhs) + 1), (path, lhs, rhs)
        y0 = np.empty_like(g)
        with kernels.forced(path):
            kw.output_transform(mt, plan.at, zero, y0)
        lhs, rhs = np.vdot(y0, g), np.vdot(mt, dm)
        assert abs(lhs - rhs) <= 1e-10 * (abs(lhs) + 1), (path, lhs, rhs)


def test_tiles():
    assert [kw.tiles(s, 2) for s in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3]
    assert [kw.tiles(s, 4) for s in (1, 4, 5, 8, 9)] == [1, 1, 2, 2, 3]


# ---- correlate and gradients against PyTorch ----------------------------------------------
OPS_CASES = [
    # N, C, O, H, W, padding: outputs 7×5, 11×9, 3×10, 2×2, 8×8, and ph != pw
    (2, 3, 4, 9, 7, (0, 0)),
    (1, 4, 3, 11, 9, (1, 1)),
    (3, 2, 5, 1, 8, (2, 2)),
    (2, 3, 2, 4, 4, (0, 0)),
    (4, 5, 6, 8, 8, (1, 1)),
    (2, 3, 4, 7, 6, (1, 2)),
    (1, 2, 3, 9, 5, (2, 0)),
    (2, 3, 4, 2, 3, (3, 1)),  # output 6×3 with rows that read padding only
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("case", OPS_CASES, ids=str)
def test_correlate_and_gradients_match_torch(case, plan, dtype, path, torch):
    n, c, o, h, w, padding = case
    plan = PLANS[plan]
    rng = np.random.default_rng(2)
    x = _rand(rng, (n, c, h, w), dtype)
    weight = _rand(rng, (o, c, 3, 3), dtype)
    bias = _rand(rng, (o,), dtype)
    tx, tw_ = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw_, torch.tensor(bias), padding=padding)
    cot = _rand(rng, tuple(ty.shape), dtype)
    (ty * torch.tensor(cot)).sum().backward()
    xb = np.ascontiguousarray(x.transpose(1, 2, 3, 0))
    gb = np.ascontiguousarray(cot.transpose(1, 2, 3, 0))
    with kernels.forced(path):
        y, u, v = wg.correlate(xb, weight, bias, padding, plan)
        dx, dw = wg.gradients(gb, u, v, xb.shape, padding, plan, True, True)
        only_x = wg.gradients(gb, u, v, xb.shape, padding, plan, True, False)
        only_w = wg.gradients(gb, u, v, xb.shape, padding, plan, False, True)
    rtol = 1e-4 if dtype == np.float32 else 1e-10
    assert y.dtype == dx.dtype == dw.dtype == dtype
    assert_close(y.transpose(3, 0, 1, 2), ty.detach().numpy(), rtol, "output")
    assert_close(dx.transpose(3, 0, 1, 2), tx.grad.numpy(), rtol, "input grad")
    assert_close(dw, tw_.grad.numpy(), rtol, "weight grad")
    assert only_x[1] is None and only_w[0] is None
    np.testing.assert_array_equal(only_x[0], dx)
    np.testing.assert_array_equal(only_w[1], dw)


def test_f4_float32_error_is_small(torch):
    """F(4×4)'s float32 error stays near 1e-6 of the output's scale (the module's claim)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 32, 12, 12)).astype(np.float32)
    weight = rng.standard_normal((8, 32, 3, 3)).astype(np.float32)
    y, _, _ = wg.correlate(np.ascontiguousarray(x.transpose(1, 2, 3, 0)), weight, None, (1, 1),
                           wg.F4)
    ref = torch.nn.functional.conv2d(torch.tensor(x, dtype=torch.float64),
                                     torch.tensor(weight, dtype=torch.float64), padding=1)
    ref = ref.numpy()
    err = np.abs(y.transpose(3, 0, 1, 2) - ref).max() / np.abs(ref).max()
    assert err <= 1e-5, err


# ---- through the public API ---------------------------------------------------------------
@pytest.fixture
def calls(monkeypatch):
    """Records the plan of every call of fovea.ops.winograd.correlate."""
    plans = []
    correlate = wg.correlate

    def counted(xb, weight, bias, padding, plan):
        plans.append(plan)
        return correlate(xb, weight, bias, padding, plan)

    monkeypatch.setattr(wg, "correlate", counted)
    return plans


def _fovea_conv(x, weight, bias, padding, cot, module=False):
    """conv2d (functional, or an nn.Conv2d holding the weights) and the gradients of
    sum(out · cot), as arrays: out, dx, dW, db."""
    fx = fovea.tensor(x.copy(), requires_grad=True)
    if module:
        layer = fovea.nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=padding)
        layer.load_state_dict({"weight": weight.copy(), "bias": bias.copy()})
        fw, fb = layer.weight, layer.bias
        out = layer(fx)
    else:
        fw = fovea.tensor(weight.copy(), requires_grad=True)
        fb = fovea.tensor(bias.copy(), requires_grad=True)
        out = F.conv2d(fx, fw, fb, padding=padding)
    (out * fovea.tensor(cot)).sum().backward()
    return [out.detach().numpy().copy(), fx.grad.numpy().copy(), fw.grad.numpy().copy(),
            fb.grad.numpy().copy()]


API_CASES = [
    # N, C, O, H, W, padding, the plan choose() picks
    (3, 16, 24, 9, 7, (1, 1), 2),
    (8, 16, 16, 16, 16, (1, 1), 4),
    (2, 20, 17, 11, 10, (0, 2), 2),
]


@pytest.mark.parametrize("module", [False, True], ids=["functional", "module"])
@pytest.mark.parametrize("case", API_CASES, ids=str)
def test_conv2d_by_winograd_matches_torch_and_im2col(case, module, calls, monkeypatch, torch):
    n, c, o, h, w, padding, m = case
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    weight = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    oh, ow = h + 2 * padding[0] - 2, w + 2 * padding[1] - 2
    cot = rng.standard_normal((n, o, oh, ow)).astype(np.float32)
    assert wg.choose(oh, ow, n).m == m
    wino = _fovea_conv(x, weight, bias, padding, cot, module)
    assert [p.m for p in calls] == [m], "conv2d did not run by Winograd"

    tx = torch.tensor(x, requires_grad=True)
    tw_ = torch.tensor(weight, requires_grad=True)
    tb = torch.tensor(bias, requires_grad=True)
    ty = torch.nn.functional.conv2d(tx, tw_, tb, padding=padding)
    (ty * torch.tensor(cot)).sum().backward()
    ref = [ty.detach().numpy(), tx.grad.numpy(), tw_.grad.numpy(), tb.grad.numpy()]
    names = ("out", "x.grad", "w.grad", "b.grad")
    for name, a, b in zip(names, wino, ref):
        assert a.dtype == np.float32
        assert_close(a, b, 1e-4, what=name)

    monkeypatch.setattr(wg, "MIN_CHANNELS", 1 << 30)
    im2col = _fovea_conv(x, weight, bias, padding, cot, module)
    assert len(calls) == 1, "Winograd ran with MIN_CHANNELS out of reach"
    for name, a, b in zip(names, wino, im2col):
        assert_close(a, b, 1e-4, what=f"{name} (im2col)")


@pytest.mark.parametrize("kwargs", [
    {"stride": 2}, {"dilation": 2}, {"groups": 2}, {"kernel": 5}, {"c": 15}, {"o": 15},
], ids=str)
def test_conv2d_outside_applies_keeps_im2col(kwargs, calls):
    k, c, o = kwargs.pop("kernel", 3), kwargs.pop("c", 16), kwargs.pop("o", 16)
    groups = kwargs.get("groups", 1)
    x = fovea.randn(2, c, 10, 10)
    F.conv2d(x, fovea.randn(o, c // groups, k, k), padding=1, **kwargs)
    assert calls == []
    F.conv2d(fovea.randn(2, 16, 10, 10), fovea.randn(16, 16, 3, 3), padding=1)
    assert len(calls) == 1  # the same counter sees a call that applies


GRADCHECK = [
    # N, C, O, H, W, padding, bias
    (2, 2, 3, 6, 5, (1, 1), True),
    (1, 3, 2, 7, 9, (0, 2), True),
    (2, 1, 2, 5, 6, (2, 1), False),
]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("plan", PLANS)
@pytest.mark.parametrize("case", GRADCHECK, ids=str)
def test_conv2d_by_winograd_gradcheck(case, plan, calls, monkeypatch):
    """float64 central differences through conv2d with Winograd on small shapes (MIN_CHANNELS
    lowered to 1 and the plan forced), with every input, then with the weight or the input
    alone requiring a gradient."""
    n, c, o, h, w, padding, with_bias = case
    monkeypatch.setattr(wg, "MIN_CHANNELS", 1)
    monkeypatch.setattr(direct_conv, "MAX_CHANNEL_PAIRS", 0)  # which would take these first
    monkeypatch.setattr(wg, "choose", lambda oh, ow, n: PLANS[plan])
    rng = np.random.default_rng(5)
    x, weight = rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, 3, 3))
    bias = [rng.standard_normal(o)] if with_bias else []
    leaves = [fovea.tensor(a, requires_grad=True) for a in (x, weight, *bias)]

    def conv(x_, w_, *b):
        return F.conv2d(x_, w_, *(b or [None]), padding=padding)

    assert gradcheck(conv, leaves)["ok"]
    assert calls and all(p is PLANS[plan] for p in calls)
    assert gradcheck(lambda w_: conv(fovea.tensor(x), w_), [leaves[1]])["ok"]
    assert gradcheck(lambda x_: conv(x_, fovea.tensor(weight)), [leaves[0]])["ok"]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("plan", PLANS)
def test_chained_winograd_convs_gradcheck(plan, calls, monkeypatch):
    """A Winograd conv fed the (N, C, H, W) view of another's batch-last output, then a
    ReLU: the second reads the first's memory without a copy."""
    monkeypatch.setattr(wg, "MIN_CHANNELS", 1)
    monkeypatch.setattr(direct_conv, "MAX_CHANNEL_PAIRS", 0)  # which would take these first
    monkeypatch.setattr(wg, "choose", lambda oh, ow, n: PLANS[plan])
    rng = np.random.default_rng(8)
    leaves = [fovea.tensor(a, requires_grad=True) for a in (
        rng.standard_normal((2, 2, 7, 6)), rng.standard_normal((3, 2, 3, 3)),
        rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(2))]

    def net(x, w1, w2, b2):
        return F.conv2d(F.conv2d(x, w1, padding=1), w2, b2, padding=(0, 1)).relu()

    assert gradcheck(net, leaves)["ok"]
    assert len(calls) >= 2


# ---- choose and applies -------------------------------------------------------------------
def _cost(plan, oh, ow, n):
    """The documented estimate: a² multiplications per tile column at the speed
    T / (T + HALF_SPEED_COLUMNS) for T columns of tiles."""
    t = kw.tiles(oh, plan.m) * kw.tiles(ow, plan.m) * n
    speed = t / (t + wg.HALF_SPEED_COLUMNS)
    return (plan.m + 2) ** 2 * t / speed


def test_choose():
    assert wg.choose(32, 32, 128) is wg.F4  # a wide batch: F4's fewer multiplications win
    assert wg.choose(7, 7, 8) is wg.F2  # F4 would have 32 tile columns, half of them waste
    for oh in (2, 3, 5, 7, 8, 13, 16, 32):
        for ow in (2, 4, 7, 9, 16):
            for n in (1, 4, 16, 64, 256):
                costs = {p.m: _cost(p, oh, ow, n) for p in (wg.F2, wg.F4)}
                best = wg.choose(oh, ow, n)
                assert best in (wg.F2, wg.F4)
                assert costs[best.m] <= min(costs.values()) * (1 + 1e-12), (oh, ow, n)


def test_plans_are_consistent():
    """Each plan computes a 1-D correlation of a tile exactly: Aᵀ[(G g) ⊙ (Bᵀ d)] equals the
    m outputs of the 3-tap correlation of d with g."""
    rng = np.random.default_rng(6)
    for plan in PLANS.values():
        assert plan.bt.shape == (plan.m + 2,) * 2
        assert plan.g.shape == (plan.m + 2, 3) and plan.at.shape == (plan.m, plan.m + 2)
        d, g = rng.standard_normal(plan.m + 2), rng.standard_normal(3)
        direct = np.array([d[i:i + 3] @ g for i in range(plan.m)])
        np.testing.assert_allclose(plan.at @ ((plan.g @ g) * (plan.bt @ d)), direct,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("plan", PLANS)
def test_weight_transform_and_its_adjoint(plan):
    plan = PLANS[plan]
    rng = np.random.default_rng(7)
    weight = rng.standard_normal((3, 2, 3, 3))
    u = wg.transform_weight(weight, plan)
    a = plan.m + 2
    expect = np.einsum("ri,ocij,qj->rqoc", plan.g, weight, plan.g).reshape(a * a, 3, 2)
    np.testing.assert_allclose(u, expect, rtol=1e-12, atol=1e-12)
    du = rng.standard_normal(u.shape)
    lhs = np.vdot(u, du)
    # it takes dUᵀ (a², C, O), the orientation backward's GEMM produces
    rhs = np.vdot(weight, wg.weight_from_transformed_grad(du.transpose(0, 2, 1), plan))
    assert abs(lhs - rhs) <= 1e-10 * (abs(lhs) + 1)


def test_applies():
    base = dict(kh=3, kw_=3, stride=(1, 1), dilation=(1, 1), groups=1, c=16, o=16, oh=8, ow=8)
    assert wg.applies(**base)
    assert wg.applies(**{**base, "oh": 2, "ow": 2})
    for change in ({"stride": (2, 2)}, {"stride": (1, 2)}, {"dilation": (2, 2)},
                   {"dilation": (1, 2)}, {"groups": 2}, {"kh": 5, "kw_": 5}, {"kh": 1, "kw_": 1},
                   {"kw_": 5}, {"c": wg.MIN_CHANNELS - 1}, {"o": wg.MIN_CHANNELS - 1},
                   {"oh": 1}, {"ow": 1}):
        assert not wg.applies(**{**base, **change}), change
