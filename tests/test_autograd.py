"""The autograd engine: backward walks, graph freeing, grad modes, dtype rules and gradcheck."""

from __future__ import annotations

import gc
import math
import threading

import numpy as np
import pytest

import fovea
from fovea.autograd import (
    Function,
    GradcheckError,
    Tensor,
    enable_grad,
    gradcheck,
    is_grad_enabled,
    no_grad,
    unbroadcast,
)
from fovea.errors import ShapeError

f32, f64 = np.float32, np.float64


def leaf(values, dtype=f64):
    return fovea.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ---- backward basics ------------------------------------------------------------------------
def test_scalar_backward():
    x = leaf([1.0, 2.0, 3.0])
    y = (x * x).sum()
    assert y.shape == ()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
    assert x.grad.dtype == f64


def test_one_element_non_scalar_backward_needs_no_gradient():
    x = leaf([3.0])
    (x * 2.0).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0])


def test_explicit_gradient_backward():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    y = x * x
    y.backward(fovea.tensor(np.array([[1.0, 0.5], [0.0, -1.0]])))
    np.testing.assert_array_equal(x.grad.numpy(), [[2.0, 2.0], [0.0, -8.0]])


def test_explicit_gradient_as_list_and_array():
    x = leaf([1.0, 2.0])
    (x * 3.0).backward([1.0, 2.0])
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 6.0])
    x2 = leaf([1.0, 2.0])
    (x2 * 3.0).backward(np.array([2.0, 1.0]))
    np.testing.assert_array_equal(x2.grad.numpy(), [6.0, 3.0])


def test_explicit_gradient_is_cast_to_output_dtype():
    x = leaf([1.0, 2.0], dtype=f32)
    (x * 2.0).backward(np.array([1.0, 1.0], dtype=f64))
    assert x.grad.dtype == f32


def test_backward_non_scalar_without_gradient_raises():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="scalar"):
        (x * 2.0).backward()


def test_backward_wrong_shape_gradient_raises():
    x = leaf([1.0, 2.0])
    y = x * 2.0
    with pytest.raises(ShapeError, match=r"\(3,\)"):
        y.backward(np.ones(3))
    with pytest.raises(ValueError):  # ShapeError is a ValueError
        y.backward(np.ones((2, 1)))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        fovea.tensor([1.0, 2.0]).sum().backward()


def test_backward_of_leaf_itself():
    x = leaf(2.5)
    x.backward()
    assert x.grad.item() == 1.0


# ---- graphs with shared nodes -----------------------------------------------------------------
def test_diamond_same_tensor_used_several_times():
    x = leaf([1.0, -2.0, 0.5])
    y = x * x + x * 3.0  # dy/dx = 2x + 3
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, -1.0, 4.0])


def test_diamond_shared_intermediate_node():
    a = leaf([0.3, -1.2])
    b = a.exp()                    # one node used by two branches
    z = b * b + (b * 5.0).tanh()   # z = f(b) + g(b)
    z.sum().backward()
    e = np.exp(np.array([0.3, -1.2]))
    expected = (2 * e + 5.0 * (1 - np.tanh(5.0 * e) ** 2)) * e
    np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-12)


def test_diamond_two_functions_of_one_leaf():
    a = leaf([2.0, 3.0])
    f = a * a * a          # 3a²
    g = (a + 1.0) * 4.0    # 4
    z = f + g
    z.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [16.0, 31.0])


def test_deep_diamond_reconverging_paths():
    x = leaf(1.5)
    h = x
    for _ in range(20):
        h = h + h  # each level doubles: d/dx = 2**20
    h.backward()
    assert x.grad.item() == 2.0**20


def test_input_used_twice_in_one_op():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    y = leaf([1.0, 2.0])
    (y - y).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 0.0])
    z = leaf([1.0, 2.0])
    (z / z).sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), [0.0, 0.0], atol=1e-15)


def test_only_some_inputs_require_grad():
    a = leaf([1.0, 2.0])
    b = fovea.tensor(np.array([3.0, 4.0]))
    (a * b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])
    assert b.grad is None


