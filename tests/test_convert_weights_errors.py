"""``fovea convert-weights`` on files that are not what they claim: one line quoting the part
of torch's error that matters, no torch warnings, and the dtypes NumPy lacks."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from fovea.cli import main
from fovea.serialization import load_safetensors


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def one_line(capsys, code) -> str:
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_random_bytes(torch, tmp_path, capsys, rng):
    src = tmp_path / "rand.pth"
    src.write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    line = one_line(capsys, main(["convert-weights", str(src), str(tmp_path / "o")]))
    assert "not a PyTorch weights file" in line
    assert "objects other than tensors" not in line and "file an issue" not in line


def test_text_file(torch, tmp_path, capsys):
    src = tmp_path / "notes.pth"
    src.write_text("hello world\nthis is text\n")
    line = one_line(capsys, main(["convert-weights", str(src), str(tmp_path / "o")]))
    assert "not a PyTorch weights file" in line and "(101)" not in line


def test_torch_warnings_are_silenced(torch, tmp_path, capsys, monkeypatch):
    src = tmp_path / "w.pth"
    torch.save({"w": torch.ones(2)}, src)
    real = torch.load

    def noisy(*args, **kwargs):
        warnings.warn("TypedStorage is deprecated", UserWarning, stacklevel=2)
        warnings.warn("weights_only default changes", FutureWarning, stacklevel=2)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", noisy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main(["convert-weights", str(src), str(tmp_path / "o.safetensors")]) == 0
    assert not caught


@pytest.mark.parametrize("dtype", ["float8_e4m3fn", "float8_e5m2", "bfloat16"])
def test_float_dtypes_numpy_lacks_become_float32_exactly(torch, tmp_path, dtype):
    src, out = tmp_path / "w.pth", tmp_path / "o.safetensors"
    values = torch.tensor([0.5, -2.0, 0.25, 3.0]).to(getattr(torch, dtype))
    torch.save({"w": values}, src)
    assert main(["convert-weights", str(src), str(out)]) == 0
    arr = load_safetensors(out)["w"]
    assert arr.dtype == np.float32
    np.testing.assert_array_equal(arr, values.float().numpy())


def test_complex32_is_one_line(torch, tmp_path, capsys):
    src = tmp_path / "c.pth"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch calls complex32 experimental
        torch.save({"c": torch.ones(2, dtype=torch.complex32)}, src)
    line = one_line(capsys, main(["convert-weights", str(src), str(tmp_path / "o")]))
    assert "c is torch.complex32" in line
