"""ONNX export: onnxruntime's logits equal fovea's (eval mode) for LeNet-5, SmallCNN, VGG-11-bn,
ResNet-18 and a zoo of layers; the batch dimension is dynamic; unsupported modules are named;
``fovea export`` end to end on a tiny trained run."""

from __future__ import annotations

import argparse
import collections
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import fovea  # noqa: E402
from fovea import nn  # noqa: E402
from fovea.errors import FoveaError  # noqa: E402
from fovea.models import LeNet5, SmallCNN  # noqa: E402
from fovea.onnx import ExportError, build, export  # noqa: E402

TOL = 1e-4  # max |onnxruntime - fovea| relative to max |logit|


def randomize(model, rng):
    """Random BatchNorm statistics and affine parameters (and random GroupNorm/LayerNorm/PReLU
    parameters), so that exporting them wrongly shows."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            m.running_mean.data[...] = rng.normal(0, 0.2, c)
            m.running_var.data[...] = rng.uniform(0.5, 2.0, c)
            m.weight.data[...] = rng.uniform(0.5, 1.5, c)
            m.bias.data[...] = rng.normal(0, 0.2, c)
        elif isinstance(m, (nn.GroupNorm, nn.LayerNorm, nn.PReLU)):
            for p in m.parameters():
                p.data[...] = rng.normal(0.5, 0.3, p.shape)
    return model


def fovea_logits(model, x):
    was = [(m, m.training) for m in model.modules()]
    model.eval()
    with fovea.no_grad():
        out = model(fovea.tensor(x)).data
    for m, mode in was:
        m.training = mode
    return np.asarray(out)


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": x.astype(np.float32)})[0]


def check_roundtrip(model, tmp_path, trace_shape, run_batch=3, rng=None, opset=17,
                    recheck=True):
    """Export traced on ``trace_shape``, then run onnxruntime on a batch of ``run_batch``.
    (export checks the model itself; ``recheck`` checks the file again, from disk.)"""
    rng = rng or np.random.default_rng(0)
    path = export(model, rng.random(trace_shape, dtype=np.float32), tmp_path / "m.onnx",
                  opset=opset)
    proto = onnx.load(str(path))
    if recheck:
        onnx.checker.check_model(proto, full_check=True)
    assert [i.name for i in proto.graph.input] == ["input"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert all(t.data_type == onnx.TensorProto.FLOAT for t in proto.graph.initializer
               if t.name.endswith(("weight", "bias", "running_mean", "running_var")))
    x = rng.random((run_batch, *trace_shape[1:]), dtype=np.float32)
    got, want = run_onnx(path, x), fovea_logits(model, x)
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= TOL * np.max(np.abs(want))
    assert not list(tmp_path.glob(".*.tmp"))
    return proto


def op_types(proto):
    return collections.Counter(n.op_type for n in proto.graph.node)


# ---- the models --------------------------------------------------------------------------------
def test_lenet5_dynamic_batch(tmp_path):
    fovea.manual_seed(0)
    proto = check_roundtrip(LeNet5(), tmp_path, (1, 1, 28, 28), run_batch=3)
    ops = op_types(proto)
    assert ops["Conv"] == 2 and ops["Gemm"] == 3 and ops["MaxPool"] == 2
    gemm = next(n for n in proto.graph.node if n.op_type == "Gemm")
    assert {a.name: a.i for a in gemm.attribute}["transB"] == 1
    names = {t.name for t in proto.graph.initializer}
    assert set(LeNet5().state_dict()) <= names  # initializers named by the state_dict keys


def test_smallcnn_batchnorm_dropout_in_training_mode(tmp_path, rng):
    fovea.manual_seed(0)
    model = randomize(SmallCNN(dropout=0.5), rng)
    model.train()
    proto = check_roundtrip(model, tmp_path, (2, 1, 28, 28), run_batch=3, rng=rng)
    ops = op_types(proto)
    assert ops["BatchNormalization"] == 4 and "Dropout" not in ops
    assert all(m.training for m in model.modules())  # the modes are restored
    assert all("forward" not in m.__dict__ for m in model.modules())  # so are the forwards


@pytest.mark.slow  # about 10 s: 130 M parameters (the 25088 × 4096 classifier) to ONNX and back
def test_vgg11_bn(tmp_path, rng):
    vgg = pytest.importorskip("fovea.models.vgg")
    fovea.manual_seed(0)
    model = randomize(vgg.vgg11_bn(num_classes=10), rng)
    # 64×64 reaches the adaptive pool at 2×2: pooled "up" to 7×7 by the averaging matrices
    proto = check_roundtrip(model, tmp_path, (1, 3, 64, 64), run_batch=3, rng=rng,
                            recheck=False)  # 480 MB of weights: checked once, by export
    ops = op_types(proto)
    assert ops["Conv"] == 8 and ops["BatchNormalization"] == 8 and ops["Flatten"] == 1
    assert ops["MatMul"] == 2 and ops["Gemm"] == 3


@pytest.mark.parametrize("name", ["resnet18", "resnet18_cifar"])
def test_resnet18(tmp_path, rng, name):
    resnet = pytest.importorskip("fovea.models.resnet")
    fovea.manual_seed(0)
    model = randomize(getattr(resnet, name)(num_classes=10), rng)
    shape = (1, 3, 64, 64) if name == "resnet18" else (1, 3, 16, 16)
    proto = check_roundtrip(model, tmp_path, shape, run_batch=3, rng=rng)
    ops = op_types(proto)
    assert ops["Add"] == 8 and ops["GlobalAveragePool"] == 1 and ops["Flatten"] == 1
    assert ops["Conv"] == 20  # 16 in the blocks, 3 downsample projections, the stem


def test_resnet_alexnet_like_from_nn_modules(tmp_path, rng):
    """Residual blocks written three ways (a relu module after the sum, fovea.relu of the sum,
    an identity and a projection shortcut), a flatten in forward, an overlapping adaptive
    pool: the tracer follows them all."""

    class Block(nn.Module):
        def __init__(self, cin, cout, stride, functional):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                           nn.BatchNorm2d(cout))
                             if stride != 1 or cin != cout else None)
            self.functional = functional

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            identity = x if self.shortcut is None else self.shortcut(x)
            if self.functional:
                return fovea.relu(out + identity)
            return self.relu(identity + out)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8),
                                      nn.ReLU(), nn.MaxPool2d(3, 2, 1))
            self.blocks = nn.ModuleList([Block(8, 8, 1, False), Block(8, 16, 2, True),
                                         Block(16, 16, 1, True)])
            self.pool = nn.AdaptiveAvgPool2d((3, 3))  # 4×4 -> 3×3: overlapping windows
            self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(16 * 9, 5))

        def forward(self, x):
            x = self.stem(x)
            for block in self.blocks:
                x = block(x)
            return self.head(self.pool(x).flatten(1))

    fovea.manual_seed(0)
    proto = check_roundtrip(randomize(Net(), rng), tmp_path, (2, 3, 16, 16), rng=rng)
    ops = op_types(proto)
    assert ops["Add"] == 3 and ops["Flatten"] == 1 and ops["MatMul"] == 2


@pytest.mark.parametrize("size,out,op", [
    ((8, 8), 1, "GlobalAveragePool"), ((8, 6), (4, 3), "AveragePool"),
    ((5, 7), (3, 2), "MatMul"), ((2, 3), (7, 7), "MatMul"), ((6, 5), (3, None), "AveragePool"),
])
def test_adaptive_avg_pool(tmp_path, rng, size, out, op):
    model = nn.Sequential(nn.Conv2d(2, 3, 1), nn.AdaptiveAvgPool2d(out), nn.Flatten())
    proto = check_roundtrip(model, tmp_path, (1, 2, *size), rng=rng)
    assert op in op_types(proto)


@pytest.mark.parametrize("opset", [17, 21])
def test_layer_zoo(tmp_path, rng, opset):
    fovea.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.LeakyReLU(0.2), nn.ELU(0.7), nn.SELU(), nn.GELU(),
        nn.GELU("tanh"), nn.SiLU(), nn.Softplus(beta=2, threshold=1), nn.Softplus(),
        nn.Hardtanh(-0.5, 0.7), nn.PReLU(8, 0.1),
        nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2), nn.Maxout(2),
        nn.GroupNorm(2, 4), nn.LocalResponseNorm(3), nn.Dropout2d(0.3),
        nn.AvgPool2d(3, 2, padding=1, count_include_pad=False), nn.MaxPool2d(3, 2, 1),
        nn.LayerNorm([4, 4, 4]), nn.Tanh(), nn.Sigmoid(), nn.Identity(), nn.Flatten(),
        nn.Linear(64, 16), nn.BatchNorm1d(16), nn.PReLU(), nn.Linear(16, 10), nn.LogSoftmax(1),
    )
    proto = check_roundtrip(randomize(model, rng), tmp_path, (2, 3, 13, 13), rng=rng,
                            opset=opset)
    assert ("Gelu" in op_types(proto)) == (opset >= 20)


def test_mlp_flatten_middle_dims_and_linear_on_3d(tmp_path, rng):
    model = nn.Sequential(nn.Flatten(2), nn.Linear(12, 6), nn.ReLU(), nn.Flatten(),
                          nn.Linear(18, 4), nn.Softmax(1))
    proto = check_roundtrip(model, tmp_path, (2, 3, 3, 4), rng=rng)
    assert op_types(proto)["MatMul"] == 1 and op_types(proto)["Reshape"] == 1


# ---- errors ------------------------------------------------------------------------------------
class Doubler(nn.Module):
    def forward(self, x):
        return x * 2


def test_unsupported_module_named_with_its_path(tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Sequential(nn.Linear(4, 3), Doubler()))
    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    with pytest.raises(ExportError, match=r"1\.1 \(Doubler\).*no ONNX exporter") as info:
        export(model, np.ones((1, 2, 2), np.float32), target)
    assert isinstance(info.value, FoveaError)
    assert target.read_bytes() == b"old"  # nothing written
    assert all("forward" not in m.__dict__ for m in model.modules())


def test_unknown_step_between_modules_names_the_container(rng):
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x):
            return self.b(self.a(x) * 3)

    model = nn.Sequential(nn.Flatten(), Scaled())
    with pytest.raises(ExportError, match=r"^cannot export 1 \(Scaled\): .*between its "):
        build(model, rng.random((2, 4), dtype=np.float32))


def test_subclass_with_its_own_forward_is_not_exported_as_its_parent(rng):
    class HalfReLU(nn.ReLU):
        def forward(self, x):
            return fovea.relu(x) * 0.5

    with pytest.raises(ExportError, match=r"0 \(HalfReLU\)"):
        build(nn.Sequential(HalfReLU()), rng.random((2, 4), dtype=np.float32))


def test_batchnorm_without_running_stats_is_refused(rng):
    model = nn.Sequential(nn.BatchNorm1d(4, track_running_stats=False))
    with pytest.raises(ExportError, match=r"0 \(BatchNorm1d\).*running statistics"):
        build(model, rng.random((3, 4), dtype=np.float32))


def test_bad_opset_and_input(rng):
    with pytest.raises(ExportError, match="opset"):
        build(LeNet5(), rng.random((1, 1, 28, 28), dtype=np.float32), opset=7)
    with pytest.raises(ExportError, match="example_input"):
        build(LeNet5(), np.float32(1.0))


def test_missing_onnx_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # "import onnx" raises ImportError
    with pytest.raises(FoveaError, match=r"pip install onnx"):
        export(LeNet5(), np.zeros((1, 1, 28, 28), np.float32), tmp_path / "m.onnx")


# ---- fovea export ------------------------------------------------------------------------------
def parse(argv):
    from fovea.cli.export import add_export_parser

    parser = argparse.ArgumentParser(prog="fovea")
    add_export_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(argv)


def test_cli_export_end_to_end(trained_run, tmp_path, capsys):
    from fovea.data import load_dataset
    from fovea.train.predict import predict_proba
    from fovea.train.session import load_run

    out = tmp_path / "linear.onnx"
    args = parse(["export", str(trained_run), str(out)])
    assert args.func(args) == 0
    stdout = capsys.readouterr().out
    assert "preprocessing is not in the graph" in stdout and "0.1307" in stdout
    assert "onnxruntime agrees" in stdout
    model, transform, _ = load_run(trained_run)
    images = load_dataset("mnist-mini", "test").arrays[0][:20]
    logits = run_onnx(out, transform(images))  # the graph takes preprocessed images
    probs = predict_proba(model, images, transform)
    np.testing.assert_array_equal(logits.argmax(1), probs.argmax(1))
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(softmax / softmax.sum(1, keepdims=True), probs, atol=1e-5)


def test_cli_export_help_says_preprocessing_is_not_included(capsys):
    with pytest.raises(SystemExit):
        parse(["export", "--help"])
    assert "preprocessing is NOT" in " ".join(capsys.readouterr().out.split())


def test_cli_export_bad_run_dir(tmp_path):
    args = parse(["export", str(tmp_path / "missing"), str(tmp_path / "m.onnx")])
    with pytest.raises(FoveaError, match="not a directory"):
        args.func(args)
    assert not (tmp_path / "m.onnx").exists()
