"""RNN, LSTM, GRU and their cells against torch with copied weights: outputs, final states and
every gradient (input, weights, initial states); float64 gradcheck of the fused ops and the
cells; a 2,000-step sequence; shape errors."""

from __future__ import annotations

import sys
import tracemalloc

import numpy as np
import pytest
from helpers import assert_close

import fovea
from fovea import backend, nn
from fovea.autograd import gradcheck
from fovea.errors import ShapeError
from fovea.ops.recurrent import recurrence

torch = pytest.importorskip("torch")

LAYERS = {"rnn_tanh": ("RNN", {}), "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
          "lstm": ("LSTM", {}), "gru": ("GRU", {})}


def _pair(mode, *args, **kwargs):
    """(fovea layer, torch layer) of one kind, torch's weights copied into fovea's."""
    name, extra = LAYERS[mode]
    tmod = getattr(torch.nn, name)(*args, **extra, **kwargs)
    fmod = getattr(nn, name)(*args, **extra, **kwargs)
    fmod.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
    return fmod, tmod


def _leaf(a):
    return fovea.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _run_layer(mod, x, states):
    """output, h_n[, c_n] of a sequence layer as a list."""
    y, state = mod(x, tuple(states)) if len(states) == 2 else mod(x, *states)
    return [y, *state] if isinstance(state, tuple) else [y, state]


def _run_cell(mod, x, states):
    """h'[, c'] of a cell as a list."""
    out = mod(x, tuple(states)) if len(states) == 2 else mod(x, *states)
    return list(out) if isinstance(out, tuple) else [out]


def _compare(fmod, tmod, x, states, rng, run=_run_layer):
    """Forward of both, backward of a random projection of every output; compare all."""
    fx, tx = _leaf(x)
    fs, ts = zip(*[_leaf(s) for s in states]) if states else ((), ())
    fouts, touts = run(fmod, fx, fs), run(tmod, tx, ts)
    floss = 0
    tloss = 0
    for fo, to, what in zip(fouts, touts, ("output", "h_n", "c_n")):
        assert fo.shape == tuple(to.shape), f"{what}: {fo.shape} vs {tuple(to.shape)}"
        assert fo.dtype == np.float32
        assert_close(fo.data, to.detach().numpy(), 1e-4, what)
        w = rng.standard_normal(fo.shape).astype(np.float32)
        floss = floss + (fo * fovea.tensor(w)).sum()
        tloss = tloss + (to * torch.tensor(w)).sum()
    floss.backward()
    tloss.backward()
    assert_close(fx.grad.data, tx.grad.numpy(), 1e-4, "input gradient")
    for i, (f, t) in enumerate(zip(fs, ts)):
        assert_close(f.grad.data, t.grad.numpy(), 1e-4, f"initial state {i} gradient")
    fparams = dict(fmod.named_parameters())
    for name, p in tmod.named_parameters():
        assert_close(fparams[name].grad.data, p.grad.numpy(), 1e-4, f"{name} gradient")


def _states(mode, shape, rng):
    n = 2 if mode == "lstm" else 1
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(n)]


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("num_layers,bidirectional,batch_first,bias,with_state", [
    (1, False, False, True, False),
    (1, True, True, True, True),
    (2, False, True, False, True),
    (2, True, False, True, True),
    (3, True, True, True, False),
    (3, False, False, False, True),
])
def test_layer_matches_torch(mode, num_layers, bidirectional, batch_first, bias, with_state):
    rng = np.random.default_rng(num_layers * 10 + bidirectional)
    torch.manual_seed(0)
    t_len, n, i, h = 5, 3, 4, 6
    fmod, tmod = _pair(mode, i, h, num_layers, bias=bias, batch_first=batch_first,
                       bidirectional=bidirectional)
    x = rng.standard_normal((n, t_len, i) if batch_first else (t_len, n, i)).astype(np.float32)
    d = 2 if bidirectional else 1
    states = _states(mode, (num_layers * d, n, h), rng) if with_state else []
    _compare(fmod, tmod, x, states, rng)


