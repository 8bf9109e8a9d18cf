"""Convolution, transposed convolution, pooling, padding and resampling options compared with
PyTorch (values and gradients of sum(output · random cotangent)), and a float64 gradcheck of
each primitive they add: F.pad's index modes, conv_transpose2d, interpolate's resampling and
the ceil_mode pools."""

from __future__ import annotations

import numpy as np
import pytest

import fovea
import fovea.nn.functional as F
from fovea.autograd.gradcheck import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional

R = np.random.default_rng(10)
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")


def randn(*shape):
    return R.standard_normal(shape).astype(np.float32)


def run_both(ffn, tfn, *arrays, tol=1e-4):
    """ffn on fovea tensors and tfn on torch tensors of ``arrays``: outputs (all of a tuple)
    and the gradients of sum(out[0]·c) for a random cotangent c agree."""
    fx = [fovea.Tensor(a.copy(), requires_grad=True) for a in arrays]
    tx = [torch.tensor(a, requires_grad=True) for a in arrays]
    fo, to = ffn(*fx), tfn(*tx)
    fo, to = (fo if isinstance(fo, tuple) else (fo,)), (to if isinstance(to, tuple) else (to,))
    assert len(fo) == len(to)
    for f, t in zip(fo, to):
        assert tuple(f.shape) == tuple(t.shape)
        if t.dtype == torch.int64:
            assert f.dtype == np.int64
            np.testing.assert_array_equal(f.data, t.numpy())
        else:
            np.testing.assert_allclose(f.data, t.detach().numpy(), rtol=tol, atol=tol)
    c = randn(*to[0].shape)
    (fo[0] * fovea.Tensor(c)).sum().backward()
    grads = torch.autograd.grad(to[0], tx, torch.tensor(c), allow_unused=True)
    for f, g in zip(fx, grads):
        expected = np.zeros(f.shape, np.float32) if g is None else g.numpy()
        got = np.zeros(f.shape, np.float32) if f.grad is None else f.grad.data
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    return fo


def check_grad(fn, *arrays):
    gradcheck(fn, [fovea.Tensor(a.astype(np.float64), requires_grad=True) for a in arrays])


# ---- pooling ---------------------------------------------------------------------------
POOLS = [  # kernel, stride, padding, dilation, input H×W
    (2, 2, 0, 1, (7, 7)), (3, 2, 1, 1, (6, 9)), ((3, 2), (2, 3), (1, 0), 1, (8, 7)),
    (3, 3, 1, 2, (10, 11)), (2, 1, 1, 1, (5, 5)), (4, 3, 2, 1, (9, 10)),
]


@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("k,s,p,d,hw", POOLS)
def test_max_pool2d_indices_and_ceil_mode(k, s, p, d, hw, ceil_mode):
    x = randn(2, 3, *hw)
    run_both(lambda t: F.max_pool2d(t, k, s, p, d, ceil_mode=ceil_mode, return_indices=True),
             lambda t: TF.max_pool2d(t, k, s, p, d, ceil_mode=ceil_mode, return_indices=True), x)
    run_both(lambda t: F.max_pool2d(t, k, s, p, d, ceil_mode), lambda t: TF.max_pool2d(
        t, k, s, p, d, ceil_mode), x[0])


def test_max_pool2d_module_return_indices():
    x = randn(1, 2, 5, 5)
    fm, tm = (fovea.nn.MaxPool2d(2, return_indices=True, ceil_mode=True),
              torch.nn.MaxPool2d(2, return_indices=True, ceil_mode=True))
    run_both(fm, tm, x)


@pytest.mark.parametrize("include", [True, False])
@pytest.mark.parametrize("ceil_mode", [False, True])
@pytest.mark.parametrize("k,s,p,hw", [(2, 2, 0, (7, 7)), (3, 2, 1, (6, 9)),
                                      ((3, 2), (2, 3), (1, 0), (8, 7)), (4, 3, 2, (9, 10))])
def test_avg_pool2d_ceil_mode_and_count_include_pad(k, s, p, hw, ceil_mode, include):
    x = randn(2, 3, *hw)
    run_both(lambda t: F.avg_pool2d(t, k, s, p, ceil_mode, include),
             lambda t: TF.avg_pool2d(t, k, s, p, ceil_mode, include), x)
    run_both(lambda t: F.avg_pool2d(t, k, s, p, ceil_mode, include, divisor_override=5),
             lambda t: TF.avg_pool2d(t, k, s, p, ceil_mode, include, divisor_override=5), x)


