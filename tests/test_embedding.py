"""nn.Embedding and F.embedding against torch: lookup, scatter-add gradient, padding row."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close

import fovea
from fovea import nn
from fovea.autograd import gradcheck
from fovea.nn import functional as F

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("padding_idx", [None, 0, 3, -1])
@pytest.mark.parametrize("shape", [(7,), (4, 5), (2, 3, 4)])
def test_embedding_matches_torch(shape, padding_idx):
    rng = np.random.default_rng(0)
    tmod = torch.nn.Embedding(10, 6, padding_idx=padding_idx)
    fmod = nn.Embedding(10, 6, padding_idx=padding_idx)
    fmod.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
    idx = rng.integers(0, 10, size=shape)
    idx.flat[0] = 3  # the padding row (3 or -1 = 9) read, and a repeated index
    idx.flat[-1] = 9
    ty = tmod(torch.tensor(idx))
    fy = fmod(fovea.tensor(idx))
    assert fy.shape == tuple(ty.shape) and fy.dtype == np.float32
    assert_close(fy.data, ty.detach().numpy(), 1e-6, "output")
    g = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    ty.backward(torch.tensor(g))
    fy.backward(g)
    assert_close(fmod.weight.grad, tmod.weight.grad.numpy(), 1e-5, "weight gradient")
    if padding_idx is not None:
        assert not fmod.weight.grad.data[padding_idx].any()


def test_init_is_standard_normal_with_a_zero_padding_row():
    fovea.manual_seed(0)
    w = nn.Embedding(2000, 16, padding_idx=5).weight.data
    assert not w[5].any()
    rest = np.delete(w, 5, axis=0)
    assert abs(rest.mean()) < 0.02 and abs(rest.std() - 1) < 0.02


def test_state_dict_keys_match_torch():
    assert list(nn.Embedding(4, 3).state_dict()) == list(torch.nn.Embedding(4, 3).state_dict())


def test_gradcheck_float64():
    # without padding_idx: the padding row's zero gradient is a convention, not the derivative
    idx = np.array([[0, 2, 2], [1, 0, 4]])
    w = fovea.tensor(np.random.default_rng(1).standard_normal((5, 3)), requires_grad=True)
    assert gradcheck(lambda w: F.embedding(fovea.tensor(idx), w), [w])["ok"]


def test_from_pretrained_freezes_by_default():
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    emb = nn.Embedding.from_pretrained(w)
    assert not emb.weight.requires_grad
    np.testing.assert_array_equal(emb(fovea.tensor(np.array([2, 0]))).data, w[[2, 0]])
    assert nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad


def test_bad_indices_are_named():
    emb = nn.Embedding(4, 2)
    with pytest.raises(IndexError, match="out of range for 4 embeddings"):
        emb(fovea.tensor(np.array([0, 4])))
    with pytest.raises(TypeError, match="integers"):
        emb(fovea.tensor(np.array([0.0, 1.0])))
    with pytest.raises(ValueError, match="padding_idx 4"):
        nn.Embedding(4, 2, padding_idx=4)


def test_row_scatter_add_sums_repeated_and_negative_indices_as_add_at():
    from fovea import backend
    rng = np.random.default_rng(2)
    idx = np.array([3, -1, 4, 3, 0, 4, 3])
    values = rng.standard_normal((7, 5)).astype(np.float32)
    want = np.zeros((5, 5), np.float32)
    np.add.at(want, idx, values)
    got = np.zeros((5, 5), np.float32)
    backend.scatter_add(got, idx, values)
    assert_close(got, want, 1e-6, "scatter_add")
