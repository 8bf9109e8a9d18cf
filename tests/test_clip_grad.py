"""Gradient clipping: fovea.nn.utils.clip_grad_norm_ and clip_grad_value_ equal
torch.nn.utils' on the same gradients (a model in which one layer gets no gradient), for
norm types 2, 1, inf and 3; and they change the grads the way PyTorch does (in place, None
grads left alone).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fovea
from fovea import nn
from fovea.nn.utils import clip_grad_norm_, clip_grad_value_, get_total_norm


def make_nets(dtype=np.float32, scale=1.0):
    """fovea's and torch's Net with the same weights and grads after one backward."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    fbody = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).to(dtype)
    funused = nn.Linear(3, 3).to(dtype)
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    tbody = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(),
                                torch.nn.Linear(8, 3)).to(tdt)
    tunused = torch.nn.Linear(3, 3).to(tdt)
    for f, t in ((fbody, tbody), (funused, tunused)):
        weights = {k: rng.uniform(-1, 1, v.shape).astype(dtype)
                   for k, v in f.state_dict().items()}
        f.load_state_dict(weights)
        t.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    x = (scale * rng.standard_normal((16, 6))).astype(dtype)
    y = rng.integers(0, 3, 16)
    nn.CrossEntropyLoss()(fbody(fovea.tensor(x)), fovea.tensor(y)).backward()
    torch.nn.CrossEntropyLoss()(tbody(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    fparams = list(fbody.parameters()) + list(funused.parameters())
    tparams = list(tbody.parameters()) + list(tunused.parameters())
    return torch, fparams, tparams


def assert_grads_equal(fparams, tparams, rtol=1e-6):
    for f, t in zip(fparams, tparams):
        if t.grad is None:
            assert f.grad is None
        else:
            np.testing.assert_allclose(f.grad.data, t.grad.numpy(), rtol=rtol, atol=1e-7)
            assert f.grad.dtype == f.dtype


@pytest.mark.parametrize("norm_type", [2.0, 1, math.inf, "inf", 3.0])
@pytest.mark.parametrize("max_norm", [0.05, 1.0, 1e3])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch, fparams, tparams = make_nets()
    ftotal = clip_grad_norm_(fparams, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm, norm_type=norm_type)
    assert isinstance(ftotal, fovea.Tensor) and ftotal.shape == () and ftotal.dtype == np.float32
    assert float(ftotal) == pytest.approx(float(ttotal), rel=1e-6)
    assert_grads_equal(fparams, tparams)
    assert fparams[-1].grad is None and fparams[-2].grad is None
    # after clipping the norm is at most max_norm (+ the 1e-6 in the divisor)
    after = float(get_total_norm([p.grad for p in fparams if p.grad is not None], norm_type))
    assert after <= max_norm * (1 + 1e-5)


def test_clip_grad_norm_float64_and_generator():
    torch, fparams, tparams = make_nets(np.float64, scale=5.0)
    ftotal = clip_grad_norm_((p for p in fparams), 1.0)  # any iterable, as torch
    ttotal = torch.nn.utils.clip_grad_norm_((p for p in tparams), 1.0)
    assert ftotal.dtype == np.float64
    assert float(ftotal) == pytest.approx(float(ttotal), rel=1e-12)
    assert_grads_equal(fparams, tparams, rtol=1e-12)


@pytest.mark.parametrize("clip_value", [1e-3, 0.02, 10.0])
def test_clip_grad_value_matches_torch(clip_value):
    torch, fparams, tparams = make_nets()
    assert clip_grad_value_(fparams, clip_value) is None
    torch.nn.utils.clip_grad_value_(tparams, clip_value)
    assert_grads_equal(fparams, tparams, rtol=0)
    for p in fparams:
        if p.grad is not None:
            assert np.abs(p.grad.data).max() <= np.float32(clip_value)


def test_single_tensor_and_nonfinite_match_torch():
    torch = pytest.importorskip("torch")
    g = np.array([3.0, -4.0, 12.0], np.float32)
    p, t = nn.Parameter(np.zeros(3, np.float32)), torch.zeros(3, requires_grad=True)
    p.grad, t.grad = fovea.tensor(g.copy()), torch.from_numpy(g.copy())
    assert float(clip_grad_norm_(p, 1.3)) == float(torch.nn.utils.clip_grad_norm_(t, 1.3)) == 13.0
    np.testing.assert_allclose(p.grad.data, t.grad.numpy(), rtol=1e-6)

    bad = np.array([1.0, np.inf, 2.0], np.float32)
    p.grad, t.grad = fovea.tensor(bad.copy()), torch.from_numpy(bad.copy())
    with pytest.raises(RuntimeError):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_([t], 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(p.grad.data, bad)  # an error leaves the grads alone
    ftotal = clip_grad_norm_([p], 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_([t], 1.0)
    assert float(ftotal) == float(ttotal) == math.inf
    np.testing.assert_array_equal(p.grad.data, t.grad.numpy())  # inf · 0 = nan, 0 elsewhere


# ---- behaviour (no torch) -----------------------------------------------------------------------
def _param(grad):
    p = nn.Parameter(np.zeros(len(grad), np.float32))
    p.grad = fovea.tensor(np.array(grad, np.float32))
    return p


def test_clip_by_hand():
    a, b, c = _param([3.0, 0.0]), _param([0.0, -4.0]), nn.Parameter(np.zeros(2, np.float32))
    grad_a = a.grad.data
    total = clip_grad_norm_([a, b, c], max_norm=1.0)
    assert float(total) == 5.0 and total.item() == 5.0
    assert a.grad.data is grad_a  # scaled in place, as torch
    np.testing.assert_allclose(a.grad.data, [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(b.grad.data, [0.0, -0.8], rtol=1e-5)
    assert c.grad is None
    # under the limit: unchanged
    assert float(clip_grad_norm_([a, b], max_norm=2.0)) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_allclose(a.grad.data, [0.6, 0.0], rtol=1e-5)
    # norm types
    d = _param([1.0, -2.0, 2.0])
    assert float(clip_grad_norm_([d], 100.0, norm_type=1)) == 5.0
    assert float(clip_grad_norm_([d], 100.0, norm_type=math.inf)) == 2.0
    assert float(clip_grad_norm_([d], 100.0, norm_type=2)) == 3.0
    # nothing to clip
    assert float(clip_grad_norm_([c], 1.0)) == 0.0
    assert float(clip_grad_norm_([], 1.0)) == 0.0
    clip_grad_value_([c], 1.0)
    assert c.grad is None


def test_clip_grad_value_by_hand():
    a = _param([-3.0, 0.5, 2.0])
    g = a.grad.data
    clip_grad_value_([a], 1)
    assert a.grad.data is g and a.grad.dtype == np.float32
    np.testing.assert_array_equal(g, np.array([-1.0, 0.5, 1.0], np.float32))


def test_shared_and_read_only_grads_are_not_written():
    """A grad array shared by two parameters or read-only is replaced, not written; each
    parameter still gets its clipped gradient."""
    shared = np.array([6.0, 8.0], np.float32)
    a, b = _param([0.0, 0.0]), _param([0.0, 0.0])
    a.grad = b.grad = fovea.Tensor(shared)
    frozen = np.array([0.0, 0.0, 0.0], np.float32)
    frozen.flags.writeable = False
    c = _param([0.0])
    c.grad = fovea.Tensor(frozen)
    total = clip_grad_norm_([a, b, c], 1.0)
    assert float(total) == pytest.approx(math.sqrt(200.0), rel=1e-6)
    np.testing.assert_array_equal(shared, [6.0, 8.0])
    coef = 1.0 / (math.sqrt(200.0) + 1e-6)
    for p in (a, b):
        np.testing.assert_allclose(p.grad.data, [6.0 * coef, 8.0 * coef], rtol=1e-6)
    clip_grad_value_([a, b, c], 0.1)
    np.testing.assert_allclose(a.grad.data, [0.1, 0.1], rtol=1e-6)
    np.testing.assert_array_equal(c.grad.data, frozen)


def test_nn_utils_is_a_submodule():
    import fovea.nn.utils as utils

    assert utils.clip_grad_norm_ is clip_grad_norm_ and utils.clip_grad_value_ is clip_grad_value_
