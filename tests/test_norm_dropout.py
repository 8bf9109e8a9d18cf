"""Normalization layers and dropout: gradient checks of the primitives (float64), comparison
with torch.nn (float32, forward and backward, incl. batch-last inputs), BatchNorm's running
statistics and state_dict, and the dropout expectation argument (E[train output] = eval
output)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close as shared_assert_close

import fovea
from fovea.autograd import gradcheck
from fovea.errors import ShapeError
from fovea.nn.dropout import Dropout, Dropout2d
from fovea.nn.normalization import (
    BatchNorm1d,
    BatchNorm2d,
    GroupNorm,
    LayerNorm,
    LocalResponseNorm,
)
from fovea.ops.dropout import dropout, dropout2d
from fovea.ops.norm import batch_norm, group_norm, layer_norm, local_response_norm

pytestmark = pytest.mark.usefixtures("seeded")

RTOL = 1e-4


def randn(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def batch_last(a):
    """A tensor of a's values whose memory is (C, H, W, N): a convolution's output layout."""
    return fovea.tensor(a.transpose(1, 2, 3, 0).copy()).permute(3, 0, 1, 2)


def leaf(t):
    """A leaf tensor sharing t's data (and memory layout) that requires grad."""
    return fovea.Tensor._wrap(t.data, requires_grad=True)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def assert_close(actual, expected, rtol=RTOL, what="value"):
    shared_assert_close(actual, expected, rtol, what)


# ---- gradient checks of the primitives (float64) -------------------------------------------
def check(fn, *arrays):
    inputs = [fovea.tensor(a, requires_grad=True) if isinstance(a, np.ndarray) else a
              for a in arrays]
    assert gradcheck(fn, inputs)["ok"]


def affine_args(c, affine, seed):
    if not affine:
        return ()
    return (randn(c, seed=seed, dtype=np.float64) + 1.5, randn(c, seed=seed + 1,
                                                               dtype=np.float64))


