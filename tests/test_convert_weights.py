"""``fovea convert-weights``: a PyTorch state_dict becomes safetensors that a fovea model loads
key for key, giving PyTorch's logits; the .pth goes only through torch.load(weights_only=True)."""

from __future__ import annotations

import ast
import inspect
import sys

import numpy as np
import pytest

import fovea
from fovea import cli
from fovea import nn as fnn
from fovea.models import LeNet5


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def run(argv, monkeypatch):
    """``fovea.cli.main`` (its one-line error handling) with convert-weights registered."""
    from fovea.cli.convert_weights import add_convert_parser

    def build_parser():
        parser = cli._Parser(prog="fovea")
        sub = parser.add_subparsers(dest="command", parser_class=cli._Parser)
        add_convert_parser(sub)
        return parser

    monkeypatch.setattr(cli, "build_parser", build_parser)
    return cli.main(argv)


def torch_lenet5(torch):
    tnn = torch.nn
    torch.manual_seed(0)
    model = tnn.Module()
    model.features = tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(),
                                    tnn.MaxPool2d(2), tnn.Conv2d(6, 16, 5), tnn.ReLU(),
                                    tnn.MaxPool2d(2))
    model.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(),
                                      tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10))
    model.forward = lambda x: model.classifier(model.features(x))
    return model.eval()


def assert_same_logits(torch, tmodel, fmodel, shape, rng):
    x = rng.standard_normal(shape, dtype=np.float32)
    with torch.no_grad():
        want = tmodel(torch.from_numpy(x)).numpy()
    fmodel.eval()
    with fovea.no_grad():
        got = fmodel(fovea.tensor(x)).data
    assert np.max(np.abs(got - want)) <= 1e-4 * np.max(np.abs(want))


@pytest.mark.parametrize("wrap", [None, "state_dict", "model"])
def test_lenet5_state_dict_to_fovea(torch, tmp_path, monkeypatch, capsys, rng, wrap):
    tmodel = torch_lenet5(torch)
    sd = tmodel.state_dict()
    src, out = tmp_path / "lenet5.pth", tmp_path / "lenet5.safetensors"
    torch.save(sd if wrap is None else {wrap: sd, "epoch": 3, "best_acc": 0.99}, src)
    assert run(["convert-weights", str(src), str(out)], monkeypatch) == 0
    assert "10 tensors" in capsys.readouterr().out
    state = fovea.load_safetensors(out)
    assert set(state) == set(sd)
    assert all(state[k].flags.c_contiguous and state[k].dtype == np.float32 for k in state)
    model = LeNet5()
    model.load_state_dict(state)  # strict: every key, every shape
    assert_same_logits(torch, tmodel, model, (3, 1, 28, 28), rng)
    assert not list(tmp_path.glob(".*.tmp"))


def test_batchnorm_buffers_and_bfloat16(torch, tmp_path, monkeypatch, rng):
    tnn = torch.nn
    torch.manual_seed(1)
    tmodel = tnn.Sequential(tnn.Conv2d(3, 4, 3, bias=False), tnn.BatchNorm2d(4), tnn.ReLU(),
                            tnn.Flatten(), tnn.Linear(4 * 4 * 4, 5))
    tmodel.train()
    for _ in range(3):  # real running statistics and num_batches_tracked = 3
        tmodel(torch.randn(8, 3, 6, 6))
    tmodel.eval()
    src, out = tmp_path / "bn.pt", tmp_path / "bn.safetensors"
    extra = {"extra.bf16": torch.ones(2, dtype=torch.bfloat16) * 1.5}
    torch.save({**tmodel.state_dict(), **extra}, src)
    assert run(["convert-weights", str(src), str(out)], monkeypatch) == 0
    state = fovea.load_safetensors(out)
    assert state["1.num_batches_tracked"].shape == () and state["1.num_batches_tracked"] == 3
    assert state["extra.bf16"].dtype == np.float32 and (state["extra.bf16"] == 1.5).all()
    del state["extra.bf16"]
    fmodel = fnn.Sequential(fnn.Conv2d(3, 4, 3, bias=False), fnn.BatchNorm2d(4), fnn.ReLU(),
                            fnn.Flatten(), fnn.Linear(64, 5))
    fmodel.load_state_dict(state)
    assert_same_logits(torch, tmodel, fmodel, (2, 3, 6, 6), rng)


