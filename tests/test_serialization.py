"""Saving and loading without pickle: safetensors round trips, bad files, atomic writes, JSON.

A file fovea writes must be readable by the reference safetensors readers (NumPy, and torch
where installed, into a torch LeNet-5 laid out as fovea's); a file fovea cannot read raises
CheckpointError naming the path; a failed write leaves the old file and no temporary behind.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

import fovea
from fovea import nn
from fovea.errors import CheckpointError, FoveaError
from fovea.models import LeNet5
from fovea.serialization import (
    atomic_write_bytes,
    load_safetensors,
    read_json,
    save_safetensors,
    write_json,
)


def leftovers(directory: Path, name: str) -> list:
    """Temporary files atomic_write_bytes may have left for target ``name``."""
    return [p.name for p in directory.iterdir() if p.name != name and name in p.name]


def lenet_state(seed=0):
    fovea.manual_seed(seed)
    return LeNet5().state_dict()


# ---- round trips --------------------------------------------------------------------------------

def test_round_trip_model_state_dict(tmp_path):
    state = lenet_state()
    path = save_safetensors(state, tmp_path / "model.safetensors")
    assert path == tmp_path / "model.safetensors" and path.is_file()
    loaded = load_safetensors(path)
    assert sorted(loaded) == sorted(state)
    for key, t in state.items():
        arr = loaded[key]
        assert isinstance(arr, np.ndarray)
        assert arr.dtype == np.float32 and arr.shape == tuple(t.shape), key
        np.testing.assert_array_equal(arr, t.data)
    # and it loads back into a fresh model bit for bit
    model = LeNet5()
    model.load_state_dict(loaded)
    for key, t in model.state_dict().items():
        np.testing.assert_array_equal(t.data, state[key].data)


def test_round_trip_dtypes_and_views(tmp_path, rng):
    base = rng.standard_normal((4, 6))
    arrays = {
        "f32": rng.standard_normal((3, 5)).astype(np.float32),
        "f64": base,
        "i64": rng.integers(-(2**40), 2**40, size=(7,), dtype=np.int64),
        "transposed": base.T,  # a non-contiguous view
        "strided": base[::2, 1::3].astype(np.float32),
        "strided_view": base[:, ::2],
        "tensor": fovea.tensor(base.astype(np.float32)),
        "empty": np.zeros((0, 3), dtype=np.float32),
    }
    assert not arrays["transposed"].flags.c_contiguous
    assert not arrays["strided_view"].flags.c_contiguous
    loaded = load_safetensors(save_safetensors(arrays, tmp_path / "a.safetensors"))
    assert sorted(loaded) == sorted(arrays)
    for key, value in arrays.items():
        expected = value.data if isinstance(value, fovea.Tensor) else value
        assert loaded[key].dtype == expected.dtype, key
        assert loaded[key].shape == expected.shape, key
        np.testing.assert_array_equal(loaded[key], expected)


def test_round_trip_zero_dim_arrays(tmp_path):
    """Scalars (like torch's BatchNorm num_batches_tracked) keep their shape ()."""
    arrays = {"step": np.array(7, dtype=np.int64), "scale": np.array(0.5, dtype=np.float32),
              "t": fovea.tensor(2.5)}
    loaded = load_safetensors(save_safetensors(arrays, tmp_path / "s.safetensors"))
    for key in arrays:
        assert loaded[key].shape == (), f"{key}: shape {loaded[key].shape}"
    assert loaded["step"] == 7 and loaded["step"].dtype == np.int64
    assert loaded["scale"] == 0.5 and loaded["t"] == 2.5


def test_metadata_is_stored_as_strings(tmp_path):
    from safetensors import safe_open

    path = save_safetensors({"w": np.ones(3, np.float32)}, tmp_path / "m.safetensors",
                            metadata={"model": "lenet5", "epoch": 3, "acc": 0.5})
    with safe_open(str(path), framework="numpy") as f:
        assert f.metadata() == {"model": "lenet5", "epoch": "3", "acc": "0.5"}
    # no metadata: nothing (or nothing but format) in the header
    path = save_safetensors({"w": np.ones(3, np.float32)}, tmp_path / "n.safetensors")
    with safe_open(str(path), framework="numpy") as f:
        assert not {k: v for k, v in (f.metadata() or {}).items() if k != "format"}


def test_overwrite_replaces_the_file(tmp_path):
    path = tmp_path / "w.safetensors"
    save_safetensors({"a": np.zeros(2, np.float32)}, path)
    save_safetensors({"b": np.ones(3, np.float64)}, path)
    loaded = load_safetensors(path)
    assert list(loaded) == ["b"]
    np.testing.assert_array_equal(loaded["b"], np.ones(3))
    assert leftovers(tmp_path, "w.safetensors") == []


# ---- bad files ----------------------------------------------------------------------------------

def _check_bad(path):
    with pytest.raises(CheckpointError) as info:
        load_safetensors(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, FoveaError)


def test_garbage_file_raises(tmp_path):
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(b"this is not a safetensors file at all, just some text\n" * 10)
    _check_bad(path)


def test_random_bytes_raise(tmp_path, rng):
    path = tmp_path / "random.safetensors"
    path.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _check_bad(path)


def test_truncated_file_raises(tmp_path):
    path = save_safetensors(lenet_state(), tmp_path / "model.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _check_bad(path)


def test_truncated_header_raises(tmp_path):
    path = save_safetensors(lenet_state(), tmp_path / "model.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[:20])
    _check_bad(path)


def test_empty_file_raises(tmp_path):
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    _check_bad(path)


def test_missing_file_raises(tmp_path):
    _check_bad(tmp_path / "nowhere" / "model.safetensors")


def test_directory_raises(tmp_path):
    (tmp_path / "dir.safetensors").mkdir()
    _check_bad(tmp_path / "dir.safetensors")


# ---- atomic writes ------------------------------------------------------------------------------

def test_atomic_write_success_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "file.bin"  # the parent is created
    out = atomic_write_bytes(target, b"hello")
    assert out == target and target.read_bytes() == b"hello"
    atomic_write_bytes(str(target), b"again")
    assert target.read_bytes() == b"again"
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.bin"]


def test_atomic_write_failed_replace_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old contents")

    def fail(*args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write_bytes(target, b"new contents")
    monkeypatch.undo()
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def test_atomic_write_failed_write_keeps_old_file(tmp_path, monkeypatch):
    target = tmp_path / "file.bin"
    target.write_bytes(b"old contents")

    def fail(fd):
        raise OSError("fsync failed")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="fsync failed"):
        atomic_write_bytes(target, b"new contents")
    monkeypatch.undo()
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def test_atomic_write_interrupted_keeps_old_file(tmp_path, monkeypatch):
    """A KeyboardInterrupt mid-write is cleaned up too (BaseException, not just Exception)."""
    target = tmp_path / "file.bin"
    target.write_bytes(b"old")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.bin"]


def test_failed_save_safetensors_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = save_safetensors({"a": np.arange(3, dtype=np.float32)}, tmp_path / "c.safetensors")
    monkeypatch.setattr(os, "replace", lambda *a, **k: (_ for _ in ()).throw(OSError("no")))
    with pytest.raises(OSError):
        save_safetensors({"a": np.zeros(3, dtype=np.float32)}, path)
    monkeypatch.undo()
    np.testing.assert_array_equal(load_safetensors(path)["a"], np.arange(3, dtype=np.float32))
    assert leftovers(tmp_path, "c.safetensors") == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_get_normal_permissions(tmp_path, umask):
    old = os.umask(umask)
    try:
        a = atomic_write_bytes(tmp_path / "a.bin", b"x")
        b = write_json(tmp_path / "b.json", {"k": 1})
        c = save_safetensors({"w": np.ones(2, np.float32)}, tmp_path / "c.safetensors")
    finally:
        os.umask(old)
    for path in (a, b, c):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == 0o666 & ~umask, f"{path.name}: mode {oct(mode)} with umask {oct(umask)}"
    # the umask of the process is left as it was
    current = os.umask(old)
    os.umask(current)
    assert current == old


# ---- JSON ---------------------------------------------------------------------------------------

def test_json_round_trip(tmp_path):
    obj = {"model": "lenet5", "epochs": 3, "lr": 0.05, "hidden": [256, 128], "nested": {"a": None},
           "name": "é ü"}
    path = write_json(tmp_path / "config.json", obj)
    assert read_json(path) == obj
    assert path.read_text().endswith("\n")
    assert json.loads(path.read_text()) == obj


@pytest.mark.parametrize("content", [b"{not json", b"", b"\xff\xfe\x00garbage", b'{"a": 1'])
def test_read_json_bad_file_raises(tmp_path, content):
    path = tmp_path / "config.json"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        read_json(path)
    assert str(path) in str(info.value)


def test_read_json_missing_file_raises(tmp_path):
    path = tmp_path / "missing.json"
    with pytest.raises(CheckpointError) as info:
        read_json(path)
    assert str(path) in str(info.value)


# ---- interoperability ---------------------------------------------------------------------------

def test_readable_by_safetensors_numpy(tmp_path):
    from safetensors.numpy import load_file

    state = lenet_state(3)
    path = save_safetensors(state, tmp_path / "model.safetensors")
    loaded = load_file(str(path))
    assert sorted(loaded) == sorted(state)
    for key, t in state.items():
        np.testing.assert_array_equal(loaded[key], t.data)


def test_readable_by_safetensors_torch_into_torch_lenet(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    tnn = torch.nn
    tmodel = tnn.Module()
    tmodel.features = tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2))
    tmodel.classifier = tnn.Sequential(
        tnn.Flatten(), tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
        tnn.Linear(84, 10))

    fovea.manual_seed(5)
    fmodel = LeNet5()
    path = save_safetensors(fmodel.state_dict(), tmp_path / "model.safetensors")
    tensors = load_file(str(path))
    result = tmodel.load_state_dict(tensors, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    for key, t in fmodel.state_dict().items():
        np.testing.assert_array_equal(tmodel.state_dict()[key].numpy(), t.data)

    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        expected = tmodel.classifier(tmodel.features(torch.from_numpy(x))).numpy()
    with fovea.no_grad():
        actual = fmodel(fovea.tensor(x)).data
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_torch_saved_file_loads_into_fovea(tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    tmod = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    path = tmp_path / "t.safetensors"
    save_file(tmod.state_dict(), str(path))
    fmod = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    fmod.load_state_dict(load_safetensors(path))
    for key, t in tmod.state_dict().items():
        np.testing.assert_array_equal(fmod.state_dict()[key].data, t.numpy())


def test_non_finite_floats_are_written_as_null(tmp_path):
    path = write_json(tmp_path / "m.json", {"loss": float("nan"), "acc": [1.0, float("inf")]})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert read_json(path) == {"loss": None, "acc": [1.0, None]}
