"""conv2d builds its patch matrix in cache-sized blocks of output rows (ops.conv.BLOCK_BYTES).
Forcing tiny blocks must give the same forward and backward as one whole patch matrix."""

import numpy as np
import pytest

import fovea
from fovea.autograd import gradcheck
from fovea.ops import conv

CASES = [
    # N, C, H, W, O, K, stride, padding, dilation, groups
    (3, 2, 9, 7, 4, (3, 3), 1, 1, 1, 1),
    (2, 4, 11, 10, 6, (3, 2), 2, 2, 1, 2),
    (2, 3, 12, 9, 5, (3, 3), 1, 0, 2, 1),
    (4, 1, 10, 10, 6, (5, 5), 1, 2, 1, 1),
    (2, 4, 8, 8, 4, (3, 3), 3, 1, 1, 4),
]


def run(case, dtype, block_bytes, monkeypatch, rng):
    n, c, h, w, o, k, stride, padding, dilation, groups = case
    monkeypatch.setattr(conv, "BLOCK_BYTES", block_bytes)
    x = fovea.tensor(rng.standard_normal((n, c, h, w)), dtype=dtype, requires_grad=True)
    wt = fovea.tensor(rng.standard_normal((o, c // groups, *k)), dtype=dtype,
                      requires_grad=True)
    b = fovea.tensor(rng.standard_normal(o), dtype=dtype, requires_grad=True)
    out = fovea.nn.functional.conv2d(x, wt, b, stride, padding, dilation, groups)
    proj = fovea.tensor(rng.standard_normal(out.shape), dtype=dtype)
    (out * proj).sum().backward()
    return [t.detach().numpy().copy() for t in (out, x.grad, wt.grad, b.grad)]


@pytest.mark.parametrize("case", CASES)
def test_blocked_equals_whole(case, monkeypatch):
    whole = run(case, fovea.float64, 1 << 40, monkeypatch, np.random.default_rng(0))
    blocked = run(case, fovea.float64, 1, monkeypatch, np.random.default_rng(0))
    for a, b in zip(whole, blocked):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES[:3])
def test_blocked_gradcheck(case, monkeypatch):
    n, c, h, w, o, k, stride, padding, dilation, groups = case
    monkeypatch.setattr(conv, "BLOCK_BYTES", 1)
    rng = np.random.default_rng(1)
    x = fovea.tensor(rng.standard_normal((2, c, h, w)), dtype=fovea.float64, requires_grad=True)
    wt = fovea.tensor(rng.standard_normal((o, c // groups, *k)), dtype=fovea.float64,
                      requires_grad=True)
    gradcheck(lambda a, b: fovea.nn.functional.conv2d(a, b, None, stride, padding, dilation,
                                                      groups), [x, wt])


def test_blocked_float32_against_torch(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(conv, "BLOCK_BYTES", 4096)
    rng = np.random.default_rng(2)
    xa = rng.standard_normal((8, 3, 20, 20), dtype=np.float32)
    wa = rng.standard_normal((5, 3, 5, 5), dtype=np.float32)
    x = fovea.tensor(xa, requires_grad=True)
    wt = fovea.tensor(wa, requires_grad=True)
    out = fovea.nn.functional.conv2d(x, wt, padding=2)
    out.sum().backward()
    tx = torch.tensor(xa, requires_grad=True)
    tw = torch.tensor(wa, requires_grad=True)
    tout = torch.nn.functional.conv2d(tx, tw, padding=2)
    tout.sum().backward()
    for a, b in ((out.detach(), tout), (x.grad, tx.grad), (wt.grad, tw.grad)):
        b = b.detach().numpy()
        assert np.abs(a.numpy() - b).max() <= 1e-4 * max(1.0, np.abs(b).max())