# ---- accumulation -----------------------------------------------------------------------------
def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0 + 2.0, 3.0 + 4.0])
    x.zero_grad_()
    assert x.grad is None
    (x * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_leaf_grads_are_private_writable_arrays():
    # a + b hands the same upstream array to both inputs, and sum's backward a read-only
    # broadcast view: each leaf must still own a writable gradient (optimizers update in place)
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()
    assert a.grad.data is not b.grad.data
    a.grad.data *= 10.0
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])
    seed = np.array([5.0, 6.0])
    c = leaf([0.0, 0.0])
    c.backward(seed)
    c.grad.data[0] = -1.0
    np.testing.assert_array_equal(seed, [5.0, 6.0])


# ---- long chains --------------------------------------------------------------------------
def test_ten_thousand_op_chain_mul():
    x = leaf(1.0)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.0001**10_000, rtol=1e-9)
    np.testing.assert_allclose(y.item(), 1.0001**10_000, rtol=1e-9)


def test_ten_thousand_op_chain_add_zero():
    x = leaf([1.0, 2.0])
    y = x
    for _ in range(10_000):
        y = y + 0.0
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


def test_long_chain_freed_without_backward():
    x = leaf(1.0)
    y = x
    for _ in range(50_000):
        y = y + 1.0
    del y
    gc.collect()  # must not overflow the C stack while tearing the chain down


# ---- freeing the graph ----------------------------------------------------------------------
def test_saved_arrays_freed_after_backward():
    x = leaf([1.0, 2.0, 3.0])
    y = x.exp()
    ctx = y.grad_fn
    assert ctx is not None and ctx.__dict__  # forward saved something
    y.sum().backward()
    assert ctx.parents is None
    assert not ctx.__dict__


def test_second_backward_raises_clear_error():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="already freed"):
        y.backward()


def test_second_backward_through_shared_part_raises():
    x = leaf([1.0, 2.0])
    h = x * x
    z1 = (h * 2.0).sum()
    z2 = (h * 3.0).sum()
    z1.backward()
    with pytest.raises(RuntimeError, match="already freed"):
        z2.backward()


# ---- grad modes -------------------------------------------------------------------------------
def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with no_grad():
        assert not is_grad_enabled()
        y = x * 2.0 + 1.0
    assert is_grad_enabled()
    assert not y.requires_grad
    assert y.grad_fn is None and y.is_leaf
    with pytest.raises(RuntimeError):
        y.sum().backward()


def test_no_grad_as_decorator():
    x = leaf([1.0, 2.0])

    @no_grad()
    def f(t):
        assert not is_grad_enabled()
        return t * t

    y = f(x)
    assert not y.requires_grad and y.grad_fn is None
    assert is_grad_enabled()


def test_no_grad_decorator_on_recursive_function_restores_mode():
    @no_grad()
    def depth(n):
        return 0 if n == 0 else 1 + depth(n - 1)

    assert depth(3) == 3
    assert is_grad_enabled()


def test_no_grad_restores_mode_after_exception():
    with pytest.raises(KeyError), no_grad():
        raise KeyError("x")
    assert is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = leaf([1.0, 2.0])
    with no_grad():
        with enable_grad():
            assert is_grad_enabled()
            y = x * 3.0
        z = x * 3.0
        assert not is_grad_enabled()
    assert y.requires_grad and not z.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_enable_grad_as_decorator():
    @enable_grad()
    def f(t):
        return t * 2.0

    x = leaf([1.0])
    with no_grad():
        y = f(x)
    assert y.requires_grad


def test_grad_mode_is_per_thread():
    seen = []
    with no_grad():
        t = threading.Thread(target=lambda: seen.append(is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def test_detach():
    x = leaf([1.0, 2.0])
    y = x * 2.0
    d = y.detach()
    assert not d.requires_grad and d.is_leaf
    assert np.shares_memory(d.data, y.data)
    (d * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])  # no path through d


def test_requires_grad_():
    x = fovea.tensor([1.0, 2.0])
    assert not x.requires_grad
    assert x.requires_grad_() is x
    assert x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad


def test_requires_grad_on_integer_tensor_raises():
    with pytest.raises(TypeError, match="floating"):
        fovea.tensor([1, 2, 3]).requires_grad_()
    with pytest.raises(TypeError):
        fovea.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError):
        fovea.tensor([True, False]).requires_grad_()


