"""nn.MultiheadAttention, the Transformer layers, nn.RMSNorm and the positional encodings
against torch: copied weights (state_dict both ways), forward and backward (inputs and
weights), float32 within 1e-4; float64 gradient checks; masks, padding, causal, dropout."""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers import assert_close

import fovea
from fovea import nn
from fovea.autograd import gradcheck
from fovea.errors import ShapeError
from fovea.nn import functional as F

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings(  # torch on its own deprecations and fast paths
    "ignore:.*(mismatched|enable_nested_tensor).*:UserWarning")

E, H = 8, 2


def _copy(src, dst):
    """src's state_dict into dst (torch → fovea or fovea → torch)."""
    if isinstance(dst, torch.nn.Module):
        dst.load_state_dict({k: torch.tensor(np.array(v.data)) for k, v in
                             src.state_dict().items()})
    else:
        dst.load_state_dict({k: v.detach().numpy() for k, v in src.state_dict().items()})


def _pair(tmod, fmod, to_torch=False):
    if to_torch:
        _copy(fmod, tmod)
    else:
        _copy(tmod, fmod)
    assert list(fmod.state_dict()) == list(tmod.state_dict())
    return tmod, fmod


def _inputs(rng, *shapes):
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    fs = [fovea.tensor(a, requires_grad=True) for a in arrays]
    return ts, fs


def _mask_arg(m, lib):
    if m is None:
        return None
    return torch.tensor(m) if lib == "torch" else fovea.tensor(m)


def _compare(tout, fout, tins, fins, tmod, fmod, rng, what="output"):
    """Forward values, then the gradients of Σ out·g for the inputs and every parameter."""
    assert fout.shape == tuple(tout.shape), f"{what}: {fout.shape} != {tuple(tout.shape)}"
    assert_close(fout.data, tout.detach().numpy(), 1e-4, what)
    g = rng.standard_normal(tuple(tout.shape)).astype(np.float32)
    tout.backward(torch.tensor(g))
    fout.backward(g)
    for i, (t, f) in enumerate(zip(tins, fins)):
        assert_close(f.grad.data, t.grad.numpy(), 1e-4, f"input {i} gradient")
    tparams = dict(tmod.named_parameters())
    for name, p in fmod.named_parameters():
        assert_close(p.grad.data, tparams[name].grad.numpy(), 1e-4, f"{name} gradient")


# ---- MultiheadAttention ---------------------------------------------------------------------
def _masks(kind, n, lq, s, rng):
    """(attn_mask, is_causal) of a kind: None, bool/float 2-D, bool/float 3-D, causal."""
    if kind is None:
        return None, False
    if kind == "causal":
        return np.triu(np.full((lq, s), -np.inf, np.float32), 1), True
    shape = (lq, s) if kind.endswith("2d") else (n * H, lq, s)
    bad = rng.random(shape) < 0.3
    bad[..., 0] = False  # every query sees a key (PyTorch's weights are NaN otherwise)
    if kind.startswith("bool"):
        return bad, False
    return np.where(bad, -np.inf, rng.standard_normal(shape)).astype(np.float32), False


def _padding(kind, n, s):
    if kind is None:
        return None
    pad = np.zeros((n, s), bool)
    pad[0, -2:] = True
    pad[-1, -1] = True
    return pad if kind == "bool" else np.where(pad, -np.inf, 0).astype(np.float32)