def test_avg_pool2d_one_tuples():
    x = randn(1, 2, 6, 6)
    run_both(lambda t: F.avg_pool2d(t, (3,), (2,), (1,)),
             lambda t: TF.avg_pool2d(t, (3,), (2,), (1,)), x)


def test_pools_gradcheck_ceil_mode():
    x = randn(1, 2, 5, 6)
    check_grad(lambda t: F.max_pool2d(t, 3, 2, 1, ceil_mode=True), x)
    check_grad(lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False), x)


@pytest.mark.parametrize("fn", [lambda m, t: m.max_pool2d(t, 2), lambda m, t: m.avg_pool2d(
    t, 3, 1, 1), lambda m, t: m.max_pool2d(t, 3, 2, 1, ceil_mode=True)])
def test_pools_empty_batch(fn):
    run_both(lambda t: fn(F, t), lambda t: fn(TF, t), randn(0, 3, 6, 6))


# ---- conv2d ----------------------------------------------------------------------------
def test_conv2d_unbatched():
    x, w, b = randn(3, 7, 6), randn(4, 3, 3, 2), randn(4)
    run_both(lambda *a: F.conv2d(*a, stride=2, padding=1),
             lambda *a: TF.conv2d(*a, stride=2, padding=1), x, w, b)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel,dilation,groups", [((3, 3), 1, 1), ((2, 4), 1, 2),
                                                    ((4, 3), 2, 1), ((1, 2), (2, 3), 2)])
def test_conv2d_string_padding(padding, kernel, dilation, groups):
    x, w = randn(2, 4, 9, 8), randn(6, 4 // groups, *kernel)
    run_both(lambda *a: F.conv2d(*a, padding=padding, dilation=dilation, groups=groups),
             lambda *a: TF.conv2d(*a, padding=padding, dilation=dilation, groups=groups), x, w)


def test_conv2d_same_padding_refuses_stride():
    x, w = fovea.Tensor(randn(1, 1, 5, 5)), fovea.Tensor(randn(1, 1, 3, 3))
    with pytest.raises(ValueError, match="strided"):
        F.conv2d(x, w, stride=2, padding="same")
    with pytest.raises(ValueError, match="strided"):
        fovea.nn.Conv2d(1, 1, 3, stride=2, padding="same")


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [1, (2, 1), "same"])
def test_conv2d_module_padding_mode(mode, padding):
    kw = dict(padding=padding, padding_mode=mode, kernel_size=(3, 4), dilation=1)
    tm, fm = torch.nn.Conv2d(3, 5, **kw), fovea.nn.Conv2d(3, 5, **kw)
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    assert set(fm.state_dict()) == set(sd)
    fm.load_state_dict(sd)
    run_both(fm, tm, randn(2, 3, 7, 8))
    assert repr(fm) == repr(tm)


def test_conv2d_empty_batch():
    x, w, b = randn(0, 3, 6, 6), randn(4, 3, 3, 3), randn(4)
    run_both(lambda *a: F.conv2d(*a, padding=1), lambda *a: TF.conv2d(*a, padding=1), x, w, b)
    m = fovea.nn.Conv2d(3, 4, 3)
    out = m(fovea.Tensor(x))
    out.sum().backward()
    assert out.shape == (0, 4, 4, 4) and np.all(m.weight.grad.data == 0)


# ---- F.pad -----------------------------------------------------------------------------
PADS = [
    ("constant", (2, 3, 10, 4), (1, 2, 0, 3)), ("constant", (2, 3, 10), (-2, 3)),
    ("constant", (3, 4), (1, -1, -2, 2)),
    ("reflect", (2, 3, 10), (3, 2)), ("reflect", (2, 3, 5, 6), (1, 4, 4, 0)),
    ("reflect", (1, 2, 3, 4, 5), (1, 2, 2, 1, 0, 2)),
    ("replicate", (2, 3, 10), (3, 5)), ("replicate", (2, 5, 6), (1, 4, 7, 0)),
    ("replicate", (2, 3, 4, 4), (-1, 2, 3, -2)), ("replicate", (1, 1, 2, 3, 4), (1, 1, 0, 2, 3, 1)),
    ("circular", (2, 3, 10), (3, 5)), ("circular", (1, 3, 4, 4), (-1, 1, -2, 1)),
    ("circular", (1, 3, 4, 4), (4, 2, 1, -3)), ("circular", (1, 2, 3, 3, 3), (1, 1, 1, 1, 1, 1)),
]


