"""orthogonal_, trunc_normal_, eye_ and dirac_: properties, and PyTorch's algorithms.

The other init functions (uniform_, normal_, constant_, xavier/kaiming, calculate_gain) are
checked in test_nn_module.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import fovea
from fovea import backend, nn
from fovea.nn import init


def _param(shape, dtype=np.float32):
    return nn.Parameter(np.empty(shape, dtype))


def _gram(w):
    """WᵀW for a tall (rows ≥ cols) matrix view, WWᵀ for a wide one."""
    m = w.reshape(w.shape[0], -1).astype(np.float64)
    return m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T


# ---- orthogonal_ -------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(64, 16), (16, 64), (32, 32), (16, 6, 5, 5), (6, 16, 3, 3),
                                   (8, 4, 3)],
                         ids=["tall", "wide", "square", "conv-tall", "conv-wide", "conv1d"])
@pytest.mark.parametrize("gain", [1.0, math.sqrt(2)])
def test_orthogonal_rows_or_columns_orthonormal(shape, gain):
    fovea.manual_seed(1)
    t = _param(shape)
    assert init.orthogonal_(t, gain=gain) is t
    assert t.shape == shape and t.dtype == np.float32 and t.requires_grad
    g = _gram(t.data)
    np.testing.assert_allclose(g, gain**2 * np.eye(len(g)), atol=2e-6 * gain**2 * len(g))


def test_orthogonal_float64_is_exact():
    fovea.manual_seed(2)
    t = _param((40, 25), np.float64)
    init.orthogonal_(t)
    assert t.dtype == np.float64
    np.testing.assert_allclose(_gram(t.data), np.eye(25), atol=1e-12)


class _FixedNormal:
    """Stands in for the global generator: ``normal`` returns a given matrix."""

    def __init__(self, matrix):
        self.matrix = matrix

    def normal(self, loc, scale, size):
        assert (loc, scale) == (0.0, 1.0) and tuple(size) == self.matrix.shape
        return self.matrix.copy()


@pytest.mark.parametrize("shape", [(12, 5), (5, 12), (6, 2, 3, 3)])
def test_orthogonal_is_pytorchs_algorithm(monkeypatch, shape):
    """Given the same normal matrix, Q from QR with the signs of diag(R): PyTorch's steps."""
    torch = pytest.importorskip("torch")
    rows = shape[0]
    cols = int(np.prod(shape[1:]))
    m = np.random.default_rng(3).standard_normal((rows, cols))
    monkeypatch.setattr(backend, "rng", lambda: _FixedNormal(m))
    t = _param(shape, np.float64)
    init.orthogonal_(t, gain=1.5)

    flat = torch.from_numpy(m)  # torch.nn.init.orthogonal_'s body, on this matrix
    if rows < cols:
        flat = flat.T
    q, r = torch.linalg.qr(flat)
    q = q * torch.diag(r, 0).sign()
    if rows < cols:
        q = q.T
    np.testing.assert_allclose(t.data, 1.5 * q.numpy().reshape(shape), atol=1e-12)


def test_orthogonal_is_uniform_over_rotations():
    """The sign correction removes QR's bias: E[Q₀₀] = 0, entries have variance 1/n (as in
    PyTorch's samples)."""
    fovea.manual_seed(4)
    n, draws = 6, 400
    qs = np.stack([init.orthogonal_(_param((n, n), np.float64)).data for _ in range(draws)])
    assert abs(qs[:, 0, 0].mean()) < 4 / math.sqrt(n * draws)
    assert abs(qs.var() * n - 1) < 0.05
    torch = pytest.importorskip("torch")
    torch.manual_seed(4)
    tq = torch.stack([torch.nn.init.orthogonal_(torch.empty(n, n)) for _ in range(draws)])
    assert abs(tq.var().item() * n - 1) < 0.05
    assert abs(tq[:, 0, 0].mean().item()) < 4 / math.sqrt(n * draws)


def test_orthogonal_errors_and_empty():
    with pytest.raises(ValueError, match="2 dimensions"):
        init.orthogonal_(_param((5,)))
    t = _param((0, 4))
    assert init.orthogonal_(t) is t and t.shape == (0, 4)