def _mha_case(rng, batch_first, need_weights, average, mask, padding, cross=False, **kw):
    n, lq, s = 3, 5, (6 if cross else 5)
    tmod, fmod = _pair(torch.nn.MultiheadAttention(E, H, batch_first=batch_first, **kw),
                       nn.MultiheadAttention(E, H, batch_first=batch_first, **kw))
    kd, vd = kw.get("kdim") or E, kw.get("vdim") or E
    shape = (lambda t, d: (n, t, d)) if batch_first else (lambda t, d: (t, n, d))
    if cross:
        tins, fins = _inputs(rng, shape(lq, E), shape(s, kd), shape(s, vd))
        targs, fargs = tins, fins
    else:  # self-attention: one tensor three times (one projection GEMM in fovea)
        tins, fins = _inputs(rng, shape(lq, E))
        targs, fargs = tins * 3, fins * 3
    am, causal = _masks(mask, n, lq, s, rng)
    kpm = _padding(padding, n, s)
    tout, tw = tmod(*targs, key_padding_mask=_mask_arg(kpm, "torch"), need_weights=need_weights,
                    attn_mask=_mask_arg(am, "torch"), average_attn_weights=average,
                    is_causal=causal)
    fout, fw = fmod(*fargs, key_padding_mask=_mask_arg(kpm, "fovea"), need_weights=need_weights,
                    attn_mask=_mask_arg(am, "fovea"), average_attn_weights=average,
                    is_causal=causal)
    if need_weights:
        assert fw.shape == tuple(tw.shape)
        assert_close(fw.data, tw.detach().numpy(), 1e-4, "attention weights")
    else:
        assert fw is None and tw is None
    _compare(tout, fout, tins, fins, tmod, fmod, rng)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("need_weights,average", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("mask", [None, "bool2d", "float2d", "bool3d", "float3d", "causal"])
def test_mha_masks_match_torch(batch_first, need_weights, average, mask):
    rng = np.random.default_rng(0)
    _mha_case(rng, batch_first, need_weights, average, mask, None)


@pytest.mark.parametrize("padding", ["bool", "float"])
@pytest.mark.parametrize("mask", [None, "bool2d", "causal"])
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_key_padding_matches_torch(padding, mask, need_weights):
    _mha_case(np.random.default_rng(1), True, need_weights, True, mask, padding)


@pytest.mark.parametrize("kw", [{}, {"bias": False}, {"kdim": 5, "vdim": 3},
                                {"add_bias_kv": True}, {"add_zero_attn": True},
                                {"add_bias_kv": True, "add_zero_attn": True}])
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_options_cross_attention_match_torch(kw, need_weights):
    _mha_case(np.random.default_rng(2), False, need_weights, True, "bool2d", "bool", cross=True,
              **kw)


@pytest.mark.parametrize("mask", [None, "bool2d", "bool3d"])
def test_mha_unbatched_matches_torch(mask):
    rng = np.random.default_rng(3)
    tmod, fmod = _pair(torch.nn.MultiheadAttention(E, H), nn.MultiheadAttention(E, H))
    tins, fins = _inputs(rng, (4, E), (6, E), (6, E))
    am, _ = _masks(mask, 1, 4, 6, rng)
    kpm = np.array([False] * 5 + [True])
    tout, tw = tmod(*tins, key_padding_mask=torch.tensor(kpm), attn_mask=_mask_arg(am, "torch"))
    fout, fw = fmod(*fins, key_padding_mask=fovea.tensor(kpm), attn_mask=_mask_arg(am, "fovea"))
    assert_close(fw.data, tw.detach().numpy(), 1e-4, "weights")
    _compare(tout, fout, tins, fins, tmod, fmod, rng)


def test_mha_state_dict_loads_into_torch():
    fovea.manual_seed(0)
    fmod = nn.MultiheadAttention(E, H, kdim=4, vdim=6, add_bias_kv=True)
    tmod = torch.nn.MultiheadAttention(E, H, kdim=4, vdim=6, add_bias_kv=True)
    _pair(tmod, fmod, to_torch=True)
    x = np.random.default_rng(0).standard_normal((3, 2, E)).astype(np.float32)
    k = np.random.default_rng(1).standard_normal((5, 2, 4)).astype(np.float32)
    v = np.random.default_rng(2).standard_normal((5, 2, 6)).astype(np.float32)
    fo, _ = fmod(fovea.tensor(x), fovea.tensor(k), fovea.tensor(v))
    to, _ = tmod(torch.tensor(x), torch.tensor(k), torch.tensor(v))
    assert_close(fo.data, to.detach().numpy(), 1e-4)


def test_mha_init_as_torch():
    fovea.manual_seed(0)
    m = nn.MultiheadAttention(64, 4)
    bound = math.sqrt(6 / (64 + 3 * 64))  # xavier_uniform_ on the (3E, E) weight
    w = m.in_proj_weight.data
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert not m.in_proj_bias.data.any() and not m.out_proj.bias.data.any()
    assert np.abs(m.out_proj.weight.data).max() <= 1 / 8  # Linear's U(−1/√E, 1/√E)


def test_mha_gradcheck_float64():
    rng = np.random.default_rng(4)
    m = nn.MultiheadAttention(4, 2, batch_first=True, kdim=3, add_bias_kv=True).double()
    mask = np.triu(np.ones((3, 5), bool), 2)
    kpm = np.array([[False] * 4 + [True], [False] * 5])

    def fn(q, k, v, w, wo, need):
        m._parameters["q_proj_weight"], m.out_proj._parameters["weight"] = w, wo
        out, weights = m(q, k, v, key_padding_mask=fovea.tensor(kpm),
                         attn_mask=fovea.tensor(mask), need_weights=need)
        return out if weights is None else out + weights.sum()

    def leaf(*shape):
        return fovea.tensor(rng.standard_normal(shape), requires_grad=True)

    for need in (True, False):
        args = [leaf(2, 3, 4), leaf(2, 5, 3), leaf(2, 5, 4), leaf(4, 4), leaf(4, 4)]
        assert gradcheck(lambda *a, need=need: fn(*a, need), args)["ok"]


def test_mha_dropout_in_training():
    fovea.manual_seed(0)
    m = nn.MultiheadAttention(E, H, dropout=0.5, batch_first=True)
    x = fovea.tensor(np.random.default_rng(5).standard_normal((64, 10, E)).astype(np.float32))
    m.eval()
    ref_out, ref_w = m(x, x, x, average_attn_weights=False)
    m.train()
    _, w = m(x, x, x, average_attn_weights=False)
    kept = w.data != 0
    assert 0.45 < kept.mean() < 0.55  # each weight dropped with probability 1/2 …
    np.testing.assert_allclose(w.data[kept], 2 * ref_w.data[kept], rtol=1e-5)  # … the rest ×2
    # the fused path (no weights) drops the same way: its mean over draws is the eval output
    outs = np.mean([m(x, x, x, need_weights=False)[0].data for _ in range(200)], axis=0)
    assert np.abs(outs - ref_out.data).mean() < 0.1 * np.abs(ref_out.data).mean()
    fovea.manual_seed(7)
    a = m(x, x, x)[0].data
    fovea.manual_seed(7)
    b = m(x, x, x, need_weights=False)[0].data
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)  # the same mask either way


