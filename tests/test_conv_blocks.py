"""conv2d builds its patch matrix in blocks of output rows (ops.conv._row_blocks): L2-sized
blocks (BLOCK_BYTES), whole up to WHOLE_BYTES, then WIDE_BLOCK_BYTES blocks, and
DEEP_BLOCK_BYTES blocks from MANY_OUTPUTS output channels on. The small shapes here fit one
block under the real budgets, so each test shrinks the budgets to a few output rows per block,
checks that the convolution really ran in more than one block, and compares forward, input,
weight and bias gradients with the one-block result (and with PyTorch)."""

import numpy as np
import pytest

import fovea
from fovea.autograd import gradcheck
from fovea.ops import conv, direct_conv

CASES = [
    # N, C, H, W, O, K, stride, padding, dilation, groups
    (3, 2, 9, 7, 4, (3, 3), 1, 1, 1, 1),
    (2, 4, 11, 10, 6, (3, 2), 2, 2, 1, 2),
    (2, 3, 12, 9, 5, (3, 3), 1, 0, 2, 1),
    (4, 1, 10, 10, 6, (5, 5), 1, 2, 1, 1),
    (2, 4, 8, 8, 4, (3, 3), 3, 1, 1, 4),
    (2, 3, 13, 12, 4, (5, 5), 2, 2, 1, 1),  # stride 2, 5×5: the input split by column phase
]

WHOLE = {"BLOCK_BYTES": 1 << 40, "DEEP_BLOCK_BYTES": 1 << 40, "MANY_OUTPUTS": 1 << 20}
"""Budgets under which every case is one block."""


def budgets(path, row_bytes):
    """Module constants that make ``_row_blocks`` take ``path`` with a few rows per block, for
    a layer whose output row of patches is ``row_bytes``; and the rows per block."""
    if path == "l2":        # rows of the patch matrix fit BLOCK_BYTES: 2 rows per block
        return {"BLOCK_BYTES": 2 * row_bytes}, 2
    if path == "wide":      # a row wider than BLOCK_BYTES, all rows over WHOLE_BYTES: 2 rows
        return {"BLOCK_BYTES": row_bytes - 1, "WHOLE_BYTES": row_bytes,
                "WIDE_BLOCK_BYTES": 2 * row_bytes + 1}, 2
    if path == "deep":      # MANY_OUTPUTS output channels: DEEP_BLOCK_BYTES, 2 rows
        return {"MANY_OUTPUTS": 1, "DEEP_BLOCK_BYTES": 2 * row_bytes + 1}, 2
    assert path == "one_row"  # nothing fits: one output row per block
    return {"BLOCK_BYTES": 1, "WHOLE_BYTES": 0, "WIDE_BLOCK_BYTES": 1}, 1


@pytest.fixture
def blocks(monkeypatch):
    """Records (row_bytes, number of blocks) of every ``_row_blocks`` call; ``blocks.set``
    patches the budget constants."""
    calls = []
    original = conv._row_blocks

    def spy(oh, row_bytes, outputs=1):
        out = original(oh, row_bytes, outputs)
        calls.append((row_bytes, len(out)))
        return out

    monkeypatch.setattr(conv, "_row_blocks", spy)
    monkeypatch.setattr(direct_conv, "MAX_CHANNEL_PAIRS", 0)  # few-channel cases: im2col too
    spy.calls = calls
    spy.set = lambda constants: [monkeypatch.setattr(conv, k, v) for k, v in constants.items()]
    return spy


def make(case, dtype, rng, n=None):
    """Input, weight, bias (as arrays) and conv2d's keyword arguments for ``case``."""
    n_, c, h, w, o, k, stride, padding, dilation, groups = case
    x = rng.standard_normal((n or n_, c, h, w)).astype(dtype)
    wt = rng.standard_normal((o, c // groups, *k)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    return x, wt, b, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


def run(arrays, proj):
    """conv2d forward and the gradients of Σ out·proj: [out, dx, dw, db] as arrays."""
    x, wt, b, kw = arrays
    ts = [fovea.tensor(a, requires_grad=True) for a in (x, wt, b)]
    out = fovea.nn.functional.conv2d(*ts, **kw)
    (out * fovea.tensor(proj)).sum().backward()
    return [out.detach().numpy().copy()] + [t.grad.numpy().copy() for t in ts]


def projection(arrays, rng):
    x, wt, _, kw = arrays
    with fovea.no_grad():
        shape = fovea.nn.functional.conv2d(fovea.tensor(x), fovea.tensor(wt), **kw).shape
    return rng.standard_normal(shape).astype(x.dtype)


def whole_and_blocked(case, path, blocks, dtype=np.float64):
    """(arrays, proj, one-block result, multi-block result, rows per block, output height)."""
    rng = np.random.default_rng(0)
    arrays = make(case, dtype, rng)
    proj = projection(arrays, rng)
    blocks.set(WHOLE)
    blocks.calls.clear()
    whole = run(arrays, proj)
    assert [nb for _, nb in blocks.calls] == [1]
    row_bytes = blocks.calls[0][0]
    constants, rows = budgets(path, row_bytes)
    blocks.set(constants)
    blocks.calls.clear()
    blocked = run(arrays, proj)
    oh = whole[0].shape[2]
    assert [nb for _, nb in blocks.calls] == [-(-oh // rows)]
    assert blocks.calls[0][1] > 1
    return arrays, proj, whole, blocked


@pytest.mark.parametrize("path", ["l2", "wide", "deep", "one_row"])
@pytest.mark.parametrize("case", CASES)
def test_blocked_equals_whole(case, path, blocks):
    _, _, whole, blocked = whole_and_blocked(case, path, blocks)
    for name, a, b in zip(("out", "x.grad", "weight.grad", "bias.grad"), whole, blocked):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("case", CASES[:3] + CASES[5:])
def test_blocked_gradcheck(case, blocks):
    x, wt, _, kw = make(case, np.float64, np.random.default_rng(1), n=2)
    blocks.set(budgets("one_row", 1)[0])
    gradcheck(lambda a, b: fovea.nn.functional.conv2d(a, b, None, **kw),
              [fovea.tensor(x, requires_grad=True), fovea.tensor(wt, requires_grad=True)])
    assert blocks.calls and all(nb > 1 for _, nb in blocks.calls)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize("path", ["l2", "wide"])
@pytest.mark.parametrize("case", CASES)
def test_blocked_against_torch(case, path, dtype, rtol, blocks, torch):
    from helpers import assert_close

    arrays, proj, _, blocked = whole_and_blocked(case, path, blocks, dtype)
    x, wt, b, kw = arrays
    ts = [torch.tensor(a, requires_grad=True) for a in (x, wt, b)]
    out = torch.nn.functional.conv2d(*ts, **kw)
    (out * torch.tensor(proj)).sum().backward()
    expected = [out.detach().numpy()] + [t.grad.numpy() for t in ts]
    for name, a, e in zip(("out", "x.grad", "weight.grad", "bias.grad"), blocked, expected):
        assert a.dtype == dtype, name
        assert_close(a, e, rtol, name)