def test_lstm_backward_over_chunks_of_steps():
    # the LSTM's backward handles blocks of steps (8 at this size): 19 steps make blocks of
    # 8, 8 and 3, walked from either end
    rng = np.random.default_rng(6)
    torch.manual_seed(6)
    fmod, tmod = _pair("lstm", 3, 256, bidirectional=True)
    x = rng.standard_normal((19, 16, 3)).astype(np.float32)
    _compare(fmod, tmod, x, _states("lstm", (2, 16, 256), rng), rng)


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("with_state", [False, True])
def test_unbatched_input_matches_torch(mode, with_state):
    rng = np.random.default_rng(1)
    torch.manual_seed(1)
    fmod, tmod = _pair(mode, 3, 5, 2, bidirectional=True, batch_first=True)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    _compare(fmod, tmod, x, _states(mode, (4, 5), rng) if with_state else [], rng)


CELLS = {"rnn_tanh": ("RNNCell", {}), "rnn_relu": ("RNNCell", {"nonlinearity": "relu"}),
         "lstm": ("LSTMCell", {}), "gru": ("GRUCell", {})}


@pytest.mark.parametrize("mode", list(CELLS))
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_cell_matches_torch(mode, batched, bias):
    rng = np.random.default_rng(2)
    torch.manual_seed(2)
    name, extra = CELLS[mode]
    tmod = getattr(torch.nn, name)(4, 5, bias=bias, **extra)
    fmod = getattr(nn, name)(4, 5, bias=bias, **extra)
    assert list(fmod.state_dict()) == list(tmod.state_dict())
    fmod.load_state_dict({k: v.detach().numpy() for k, v in tmod.state_dict().items()})
    shape = (3, 4) if batched else (4,)
    x = rng.standard_normal(shape).astype(np.float32)
    _compare(fmod, tmod, x, _states(mode, shape[:-1] + (5,), rng), rng, _run_cell)
    fx, tx = fovea.tensor(x), torch.tensor(x)
    # without a state: zeros, as torch
    fz, tz = fmod(fx), tmod(tx)
    fz, tz = (fz[1], tz[1]) if mode == "lstm" else (fz, tz)
    assert_close(fz.data, tz.detach().numpy(), 1e-4, "zero-state output")


@pytest.mark.parametrize("mode", list(LAYERS))
def test_state_dict_keys_load_both_ways(mode):
    fmod, tmod = _pair(mode, 3, 4, 2, bidirectional=True)
    assert list(fmod.state_dict()) == list(tmod.state_dict())
    assert "weight_hh_l1_reverse" in fmod.state_dict()
    back = getattr(torch.nn, LAYERS[mode][0])(3, 4, 2, bidirectional=True, **LAYERS[mode][1])
    back.load_state_dict({k: torch.tensor(np.asarray(v.data)) for k, v in
                          fmod.state_dict().items()})
    for k, v in back.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), tmod.state_dict()[k].numpy())


def test_init_is_uniform_over_one_over_sqrt_hidden():
    fovea.manual_seed(0)
    for p in nn.LSTM(10, 100, 2).parameters():
        w = p.data
        assert np.abs(w).max() <= 0.1 and abs(w.std() - 0.1 / np.sqrt(3)) < 0.005


@pytest.mark.parametrize("mode", list(LAYERS))
@pytest.mark.parametrize("reverse", [False, True])
# T·N ≥ H: the gate scale folded into copied weights; T·N < H: applied at each step
@pytest.mark.parametrize("t_len,n,h", [(3, 2, 2), (2, 1, 3)])
def test_gradcheck_fused_op_float64(mode, reverse, t_len, n, h):
    rng = np.random.default_rng(3)
    g = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}[mode]
    i = 3

    def arr(*shape):
        return fovea.tensor(rng.standard_normal(shape) * 0.7, requires_grad=True)

    inputs = [arr(t_len, n, i), arr(n, h), arr(n, h), arr(g * h, i), arr(g * h, h), arr(g * h),
              arr(g * h)]
    if mode != "lstm":
        inputs[2] = None

    def fn(x, h0, c0, *w):
        out, h_n, c_n = recurrence(mode, x, h0, c0, *w, reverse=reverse)
        parts = [out.reshape(-1), h_n.reshape(-1)] + ([c_n.reshape(-1)] if c_n is not None
                                                       else [])
        return fovea.ops.cat(parts)

    assert gradcheck(fn, inputs)["ok"]