def test_requires_grad_false_on_non_leaf_raises():
    y = leaf([1.0]) * 2.0
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)


def test_retain_grad_on_non_leaf():
    x = leaf([1.0, 2.0])
    h = x * 3.0
    h.retain_grad()
    other = x * 5.0
    (h * h + other).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), [6.0, 12.0])   # 2h
    np.testing.assert_array_equal(x.grad.numpy(), [23.0, 41.0])  # 18x + 5
    assert other.grad is None  # not retained


def test_is_leaf_and_grad_fn():
    x = leaf([1.0])
    assert x.is_leaf and x.grad_fn is None
    y = x * 2.0
    assert not y.is_leaf and isinstance(y.grad_fn, Function)
    c = fovea.tensor([1.0]) * 2.0
    assert c.is_leaf and not c.requires_grad


# ---- accessors ----------------------------------------------------------------------------
def test_accessors():
    t = fovea.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3)
    assert t.dtype == f32
    assert t.ndim == 2 and t.dim() == 2 and t.numel() == 6 and len(t) == 2
    assert t.size() == (2, 3) and t.size(1) == 3
    assert t.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    arr = t.numpy()
    assert isinstance(arr, np.ndarray) and arr.dtype == f32
    assert np.shares_memory(arr, t.data)
    assert t[1, 2].item() == 6.0
    assert isinstance(t.sum().item(), float)
    assert float(t[0, 0]) == 1.0 and int(fovea.tensor(7)) == 7
    s = t.sum().numpy()
    assert isinstance(s, np.ndarray) and s.shape == ()
    with pytest.raises(ValueError):
        t.item()
    with pytest.raises(TypeError):
        len(fovea.tensor(1.0))
    assert "tensor(" in repr(t)
    assert "requires_grad=True" in repr(leaf([1.0]))


def test_numpy_on_tensor_requiring_grad_raises():
    x = leaf([1.0])
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    assert x.detach().numpy().tolist() == [1.0]


# ---- broadcasting gradients ---------------------------------------------------------------
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_broadcast_gradients_reduce_to_input_shapes(op, rng):
    a = leaf(rng.standard_normal((3, 1, 5)))
    b = leaf(rng.uniform(1.0, 2.0, (4, 1)))
    out = getattr(fovea, op)(a, b)
    assert out.shape == (3, 4, 5)
    out.sum().backward()
    assert a.grad.shape == (3, 1, 5)
    assert b.grad.shape == (4, 1)
    an, bn = a.detach().numpy(), b.detach().numpy()
    expected = {
        "add": (np.full((3, 1, 5), 4.0), np.full((4, 1), 15.0)),
        "sub": (np.full((3, 1, 5), 4.0), np.full((4, 1), -15.0)),
        "mul": (np.broadcast_to(bn.sum(), (3, 1, 5)), np.broadcast_to(an.sum(), (4, 1))),
        "div": ((1 / bn).sum() * np.ones((3, 1, 5)),
                -(an.sum() / bn**2)),
    }[op]
    np.testing.assert_allclose(a.grad.numpy(), expected[0], rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), expected[1], rtol=1e-12)


def test_broadcast_scalar_tensor_gradient():
    s = leaf(2.0)
    x = leaf(np.ones((2, 3)))
    (s * x).sum().backward()
    assert s.grad.shape == () and s.grad.item() == 6.0
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))


def test_unbroadcast():
    g = np.ones((2, 3, 4))
    assert unbroadcast(g, (2, 3, 4)) is g
    np.testing.assert_array_equal(unbroadcast(g, (3, 1)), np.full((3, 1), 8.0))
    np.testing.assert_array_equal(unbroadcast(g, (1, 1, 4)), np.full((1, 1, 4), 6.0))
    np.testing.assert_array_equal(unbroadcast(g, ()), np.array(24.0))