def test_mha_causal_without_mask_is_the_causal_mask():
    fovea.manual_seed(0)
    m = nn.MultiheadAttention(E, H, batch_first=True)
    x = fovea.randn(2, 5, E)
    want, _ = m(x, x, x, attn_mask=nn.Transformer.generate_square_subsequent_mask(5))
    for need in (True, False):
        got, _ = m(x, x, x, is_causal=True, need_weights=need)
        assert_close(got.data, want.data, 1e-5)


def test_mha_shape_errors_name_the_shapes():
    m = nn.MultiheadAttention(E, H)
    x = fovea.randn(5, 3, E)
    with pytest.raises(ShapeError, match=r"\(5, 3, 7\)"):
        m(x, fovea.randn(5, 3, 7), x)
    with pytest.raises(ShapeError, match=r"\(5, 3, 8\).*\(4, 3, 8\)"):
        m(x, x, fovea.randn(4, 3, E))
    with pytest.raises(ShapeError, match=r"attn_mask of shape \(4, 5\)"):
        m(x, x, x, attn_mask=fovea.zeros(4, 5))
    with pytest.raises(ShapeError, match=r"key_padding_mask of shape \(5, 3\)"):
        m(x, x, x, key_padding_mask=fovea.zeros(5, 3))
    with pytest.raises(ShapeError, match="3-D"):
        m(x, fovea.randn(5, E), x)
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(TypeError, match="bool and floating"):
        m(x, x, x, attn_mask=fovea.tensor(np.zeros((5, 5), np.int64)))