# ---- trunc_normal_ ---------------------------------------------------------------------------
def _truncated_moments(mean, std, a, b):
    """Mean and std of N(mean, std²) truncated to [a, b] (the textbook formulas)."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda z: 0.5 * math.erfc(-z / math.sqrt(2))  # noqa: E731
    z = cdf(beta) - cdf(alpha)
    m = (pdf(alpha) - pdf(beta)) / z
    var = 1 + (alpha * pdf(alpha) - beta * pdf(beta)) / z - m * m
    return mean + std * m, std * math.sqrt(var)


TRUNC_CASES = [
    (0.0, 1.0, -2.0, 2.0),     # PyTorch's defaults
    (0.0, 0.02, -0.04, 0.04),  # the ViT/BERT use: ±2 std
    (1.0, 2.0, 0.0, 3.0),      # asymmetric
    (0.0, 1.0, 0.0, 4.0),      # half normal
    (0.0, 1.0, 3.0, 5.0),      # far in the upper tail
    (0.0, 1.0, -9.0, -7.0),    # far in the lower tail
]


@pytest.mark.parametrize("mean, std, a, b", TRUNC_CASES)
def test_trunc_normal_bounds_and_moments(mean, std, a, b):
    fovea.manual_seed(5)
    t = _param((400, 250))
    assert init.trunc_normal_(t, mean, std, a, b) is t
    assert t.dtype == np.float32 and t.shape == (400, 250)
    v = t.data.astype(np.float64)
    assert v.min() >= a and v.max() <= b
    m, s = _truncated_moments(mean, std, a, b)
    assert abs(v.mean() - m) < 0.01 * s + 1e-7
    assert abs(v.std() / s - 1) < 0.01
    # the whole interval is used (the density at the far end is the smallest)
    lo, hi = np.quantile(v, [0.0005, 0.9995])
    assert lo < a + 0.05 * (b - a) or hi > b - 0.05 * (b - a)


def test_trunc_normal_matches_scipy_distribution():
    stats = pytest.importorskip("scipy.stats")
    fovea.manual_seed(6)
    for mean, std, a, b in TRUNC_CASES:
        v = init.trunc_normal_(_param((20_000,)), mean, std, a, b).data.astype(np.float64)
        dist = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
        assert stats.kstest(v, dist.cdf).pvalue > 1e-3, (mean, std, a, b)


def test_trunc_normal_std_equals_torch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(7)
    fovea.manual_seed(7)
    for mean, std, a, b in TRUNC_CASES[:4]:  # PyTorch (float32) is inexact in the far tails
        tt = torch.nn.init.trunc_normal_(torch.empty(400, 250), mean, std, a, b).double()
        ours = init.trunc_normal_(_param((400, 250)), mean, std, a, b).data
        assert abs(ours.std() / tt.std().item() - 1) < 0.02
        assert abs(ours.mean() - tt.mean().item()) < 0.01 * std + 1e-7
        _, s = _truncated_moments(mean, std, a, b)
        assert abs(tt.std().item() / s - 1) < 0.01  # the formula is PyTorch's distribution


def test_trunc_normal_defaults_dtype_and_errors():
    fovea.manual_seed(8)
    t = init.trunc_normal_(_param((300, 300), np.float64))
    assert t.dtype == np.float64
    assert t.data.min() >= -2 and t.data.max() <= 2
    assert abs(t.data.std() - _truncated_moments(0, 1, -2, 2)[1]) < 0.01
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(_param((3, 3)), a=1.0, b=1.0)
    with pytest.raises(ValueError, match="std > 0"):
        init.trunc_normal_(_param((3, 3)), std=0.0)
    unbounded = init.trunc_normal_(_param((200, 200)), a=-math.inf, b=math.inf).data
    assert np.isfinite(unbounded).all() and abs(unbounded.std() - 1) < 0.02


def test_norm_ppf_accuracy():
    stats = pytest.importorskip("scipy.stats")
    p = np.concatenate([np.logspace(-300, -1, 300), np.linspace(0.01, 0.99, 999),
                        1 - np.logspace(-15, -2, 100)])
    np.testing.assert_allclose(init._norm_ppf(p), stats.norm.ppf(p), rtol=2e-9, atol=1e-9)


# ---- eye_ and dirac_ -------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (5, 3)])
def test_eye(shape):
    t = init.eye_(_param(shape))
    np.testing.assert_array_equal(t.data, np.eye(*shape, dtype=np.float32))
    with pytest.raises(ValueError):
        init.eye_(_param((2, 2, 2)))


@pytest.mark.parametrize("shape, groups", [((6, 6, 3, 3), 1), ((8, 4, 3, 3), 2), ((4, 8, 3), 1),
                                           ((6, 3, 3, 3, 3), 3), ((4, 4, 2, 2), 1),
                                           ((3, 5, 5, 5), 1)])
def test_dirac_equals_torch(shape, groups):
    t = init.dirac_(_param(shape), groups)
    assert t.dtype == np.float32
    torch = pytest.importorskip("torch")
    expected = torch.nn.init.dirac_(torch.empty(shape), groups).numpy()
    np.testing.assert_array_equal(t.data, expected)


def test_dirac_conv_is_identity():
    fovea.manual_seed(9)
    conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
    init.dirac_(conv.weight)
    x = fovea.randn(2, 3, 7, 7)
    np.testing.assert_allclose(conv(x).data, x.data, atol=1e-6)
    with pytest.raises(ValueError):
        init.dirac_(_param((5, 2, 3, 3)), groups=2)
    with pytest.raises(ValueError):
        init.dirac_(_param((4, 4)))