@pytest.mark.parametrize("mode,shape,pad", PADS)
def test_pad_modes(mode, shape, pad):
    kw = {"value": 1.5} if mode == "constant" else {}
    run_both(lambda t: F.pad(t, pad, mode, **kw), lambda t: TF.pad(t, pad, mode, **kw),
             randn(*shape))


@pytest.mark.parametrize("mode,shape,pad", [("reflect", (1, 2, 3), (3, 0)),
                                            ("circular", (1, 2, 3), (0, 4)),
                                            ("replicate", (2, 3, 4, 5), (1, 1)),
                                            ("reflect", (4,), (1, 1))])
def test_pad_refuses_what_pytorch_refuses(mode, shape, pad):
    with pytest.raises((RuntimeError, ValueError, NotImplementedError)):
        TF.pad(torch.zeros(shape), pad, mode)
    with pytest.raises((ValueError, NotImplementedError, fovea.errors.ShapeError)):
        F.pad(fovea.Tensor(np.zeros(shape, np.float32)), pad, mode)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_gradcheck(mode):
    check_grad(lambda t: F.pad(t, (2, 1, 1, 2), mode), randn(1, 2, 3, 4))


# ---- conv_transpose2d -------------------------------------------------------------------
TRANSPOSED = [  # stride, padding, output_padding, groups, dilation, kernel
    (1, 0, 0, 1, 1, (3, 3)), (2, 1, 1, 1, 1, (3, 3)), ((2, 3), (0, 1), (1, 2), 2, 1, (2, 3)),
    (3, 2, 0, 1, 2, (3, 2)), (2, 0, 1, 3, (1, 2), (4, 4)),
]


@pytest.mark.parametrize("stride,padding,output_padding,groups,dilation,kernel", TRANSPOSED)
def test_conv_transpose2d(stride, padding, output_padding, groups, dilation, kernel):
    x, w, b = randn(2, 6, 5, 4), randn(6, 6 // groups, *kernel), randn(6)
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, groups=groups,
              dilation=dilation)
    run_both(lambda *a: F.conv_transpose2d(*a, **kw), lambda *a: TF.conv_transpose2d(*a, **kw),
             x, w, b)
    run_both(lambda *a: F.conv_transpose2d(*a, **kw), lambda *a: TF.conv_transpose2d(*a, **kw),
             x[0], w)


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    x, w = randn(2, 3, 9, 8), randn(4, 3, 3, 3)
    fx = fovea.Tensor(x, requires_grad=True)
    y = F.conv2d(fx, fovea.Tensor(w), stride=2, padding=1)
    g = randn(*y.shape)
    (y * fovea.Tensor(g)).sum().backward()
    adj = F.conv_transpose2d(fovea.Tensor(g), fovea.Tensor(w), stride=2, padding=1,
                             output_padding=(0, 1))
    np.testing.assert_allclose(adj.data, fx.grad.data, rtol=1e-5, atol=1e-5)


def test_conv_transpose2d_gradcheck():
    check_grad(lambda *a: F.conv_transpose2d(*a, stride=2, padding=1, output_padding=1,
                                             groups=2, dilation=(1, 2)),
               randn(1, 4, 3, 3), randn(4, 1, 2, 3), randn(2))


def test_conv_transpose2d_module():
    tm = torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2)
    fm = fovea.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, groups=2)
    sd = {k: v.detach().numpy() for k, v in tm.state_dict().items()}
    assert {k: v.shape for k, v in fm.state_dict().items()} == {k: v.shape for k, v in sd.items()}
    bound = 1 / np.sqrt(3 * 3 * 3)  # fan_in = out_channels/groups · kh · kw, as PyTorch
    assert np.abs(fm.weight.data).max() <= bound and np.abs(fm.weight.data).max() > bound / 2
    fm.load_state_dict(sd)
    x = randn(2, 4, 5, 5)
    run_both(fm, tm, x)
    run_both(lambda t: fm(t, output_size=(10, 10)), lambda t: tm(t, output_size=(10, 10)), x)
    assert repr(fm) == repr(tm)
    with pytest.raises(ValueError):
        fm(fovea.Tensor(x), output_size=(12, 12))