# ---- Transformer layers ----------------------------------------------------------------------
def _layer_pair(kind, **kw):
    cls = {"enc": "TransformerEncoderLayer", "dec": "TransformerDecoderLayer"}[kind]
    return _pair(getattr(torch.nn, cls)(E, H, dim_feedforward=16, dropout=0.0, **kw),
                 getattr(nn, cls)(E, H, dim_feedforward=16, dropout=0.0, **kw))


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("masks", [False, True])
def test_encoder_layer_matches_torch(batch_first, norm_first, activation, masks):
    rng = np.random.default_rng(6)
    tmod, fmod = _layer_pair("enc", batch_first=batch_first, norm_first=norm_first,
                             activation=activation)
    n, t = 3, 5
    tins, fins = _inputs(rng, (n, t, E) if batch_first else (t, n, E))
    causal = np.triu(np.full((t, t), -np.inf, np.float32), 1) if masks else None
    kpm = _padding("bool", n, t) if masks else None
    tout = tmod(tins[0], src_mask=_mask_arg(causal, "torch"),
                src_key_padding_mask=_mask_arg(kpm, "torch"), is_causal=masks)
    fout = fmod(fins[0], src_mask=_mask_arg(causal, "fovea"),
                src_key_padding_mask=_mask_arg(kpm, "fovea"), is_causal=masks)
    _compare(tout, fout, tins, fins, tmod, fmod, rng)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_layer_matches_torch(batch_first, norm_first, activation):
    rng = np.random.default_rng(7)
    tmod, fmod = _layer_pair("dec", batch_first=batch_first, norm_first=norm_first,
                             activation=activation)
    n, t, s = 3, 4, 6
    shape = (lambda k: (n, k, E)) if batch_first else (lambda k: (k, n, E))
    tins, fins = _inputs(rng, shape(t), shape(s))
    tgt_mask = np.triu(np.full((t, t), -np.inf, np.float32), 1)
    mem_mask = rng.random((t, s)) < 0.3
    mem_mask[:, 0] = False
    tkpm, mkpm = _padding("bool", n, t), _padding("float", n, s)
    kw = dict(tgt_mask=tgt_mask, memory_mask=mem_mask, tgt_key_padding_mask=tkpm,
              memory_key_padding_mask=mkpm)
    tout = tmod(*tins, tgt_is_causal=True, **{k: _mask_arg(v, "torch") for k, v in kw.items()})
    fout = fmod(*fins, tgt_is_causal=True, **{k: _mask_arg(v, "fovea") for k, v in kw.items()})
    _compare(tout, fout, tins, fins, tmod, fmod, rng)


