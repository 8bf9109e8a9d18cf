"""The documentation runs: every ```python block of README.md, and every examples/*.toml
through fovea's own configuration loader and a short training run.

Each README block runs as a script, in a fresh interpreter (so it has only the imports it makes
itself) and a fresh directory holding the files it reads (``resnet18.safetensors`` from a
freshly built resnet18, a small ``photo.png``); afterwards every file name the block mentions
must exist (what it read and what it wrote). Two things are shortened, nothing else:
``fovea.data.DataLoader`` stops after BATCHES batches (the training-loop block would otherwise
run a whole epoch of LeNet-5), and an example trains on the first two batches of mnist-mini
(instead of the dataset it names) for at most two epochs, or, for a language model, on the
first TEXT_CHARS characters of shakespeare for TEXT_ITERS iterations.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fovea
from fovea.data import TensorDataset
from fovea.data.text import load_shakespeare
from fovea.models import LANGUAGE_MODELS
from fovea.train import session
from fovea.train.config import load_toml, resolve

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))
BATCHES = 3
TEXT_CHARS, TEXT_ITERS = 20_000, 4


def python_blocks(text):
    """(first line number, code) of every ```python block of a Markdown text."""
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1))
            for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M)]


BLOCKS = python_blocks(README.read_text())


def resnet18_weights(path):
    from fovea.models import resnet18

    fovea.save_safetensors(resnet18().state_dict(), path)


def photo(path):
    from fovea.filters import write_image

    rng = np.random.default_rng(0)
    write_image(path, (rng.random((48, 64, 3)) * 255).astype(np.uint8))


INPUTS = {"resnet18.safetensors": resnet18_weights, "photo.png": photo}
"""The files README blocks read, and how to make them."""


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 3
    assert any("fovea.onnx.export" in code for _, code in BLOCKS)


RUNNER = f"""
import itertools, math, runpy, sys
import fovea.data

class FewBatches(fovea.data.DataLoader):
    def __iter__(self):
        return itertools.islice(super().__iter__(), {BATCHES})

fovea.data.DataLoader = FewBatches
namespace = runpy.run_path(sys.argv[1])
if "loss" in namespace:
    assert math.isfinite(namespace["loss"].item()), namespace["loss"]
"""
"""Runs a block file as a script in a fresh interpreter (so that only what the block imports is
imported), with DataLoader stopping after BATCHES batches."""


@pytest.mark.parametrize("line, code", BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_python_block(line, code, tmp_path):
    if "fovea.onnx" in code:
        pytest.importorskip("onnx")
    for name, make in INPUTS.items():
        if name in code:
            make(tmp_path / name)
    block = tmp_path / f"README_md_{line}.py"
    block.write_text("\n" * (line - 1) + code)  # tracebacks give README's line numbers
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(block)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"README.md:{line}\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
    for name in re.findall(r"[\"']([\w.-]+\.[a-z]+)[\"']", code):
        assert (tmp_path / name).is_file(), f"README.md:{line}: {name} was not written"


def test_examples_exist():
    assert EXAMPLES


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_config_trains(path, tmp_path, monkeypatch):
    """The example's options, validated by fovea's loader, train its model on two batches of
    mnist-mini for at most two epochs and are saved as given in the run's config.json."""
    options = load_toml(path)
    assert options
    if options.get("model") in LANGUAGE_MODELS:
        return _text_example_trains(options, tmp_path)
    kept = {k: v for k, v in options.items() if k not in ("dataset", "data_dir", "epochs")}
    config = resolve(kept, {"dataset": "mnist-mini", "epochs": min(options.get("epochs", 2), 2)})
    sizes = {"train": 2 * config["batch_size"], "test": 64}
    load_dataset = session.load_dataset

    def first_samples(name, split="train", **kwargs):
        return TensorDataset(*(a[:sizes[split]] for a in load_dataset(name, split,
                                                                      **kwargs).arrays))

    monkeypatch.setattr(session, "load_dataset", first_samples)
    result = session.train_run(config, tmp_path / "run", progress=False)
    assert 0 <= result["accuracy"] <= 1 and result["n"] == sizes["test"]
    assert result["epochs_run"] == config["epochs"]
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    for key, value in kept.items():
        assert saved[key] == value, key
    metrics = [json.loads(line) for line in
               (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == list(range(1, config["epochs"] + 1))
    assert all(math.isfinite(m["train_loss"]) for m in metrics)


def _text_example_trains(options, tmp_path):
    """A language model's example: TEXT_ITERS iterations, evaluated every two, on the first
    TEXT_CHARS characters of shakespeare (one warm-up iteration, so that a schedule fits)."""
    text = tmp_path / "text.txt"
    text.write_text(load_shakespeare()[:TEXT_CHARS])
    short = ("dataset", "max_iters", "eval_interval", "eval_iters", "warmup_iters")
    kept = {k: v for k, v in options.items() if k not in short}
    config = resolve(kept, {"dataset": f"text:{text}", "max_iters": TEXT_ITERS,
                            "eval_interval": 2, "eval_iters": 1, "warmup_iters": 1})
    result = session.train_run(config, tmp_path / "run", progress=False)
    assert math.isfinite(result["loss"]) and result["iters_run"] == TEXT_ITERS
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    for key, value in kept.items():
        assert saved[key] == value, key
    metrics = [json.loads(line) for line in
               (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["iter"] for m in metrics] == list(range(2, TEXT_ITERS + 1, 2))
    assert all(math.isfinite(m["train_loss"]) for m in metrics)
