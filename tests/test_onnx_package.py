"""The fovea.onnx package: reachable after ``import fovea`` without importing onnx, tracing by
hooks that it removes again, and a registry of existing classes that a user can extend."""

from __future__ import annotations

import inspect
import subprocess
import sys

import numpy as np
import pytest

import fovea
from fovea import nn
from fovea.errors import FoveaError


def test_import_fovea_reaches_onnx_export_without_importing_onnx():
    code = ("import sys, fovea; assert callable(fovea.onnx.export), 'no export'; "
            "assert 'onnx' not in sys.modules, 'onnx imported'; "
            "assert 'onnxruntime' not in sys.modules, 'onnxruntime imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_registry_holds_only_fovea_nn_classes():
    from fovea.onnx import EXPORTERS

    for key in EXPORTERS:
        assert inspect.isclass(key) and getattr(nn, key.__name__) is key, key


class Doubler(nn.Module):
    def forward(self, x):
        return x * 2


def test_register_exporter_for_a_users_module(monkeypatch, rng):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from fovea.onnx import EXPORTERS, build, compare_onnxruntime, register_exporter

    def double(g, call, x):
        return g.node("Mul", [x, g.scalar(call, "two", 2.0)], call)

    monkeypatch.setattr("fovea.onnx.exporters.EXPORTERS", dict(EXPORTERS))
    register_exporter("Doubler", double)  # by class name
    model = nn.Sequential(nn.Linear(4, 3), Doubler())
    x = rng.random((2, 4), dtype=np.float32)
    proto = build(model, x)
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Mul"]
    assert compare_onnxruntime(proto, model, x) <= 1e-6


def test_tracing_removes_its_hooks_and_refuses_a_users_hook(rng):
    pytest.importorskip("onnx")
    from fovea.onnx import ExportError, build

    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(inplace=True), Doubler())
    x = rng.random((2, 4), dtype=np.float32)
    with pytest.raises(ExportError, match="Doubler"):
        build(model, x)
    build(model[:2], x)
    assert model[1].inplace
    for m in model.modules():
        assert not m._forward_pre_hooks and not m._forward_hooks
    with model[0].register_forward_hook(lambda m, args, out: out * 0):
        with pytest.raises(ExportError, match=r"^cannot export 0 \(Linear\): it has forward "
                                              r"hooks") as info:
            build(model[:2], x)
    assert isinstance(info.value, FoveaError)
    out = model(fovea.tensor(x))  # and the model runs as before
    assert out.shape == (2, 3)
