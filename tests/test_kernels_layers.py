"""The batch-norm, max-pool and ReLU kernels (fovea.kernels.norm, .pooling, .activations):
both paths give the same results on random arrays, directly and through the ops, for both
memory layouts the ops hand them (C-ordered and batch-last)."""

import numpy as np
import pytest

import fovea
from fovea import kernels
from fovea.kernels import activations as ka
from fovea.kernels import norm as kn
from fovea.kernels import pooling as kp

pytest.importorskip("numba")

PATHS = ("numpy", "numba")


def both(fn):
    """fn() under each path: {path: result}."""
    out = {}
    for path in PATHS:
        with kernels.forced(path):
            out[path] = fn()
    return out


def leaf_in(layout, x):
    """(leaf tensor of x, a tensor of the same values in ``layout``): "batch_last" through a
    1×1 identity convolution, whose output is the transposed view of a (C, H, W, N) array."""
    leaf = fovea.tensor(x, requires_grad=True)
    if layout == "c_order":
        return leaf, leaf
    eye = fovea.tensor(np.eye(x.shape[1], dtype=x.dtype)[:, :, None, None])
    out = fovea.nn.functional.conv2d(leaf, eye)
    assert out.data.transpose(1, 2, 3, 0).flags.c_contiguous
    return leaf, out


@pytest.mark.parametrize("shape", [(1, 5, 300), (4, 3, 17), (7, 2, 1)])
def test_batch_norm_kernels_agree(shape):
    rng = np.random.default_rng(0)
    x3 = (rng.standard_normal(shape) * 3 + 5).astype(np.float32)  # a mean far from 0
    g3 = rng.standard_normal(shape).astype(np.float32)
    c = shape[1]
    mean, scale, shift, b, cc = (rng.standard_normal(c).astype(np.float32) for _ in range(5))

    def run():
        out3, gx3 = np.empty_like(x3), np.empty_like(x3)
        kn.apply(x3, mean, scale, shift, out3)
        kn.grad_input(g3, x3, mean, scale, b, cc, gx3)
        return (*kn.stats(x3), out3, *kn.grad_sums(g3, x3, mean), gx3)

    got = both(run)
    for name, a, e in zip(("mean", "var", "apply", "Σg", "Σg(x−μ)", "grad_input"),
                          got["numba"], got["numpy"]):
        assert a.dtype == np.float32, name
        np.testing.assert_allclose(a, e, rtol=2e-5, atol=2e-5, err_msg=name)
    mean_np, var_np = x3.astype(np.float64).mean(axis=(0, 2)), x3.astype(np.float64).var(
        axis=(0, 2))
    np.testing.assert_allclose(got["numba"][0], mean_np, rtol=1e-6)
    np.testing.assert_allclose(got["numba"][1], var_np, rtol=1e-5)


def run_batch_norm(x, layout, training):
    rng = np.random.default_rng(1)
    c = x.shape[1]
    xt, xin = leaf_in(layout, x)
    w = fovea.tensor(rng.standard_normal(c).astype(x.dtype), requires_grad=True)
    b = fovea.tensor(rng.standard_normal(c).astype(x.dtype), requires_grad=True)
    rm, rv = np.zeros(c, x.dtype), np.ones(c, x.dtype)
    out = fovea.nn.functional.batch_norm(xin, rm, rv, w, b, training=training)
    proj = rng.standard_normal(out.shape).astype(x.dtype)
    (out * fovea.tensor(proj)).sum().backward()
    return [out.detach().numpy().copy(order="K"), xt.grad.numpy().copy(order="K"),
            w.grad.numpy().copy(), b.grad.numpy().copy(), rm, rv]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("layout", ["c_order", "batch_last"])
def test_batch_norm_op_agrees_across_paths(layout, training):
    x = np.random.default_rng(2).standard_normal((6, 4, 5, 3)).astype(np.float32)
    got = both(lambda: run_batch_norm(x, layout, training))
    for name, a, e in zip(("out", "x.grad", "w.grad", "b.grad", "running_mean", "running_var"),
                          got["numba"], got["numpy"]):
        np.testing.assert_allclose(a, e, rtol=2e-5, atol=2e-5, err_msg=name)
    if layout == "batch_last":  # the output stays batch-last
        assert got["numba"][0].transpose(1, 2, 3, 0).flags.c_contiguous