def test_conv_transpose2d_empty_batch():
    run_both(lambda *a: F.conv_transpose2d(*a, stride=2), lambda *a: TF.conv_transpose2d(
        *a, stride=2), randn(0, 3, 4, 4), randn(3, 2, 3, 3), randn(2))


# ---- interpolate -----------------------------------------------------------------------
RESAMPLES = [
    ("nearest", (2, 3, 5, 7), dict(size=(8, 4))), ("nearest", (2, 3, 5, 7), dict(scale_factor=1.7)),
    ("nearest", (1, 2, 9), dict(scale_factor=0.5)), ("nearest-exact", (1, 2, 5, 6), dict(size=9)),
    ("bilinear", (2, 3, 5, 7), dict(size=(8, 4), align_corners=False)),
    ("bilinear", (2, 3, 5, 7), dict(size=(8, 4), align_corners=True)),
    ("bilinear", (2, 3, 5, 7), dict(scale_factor=(2.5, 0.6))),
    ("bilinear", (2, 3, 5, 7), dict(scale_factor=1.7, recompute_scale_factor=True)),
    ("bilinear", (1, 1, 4, 4), dict(size=1, align_corners=True)),
    ("linear", (2, 3, 7), dict(scale_factor=3.0)), ("area", (1, 2, 9, 7), dict(size=(4, 3))),
    ("trilinear", (1, 2, 3, 4, 5), dict(size=(5, 3, 7))),
    ("bicubic", (2, 3, 5, 7), dict(size=(9, 4))), ("bicubic", (1, 2, 4, 3), dict(scale_factor=2.5)),
    ("bicubic", (1, 2, 6, 5), dict(size=(3, 11), align_corners=True)),
]


@pytest.mark.parametrize("mode,shape,kw", RESAMPLES)
def test_interpolate(mode, shape, kw):
    run_both(lambda t: F.interpolate(t, mode=mode, **kw),
             lambda t: TF.interpolate(t, mode=mode, **kw), randn(*shape))


def test_interpolate_gradcheck():
    x = randn(1, 2, 3, 4)
    check_grad(lambda t: F.interpolate(t, size=(5, 7), mode="bilinear"), x)
    check_grad(lambda t: F.interpolate(t, scale_factor=1.5, mode="nearest"), x)
    check_grad(lambda t: F.interpolate(t, size=(2, 6), mode="bicubic"), x)


def test_upsample_module():
    x = randn(1, 2, 4, 5)
    for kw in (dict(scale_factor=2), dict(size=(7, 3), mode="bilinear", align_corners=True)):
        run_both(fovea.nn.Upsample(**kw), torch.nn.Upsample(**kw), x)
    run_both(lambda t: F.upsample_bilinear(t, scale_factor=2),
             lambda t: TF.interpolate(t, scale_factor=2, mode="bilinear", align_corners=True), x)


@pytest.mark.parametrize("kw", [dict(), dict(size=3, scale_factor=2),
                                dict(size=3, mode="nearest", align_corners=True),
                                dict(size=3, mode="bilinear")])
def test_interpolate_refuses_what_pytorch_refuses(kw):
    x = np.zeros((1, 1, 4), np.float32)
    with pytest.raises((ValueError, NotImplementedError)):
        TF.interpolate(torch.tensor(x), **kw)
    with pytest.raises((ValueError, NotImplementedError)):
        F.interpolate(fovea.Tensor(x), **kw)


def test_onnx_export_of_same_padding(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    import fovea.onnx

    model = fovea.nn.Sequential(fovea.nn.Conv2d(2, 3, (2, 4), padding="same"))
    x = randn(1, 2, 6, 7)
    path = fovea.onnx.export(model, fovea.tensor(x), tmp_path / "same.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    with fovea.no_grad():
        np.testing.assert_allclose(out, model(fovea.tensor(x)).data, rtol=1e-4, atol=1e-5)
    with pytest.raises(fovea.errors.ExportError, match="padding_mode"):
        fovea.onnx.export(fovea.nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"),
                          fovea.tensor(x), tmp_path / "reflect.onnx")
