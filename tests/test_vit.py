"""The Vision Transformer: built by name for 28×28 and 32×32 images, trains a step, checks
its input, and refuses ONNX export with a clear error."""

from __future__ import annotations

import numpy as np
import pytest

import fovea
from fovea import nn, optim
from fovea.errors import ShapeError
from fovea.models import MODEL_NAMES, ViT, build_model
from fovea.nn import functional as F
from fovea.train.config import MODELS


def test_registered():
    assert "vit" in MODEL_NAMES and "vit" in MODELS


@pytest.mark.parametrize("in_shape,patches", [((1, 28, 28), 16), ((3, 32, 32), 64)])
def test_build_and_one_training_step(in_shape, patches):
    fovea.manual_seed(0)
    model = build_model("vit", in_shape, 7, dropout=0.1)
    assert type(model) is ViT
    assert model.pos_embed.max_len == patches + 1
    assert model.patch_embed.kernel_size == model.patch_embed.stride
    assert len(model.encoder.layers) == 6 and model.encoder.layers[0].norm_first
    assert model.encoder.layers[0].dropout.p == 0.1
    rng = np.random.default_rng(0)
    x = fovea.tensor(rng.standard_normal((4, *in_shape)).astype(np.float32))
    y = fovea.tensor(rng.integers(0, 7, 4))
    opt = optim.AdamW(model.parameters(), lr=1e-3)
    before = {k: v.data.copy() for k, v in model.state_dict().items()}
    loss = F.cross_entropy(model(x), y)
    assert np.isfinite(loss.item())
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.data).all(), name
    opt.step()
    after = model.state_dict()
    assert all(not np.array_equal(before[k], after[k].data) for k in before)
    model.eval()
    out = model(x)
    assert out.shape == (4, 7) and out.dtype == np.float32


def test_layers_start_apart_and_keys():
    fovea.manual_seed(0)
    model = ViT(dim=16, depth=2, heads=2, mlp_dim=32)
    a, b = model.encoder.layers
    assert not np.array_equal(a.linear1.weight.data, b.linear1.weight.data)
    keys = list(model.state_dict())
    assert keys[:4] == ["cls_token", "patch_embed.weight", "patch_embed.bias",
                        "pos_embed.embedding.weight"]
    assert "encoder.layers.1.self_attn.in_proj_weight" in keys and keys[-1] == "head.bias"
    assert "encoder.norm.weight" in keys


def test_input_and_size_checks():
    model = ViT(dim=8, depth=1, heads=2, mlp_dim=8)
    with pytest.raises(ShapeError, match=r"\(N, 1, 28, 28\), got \(2, 1, 32, 32\)"):
        model(fovea.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="patch_size"):
        ViT(image_size=30)
    with pytest.raises(ValueError, match="does not divide"):
        ViT(image_size=28, patch_size=5)
    assert ViT((24, 36), patch_size=6, dim=8, depth=1, heads=2)(
        fovea.randn(1, 1, 24, 36)).shape == (1, 10)


def test_onnx_export_is_refused_clearly(tmp_path):
    pytest.importorskip("onnx")
    from fovea.errors import ExportError
    from fovea.onnx import export

    with pytest.raises(ExportError, match="ViT"):
        export(ViT(dim=8, depth=1, heads=2, mlp_dim=8), fovea.randn(1, 1, 28, 28),
               tmp_path / "vit.onnx")
    with pytest.raises(ExportError, match="MultiheadAttention"):
        export(nn.TransformerEncoderLayer(8, 2, 16), fovea.randn(2, 3, 8), tmp_path / "l.onnx")


def test_attention_layers_on_the_fake_device():
    """The backend seam: a ViT step (MultiheadAttention, the encoder, learned positions) with
    a key padding mask and dropout, a decoder layer with a causal mask, RMSNorm and the
    sinusoidal encoding run on the fake device as on the CPU."""
    from test_backend_seam import _on, host, on_both

    def run(device):
        fovea.manual_seed(3)  # made on the CPU and moved, so that both runs draw alike
        model = ViT(dim=8, depth=2, heads=2, mlp_dim=16, dropout=0.1).to(device)
        dec = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True).to(device)
        attn = nn.MultiheadAttention(8, 2, add_zero_attn=True).to(device)
        pos = nn.SinusoidalPositionalEncoding(8, 16, batch_first=True, device=device)
        x, mem = fovea.randn(3, 1, 28, 28).to(device), fovea.randn(3, 5, 8).to(device)
        tgt = fovea.randn(3, 4, 8).to(device).requires_grad_()
        target = fovea.tensor([0, 4, 9], device=device)
        fovea.manual_seed(4)  # dropout draws from the device's generator
        loss = F.cross_entropy(model(x), target)
        pad = fovea.tensor(np.array([[False] * 4 + [True]] * 3), device=device)
        y = dec(tgt, mem, tgt_mask=nn.Transformer.generate_square_subsequent_mask(4, device),
                memory_key_padding_mask=pad)
        y = pos(nn.RMSNorm(8, device=device)(y))
        out, w = attn(y, y, y, is_causal=True)
        loss = loss + y.sum() + out.sum() + w.sum()
        loss.backward()
        _on(device, loss, tgt.grad, model.cls_token.grad)
        return host(loss), host(tgt.grad), host(model.cls_token.grad)

    on_both(run)
