"""Activation functions (fovea.ops.activations, fovea.nn.activation).

- erf / erfc against math.erf / math.erfc (float64, a few ulp) and in float32;
- every primitive's gradient against central differences in float64 (gradcheck), away from
  the kinks, PReLU's weight included (1 slope and one per channel, 2-D and 4-D input);
- forward and backward against torch.nn.functional and torch.nn on random float32 inputs
  (max error ≤ 1e-4 · max(1, max|torch|)), at the kinks too, and the modules' reprs and
  PReLU's state_dict;
- stability at ±1000 in float32: no overflow, invalid or divide-by-zero (raised as errors),
  exact saturated values (underflow to 0 is the right answer there, so it is allowed);
- float32 in, float32 out (and gradients); float64 stays float64.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from helpers import assert_close as shared_assert_close

import fovea
from fovea.autograd import gradcheck
from fovea.errors import ShapeError
from fovea.nn import activation as M
from fovea.ops import activations as A

pytestmark = pytest.mark.usefixtures("seeded")

R = np.random.default_rng(20240917)
TOL = 1e-4


def randn(*shape, scale=1.0, dtype=np.float64):
    return (scale * R.standard_normal(shape)).astype(dtype)


def away(*shape, gap=0.1, hi=3.0, dtype=np.float64):
    """Random values with gap ≤ |x| ≤ hi (random sign): clear of a kink at 0."""
    return (R.choice([-1.0, 1.0], shape) * R.uniform(gap, hi, shape)).astype(dtype)


def distinct(*shape):
    """Values with no ties (gaps ≥ 0.01), in random order."""
    n = int(np.prod(shape))
    return (R.permutation(n) * 0.01 - n * 0.005 + R.uniform(0, 0.002, n)).reshape(shape)


def check(fn, *arrays):
    """gradcheck fn over float64 leaves made from ``arrays``."""
    inputs = [fovea.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    assert gradcheck(fn, inputs)["ok"]


# ---- erf ----------------------------------------------------------------------------------
def test_erf_erfc_match_libm_in_float64():
    x = np.concatenate([np.linspace(-7, 7, 1401), np.linspace(-27, 27, 541),
                        [0.0, 0.46875, -0.46875, 4.0, -4.0, 1e-12, -1e-300]])
    e, c = A.erf(x), A.erfc(x)
    assert e.dtype == c.dtype == np.float64
    ref_e = np.array([math.erf(v) for v in x])
    ref_c = np.array([math.erfc(v) for v in x])
    assert np.all(np.abs(e - ref_e) <= 4e-16 * np.maximum(np.abs(ref_e), 1e-300))
    normal = ref_c > 1e-300  # below that, erfc is subnormal in float64 and returned as 0
    assert np.all(np.abs(c - ref_c)[normal] <= 1e-15 * ref_c[normal])  # a few ulp
    assert np.all(np.abs(c - ref_c)[~normal] <= 1e-300)


def test_erf_float32_dtype_and_accuracy():
    x = np.linspace(-12, 12, 2401).astype(np.float32)
    e, c = A.erf(x), A.erfc(x)
    assert e.dtype == c.dtype == np.float32
    ref_e = np.array([math.erf(v) for v in x.astype(np.float64)])
    ref_c = np.array([math.erfc(v) for v in x.astype(np.float64)])
    assert np.abs(e - ref_e).max() <= 2e-7
    normal = ref_c > 1e-37
    assert np.all(np.abs(c - ref_c)[normal] <= 1e-6 * ref_c[normal])


def test_erf_special_values_scalars_and_tensors():
    out = A.erf(np.array([np.inf, -np.inf, np.nan, 0.0, -0.0]))
    assert out[0] == 1 and out[1] == -1 and np.isnan(out[2]) and out[3] == 0
    assert np.signbit(out[4])  # erf(−0) = −0
    outc = A.erfc(np.array([np.inf, -np.inf, np.nan]))
    assert outc[0] == 0 and outc[1] == 2 and np.isnan(outc[2])
    assert A.erf(0.5) == pytest.approx(math.erf(0.5), rel=1e-15)
    assert A.erf(np.float32(0.5)).dtype == np.float32
    assert A.erf([1, 2]).dtype == np.float64
    t = A.erf(fovea.tensor([0.5, 1.0]))
    assert isinstance(t, fovea.Tensor) and t.dtype == np.float32
    assert A.erf(np.zeros((0, 3))).shape == (0, 3)


@pytest.mark.parametrize("fn", [A.erf, A.erfc], ids=["erf", "erfc"])
def test_erf_gradcheck(fn):
    check(fn, randn(3, 4, scale=2.0))


# ---- gradcheck of the primitives ----------------------------------------------------------
@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5])
def test_leaky_relu_gradcheck(slope):
    check(lambda x: A.leaky_relu(x, slope), away(3, 5))


@pytest.mark.parametrize("alpha", [1.0, 0.5])
def test_elu_gradcheck(alpha):
    check(lambda x: A.elu(x, alpha), away(3, 5, gap=0.01))


def test_selu_gradcheck():
    check(A.selu, away(3, 5, gap=0.01))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradcheck(approximate):
    check(lambda x: A.gelu(x, approximate=approximate), randn(4, 6, scale=2.5))


def test_gelu_float32_matches_float64():
    # float32 takes A&S 7.1.26 (PyTorch's CPU formula), float64 Cody's erfc: value and
    # derivative agree to float32 resolution over the whole range, the tails and −0 included
    # more than one block of _gelu_float32 (65536), the last one partial
    x = np.concatenate([np.linspace(-12, 12, 70001), [-40.0, -0.0, 0.0, 40.0, 1e4]])
    f32 = fovea.tensor(x.astype(np.float32), requires_grad=True)
    f64 = fovea.tensor(x, requires_grad=True)
    y32, y64 = A.gelu(f32), A.gelu(f64)
    y32.sum().backward()
    y64.sum().backward()
    assert y32.dtype == np.float32 and f32.grad.dtype == np.float32
    err = np.abs(y32.detach().numpy() - y64.detach().numpy()) / np.maximum(1, np.abs(x))
    assert err.max() <= 3e-7, err.max()
    assert np.abs(f32.grad.numpy() - f64.grad.numpy()).max() <= 5e-7
    assert A.gelu(fovea.tensor(np.float32(1.5))).shape == ()
    with fovea.no_grad():  # the path that keeps nothing for backward
        np.testing.assert_array_equal(A.gelu(fovea.tensor(x.astype(np.float32))).numpy(),
                                      y32.detach().numpy())


def test_silu_gradcheck():
    check(A.silu, randn(4, 6, scale=3.0))


@pytest.mark.parametrize("beta,threshold", [(1.0, 20.0), (2.0, 3.0), (0.5, 1.0)])
def test_softplus_gradcheck(beta, threshold):
    x = randn(4, 6, scale=3.0)
    x = x[np.abs(beta * x - threshold) > 0.05]  # clear of the switch to linear
    check(lambda x: A.softplus(x, beta, threshold), x)


@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (-0.5, 2.0)])
def test_hardtanh_gradcheck(lo, hi):
    x = randn(30, scale=2.0)
    x = x[(np.abs(x - lo) > 0.05) & (np.abs(x - hi) > 0.05)]
    check(lambda x: A.hardtanh(x, lo, hi), x)


@pytest.mark.parametrize("xshape,wsize", [((4, 3), 1), ((4, 3), 3), ((2, 3, 2, 2), 1),
                                          ((2, 3, 2, 2), 3), ((5,), 1), ((), 1)])
def test_prelu_gradcheck_input_and_weight(xshape, wsize):
    x = away(*xshape)
    w = R.uniform(-0.5, 0.8, wsize)
    check(A.prelu, x, w)


@pytest.mark.parametrize("shape,k", [((3, 6), 2), ((2, 6, 2, 2), 3), ((2, 4, 3), 4),
                                     ((2, 3), 1)])
def test_maxout_gradcheck(shape, k):
    check(lambda x: A.maxout(x, k), distinct(*shape))


# ---- maxout: grouping and ties --------------------------------------------------------------
def test_maxout_groups_consecutive_channels_and_ties_go_to_the_first():
    x = np.array([[1.0, 3.0, 2.0, 5.0, 5.0, 4.0, -1.0, -1.0, -1.0]], dtype=np.float32)
    t = fovea.tensor(x, requires_grad=True)
    out = A.maxout(t, 3)  # groups (1, 3, 2), (5, 5, 4), (−1, −1, −1)
    assert out.shape == (1, 3) and out.dtype == np.float32
    np.testing.assert_array_equal(out.detach().numpy(), [[3.0, 5.0, -1.0]])
    out.backward(np.array([[10.0, 20.0, 30.0]], dtype=np.float32))
    np.testing.assert_array_equal(t.grad.numpy(),
                                  [[0, 10, 0, 20, 0, 0, 30, 0, 0]])


def test_maxout_rejects_bad_shapes():
    with pytest.raises(ShapeError):
        A.maxout(fovea.tensor(np.zeros((2, 5), np.float32)), 2)
    with pytest.raises(ShapeError):
        A.maxout(fovea.tensor(np.zeros(6, np.float32)), 2)
    with pytest.raises(ValueError):
        M.Maxout(0)


def test_prelu_rejects_wrong_channel_count_and_dtype():
    with pytest.raises(ShapeError):
        A.prelu(fovea.tensor(np.zeros((2, 4), np.float32)), fovea.tensor(np.ones(3, np.float32)))
    with pytest.raises(ShapeError):
        A.prelu(fovea.tensor(np.zeros(3, np.float32)), fovea.tensor(np.ones(3, np.float32)))
    with pytest.raises(TypeError):
        A.prelu(fovea.tensor(np.zeros((2, 3), np.float32)), fovea.tensor(np.ones(3)))


# ---- stability at ±1000 and dtypes -----------------------------------------------------------
BIG = np.array([-1000.0, -100.0, -20.0, -1.0, 0.0, 1.0, 20.0, 100.0, 1000.0], dtype=np.float32)

FUNCS = {
    "leaky_relu": lambda x: A.leaky_relu(x, 0.1),
    "prelu": lambda x: A.prelu(x, fovea.tensor(np.array([0.25], dtype=x.dtype))),
    "elu": lambda x: A.elu(x, 0.7),
    "selu": A.selu,
    "gelu": A.gelu,
    "gelu_tanh": lambda x: A.gelu(x, approximate="tanh"),
    "silu": A.silu,
    "softplus": A.softplus,
    "softplus_beta": lambda x: A.softplus(x, beta=3.0, threshold=1e6),  # never linear
    "hardtanh": A.hardtanh,
    "maxout": lambda x: A.maxout(x.reshape(1, -1), 3),
    "erf": A.erf,
    "erfc": A.erfc,
    "sigmoid": fovea.sigmoid,
    "tanh": fovea.tanh,
}


@pytest.mark.parametrize("name", sorted(FUNCS))
def test_stable_at_large_inputs_float32(name):
    x = fovea.tensor(BIG, requires_grad=True)
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        out = FUNCS[name](x)
        out.backward(np.ones(out.shape, dtype=np.float32))
    assert out.dtype == np.float32 and x.grad.dtype == np.float32
    assert np.all(np.isfinite(out.detach().numpy())), out
    assert np.all(np.isfinite(x.grad.numpy())), x.grad


def _at(fn, v, dtype=np.float32):
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        return fn(fovea.tensor(np.array([v], dtype=dtype))).numpy()[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturated_values_are_exact(dtype):
    assert _at(fovea.sigmoid, -1000.0, dtype) == 0
    assert _at(fovea.sigmoid, 1000.0, dtype) == 1
    assert _at(A.softplus, 1000.0, dtype) == 1000
    assert _at(A.softplus, -1000.0, dtype) == 0
    assert _at(lambda x: A.softplus(x, 2.0, 1e9), 1000.0, dtype) == 1000  # via the log1p form
    assert _at(lambda x: A.elu(x, 0.7), -1000.0, dtype) == np.asarray(-0.7, dtype)
    assert _at(A.selu, -1000.0, dtype) == np.asarray(-A.SELU_ALPHA * A.SELU_SCALE, dtype)
    assert _at(A.selu, 1000.0, dtype) == dtype(1000) * dtype(A.SELU_SCALE)
    for approximate in ("none", "tanh"):
        assert _at(lambda x, a=approximate: A.gelu(x, approximate=a), 1000.0, dtype) == 1000
        assert _at(lambda x, a=approximate: A.gelu(x, approximate=a), -1000.0, dtype) == 0
    assert _at(A.silu, -1000.0, dtype) == 0  # −0 or 0
    assert _at(A.silu, 1000.0, dtype) == 1000
    assert _at(A.erf, 1000.0, dtype) == 1 and _at(A.erfc, 1000.0, dtype) == 0
    assert _at(A.erf, -1000.0, dtype) == -1 and _at(A.erfc, -1000.0, dtype) == 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(FUNCS))
def test_dtype_preserved(name, dtype):
    x = fovea.tensor(randn(2, 6, scale=3.0, dtype=dtype), requires_grad=True)
    out = FUNCS[name](x)
    assert out.dtype == dtype
    out.sum().backward()
    assert x.grad.dtype == dtype


def test_integer_input_becomes_default_float():
    out = A.gelu(fovea.tensor([-2, 0, 3]))
    assert out.dtype == np.float32


# ---- modules (no torch needed) ---------------------------------------------------------------
def test_prelu_module_parameter_and_state_dict():
    m = M.PReLU(3)
    sd = m.state_dict()
    assert list(sd) == ["weight"] and sd["weight"].shape == (3,)
    assert sd["weight"].dtype == np.float32
    np.testing.assert_array_equal(sd["weight"].numpy(), [0.25, 0.25, 0.25])
    assert [p.shape for p in m.parameters()] == [(3,)]
    x = fovea.tensor(away(2, 3, 4, 4, dtype=np.float32))
    m(x).sum().backward()
    assert m.weight.grad.shape == (3,) and m.weight.grad.dtype == np.float32
    assert M.PReLU(init=0.1, dtype=np.float64).weight.dtype == np.float64


def test_hardtanh_module_rejects_inverted_bounds():
    with pytest.raises(ValueError):
        M.Hardtanh(1.0, -1.0)
    assert M.Hardtanh(min_value=-2.0, max_value=2.0).max_val == 2.0


# ---- against PyTorch -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def assert_close(actual, expected, what="output", tol=TOL):
    shared_assert_close(actual, expected, tol, what)


def compare(torch, fn_fovea, fn_torch, *arrays, params=()):
    """Run both on float32 leaves made from ``arrays``; compare outputs and the gradients of
    the inputs and of the (fovea, torch) parameter pairs ``params``."""
    xf = [fovea.tensor(a, requires_grad=True) for a in arrays]
    xt = [torch.tensor(a, requires_grad=True) for a in arrays]
    out_f, out_t = fn_fovea(*xf), fn_torch(*xt)
    assert out_f.dtype == np.float32
    assert_close(out_f.detach().numpy(), out_t.detach().numpy())
    g = R.standard_normal(tuple(out_t.shape)).astype(np.float32)
    out_f.backward(g)
    out_t.backward(torch.from_numpy(g))
    pairs = list(zip(xf, xt)) + list(params)
    for i, (a, b) in enumerate(pairs):
        assert a.grad is not None and a.grad.dtype == np.float32
        assert_close(a.grad.numpy(), b.grad.numpy(), what=f"grad {i}")


def _torch_maxout(torch, k):
    def f(x):
        n, c = x.shape[:2]
        return x.view(n, c // k, k, *x.shape[2:]).max(dim=2).values
    return f


FUNCTIONAL = {  # name: (fovea fn, torch fn builder, input maker)
    "leaky_relu": (lambda x: A.leaky_relu(x, 0.2),
                   lambda t: lambda x: t.nn.functional.leaky_relu(x, 0.2)),
    "leaky_relu_default": (A.leaky_relu, lambda t: t.nn.functional.leaky_relu),
    "elu": (lambda x: A.elu(x, 0.6), lambda t: lambda x: t.nn.functional.elu(x, 0.6)),
    "selu": (A.selu, lambda t: t.nn.functional.selu),
    "gelu": (A.gelu, lambda t: t.nn.functional.gelu),
    "gelu_tanh": (lambda x: A.gelu(x, approximate="tanh"),
                  lambda t: lambda x: t.nn.functional.gelu(x, approximate="tanh")),
    "silu": (A.silu, lambda t: t.nn.functional.silu),
    "softplus": (A.softplus, lambda t: t.nn.functional.softplus),
    "softplus_beta": (lambda x: A.softplus(x, 2.0, 4.0),
                      lambda t: lambda x: t.nn.functional.softplus(x, 2.0, 4.0)),
    "hardtanh": (A.hardtanh, lambda t: t.nn.functional.hardtanh),
    "hardtanh_bounds": (lambda x: A.hardtanh(x, -0.5, 2.0),
                        lambda t: lambda x: t.nn.functional.hardtanh(x, -0.5, 2.0)),
    "erf": (A.erf, lambda t: t.erf),
    "erfc": (A.erfc, lambda t: t.erfc),
    "maxout": (lambda x: A.maxout(x, 2), lambda t: _torch_maxout(t, 2)),
}


@pytest.mark.parametrize("shape", [(6, 8), (2, 4, 3, 5)])
@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
def test_functional_matches_torch(torch, name, shape):
    fn, torch_fn = FUNCTIONAL[name]
    compare(torch, fn, torch_fn(torch), randn(*shape, scale=3.0, dtype=np.float32))


@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
def test_functional_matches_torch_at_kinks_and_extremes(torch, name):
    # 0 (relu-like kinks), ±1, −0.5, 2, 4/2 (hardtanh bounds, softplus thresholds), ±1000
    x = np.array([[0.0, 1.0, -1.0, -0.5, 2.0, 4.0, 20.0, -1000.0, 1000.0, 0.0, 30.0, -30.0]],
                 dtype=np.float32)
    fn, torch_fn = FUNCTIONAL[name]
    compare(torch, fn, torch_fn(torch), x)


def test_maxout_ties_match_torch(torch):
    x = np.array([[[1.0, 1.0], [2.0, 0.0], [2.0, 3.0], [2.0, 3.0]]], dtype=np.float32)
    compare(torch, lambda x: A.maxout(x, 2), _torch_maxout(torch, 2), x)


@pytest.mark.parametrize("xshape,num", [((5, 4), 1), ((5, 4), 4), ((2, 3, 5), 3),
                                        ((2, 3, 4, 5), 1), ((2, 3, 4, 5), 3), ((7,), 1)])
def test_prelu_matches_torch_with_weight_gradient(torch, xshape, num):
    mf, mt = M.PReLU(num), torch.nn.PReLU(num)
    w = R.uniform(-0.5, 0.8, num).astype(np.float32)
    with torch.no_grad():
        mt.weight.copy_(torch.from_numpy(w))
    missing, unexpected = mf.load_state_dict({k: v.numpy() for k, v in mt.state_dict().items()})
    assert not missing and not unexpected
    assert list(mf.state_dict()) == list(mt.state_dict()) == ["weight"]
    compare(torch, mf, mt, randn(*xshape, scale=2.0, dtype=np.float32),
            params=[(mf.weight, mt.weight)])


MODULES = {  # name: (fovea module, torch module builder)
    "LeakyReLU": (lambda: M.LeakyReLU(0.3), lambda t: t.nn.LeakyReLU(0.3)),
    "ELU": (lambda: M.ELU(0.5), lambda t: t.nn.ELU(0.5)),
    "SELU": (M.SELU, lambda t: t.nn.SELU()),
    "GELU": (M.GELU, lambda t: t.nn.GELU()),
    "GELU_tanh": (lambda: M.GELU("tanh"), lambda t: t.nn.GELU("tanh")),
    "SiLU": (M.SiLU, lambda t: t.nn.SiLU()),
    "Softplus": (lambda: M.Softplus(1.5, 5.0), lambda t: t.nn.Softplus(1.5, 5.0)),
    "Hardtanh": (lambda: M.Hardtanh(-2.0, 0.5), lambda t: t.nn.Hardtanh(-2.0, 0.5)),
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_matches_torch(torch, name):
    mf, mt = MODULES[name][0](), MODULES[name][1](torch)
    compare(torch, mf, mt, randn(3, 4, 5, scale=3.0, dtype=np.float32))
    assert repr(mf) == repr(mt)


@pytest.mark.parametrize("make", [
    lambda lib: lib.LeakyReLU(), lambda lib: lib.LeakyReLU(0.2, inplace=True),
    lambda lib: lib.PReLU(), lambda lib: lib.PReLU(3), lambda lib: lib.ELU(0.5, True),
    lambda lib: lib.SELU(), lambda lib: lib.SELU(inplace=True), lambda lib: lib.GELU("tanh"),
    lambda lib: lib.SiLU(True), lambda lib: lib.Softplus(), lambda lib: lib.Softplus(2, 10),
    lambda lib: lib.Hardtanh(), lambda lib: lib.Hardtanh(-2, 3, True),
])
def test_repr_matches_torch(torch, make):
    assert repr(make(M)) == repr(make(torch.nn))


def test_maxout_repr():
    assert repr(M.Maxout(4)) == "Maxout(k=4)"


def test_maxout_propagates_nan_and_runs_without_grad():
    x = np.array([[1.0, np.nan, 2.0, 0.0]], dtype=np.float32)
    out = A.maxout(fovea.tensor(x), 2).numpy()
    assert np.isnan(out[0, 0]) and out[0, 1] == 2.0
    with fovea.no_grad():
        y = A.maxout(fovea.tensor(distinct(2, 6, 3).astype(np.float32), requires_grad=True), 3)
    assert y.shape == (2, 2, 3) and not y.requires_grad


# ---- ReLU(inplace=True): overwrites its input only where no graph is recorded ---------------
def test_relu_inplace_under_no_grad_overwrites_and_returns_the_input():
    x = fovea.tensor(randn(2, 3, 4, 5, dtype=np.float32))
    expected = np.maximum(x.numpy(), 0)
    with fovea.no_grad():
        y = fovea.nn.ReLU(inplace=True)(x)
    assert y is x
    np.testing.assert_array_equal(x.numpy(), expected)


def test_relu_inplace_while_recording_computes_out_of_place():
    data = randn(3, 4, dtype=np.float32)
    x = fovea.tensor(data.copy(), requires_grad=True)
    h = x * 1
    y = fovea.nn.functional.relu(h, inplace=True)  # h is recorded: keep it intact
    y.sum().backward()
    assert y is not h
    np.testing.assert_array_equal(h.detach().numpy(), data)
    np.testing.assert_array_equal(x.grad.numpy(), (data > 0).astype(np.float32))


def test_relu_inplace_leaves_read_only_input_alone():
    data = randn(3, 4, dtype=np.float32)
    x = fovea.tensor(data.copy())
    x.data.flags.writeable = False
    with fovea.no_grad():
        y = fovea.relu(x, inplace=True)
    assert y is not x
    np.testing.assert_array_equal(x.numpy(), data)
    np.testing.assert_array_equal(y.numpy(), np.maximum(data, 0))


def test_relu_repr_matches_torch(torch):
    for inplace in (False, True):
        assert repr(fovea.nn.ReLU(inplace)) == repr(torch.nn.ReLU(inplace))