@pytest.mark.parametrize("num_layers", [1, 3])
def test_encoder_decoder_stacks_match_torch(num_layers):
    rng = np.random.default_rng(8)
    for kind in ("enc", "dec"):
        tl, fl = _layer_pair(kind, batch_first=True, norm_first=True)
        if kind == "enc":
            tmod = torch.nn.TransformerEncoder(tl, num_layers, torch.nn.LayerNorm(E),
                                               enable_nested_tensor=False)
            fmod = nn.TransformerEncoder(fl, num_layers, nn.LayerNorm(E))
            tins, fins = _inputs(rng, (2, 5, E))
        else:
            tmod = torch.nn.TransformerDecoder(tl, num_layers, torch.nn.LayerNorm(E))
            fmod = nn.TransformerDecoder(fl, num_layers, nn.LayerNorm(E))
            tins, fins = _inputs(rng, (2, 4, E), (2, 6, E))
        for p in tmod.parameters():  # the clones differ, so a layer mix-up shows
            torch.nn.init.normal_(p, std=0.3)
        _pair(tmod, fmod)
        kpm = _padding("bool", 2, 5 if kind == "enc" else 6)
        if kind == "enc":
            tout = tmod(tins[0], src_key_padding_mask=torch.tensor(kpm))
            fout = fmod(fins[0], src_key_padding_mask=fovea.tensor(kpm))
        else:
            tout = tmod(*tins, memory_key_padding_mask=torch.tensor(kpm))
            fout = fmod(*fins, memory_key_padding_mask=fovea.tensor(kpm))
        _compare(tout, fout, tins, fins, tmod, fmod, rng, kind)


@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_matches_torch_both_ways(batch_first):
    rng = np.random.default_rng(9)
    kw = dict(d_model=E, nhead=H, num_encoder_layers=2, num_decoder_layers=1,
              dim_feedforward=16, dropout=0.0, batch_first=batch_first)
    fovea.manual_seed(0)
    tmod, fmod = _pair(torch.nn.Transformer(**kw), nn.Transformer(**kw), to_torch=True)
    n, s, t = 2, 6, 4
    shape = (lambda k: (n, k, E)) if batch_first else (lambda k: (k, n, E))
    tins, fins = _inputs(rng, shape(s), shape(t))
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(t)
    fmask = nn.Transformer.generate_square_subsequent_mask(t)
    np.testing.assert_array_equal(fmask.data, tmask.numpy())
    assert fmask.dtype == np.float32
    tout = tmod(*tins, tgt_mask=tmask, tgt_is_causal=True)
    fout = fmod(*fins, tgt_mask=fmask, tgt_is_causal=True)
    _compare(tout, fout, tins, fins, tmod, fmod, rng)


def test_transformer_init_and_errors():
    fovea.manual_seed(0)
    m = nn.Transformer(d_model=16, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                       dim_feedforward=32)
    w = m.encoder.layers[0].linear1.weight.data  # xavier_uniform_, not Linear's default
    assert np.abs(w).max() > 1 / math.sqrt(16)
    assert np.abs(w).max() <= math.sqrt(6 / 48)
    with pytest.raises(ShapeError, match="batch number"):
        m(fovea.randn(5, 2, 16), fovea.randn(4, 3, 16))
    with pytest.raises(ShapeError, match="d_model=16"):
        m(fovea.randn(5, 2, 16), fovea.randn(4, 2, 8))
    with pytest.raises(ValueError, match="relu/gelu"):
        nn.TransformerEncoderLayer(16, 2, activation="tanh")


def test_layer_eval_ignores_dropout_and_callable_activation():
    rng = np.random.default_rng(10)
    kw = dict(dim_feedforward=16, dropout=0.3, batch_first=True)
    tmod = torch.nn.TransformerEncoderLayer(E, H, activation=torch.nn.GELU(), **kw).eval()
    fmod = nn.TransformerEncoderLayer(E, H, activation=nn.GELU(), **kw).eval()
    _pair(tmod, fmod)
    tins, fins = _inputs(rng, (2, 5, E))  # requires_grad: torch takes its exact path
    _compare(tmod(tins[0]), fmod(fins[0]), tins, fins, tmod, fmod, rng)
    flayer = nn.TransformerEncoderLayer(E, H, activation=F.gelu, **kw).eval()
    _copy(tmod, flayer)
    assert_close(flayer(fins[0]).data, fmod(fins[0]).data, 1e-6)


def test_layer_dropout_in_training_changes_the_output():
    fovea.manual_seed(0)
    layer = nn.TransformerEncoderLayer(E, H, dim_feedforward=16, dropout=0.5)
    x = fovea.randn(5, 2, E)
    a, b = layer(x).data, layer(x).data
    assert not np.allclose(a, b)
    layer.eval()
    np.testing.assert_array_equal(layer(x).data, layer(x).data)