@pytest.mark.parametrize("mode", list(CELLS))
def test_gradcheck_cells_float64(mode):
    name, extra = CELLS[mode]
    cell = getattr(nn, name)(3, 2, **extra)
    rng = np.random.default_rng(4)
    x = fovea.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    h0 = fovea.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    c0 = fovea.tensor(rng.standard_normal((2, 2)), requires_grad=True)
    params = list(cell.parameters())

    def fn(x, h0, c0, *w):  # the checked copies of the parameters replace them
        cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh = w
        if mode == "lstm":
            return fovea.ops.cat([s.reshape(-1) for s in cell(x, (h0, c0))])
        return cell(x, h0)

    assert gradcheck(fn, [x, h0, c0, *(fovea.tensor(p.data, requires_grad=True)
                                       for p in params)])["ok"]


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_2000_steps_forward_and_backward(mode):
    limit = sys.getrecursionlimit()
    rng = np.random.default_rng(5)
    layer = nn.LSTM(4, 8) if mode == "lstm" else nn.GRU(4, 8)
    x = fovea.tensor(rng.standard_normal((2000, 2, 4)).astype(np.float32), requires_grad=True)
    tracemalloc.start()
    out, _ = layer(x)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # what backward needs per step and sample: the state, the gates (LSTM: 4H and the cell
    # state and its tanh; GRU: 3H and W_hn h), the input: 7H + I floats at most
    assert held <= 1.25 * 2000 * 2 * (7 * 8 + 4) * 4
    out.sum().backward()
    assert out.shape == (2000, 2, 8) and np.isfinite(x.grad.data).all()
    assert np.abs(x.grad.data[0]).sum() > 0  # the gradient reached the first step
    assert sys.getrecursionlimit() == limit


def test_dropout_between_layers_only_in_training():
    fovea.manual_seed(0)
    layer = nn.LSTM(3, 4, 2, dropout=0.5)
    x = fovea.tensor(np.ones((5, 2, 3), np.float32))
    a, b = layer(x)[0].data, layer(x)[0].data
    assert not np.allclose(a, b)
    layer.eval()
    np.testing.assert_array_equal(layer(x)[0].data, layer(x)[0].data)


def test_shape_errors_name_the_shapes():
    layer = nn.GRU(3, 4, 2)
    with pytest.raises(ShapeError, match=r"\(5, 2, 7\)"):
        layer(fovea.tensor(np.zeros((5, 2, 7), np.float32)))
    with pytest.raises(ShapeError, match="4-D|2-D"):
        layer(fovea.tensor(np.zeros((5, 2, 3, 1), np.float32)))
    with pytest.raises(ShapeError, match=r"\(2, 3, 4\)"):
        layer(fovea.tensor(np.zeros((5, 3, 3), np.float32)),
              fovea.tensor(np.zeros((1, 3, 4), np.float32)))
    with pytest.raises(ShapeError, match="input_size=3"):
        nn.LSTMCell(3, 4)(fovea.tensor(np.zeros((2, 5), np.float32)))
    with pytest.raises(ShapeError, match="hx"):
        nn.RNNCell(3, 4)(fovea.tensor(np.zeros((2, 3), np.float32)),
                         fovea.tensor(np.zeros((3, 4), np.float32)))


def test_dtype_mismatch_is_a_type_error():
    with pytest.raises(TypeError, match="dtype mismatch"):
        nn.LSTM(3, 4)(fovea.tensor(np.zeros((2, 1, 3))))  # float64 input, float32 weights


def test_unsupported_options_are_value_errors():
    with pytest.raises(ValueError, match="proj_size"):
        nn.LSTM(3, 4, proj_size=2)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        nn.GRU(3, 4, 2, dropout=1.5)


@pytest.mark.parametrize("long", [False, True])  # per-step gate scaling, folded weights
def test_layers_run_on_a_device_behind_the_backend_seam(long):
    from fake_device import FAKE, FakeArray

    def run(device):
        fovea.manual_seed(9)
        x = fovea.randn(6 if long else 1, 2, 3, device=device, requires_grad=True)
        loss = 0
        for layer in (nn.LSTM(3, 4, 2, bidirectional=True, device=device),
                      nn.GRU(3, 4, device=device), nn.RNN(3, 4, nonlinearity="relu",
                                                          device=device)):
            out, _ = layer(x)
            loss = loss + (out * out).sum()
        loss.backward()
        assert isinstance(x.grad.data, FakeArray) == (device == FAKE)
        return backend.to_numpy(loss.data), backend.to_numpy(x.grad.data)

    (fl, fg), (cl, cg) = run(FAKE), run(fovea.device("cpu"))
    np.testing.assert_allclose(fl, cl, rtol=1e-6)
    np.testing.assert_allclose(fg, cg, rtol=1e-5, atol=1e-7)