# ---- dtype rules ---------------------------------------------------------------------------
def test_python_floats_give_float32():
    assert fovea.tensor(1.5).dtype == f32
    assert fovea.tensor([1.0, 2.0]).dtype == f32
    assert fovea.tensor([1, 2]).dtype == np.int64
    assert fovea.tensor([True]).dtype == np.bool_
    assert fovea.tensor([1.0], dtype=fovea.float64).dtype == f64
    assert fovea.tensor([1.0], dtype="float64").dtype == f64
    assert fovea.tensor(np.zeros(2)).dtype == f64  # NumPy arrays keep their dtype
    assert fovea.randn(2).dtype == f32 and fovea.zeros(2).dtype == f32
    assert fovea.ones(2, dtype=fovea.float64).dtype == f64


@pytest.mark.parametrize("expr", [
    lambda t: t * 0.5, lambda t: 0.5 * t, lambda t: t + 1, lambda t: 1 - t, lambda t: t / 3,
    lambda t: 3 / t, lambda t: t**2, lambda t: t**0.5, lambda t: 2.0**t, lambda t: -t,
    lambda t: t * np.float64(0.5), lambda t: np.float64(0.5) * t, lambda t: t + np.int64(2),
    lambda t: t - np.float64(1e-3), lambda t: t * True, lambda t: t.exp(), lambda t: t.mean(),
    lambda t: t.sum(0), lambda t: t.sigmoid(), lambda t: t.softmax(-1),
    lambda t: fovea.where(t > 0, t, 0.0), lambda t: fovea.maximum(t, 0.1),
    lambda t: t.clip(-0.5, 0.5), lambda t: fovea.tensor([1, 2, 3]) * t,
])
def test_float32_stays_float32(expr):
    t = fovea.tensor([[0.5, 1.0, 2.0]], requires_grad=True)
    out = expr(t)
    assert out.dtype == f32
    if out.requires_grad:
        out.sum().backward()
        assert t.grad.dtype == f32


def test_float64_stays_float64():
    t = fovea.tensor([1.0, 2.0], dtype=fovea.float64, requires_grad=True)
    for out in (t * 0.5, t + 1, t**2, 2 * t, t * np.float32(2.0)):
        assert out.dtype == f64


def test_float32_op_float64_raises_type_error():
    a = fovea.tensor([1.0, 2.0])
    b = fovea.tensor([1.0, 2.0], dtype=fovea.float64)
    for op in (lambda: a + b, lambda: b * a, lambda: a @ b, lambda: fovea.maximum(a, b),
               lambda: a + np.array([1.0, 2.0]), lambda: np.array([1.0, 2.0]) - a):
        with pytest.raises(TypeError, match="dtype"):
            op()


def test_int_tensor_arithmetic():
    i = fovea.tensor([1, 2, 3])
    assert (i + 1).dtype == np.int64
    assert (i * 0.5).dtype == f32
    assert (i / 2).dtype == f32
    np.testing.assert_array_equal((i / 2).numpy(), [0.5, 1.0, 1.5])
    assert i.float().dtype == f32 and i.double().dtype == f64


def test_comparisons_return_bool_tensors():
    t = fovea.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for out in (t < 2, t <= 2, t > 2, t >= 2, t == 2, t != 2, t > t * 0.5):
        assert out.dtype == np.bool_
        assert not out.requires_grad
    assert (t < 2.5).tolist() == [True, True, False]
    assert (t == fovea.tensor([1.0, 0.0, 3.0])).tolist() == [True, False, True]


def test_cast_is_differentiable():
    x = fovea.tensor([1.0, 2.0], requires_grad=True)
    y = x.double() * x.double()
    assert y.dtype == f64
    y.sum().backward()
    assert x.grad.dtype == f32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


# ---- custom functions and gradcheck -------------------------------------------------------
class _Square(Function):
    def forward(self, a):
        self.a = a
        return a * a

    def backward(self, g):
        return 2 * self.a * g


class _WrongSquare(_Square):
    """Deliberately wrong at one element: the gradient of element 2 is tripled."""

    def backward(self, g):
        grad = 2 * self.a * g
        grad.reshape(-1)[2] *= 3
        return grad


