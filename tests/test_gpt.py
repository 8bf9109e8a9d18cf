"""GPT (nanoGPT's model) against a PyTorch nanoGPT with copied weights: state_dict keys both
ways, logits and every gradient (the tied one too); nanoGPT's init; the key/value cache
against full passes; a small model trained on a repeated string reproduces it greedily."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_close

import fovea
from fovea.errors import ShapeError
from fovea.models import GPT
from fovea.nn import functional as F

torch = pytest.importorskip("torch")
torch_gpt = pytest.importorskip("torch_gpt")

SMALL = dict(vocab_size=11, block_size=8, n_layer=2, n_head=2, n_embd=16)


def _pair(**options):
    """A torch reference GPT and a fovea GPT holding its weights."""
    kw = {**SMALL, **options}
    torch.manual_seed(0)
    ref = torch_gpt.GPT(**kw)
    model = GPT(**kw)
    state = {k: v.detach().numpy() for k, v in ref.state_dict().items()}
    assert set(state) == set(model.state_dict())
    result = model.load_state_dict(state)
    assert not result.missing_keys and not result.unexpected_keys
    return ref, model


def _tokens(shape, seed=0, vocab=SMALL["vocab_size"]):
    return np.random.default_rng(seed).integers(0, vocab, shape).astype(np.int64)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("tie_weights", [True, False])
def test_logits_and_gradients_match_torch(bias, tie_weights):
    ref, model = _pair(bias=bias, tie_weights=tie_weights)
    idx, targets = _tokens((3, 8)), _tokens((3, 8), seed=1)
    t_logits = ref(torch.from_numpy(idx))
    f_logits = model(fovea.tensor(idx))
    assert f_logits.shape == (3, 8, SMALL["vocab_size"])
    assert_close(f_logits.data, t_logits.detach().numpy(), 1e-4, "logits")
    V = SMALL["vocab_size"]
    torch.nn.functional.cross_entropy(t_logits.view(-1, V),
                                      torch.from_numpy(targets).view(-1)).backward()
    F.cross_entropy(f_logits.reshape(-1, V), fovea.tensor(targets.reshape(-1))).backward()
    t_params = dict(ref.named_parameters())
    f_params = dict(model.named_parameters())
    assert set(f_params) == set(t_params)
    for name, p in f_params.items():
        assert_close(p.grad.data, t_params[name].grad.numpy(), 1e-4, f"gradient of {name}")
    tied = model.lm_head.weight is model.transformer.wte.weight
    assert tied == tie_weights
    assert ("lm_head.weight" in f_params) == (not tie_weights)


@pytest.mark.parametrize("bias", [False, True])
def test_state_dict_loads_into_torch(bias):
    fovea.manual_seed(3)
    model = GPT(**SMALL, bias=bias)
    ref = torch_gpt.GPT(**SMALL, bias=bias)
    state = model.state_dict()
    assert set(state) == set(ref.state_dict())
    ref.load_state_dict({k: torch.from_numpy(np.array(v.data)) for k, v in state.items()},
                        strict=True)
    idx = _tokens((2, 5))
    assert_close(model(fovea.tensor(idx)).data, ref(torch.from_numpy(idx)).detach().numpy(),
                 1e-4, "logits")


def test_nanogpt_init_statistics():
    fovea.manual_seed(0)
    model = GPT(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128, bias=True)
    proj = 0.02 / np.sqrt(2 * 4)
    for name, p in model.state_dict().items():
        data = np.asarray(p.data)
        if name.endswith("c_proj.weight"):
            assert abs(data.std() - proj) < 0.1 * proj, name
        elif name.endswith(("wte.weight", "wpe.weight", "c_attn.weight", "c_fc.weight",
                            "lm_head.weight")):
            assert abs(data.std() - 0.02) < 0.002 and abs(data.mean()) < 0.002, name
        elif ".ln_" in name and name.endswith("weight"):
            assert (data == 1).all(), name
        else:
            assert name.endswith("bias") and (data == 0).all(), name
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == sum(p.numel() for p in torch_gpt.GPT(65, 64, 4, 4, 128,
                                                            bias=True).parameters())


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("prompt", [1, 3])
def test_cache_matches_full_forward(bias, prompt):
    _, model = _pair(bias=bias)
    model.eval()
    idx = _tokens((2, SMALL["block_size"]), seed=4)
    full = model(fovea.tensor(idx)).data
    logits, cache = model.prefill(idx[:, :prompt])
    assert logits.shape == (2, SMALL["vocab_size"]) and logits.dtype == np.float32
    assert_close(logits, full[:, prompt - 1], 1e-5, f"prefill logits at {prompt - 1}")
    for t in range(prompt, SMALL["block_size"]):
        logits, cache = model.decode(idx[:, t], cache)
        assert_close(logits, full[:, t], 1e-5, f"decode logits at {t}")
    with pytest.raises(ValueError, match="cache is full"):
        model.decode(idx[:, 0], cache)


def test_cache_matches_torch_reference_cache():
    ref, model = _pair()
    idx = _tokens((1, 6), seed=5)
    t_logits, t_cache = ref.prefill(torch.from_numpy(idx[:, :2]))
    f_logits, f_cache = model.prefill(idx[:, :2])
    for t in range(2, 6):
        t_logits, t_cache = ref.decode(torch.from_numpy(idx[:, t]), t_cache)
        f_logits, f_cache = model.decode(idx[:, t], f_cache)
        assert_close(f_logits, t_logits.numpy(), 1e-5, f"decode logits at {t}")


def test_prefill_lays_weights_out_column_major_without_changing_them():
    # generation's x Wᵀ runs on column-major weights; values, keys and training are unchanged
    ref, model = _pair()
    before = {k: v.data.copy() for k, v in model.state_dict().items()}
    idx = _tokens((1, 5), seed=6)
    model.prefill(idx)
    weights = [m.weight.data for m in model.modules() if isinstance(m, fovea.nn.Linear)]
    assert weights and all(w.flags.f_contiguous for w in weights)
    after = model.state_dict()
    assert set(after) == set(before)
    for k, v in after.items():
        np.testing.assert_array_equal(v.data, before[k], err_msg=k)
    assert_close(model(fovea.tensor(idx)).data, ref(torch.from_numpy(idx)).detach().numpy(),
                 1e-5, "logits after prefill")
    model.load_state_dict(before)  # in place: the layout stays
    assert all(m.weight.data.flags.f_contiguous for m in model.modules()
               if isinstance(m, fovea.nn.Linear))
    loss = model(fovea.tensor(idx)).sum()
    loss.backward()
    assert model.lm_head.weight.grad.shape == model.lm_head.weight.shape


def test_too_long_input_is_a_shape_error():
    model = GPT(**SMALL)
    with pytest.raises(ShapeError, match="block_size 8"):
        model(fovea.tensor(_tokens((1, 9))))
    with pytest.raises(ShapeError, match="block_size 8"):
        model.prefill(_tokens((1, 9)))
    with pytest.raises(ShapeError, match=r"\(N, T\)"):
        model(fovea.tensor(_tokens((9,))))
    _, cache = model.prefill(_tokens((2, 3)))
    with pytest.raises(ShapeError, match=r"\(2,\)"):
        model.decode(_tokens((3,)), cache)
    with pytest.raises(ValueError, match="divisible"):
        GPT(vocab_size=5, n_embd=10, n_head=3)


def test_dropout_acts_in_training_only():
    fovea.manual_seed(1)
    model = GPT(**SMALL, dropout=0.5)
    idx = fovea.tensor(_tokens((2, 8)))
    train_a, train_b = model(idx).data, model(idx).data
    assert not np.allclose(train_a, train_b)
    model.eval()
    eval_a, eval_b = model(idx).data, model(idx).data
    np.testing.assert_array_equal(eval_a, eval_b)
    assert not np.allclose(train_a, eval_a)
    logits, _ = model.prefill(idx.data)
    assert_close(logits, eval_a[:, -1], 1e-5, "prefill in eval mode")


def _greedy(model, prompt, count):
    """Greedy generation as the generator does it: decode while the cache has room, prefill the
    last block_size tokens again when it does not."""
    tokens = list(prompt)
    logits, cache = model.prefill(np.array([tokens], dtype=np.int64))
    for _ in range(count):
        tokens.append(int(logits[0].argmax()))
        if cache["length"] < model.block_size:
            logits, cache = model.decode(np.array([tokens[-1]], dtype=np.int64), cache)
        else:
            logits, cache = model.prefill(np.array([tokens[-model.block_size:]], dtype=np.int64))
    return tokens


def test_trained_model_reproduces_a_repeated_string():
    text = "to be or not to be, that is the question. " * 8
    chars = sorted(set(text))
    data = np.array([chars.index(c) for c in text], dtype=np.int64)
    fovea.manual_seed(0)
    block = 16
    model = GPT(len(chars), block_size=block, n_layer=2, n_head=2, n_embd=32)
    opt = fovea.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    for _ in range(150):  # 100 already reproduce it
        starts = rng.integers(0, len(data) - block - 1, 16)
        x = np.stack([data[s:s + block] for s in starts])
        y = np.stack([data[s + 1:s + block + 1] for s in starts])
        loss = F.cross_entropy(model(fovea.tensor(x)).reshape(-1, len(chars)),
                               fovea.tensor(y.reshape(-1)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    # six characters fix the place in the string ("to be " is followed by "or", "to be," by
    # " that"); 120 tokens run past block_size, through the prefills that slide the window
    out = _greedy(model, data[:6].tolist(), 120)
    assert "".join(chars[i] for i in out) == text[:126]


def test_runs_on_a_device_as_on_the_cpu():
    # the backend seam (tests/test_backend_seam.py): on the fake device any NumPy call left on
    # tensor data fails; a training step, prefill and decode agree with the CPU
    from fake_device import FAKE, FakeArray

    def run(device):
        fovea.manual_seed(0)
        model = GPT(**SMALL).to(device)
        assert model.lm_head.weight is model.transformer.wte.weight  # still tied
        opt = fovea.optim.AdamW(model.parameters(), lr=1e-3)
        x = fovea.tensor(_tokens((2, 8)), device=device)
        y = fovea.tensor(_tokens((2, 8), seed=1).reshape(-1), device=device)
        loss = F.cross_entropy(model(x).reshape(-1, SMALL["vocab_size"]), y)
        loss.backward()
        opt.step()
        assert isinstance(model.lm_head.weight.data, FakeArray) == (device == FAKE)
        model.eval()
        logits, cache = model.prefill(_tokens((2, 3)))
        steps = [logits]
        for t in range(3, 6):
            logits, cache = model.decode(_tokens((2,), seed=t), cache)
            steps.append(logits)
        assert all(type(s) is np.ndarray for s in steps)
        return loss.item(), steps

    fake, cpu = run(FAKE), run(fovea.device("cpu"))
    assert fake[0] == pytest.approx(cpu[0], rel=1e-6)
    for f, c in zip(fake[1], cpu[1]):
        np.testing.assert_allclose(f, c, rtol=1e-6, atol=1e-7)