def test_strip_prefix(torch, tmp_path, monkeypatch):
    src, out = tmp_path / "dp.pth", tmp_path / "dp.safetensors"
    torch.save({"module.fc.weight": torch.zeros(2, 3), "module.fc.bias": torch.zeros(2)}, src)
    args = ["convert-weights", str(src), str(out), "--strip-prefix", "module."]
    assert run(args, monkeypatch) == 0
    assert set(fovea.load_safetensors(out)) == {"fc.weight", "fc.bias"}


@pytest.mark.parametrize("content", [b"", b"not a pickle at all", b"PK\x03\x04broken zip"])
def test_corrupt_file_is_one_line_exit_2(torch, tmp_path, monkeypatch, capsys, content):
    src, out = tmp_path / "bad.pth", tmp_path / "out.safetensors"
    src.write_bytes(content)
    assert run(["convert-weights", str(src), str(out)], monkeypatch) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("fovea convert-weights: error:") and "bad.pth" in lines[0]
    assert not out.exists()


def test_not_a_state_dict_and_missing_file(torch, tmp_path, monkeypatch, capsys):
    src = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], src)
    assert run(["convert-weights", str(src), str(tmp_path / "o.safetensors")], monkeypatch) == 2
    assert "not a state_dict" in capsys.readouterr().err
    torch.save({"epoch": 3}, src)
    assert run(["convert-weights", str(src), str(tmp_path / "o.safetensors")], monkeypatch) == 2
    assert "no tensors" in capsys.readouterr().err
    assert run(["convert-weights", str(tmp_path / "none.pth"), str(tmp_path / "o")],
               monkeypatch) == 2
    assert "no such file" in capsys.readouterr().err


class _Payload:
    """A pickle that creates a file when unpickled by a plain unpickler."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


def test_loading_goes_through_weights_only(torch, tmp_path, monkeypatch, capsys):
    calls = []
    real_load = torch.load

    def checked_load(*args, **kwargs):
        calls.append(kwargs)
        assert kwargs.get("weights_only") is True and kwargs.get("map_location") == "cpu"
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", checked_load)
    src = tmp_path / "w.pth"
    torch.save({"w": torch.ones(2)}, src)
    assert run(["convert-weights", str(src), str(tmp_path / "w.safetensors")], monkeypatch) == 0
    assert len(calls) == 1

    # a malicious .pth: the restricted unpickler refuses it and its code never runs
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(2), "x": _Payload(str(marker))}, evil)
    assert run(["convert-weights", str(evil), str(tmp_path / "e.safetensors")],
               monkeypatch) == 2
    err = capsys.readouterr().err
    assert "refused by the restricted unpickler" in err and "mkdir" in err
    assert "weights_only=False" not in err
    assert not marker.exists()


def test_fovea_itself_never_imports_pickle():
    from fovea import torch_weights as convert_cli

    tree = ast.parse(inspect.getsource(convert_cli))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names} | {node.module.split(".")[0] for node in ast.walk(tree)
                                            if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"pickle", "cPickle", "dill", "joblib", "_pickle"}


def test_missing_torch_is_a_clear_error(tmp_path, monkeypatch, capsys):
    src = tmp_path / "w.pth"
    src.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "torch", None)  # "import torch" raises ImportError
    assert run(["convert-weights", str(src), str(tmp_path / "o.safetensors")], monkeypatch) == 2
    assert "needs PyTorch (pip install torch==2.13.0)" in capsys.readouterr().err


def test_top_level_safetensors_api(tmp_path):
    path = fovea.save_safetensors({"a": np.arange(3, dtype=np.float32)}, tmp_path / "a.st")
    np.testing.assert_array_equal(fovea.load_safetensors(path)["a"], [0, 1, 2])