@pytest.mark.parametrize("shape", [(4, 3), (3, 2, 4), (2, 3, 3, 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_gradcheck_batch_norm_training(shape, affine):
    x = randn(*shape, seed=1, dtype=np.float64) * 2 + 0.5
    params = affine_args(shape[1], affine, 2)
    check(lambda x, *p: batch_norm(x, None, None, *p, training=True), x, *params)


@pytest.mark.parametrize("affine", [True, False])
def test_gradcheck_batch_norm_eval(affine):
    x = randn(3, 4, 2, 3, seed=3, dtype=np.float64)
    rm = randn(4, seed=4, dtype=np.float64)
    rv = np.random.default_rng(5).uniform(0.5, 2.0, 4)
    params = affine_args(4, affine, 6)
    check(lambda x, *p: batch_norm(x, rm, rv, *p, training=False), x, *params)


@pytest.mark.parametrize("normalized", [(5,), (3, 5)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("permuted", [False, True])
def test_gradcheck_layer_norm(normalized, affine, permuted):
    # permuted: a C-ordered input (normalized as rows) whose gradient arrives transposed
    x = randn(2, 3, 5, seed=7, dtype=np.float64) * 1.5
    params = ()
    if affine:
        params = (randn(*normalized, seed=8, dtype=np.float64) + 1.0,
                  randn(*normalized, seed=9, dtype=np.float64))
    order = (2, 0, 1) if permuted else (0, 1, 2)
    check(lambda x, *p: layer_norm(x, normalized, *p).permute(*order), x, *params)


@pytest.mark.parametrize("shape,groups", [((2, 6, 3), 3), ((2, 4, 2, 3), 2), ((3, 4), 1)])
@pytest.mark.parametrize("affine", [True, False])
def test_gradcheck_group_norm(shape, groups, affine):
    x = randn(*shape, seed=10, dtype=np.float64) + 0.3
    params = affine_args(shape[1], affine, 11)
    check(lambda x, *p: group_norm(x, groups, *p), x, *params)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 7])
def test_gradcheck_local_response_norm(size):
    x = randn(2, 5, 2, 3, seed=12, dtype=np.float64)
    check(lambda x: local_response_norm(x, size, alpha=0.7, beta=0.75, k=1.5), x)


def test_gradcheck_local_response_norm_3d():
    x = randn(2, 4, 3, seed=13, dtype=np.float64)
    check(lambda x: local_response_norm(x, 3, alpha=1.0, beta=0.6, k=2.0), x)


@pytest.mark.parametrize("fn", [dropout, dropout2d])
def test_gradcheck_dropout_fixed_mask(fn):
    x = randn(3, 4, 2, 2, seed=14, dtype=np.float64)

    def f(x):
        fovea.manual_seed(99)  # the same mask on every call
        return fn(x, 0.4, training=True)

    check(f, x)


# ---- comparison with torch ------------------------------------------------------------------
def check_module(torch, fmod, tmod, x, seed=0, randomize=True):
    """Forward and backward (random upstream gradient) of fmod on the fovea tensor x and
    tmod on the same values; output, input gradient and parameter gradients must agree."""
    if randomize:  # non-trivial affine parameters
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in tmod.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5 + (1.0 if p.ndim else 0.0))
    fmod.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
    fx = leaf(x)
    tx = torch.tensor(np.ascontiguousarray(x.data), requires_grad=True)
    fy, ty = fmod(fx), tmod(tx)
    assert fy.dtype == np.float32
    assert_close(fy.data, ty.detach().numpy(), what="output")
    g = randn(*ty.shape, seed=seed + 100)
    fy.backward(g)
    ty.backward(torch.from_numpy(g))
    assert fx.grad.dtype == np.float32
    assert_close(fx.grad.data, tx.grad.numpy(), what="input grad")
    fparams, tparams = dict(fmod.named_parameters()), dict(tmod.named_parameters())
    assert list(fparams) == list(tparams)
    for name, tp in tparams.items():
        assert fparams[name].grad.dtype == np.float32
        assert_close(fparams[name].grad.data, tp.grad.numpy(), what=f"grad of {name}")
    return fy


@pytest.mark.parametrize("shape", [(8, 5), (6, 5, 7)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm1d_torch(torch, shape, affine, training):
    fmod, tmod = BatchNorm1d(5, affine=affine), torch.nn.BatchNorm1d(5, affine=affine)
    with torch.no_grad():
        tmod.running_mean.copy_(torch.randn(5))
        tmod.running_var.uniform_(0.5, 2.0)
    fmod.train(training), tmod.train(training)
    check_module(torch, fmod, tmod, fovea.tensor(randn(*shape, seed=20) * 3 + 1))


@pytest.mark.parametrize("layout", ["nchw", "batch_last"])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("track", [True, False])
def test_batchnorm2d_torch(torch, layout, training, track):
    a = randn(6, 4, 5, 3, seed=21) * 2 - 0.5
    x = batch_last(a) if layout == "batch_last" else fovea.tensor(a)
    fmod = BatchNorm2d(4, track_running_stats=track)
    tmod = torch.nn.BatchNorm2d(4, track_running_stats=track)
    if track:
        with torch.no_grad():
            tmod.running_mean.copy_(torch.randn(4))
            tmod.running_var.uniform_(0.5, 2.0)
    fmod.train(training), tmod.train(training)
    y = check_module(torch, fmod, tmod, x)
    if layout == "batch_last":  # the output stays batch-last for the next convolution
        assert np.argmin(y.data.strides) == 0


@pytest.mark.parametrize("normalized,shape", [(7, (3, 4, 7)), ((4, 7), (3, 4, 7)),
                                              ((5, 3, 2), (2, 5, 3, 2)), (6, (6,))])
@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_torch(torch, normalized, shape, affine):
    fmod = LayerNorm(normalized, elementwise_affine=affine)
    tmod = torch.nn.LayerNorm(normalized, elementwise_affine=affine)
    check_module(torch, fmod, tmod, fovea.tensor(randn(*shape, seed=22) * 2 + 3))


def test_layernorm_no_bias_and_batch_last(torch):
    fmod, tmod = LayerNorm((5, 3), bias=False), torch.nn.LayerNorm((5, 3), bias=False)
    check_module(torch, fmod, tmod, batch_last(randn(4, 2, 5, 3, seed=23)))


@pytest.mark.parametrize("groups,channels,shape", [(2, 6, (4, 6, 5, 3)), (3, 6, (2, 6, 7)),
                                                   (1, 4, (3, 4)), (4, 4, (2, 4, 3, 3))])
@pytest.mark.parametrize("affine", [True, False])
def test_groupnorm_torch(torch, groups, channels, shape, affine):
    fmod = GroupNorm(groups, channels, affine=affine)
    tmod = torch.nn.GroupNorm(groups, channels, affine=affine)
    check_module(torch, fmod, tmod, fovea.tensor(randn(*shape, seed=24) * 2 + 1))


def test_groupnorm_batch_last(torch):
    y = check_module(torch, GroupNorm(2, 4), torch.nn.GroupNorm(2, 4),
                     batch_last(randn(5, 4, 3, 6, seed=25)))
    assert np.argmin(y.data.strides) == 0


@pytest.mark.parametrize("size,alpha,beta,k", [(5, 1e-4, 0.75, 1.0), (3, 0.5, 0.75, 2.0),
                                               (4, 1.0, 0.6, 1.0), (1, 0.3, 1.2, 0.5),
                                               (9, 2.0, 0.75, 2.0)])
@pytest.mark.parametrize("layout", ["nchw", "batch_last"])
def test_lrn_torch(torch, size, alpha, beta, k, layout):
    a = randn(3, 6, 4, 5, seed=26) * 2
    x = batch_last(a) if layout == "batch_last" else fovea.tensor(a)
    check_module(torch, LocalResponseNorm(size, alpha, beta, k),
                 torch.nn.LocalResponseNorm(size, alpha, beta, k), x)


@pytest.mark.parametrize("shape", [(2, 5, 7), (2, 5, 2, 3, 2)])
def test_lrn_torch_other_ranks(torch, shape):
    check_module(torch, LocalResponseNorm(3, 0.8, 0.75, 1.0),
                 torch.nn.LocalResponseNorm(3, 0.8, 0.75, 1.0),
                 fovea.tensor(randn(*shape, seed=27) * 2))


# ---- BatchNorm running statistics and state_dict -------------------------------------------
@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("cls", ["BatchNorm1d", "BatchNorm2d"])
def test_batchnorm_running_stats(torch, momentum, cls):
    shape = (6, 3, 4) if cls == "BatchNorm1d" else (5, 3, 4, 2)
    fmod = {"BatchNorm1d": BatchNorm1d, "BatchNorm2d": BatchNorm2d}[cls](3, momentum=momentum)
    tmod = getattr(torch.nn, cls)(3, momentum=momentum)
    for step in range(5):
        a = randn(*shape, seed=30 + step) * (step + 1) + step
        x = batch_last(a) if cls == "BatchNorm2d" and step % 2 else fovea.tensor(a)
        fmod(x), tmod(torch.from_numpy(a))
    fsd, tsd = fmod.state_dict(), tmod.state_dict()
    assert list(fsd) == list(tsd) == ["weight", "bias", "running_mean", "running_var",
                                      "num_batches_tracked"]
    for key, tv in tsd.items():
        fv = fsd[key]
        assert fv.shape == tuple(tv.shape), key
        assert str(fv.dtype) == str(tv.dtype).replace("torch.", ""), key
        assert_close(fv.data, tv.numpy(), what=key)
    assert int(fsd["num_batches_tracked"].item()) == 5
    fmod.eval(), tmod.eval()
    a = randn(*shape, seed=40)
    assert_close(fmod(fovea.tensor(a)).data, tmod(torch.from_numpy(a)).detach().numpy(),
                 what="eval output")


def test_batchnorm_state_dict_variants(torch):
    for kw in [dict(affine=False), dict(track_running_stats=False),
               dict(affine=False, track_running_stats=False)]:
        fsd, tsd = BatchNorm2d(4, **kw).state_dict(), torch.nn.BatchNorm2d(4, **kw).state_dict()
        assert list(fsd) == list(tsd), kw
        for key, tv in tsd.items():
            assert_close(fsd[key].data, tv.numpy(), what=key)


def test_batchnorm_load_state_dict_from_torch(torch):
    tmod = torch.nn.BatchNorm2d(3)
    tmod(torch.randn(4, 3, 2, 2) * 3)
    fmod = BatchNorm2d(3)
    fmod.load_state_dict({k: v.numpy() for k, v in tmod.state_dict().items()})
    assert int(fmod.num_batches_tracked.item()) == 1
    assert fmod.num_batches_tracked.dtype == np.int64 and fmod.num_batches_tracked.ndim == 0
    assert_close(fmod.running_var.data, tmod.running_var.numpy())


def test_functional_batch_norm_updates_running_stats(torch):
    a = randn(7, 3, 5, seed=41) * 2 + 1
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    trm, trv = torch.zeros(3), torch.ones(3)
    y = batch_norm(fovea.tensor(a), rm, rv, training=True, momentum=0.3)
    ty = torch.nn.functional.batch_norm(torch.from_numpy(a), trm, trv, training=True,
                                        momentum=0.3)
    assert_close(y.data, ty.numpy())
    assert_close(rm, trm.numpy(), what="running_mean")
    assert_close(rv, trv.numpy(), what="running_var")  # unbiased, as torch


def test_batch_norm_errors():
    x = fovea.tensor(randn(4, 3))
    with pytest.raises(ValueError, match="running_mean"):
        batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match="more than 1 value"):
        BatchNorm1d(3)(fovea.tensor(randn(1, 3)))
    with pytest.raises(ShapeError, match=r"\(4, 3\)"):
        batch_norm(x, np.zeros(4), np.ones(4), training=False)


@pytest.mark.parametrize("module,shape", [
    (BatchNorm2d(3), (2, 3, 4)), (BatchNorm2d(3), (2, 4, 5, 5)), (BatchNorm1d(3), (2, 4)),
    (BatchNorm1d(3), (2, 3, 4, 5)), (LayerNorm((4, 5)), (2, 5, 4)), (LayerNorm(4), (2, 3)),
    (GroupNorm(2, 4), (2, 6, 3)), (GroupNorm(2, 4), (4,)), (LocalResponseNorm(3), (2, 3)),
])
def test_shape_errors_name_the_shapes(module, shape):
    with pytest.raises(ShapeError, match=str(shape).replace("(", r"\(").replace(")", r"\)")):
        module(fovea.tensor(randn(*shape)))


def test_groupnorm_divisibility():
    with pytest.raises(ValueError, match="divisible"):
        GroupNorm(3, 4)


def test_norms_keep_float32_and_float64():
    for mod, shape in [(BatchNorm2d(3), (2, 3, 2, 2)), (LayerNorm(2), (3, 2)),
                       (GroupNorm(3, 3), (2, 3, 4)), (LocalResponseNorm(2), (2, 3, 2))]:
        assert mod(fovea.tensor(randn(*shape))).dtype == np.float32
        mod.double()
        assert mod(fovea.tensor(randn(*shape, dtype=np.float64))).dtype == np.float64


# ---- dropout --------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropout_expectation(p):
    """The inverted-dropout argument: E[mask/(1-p)] = 1, so the mean training output over
    many masks is the eval output (here 2000 masks, drawn at once as 2000 rows)."""
    draws = 2000
    x = randn(40, seed=50) * 3
    rows = fovea.tensor(np.broadcast_to(x, (draws, 40)).copy())
    y = dropout(rows, p, training=True).data
    assert y.dtype == np.float32
    kept = y != 0
    assert np.allclose(y[kept], (rows.data / (1 - p))[kept], rtol=1e-6)
    assert abs(1 - kept.mean() - p) < 5 * np.sqrt(p * (1 - p) / kept.size)
    sigma = np.abs(x) * np.sqrt(p / (1 - p)) / np.sqrt(draws)
    assert np.all(np.abs(y.mean(axis=0) - x) <= 5 * sigma + 1e-6)
    assert np.array_equal(dropout(rows, p, training=False).data, rows.data)  # eval


def test_dropout2d_expectation_and_whole_maps():
    p, draws = 0.3, 2000
    x = randn(4, 3, 3, seed=51) * 2
    rows = fovea.tensor(np.broadcast_to(x, (draws, 4, 3, 3)).copy())
    y = dropout2d(rows, p).data
    maps = y.reshape(draws, 4, -1)
    zero = (maps == 0).all(axis=2)
    scaled = np.isclose(maps, rows.data.reshape(draws, 4, -1) / (1 - p)).all(axis=2)
    assert np.all(zero | scaled)  # each (n, c) map dropped or kept whole
    assert abs(zero.mean() - p) < 5 * np.sqrt(p * (1 - p) / zero.size)
    sigma = np.abs(x) * np.sqrt(p / (1 - p)) / np.sqrt(draws)
    assert np.all(np.abs(y.mean(axis=0) - x) <= 5 * sigma + 1e-6)


def test_dropout_modules_train_and_eval():
    x = fovea.tensor(randn(6, 4, 3, 3, seed=52), requires_grad=True)
    for mod in (Dropout(0.5), Dropout2d(0.5)):
        y = mod(x)
        assert y.dtype == np.float32 and not np.array_equal(y.data, x.data)
        y.backward(np.ones(y.shape, np.float32))
        assert x.grad.dtype == np.float32
        assert np.array_equal(x.grad.data, (y.data != 0) / np.float32(0.5))  # g · mask
        x.grad = None
        mod.eval()
        assert np.array_equal(mod(x).data, x.data)  # identity in eval


def test_dropout_edge_probabilities():
    x = fovea.tensor(randn(5, 4, seed=53), requires_grad=True)
    assert np.array_equal(dropout(x, 0.0).data, x.data)
    for fn in (dropout, dropout2d):
        y = fn(x, 1.0)
        assert not np.isnan(y.data).any() and not y.data.any()
        y.sum().backward()
        assert not np.isnan(x.grad.data).any() and not x.grad.data.any()
        x.grad = None
        for bad in (-0.1, 1.5):
            with pytest.raises(ValueError, match="between 0 and 1"):
                fn(x, bad)
    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError):
            Dropout(bad)


def test_dropout_seeded_and_batch_last():
    a = randn(4, 3, 5, 5, seed=54)
    fovea.manual_seed(3)
    y1 = dropout(fovea.tensor(a), 0.5).data
    fovea.manual_seed(3)
    y2 = dropout(fovea.tensor(a), 0.5).data
    assert np.array_equal(y1, y2)
    yb = dropout(batch_last(a), 0.5)  # the mask follows x's memory layout
    assert yb.data.strides == batch_last(a).data.strides


@pytest.mark.parametrize("module,shape", [
    (BatchNorm2d(3), (4, 3, 2, 2)), (BatchNorm1d(3), (5, 3)), (LayerNorm((2, 2)), (3, 2, 2)),
    (GroupNorm(2, 4), (2, 4, 3)), (LocalResponseNorm(3, 0.5), (2, 4, 3)), (Dropout(0.3), (4, 5)),
    (Dropout2d(0.3), (4, 3, 2, 2)),
])
def test_backward_of_sum(module, shape):
    """y.sum().backward() feeds a read-only broadcast gradient; it must work (and for the
    batch-statistics norms, whose output sums to Σb, give an input gradient ≈ 0)."""
    x = fovea.tensor(randn(*shape, seed=60), requires_grad=True)
    module(x).sum().backward()
    assert x.grad.dtype == np.float32 and np.isfinite(x.grad.data).all()
    if isinstance(module, (BatchNorm1d, BatchNorm2d, GroupNorm)):
        assert np.abs(x.grad.data).max() < 1e-5