def test_channel_views_of_both_layouts_and_none_of_others():
    from fovea.ops.norm import channel_view

    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    np.testing.assert_array_equal(channel_view(x)[:, 1], x[:, 1].reshape(2, -1))
    xb = np.ascontiguousarray(x.transpose(1, 2, 3, 0)).transpose(3, 0, 1, 2)
    v = channel_view(xb)
    assert v.shape == (1, 3, 40) and np.shares_memory(v, xb)
    np.testing.assert_array_equal(np.sort(v[0, 1]), np.sort(x[:, 1].ravel()))
    assert channel_view(np.asfortranarray(x)) is None


POOLS = [  # kernel, stride, padding, dilation, ceil_mode
    (2, 2, 0, 1, False), (3, 1, 1, 1, False), (3, 2, 1, 2, True), ((3, 2), (2, 1), (1, 1), 1,
                                                                     True), (2, 3, 1, 1, True),
]


@pytest.mark.parametrize("pool", POOLS, ids=str)
@pytest.mark.parametrize("layout", ["c_order", "batch_last"])
def test_max_pool_backward_agrees_across_paths(pool, layout):
    k, s, p, d, ceil = pool
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4, 9, 10)).astype(np.float32)
    x[:, :, 2:4, 2:5] = 0.5  # ties: the first maximal tap takes the gradient

    def run():
        xt, xin = leaf_in(layout, x)
        out = fovea.nn.functional.max_pool2d(xin, k, s, p, d, ceil_mode=ceil)
        proj = np.random.default_rng(4).standard_normal(out.shape).astype(np.float32)
        (out * fovea.tensor(proj)).sum().backward()
        return out.detach().numpy().copy(), xt.grad.numpy().copy()

    got = both(run)
    np.testing.assert_array_equal(got["numba"][0], got["numpy"][0])
    np.testing.assert_allclose(got["numba"][1], got["numpy"][1], rtol=1e-6, atol=1e-6)


def test_max_pool_backward_kernel_claims_the_first_maximum():
    x4 = np.array([[[[1.0], [3.0]], [[3.0], [2.0]]]], np.float32)  # (P, H, W, Q) = (1,2,2,1)
    out4 = np.array([[[[3.0]]]], np.float32)
    g4 = np.array([[[[5.0]]]], np.float32)
    for path in PATHS:
        dx4 = np.full_like(x4, np.nan)
        with kernels.forced(path):
            kp.max_pool_backward(x4, out4, g4, dx4, 2, 2, 2, 2, 0, 0, 1, 1)
        np.testing.assert_array_equal(dx4[0, :, :, 0], [[0, 5], [0, 0]])


def test_relu_backward_agrees_and_propagates_nan():
    rng = np.random.default_rng(5)
    g = rng.standard_normal(1000).astype(np.float32)
    out = np.maximum(rng.standard_normal(1000).astype(np.float32), 0)
    g[:3], out[:3] = np.nan, [0, 1, 0]

    def run():
        gx = np.empty_like(g)
        ka.relu_backward(g, out, gx)
        return gx

    got = both(run)
    np.testing.assert_array_equal(got["numba"], got["numpy"])  # NaN where g is NaN
    assert np.isnan(got["numba"][:3]).all()


@pytest.mark.parametrize("layout", ["c_order", "batch_last"])
def test_relu_op_agrees_across_paths(layout):
    x = np.random.default_rng(6).standard_normal((3, 4, 5, 6)).astype(np.float32)

    def run():
        xt, xin = leaf_in(layout, x)
        out = fovea.relu(xin)
        (out * fovea.tensor(x)).sum().backward()
        return xt.grad.numpy().copy()

    got = both(run)
    np.testing.assert_array_equal(got["numba"], got["numpy"])
    np.testing.assert_array_equal(got["numba"], x * (x > 0))


def test_flat_views_memory_in_order():
    a = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(kernels.flat(a.transpose(2, 0, 1)), np.arange(24.0))
    assert kernels.flat(a[:, ::2]) is None
