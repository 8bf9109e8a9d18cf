"""F.scaled_dot_product_attention against torch: masks of both kinds, causal, scale, broadcast
batch dimensions, fully masked rows; float64 gradcheck."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close

import fovea
from fovea.autograd import gradcheck
from fovea.errors import ShapeError
from fovea.nn import functional as F

torch = pytest.importorskip("torch")


def _qkv(rng, qshape, kshape, vshape):
    return [rng.standard_normal(s).astype(np.float32) for s in (qshape, kshape, vshape)]


def _compare(q, k, v, mask=None, mask_grad=False, **kw):
    rng = np.random.default_rng(7)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    fq, fk, fv = (fovea.tensor(a, requires_grad=True) for a in (q, k, v))
    tm = fm = None
    if mask is not None:
        tm = torch.tensor(mask, requires_grad=mask_grad)
        fm = fovea.tensor(mask, requires_grad=mask_grad)
    ty = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, **kw)
    fy = F.scaled_dot_product_attention(fq, fk, fv, attn_mask=fm, **kw)
    assert fy.shape == tuple(ty.shape)
    assert_close(fy.data, ty.detach().numpy(), 1e-4, "output")
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.tensor(g))
    fy.backward(g)
    for name, f, t in (("query", fq, tq), ("key", fk, tk), ("value", fv, tv)):
        assert_close(f.grad.data, t.grad.numpy(), 1e-4, f"{name} gradient")
    if mask_grad:
        assert_close(fm.grad.data, tm.grad.numpy(), 1e-4, "mask gradient")


@pytest.mark.parametrize("shapes", [
    ((2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4)),      # (N, heads, L, E), S != L, Ev != E
    ((5, 8), (6, 8), (6, 8)),                        # no batch dimensions
    ((2, 1, 5, 8), (1, 3, 5, 8), (2, 3, 5, 8)),      # broadcast batch dimensions
])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_unmasked_matches_torch(shapes, scale):
    _compare(*_qkv(np.random.default_rng(0), *shapes), scale=scale)


@pytest.mark.parametrize("L,S", [(6, 6), (4, 7), (7, 4)])
def test_causal_matches_torch(L, S):
    _compare(*_qkv(np.random.default_rng(1), (2, 2, L, 8), (2, 2, S, 8), (2, 2, S, 8)),
             is_causal=True)


@pytest.mark.parametrize("mshape", [(5, 7), (2, 1, 5, 7), (2, 1, 1, 7)])
def test_boolean_mask_matches_torch(mshape):
    rng = np.random.default_rng(2)
    mask = rng.random(mshape) < 0.7
    mask[..., 0] = True   # every row keeps a key: torch's fused kernels agree there
    _compare(*_qkv(rng, (2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 4)), mask=mask)


@pytest.mark.parametrize("mshape", [(5, 7), (2, 3, 5, 7)])
def test_additive_mask_and_its_gradient_match_torch(mshape):
    rng = np.random.default_rng(3)
    mask = rng.standard_normal(mshape).astype(np.float32)
    _compare(*_qkv(rng, (2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 4)), mask=mask, mask_grad=True)


def test_a_fully_masked_row_gives_zeros_as_torch():
    rng = np.random.default_rng(4)
    mask = np.ones((4, 6), dtype=bool)
    mask[2] = False
    _compare(*_qkv(rng, (1, 4, 3), (1, 6, 3), (1, 6, 3)), mask=mask)
    out = F.scaled_dot_product_attention(*(fovea.tensor(a) for a in _qkv(rng, (4, 3), (6, 3),
                                                                          (6, 3))),
                                         attn_mask=mask)
    assert np.isfinite(out.data).all() and not out.data[2].any()


def test_dropout_keeps_the_expectation_and_backward_uses_the_same_mask():
    rng = np.random.default_rng(5)
    q, k, v = (fovea.tensor(a, requires_grad=True) for a in _qkv(rng, (64, 8), (32, 8), (32, 8)))
    fovea.manual_seed(0)
    plain = F.scaled_dot_product_attention(q, k, v).data
    outs = []
    for seed in range(200):
        fovea.manual_seed(seed)
        outs.append(F.scaled_dot_product_attention(q, k, v, dropout_p=0.3).data)
    assert np.abs(np.mean(outs, axis=0) - plain).mean() < 0.05
    # the gradient through dropout is the gradient of the function with that mask fixed:
    # check it numerically in float64 with the generator reseeded for each evaluation
    q64, k64, v64 = (fovea.tensor(a.data.astype(np.float64), requires_grad=True)
                     for a in (q, k, v))

    def fn(q, k, v):
        fovea.manual_seed(11)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    assert gradcheck(fn, [q64[:3], k64[:4], v64[:4]])["ok"]


@pytest.mark.parametrize("kw", [{}, {"is_causal": True}, {"mask": "bool"}, {"mask": "float"}])
def test_gradcheck_float64(kw):
    rng = np.random.default_rng(6)
    q, k, v = (fovea.tensor(rng.standard_normal(s), requires_grad=True)
               for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3)))
    inputs = [q, k, v]
    kind = kw.pop("mask", None)
    if kind == "bool":
        kw["attn_mask"] = fovea.tensor(rng.random((3, 5)) < 0.6)
    elif kind == "float":
        inputs.append(fovea.tensor(rng.standard_normal((3, 5)), requires_grad=True))
    if kind == "float":
        assert gradcheck(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, m), inputs)[
            "ok"]
    else:
        assert gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kw),
                         inputs)["ok"]


@pytest.mark.parametrize("shapes,mask", [
    (((2, 5, 8), (2, 6, 7), (2, 6, 7)), None),        # E differs
    (((2, 5, 8), (2, 6, 8), (2, 5, 8)), None),        # S differs between key and value
    (((2, 5, 8), (3, 6, 8), (3, 6, 8)), None),        # batch does not broadcast
    (((2, 5, 8), (2, 6, 8), (2, 6, 8)), (5, 5)),      # mask does not broadcast
    (((8,), (6, 8), (6, 8)), None),                   # query without a sequence axis
])
def test_shape_errors_name_the_shapes(shapes, mask):
    q, k, v = (fovea.tensor(np.zeros(s, np.float32)) for s in shapes)
    m = None if mask is None else np.ones(mask, dtype=bool)
    with pytest.raises(ShapeError, match=r"\("):
        F.scaled_dot_product_attention(q, k, v, attn_mask=m)


def test_mask_and_causal_together_is_an_error():
    q = fovea.tensor(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="either"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), bool), is_causal=True)
