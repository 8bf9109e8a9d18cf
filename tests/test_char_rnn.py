"""CharRNN: the language-model contract (forward, prefill, decode) and PyTorch's names."""

from __future__ import annotations

import numpy as np
import pytest

import fovea
from fovea.errors import ShapeError
from fovea.models import CharRNN
from fovea.train.generate import generate


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_decode_after_prefill_equals_full_forward(cell):
    fovea.manual_seed(0)
    model = CharRNN(11, embed_dim=8, hidden_size=12, num_layers=2, cell=cell)
    model.eval()
    idx = np.random.default_rng(0).integers(0, 11, size=(3, 9))
    with fovea.no_grad():
        full = model(fovea.tensor(idx)).data
        logits, cache = model.prefill(idx[:, :4])
        np.testing.assert_allclose(logits, full[:, 3], rtol=1e-5, atol=1e-6)
        for t in range(4, 9):
            logits, cache = model.decode(idx[:, t], cache)
            assert logits.shape == (3, 11) and logits.dtype == np.float32
            np.testing.assert_allclose(logits, full[:, t], rtol=1e-5, atol=1e-6)


def test_forward_shape_and_contract_attributes():
    model = CharRNN(7, embed_dim=4, hidden_size=5, num_layers=1)
    assert model.block_size is None
    assert model(fovea.tensor(np.zeros((2, 6), np.int64))).shape == (2, 6, 7)


def test_parameter_names():
    names = list(CharRNN(5, embed_dim=4, hidden_size=6, num_layers=2).state_dict())
    assert names == ["embedding.weight",
                     "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
                     "rnn.weight_ih_l1", "rnn.weight_hh_l1", "rnn.bias_ih_l1", "rnn.bias_hh_l1",
                     "head.weight", "head.bias"]


def test_unknown_cell_is_a_value_error():
    with pytest.raises(ValueError, match="cell"):
        CharRNN(5, cell="transformer")


def test_greedy_generation_follows_the_full_forward():
    fovea.manual_seed(1)
    model = CharRNN(9, embed_dim=4, hidden_size=8, num_layers=2)
    model.eval()
    tokens = generate(model, [3, 1, 4], 6, temperature=1.0, top_k=1, seed=0)
    with fovea.no_grad():
        logits = model(fovea.tensor(np.array([tokens]))).data[0]
    # each new token is the argmax after the tokens before it
    assert tokens[3:] == [int(i) for i in logits[2:-1].argmax(axis=1)]


def test_wrong_id_shapes_are_shape_errors():
    model = CharRNN(5, embed_dim=4, hidden_size=6, num_layers=1)
    with pytest.raises(ShapeError, match=r"\(N, T\)"):
        model(fovea.tensor(np.zeros(4, np.int64)))
    with pytest.raises(ShapeError, match=r"\(N,\)"):
        model.decode(np.zeros((2, 1), np.int64), None)