class _NaNGrad(_Square):
    def backward(self, g):
        return g * np.nan


class _BadShape(_Square):
    def backward(self, g):
        return g.sum()


def test_custom_function_and_gradcheck_passes(rng):
    x = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    report = gradcheck(lambda t: _Square.apply(t), [x])
    assert report["ok"]
    assert report["abs_err"] < 1e-6


def test_gradcheck_reports_worst_element(rng):
    x = Tensor(rng.uniform(1.0, 2.0, (2, 3)), requires_grad=True)
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda t: _WrongSquare.apply(t), [x])
    msg = str(info.value)
    assert "input 0" in msg and "(0, 2)" in msg
    report = gradcheck(lambda t: _WrongSquare.apply(t), [x], raise_exception=False)
    assert not report["ok"]
    assert report["input"] == 0 and report["index"] == (0, 2)
    np.testing.assert_allclose(report["analytic"], 3 * report["numeric"], rtol=1e-4)


def test_gradcheck_names_the_right_input(rng):
    a = Tensor(rng.uniform(1.0, 2.0, (3,)), requires_grad=True)
    b = Tensor(rng.uniform(1.0, 2.0, (2, 3)), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 1 at \(0, 2\)"):
        gradcheck(lambda p, q: p * _WrongSquare.apply(q), [a, b])


def test_gradcheck_fails_on_nan_gradient():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: _NaNGrad.apply(t), [x])


def test_gradcheck_float32_inputs_are_checked_in_float64(rng):
    x = fovea.tensor(rng.standard_normal(4).astype(f32), requires_grad=True)
    seen = []

    def fn(t):
        seen.append(t.dtype)
        return (t * t).exp()

    assert gradcheck(fn, [x])["ok"]
    assert set(seen) == {np.dtype(f64)}
    assert x.dtype == f32 and x.grad is None  # the caller's tensor is untouched


def test_gradcheck_non_contiguous_and_scalar_inputs(rng):
    base = rng.standard_normal((3, 4))
    x = fovea.from_numpy(base.T).requires_grad_()  # a transposed (Fortran-order) view
    assert gradcheck(lambda t: t * t, [x])["ok"]
    s = leaf(rng.standard_normal((3,))).sum().detach().requires_grad_()
    assert gradcheck(lambda t: t * t * t, [s])["ok"]
    with pytest.raises(GradcheckError):
        gradcheck(lambda t: _WrongSquare.apply(t), [fovea.from_numpy(
            rng.uniform(1, 2, (4, 3)).T).requires_grad_()])


def test_gradcheck_leaves_non_tensor_and_constant_inputs_alone(rng):
    x = leaf(rng.standard_normal(3))
    c = fovea.tensor(rng.standard_normal(3))
    assert gradcheck(lambda a, b, k: a * b * k, [x, c, 2.0])["ok"]


def test_backward_with_wrong_gradient_shape_is_an_internal_error():
    x = leaf([1.0, 2.0])
    with pytest.raises(ShapeError, match="internal error"):
        _BadShape.apply(x).sum().backward()


def test_function_skips_recording_without_grad():
    y = _Square.apply(fovea.tensor([1.0, 2.0]))
    assert not y.requires_grad and y.grad_fn is None
    assert math.isclose(y.sum().item(), 5.0)


def test_bare_no_grad_decorator():
    @fovea.no_grad
    def f(x):
        return x * 2

    x = fovea.ones(3, requires_grad=True)
    assert not f(x).requires_grad
    assert fovea.is_grad_enabled()


def test_full_reduction_data_is_an_array():
    x = fovea.ones(2, 3)
    assert isinstance(x.sum().data, np.ndarray)
    assert isinstance(x.amax().data, np.ndarray)


def test_cat_and_stack_refuse_mixed_float_dtypes():
    a = fovea.ones(2, dtype=fovea.float32)
    b = fovea.ones(2, dtype=fovea.float64)
    with pytest.raises(TypeError, match="dtype"):
        fovea.cat([a, b])
    with pytest.raises(TypeError, match="dtype"):
        fovea.stack([a, b])
