"""fovea.kernels.conv: im2col and col2im give the same results on both paths (NumPy reference
and numba), col2im is im2col's adjoint, and conv2d / conv_transpose2d agree across paths with
stride, padding, dilation, groups and blocked patch matrices."""

import numpy as np
import pytest

import fovea
from fovea import kernels
from fovea.kernels import conv as kc
from fovea.ops import conv

pytest.importorskip("numba")

GEOMETRIES = [
    # C, H, W, N, (kh, kw), stride, padding, dilation, rows per block
    (3, 9, 7, 4, (3, 3), (1, 1), (1, 1), (1, 1), 2),
    (2, 11, 10, 3, (3, 2), (2, 2), (2, 2), (1, 1), 1),
    (2, 12, 9, 5, (3, 3), (1, 1), (0, 0), (2, 2), 3),
    (4, 10, 10, 2, (5, 5), (1, 1), (2, 2), (1, 1), 4),
    (2, 13, 12, 3, (5, 5), (2, 2), (2, 2), (1, 1), 2),
    (1, 12, 17, 2, (9, 2), (1, 3), (4, 1), (1, 1), 5),  # stride wider than the kernel
    (3, 8, 8, 1, (1, 1), (3, 3), (0, 0), (1, 1), 1),    # rows and columns never read
    (2, 6, 7, 2, (1, 1), (1, 1), (2, 3), (1, 1), 3),    # outputs that read padding only
    (2, 19, 18, 3, (5, 4), (3, 2), (0, 2), (2, 1), 2),
    (64, 8, 8, 16, (3, 3), (1, 1), (1, 1), (1, 1), 8),  # one block
]


def geometry(case):
    c, h, w, n, (kh, kw), stride, padding, dilation, rows = case
    oh = conv.out_size(h, kh, stride[0], padding[0], dilation[0])
    ow = conv.out_size(w, kw, stride[1], padding[1], dilation[1])
    return conv.Geometry(kh, kw, oh, ow, stride, padding, dilation), rows


def blocks(oh, rows):
    return [(a, min(a + rows, oh) - a) for a in range(0, oh, rows)]


def im2col_all(xb, geom, rows):
    """The patches of every block, concatenated along the output rows."""
    c, n = xb.shape[0], xb.shape[-1]
    parts = []
    for row0, r in blocks(geom.oh, rows):
        out = np.full((c, geom.kh, geom.kw, r, geom.ow, n), np.nan, xb.dtype)
        kc.im2col(xb, out, *geom.flat(), row0)
        parts.append(out)
    return np.concatenate(parts, axis=3)


def col2im_all(dcols, shape, geom, rows):
    """dx from the patch gradients of every block, as input_grad accumulates it."""
    dx = np.full(shape, np.nan, dcols.dtype)  # every element must be written
    fresh = 0
    for row0, r in blocks(geom.oh, rows):
        kc.col2im(np.ascontiguousarray(dcols[:, :, :, row0:row0 + r]), dx, *geom.flat(), row0,
                  fresh)
        fresh = max(fresh, kc.touched_rows(row0, r, shape[1], geom.kh, geom.stride[0],
                                           geom.padding[0], geom.dilation[0])[1])
    dx[:, fresh:] = 0
    return dx


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", GEOMETRIES, ids=str)
def test_paths_agree_and_col2im_is_the_adjoint(case, dtype):
    geom, rows = geometry(case)
    c, h, w, n = case[:4]
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((c, h, w, n)).astype(dtype)
    dcols = rng.standard_normal((c, geom.kh, geom.kw, geom.oh, geom.ow, n)).astype(dtype)
    got = {}
    for path in ("numpy", "numba"):
        with kernels.forced(path):
            got[path] = im2col_all(xb, geom, rows), col2im_all(dcols, xb.shape, geom, rows)
    (p_np, d_np), (p_nb, d_nb) = got["numpy"], got["numba"]
    np.testing.assert_array_equal(p_nb, p_np)  # copies: bit for bit
    np.testing.assert_allclose(d_nb, d_np, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-5 if dtype == np.float32 else 1e-12)
    # ⟨im2col(x), d⟩ = ⟨x, col2im(d)⟩, and padding reads as zero
    lhs = np.vdot(p_np.astype(np.float64), dcols.astype(np.float64))
    rhs = np.vdot(xb.astype(np.float64), d_np.astype(np.float64))
    assert abs(lhs - rhs) <= 1e-4 * (abs(lhs) + 1)


def test_im2col_reads_zero_padding():
    xb = np.ones((1, 2, 2, 1), np.float32)
    out = np.full((1, 3, 3, 2, 2, 1), np.nan, np.float32)
    for path in ("numpy", "numba"):
        with kernels.forced(path):
            kc.im2col(xb, out, 3, 3, 1, 1, 1, 1, 1, 1, 0)
        # output pixel (0, 0) sees the image in its lower right 2×2 taps only
        np.testing.assert_array_equal(out[0, :, :, 0, 0, 0], [[0, 0, 0], [0, 1, 1], [0, 1, 1]])


CONV = [
    # N, C, H, W, O, K, stride, padding, dilation, groups
    (3, 4, 9, 8, 6, (3, 3), 1, 1, 1, 2),
    (2, 3, 13, 12, 4, (5, 5), 2, 2, 1, 1),
    (2, 4, 11, 10, 6, (3, 2), (2, 1), (2, 0), (1, 2), 2),
    (2, 6, 8, 8, 6, (3, 3), 1, 1, 1, 6),  # depthwise
]


def conv_grads(case, transpose=False):
    n, c, h, w, o, k, stride, padding, dilation, groups = case
    rng = np.random.default_rng(1)
    x = fovea.tensor(rng.standard_normal((n, c, h, w)).astype(np.float32), requires_grad=True)
    if transpose:
        wt = fovea.tensor(rng.standard_normal((c, o // groups, *k)).astype(np.float32),
                          requires_grad=True)
        out = fovea.nn.functional.conv_transpose2d(x, wt, None, stride, padding, 0, groups,
                                                   dilation)
    else:
        wt = fovea.tensor(rng.standard_normal((o, c // groups, *k)).astype(np.float32),
                          requires_grad=True)
        out = fovea.nn.functional.conv2d(x, wt, None, stride, padding, dilation, groups)
    proj = fovea.tensor(rng.standard_normal(out.shape).astype(np.float32))
    (out * proj).sum().backward()
    return [out.detach().numpy().copy(), x.grad.numpy().copy(), wt.grad.numpy().copy()]


@pytest.mark.parametrize("transpose", [False, True])
@pytest.mark.parametrize("case", CONV, ids=str)
def test_conv_ops_agree_across_paths(case, transpose, monkeypatch):
    monkeypatch.setattr(conv, "BLOCK_BYTES", 64)  # several blocks of rows
    monkeypatch.setattr(conv, "MANY_OUTPUTS", 1 << 20)
    results = {}
    for path in ("numpy", "numba"):
        with kernels.forced(path):
            results[path] = conv_grads(case, transpose)
    for name, a, b in zip(("out", "x.grad", "w.grad"), results["numba"], results["numpy"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=name)