# ---- RMSNorm ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,normalized", [((4, 6), 6), ((2, 3, 5), (3, 5)), ((7,), 7)])
@pytest.mark.parametrize("eps", [None, 1e-3])
@pytest.mark.parametrize("affine", [True, False])
def test_rmsnorm_matches_torch(shape, normalized, eps, affine):
    rng = np.random.default_rng(11)
    tmod, fmod = _pair(torch.nn.RMSNorm(normalized, eps=eps, elementwise_affine=affine),
                       nn.RMSNorm(normalized, eps=eps, elementwise_affine=affine))
    if affine:
        with torch.no_grad():
            tmod.weight.normal_()
        _copy(tmod, fmod)
    tins, fins = _inputs(rng, shape)
    fins[0].data[..., 0] = tins[0].data[..., 0] = 0  # a zero coordinate in every row
    _compare(tmod(tins[0]), fmod(fins[0]), tins, fins, tmod, fmod, rng)


def test_rmsnorm_gradcheck_and_tiny_rows():
    rng = np.random.default_rng(12)
    x = fovea.tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    w = fovea.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    assert gradcheck(lambda x, w: F.rms_norm(x, (2, 4), w, eps=1e-3), [x, w])["ok"]
    assert gradcheck(lambda x: F.rms_norm(x, (4,)), [x])["ok"]
    # a zero row: eps keeps it finite, as torch's default eps does
    z = F.rms_norm(fovea.zeros(2, 4), (4,))
    assert np.isfinite(z.data).all() and not z.data.any()
    with pytest.raises(ShapeError, match=r"\(3, 2, 4\).*\(5,\)"):
        F.rms_norm(x, (5,))


# ---- positional encodings ------------------------------------------------------------------------
def test_sinusoidal_encoding_formula_and_layouts():
    pe = nn.SinusoidalPositionalEncoding(6, max_len=50)
    p, i = np.arange(50)[:, None], np.arange(3)[None, :]
    angle = p / 10000 ** (2 * i / 6)
    np.testing.assert_allclose(pe.pe.data[:, 0::2], np.sin(angle), atol=1e-6)
    np.testing.assert_allclose(pe.pe.data[:, 1::2], np.cos(angle), atol=1e-6)
    assert list(pe.state_dict()) == []
    x = fovea.randn(7, 2, 6)
    np.testing.assert_allclose(pe(x).data, x.data + pe.pe.data[:7, None], rtol=1e-6)
    bf = nn.SinusoidalPositionalEncoding(6, max_len=50, batch_first=True)
    xb = fovea.randn(2, 7, 6)
    np.testing.assert_allclose(bf(xb, offset=3).data, xb.data + bf.pe.data[3:10], rtol=1e-6)
    assert nn.SinusoidalPositionalEncoding(5, 10).pe.shape == (10, 5)  # odd width
    with pytest.raises(ShapeError, match="max_len=50"):
        pe(fovea.randn(51, 1, 6))


def test_learned_positional_embedding_gradient():
    fovea.manual_seed(0)
    pos = nn.LearnedPositionalEmbedding(10, 4, batch_first=True)
    assert list(pos.state_dict()) == ["embedding.weight"]
    assert abs(pos.embedding.weight.data.std() - 0.02) < 0.01
    x = fovea.randn(3, 5, 4, requires_grad=True)
    out = pos(x, offset=2)
    np.testing.assert_allclose(out.data, x.data + pos.embedding.weight.data[2:7], rtol=1e-6)
    out.sum().backward()
    g = pos.embedding.weight.grad.data
    assert (g[2:7] == 3).all() and not g[:2].any() and not g[7:].any()
    with pytest.raises(ShapeError, match=r"\(3, 5, 3\)"):
        pos(fovea.randn(3, 5, 3))
