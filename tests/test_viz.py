"""fovea.viz plots and ``fovea plot RUN_DIR`` end to end on tiny runs."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from PIL import Image

from fovea import viz

PNG = b"\x89PNG\r\n\x1a\n"


def assert_png(path, min_bytes=8_000, min_side=250, max_side=4_000):
    data = path.read_bytes()
    assert data[:8] == PNG, path
    assert len(data) > min_bytes, (path, len(data))
    with Image.open(path) as im:
        w, h = im.size
    assert min_side <= w <= max_side and min_side <= h <= max_side, (path, im.size)
    return w, h


def _metrics(n=6, val=True):
    out = []
    for e in range(1, n + 1):
        out.append({"epoch": e, "train_loss": 1.0 / e, "train_acc": 1 - 0.5 / e,
                    "val_loss": 1.1 / e + 0.02 * e if val else None,
                    "val_acc": 0.9 - 0.3 / e if val else None,
                    "seconds": 1.0, "lr": 0.1 * 0.5 ** (e - 1)})
    return out


# ---- confusion_matrix -------------------------------------------------------------------------
def test_confusion_matrix_matches_manual_count(rng):
    k = 7
    t = rng.integers(0, k, 1000)
    p = np.where(rng.random(1000) < 0.6, t, rng.integers(0, k, 1000))
    m = viz.confusion_matrix(t, p, k)
    manual = np.zeros((k, k), np.int64)
    for a, b in zip(t, p):
        manual[a, b] += 1
    np.testing.assert_array_equal(m, manual)
    assert m.dtype == np.int64 and m.sum() == 1000 and np.trace(m) == (t == p).sum()


def test_confusion_matrix_edges():
    m = viz.confusion_matrix([0, 2, 2], [0, 1, 2], 4)  # lists; class 3 never seen
    np.testing.assert_array_equal(m, [[1, 0, 0, 0], [0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 0]])
    assert viz.confusion_matrix([], [], 3).sum() == 0
    from fovea import Tensor
    assert viz.confusion_matrix(Tensor(np.array([1, 1])), np.array([1, 0]), 2)[1, 0] == 1
    for t, p in (([0, 3], [0, 1]), ([0, 1], [0, -1]), ([0.5], [0]), ([0, 1], [0])):
        with pytest.raises(ValueError):
            viz.confusion_matrix(t, p, 3)


# ---- each plot ----------------------------------------------------------------------------
def test_plot_learning_curves(tmp_path):
    path = viz.plot_learning_curves(_metrics(), tmp_path / "a" / "curves.png",
                                    early_stop_epoch=4)
    assert path == tmp_path / "a" / "curves.png"
    w, h = assert_png(path, min_bytes=30_000)
    assert w > 1.8 * h  # two panels side by side
    assert_png(viz.plot_learning_curves(_metrics(1), tmp_path / "one.png"))
    assert_png(viz.plot_learning_curves(_metrics(5, val=False), tmp_path / "noval.png"))
    with pytest.raises(ValueError):
        viz.plot_learning_curves([], tmp_path / "empty.png")


def test_plot_lr(tmp_path):
    assert_png(viz.plot_lr(_metrics(8), tmp_path / "lr.png"))  # 0.1 … 0.00078: log axis
    flat = [{"epoch": e, "lr": 0.01} for e in (1, 2, 3)]
    assert_png(viz.plot_lr(flat, tmp_path / "flat.png"))
    with pytest.raises(ValueError):
        viz.plot_lr([{"epoch": 1}], tmp_path / "none.png")


@pytest.mark.parametrize("normalize", [None, "true", "pred", "all"])
def test_plot_confusion_matrix(tmp_path, rng, normalize):
    t = rng.integers(0, 10, 500)
    m = viz.confusion_matrix(t, np.where(rng.random(500) < 0.7, t, 0), 10)
    path = viz.plot_confusion_matrix(m, [str(i) for i in range(10)], tmp_path / "cm.png",
                                     normalize=normalize)
    assert_png(path, min_bytes=20_000)


def test_plot_confusion_matrix_errors(tmp_path):
    with pytest.raises(ValueError):
        viz.plot_confusion_matrix(np.eye(3, dtype=int), ["a", "b"], tmp_path / "x.png")
    with pytest.raises(ValueError):
        viz.plot_confusion_matrix(np.eye(3, dtype=int), "abc", tmp_path / "x.png",
                                  normalize="rows")
    with pytest.raises(ValueError):
        viz.plot_confusion_matrix(np.ones((2, 3), int), "ab", tmp_path / "x.png")


@pytest.mark.parametrize("shape", [(6, 1, 5, 5), (32, 3, 7, 7), (4, 6, 3, 3)],
                         ids=["gray", "rgb", "multichannel"])
def test_plot_filters(tmp_path, rng, shape):
    assert_png(viz.plot_filters(rng.standard_normal(shape).astype(np.float32),
                                tmp_path / "filters.png"), min_bytes=5_000)


def test_plot_filters_constant_filter_and_errors(tmp_path):
    w = np.zeros((2, 1, 3, 3), np.float32)  # a constant filter is drawn mid-gray, no NaN
    assert_png(viz.plot_filters(w, tmp_path / "zero.png"), min_bytes=2_000, min_side=100)
    with pytest.raises(ValueError):
        viz.plot_filters(np.zeros((2, 3, 3)), tmp_path / "bad.png")


@pytest.mark.parametrize("shape", [(10, 28, 28), (10, 1, 28, 28), (10, 3, 32, 32)])
def test_plot_templates(tmp_path, rng, shape):
    path = viz.plot_templates(rng.standard_normal(shape), [str(i) for i in range(10)],
                              tmp_path / "templates.png")
    w, h = assert_png(path, min_bytes=30_000)
    assert w > h  # two rows of five
    with pytest.raises(ValueError):
        viz.plot_templates(rng.standard_normal(shape), ["a"], tmp_path / "bad.png")


# ---- fovea plot RUN_DIR -------------------------------------------------------------------
def _subparsers(parser):
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


@pytest.fixture
def fovea_main(monkeypatch):
    """``fovea.cli.main``, with ``plot`` registered if build_parser does not do it yet."""
    import fovea.cli as cli
    from fovea.cli.plot import add_plot_parser

    build = cli.build_parser

    def build_with_plot():
        parser = build()
        sub = _subparsers(parser)
        if "plot" not in sub.choices:
            add_plot_parser(sub)
        return parser

    monkeypatch.setattr(cli, "build_parser", build_with_plot)
    return cli.main


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One-epoch runs of the linear classifier and LeNet-5 on mnist-mini."""
    from fovea.cli import main

    root = tmp_path_factory.mktemp("runs")
    out = {}
    for model in ("linear", "lenet5"):
        out[model] = root / model
        code = main(["train", "--model", model, "--epochs", "1", "--batch-size", "256",
                     "--out", str(out[model]), "--quiet"])
        assert code == 0
    return out


def test_fovea_plot_linear(runs, fovea_main, tmp_path, capsys):
    out = tmp_path / "plots"
    assert fovea_main(["plot", str(runs["linear"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    expected = ["curves.png", "lr.png", "confusion.png", "templates.png"]
    assert printed == [str(out / name) for name in expected]
    for name in expected:
        assert_png(out / name, min_bytes=10_000)
    assert not (out / "filters.png").exists()


def test_fovea_plot_lenet_into_run_dir_with_early_stopping(runs, fovea_main, capsys):
    run = runs["lenet5"]
    (run / "early_stopping.json").write_text(json.dumps({"epoch": 1, "best_val_loss": 0.5}))
    try:
        assert fovea_main(["plot", str(run)]) == 0
    finally:
        (run / "early_stopping.json").unlink()
    captured = capsys.readouterr()
    assert captured.err == ""
    for name in ("curves.png", "lr.png", "confusion.png", "filters.png"):
        assert str(run / name) in captured.out
        assert_png(run / name, min_bytes=10_000)
    assert not (run / "templates.png").exists()


def test_confusion_matrix_agrees_with_evaluate(runs):
    """The confusion matrix's diagonal is the test accuracy the run recorded."""
    from fovea.cli.plot import _predict_test
    from fovea.train import Normalize, RunDir
    from fovea.train.session import load_run_model
    from fovea.train.session import load_transform as run_transform

    run = RunDir(runs["lenet5"])
    model, config = load_run_model(run)
    transform = run_transform(run, config)
    assert isinstance(transform, Normalize)
    assert transform.mean == config["normalize"]["mean"]
    y_true, y_pred = _predict_test(model, config, None, transform)
    m = viz.confusion_matrix(y_true, y_pred, 10)
    recorded = json.loads((run.path / "test_metrics.json").read_text())["accuracy"]
    assert m.sum() == 2000
    assert np.trace(m) / m.sum() == pytest.approx(recorded, abs=1e-9)


def test_fovea_plot_bad_early_stopping_file_warns(runs, fovea_main, tmp_path, capsys):
    run = runs["linear"]
    (run / "early_stopping.json").write_text("{not json")
    try:
        assert fovea_main(["plot", str(run), "--out", str(tmp_path)]) == 0
    finally:
        (run / "early_stopping.json").unlink()
    err = capsys.readouterr().err
    assert "warning" in err and "early_stopping.json" in err
    assert (tmp_path / "curves.png").is_file()


def _one_line_error(capsys):
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in err, err
    return lines[0]


def test_fovea_plot_bad_run_dirs(fovea_main, runs, tmp_path, capsys):
    assert fovea_main(["plot", str(tmp_path / "missing")]) == 2
    assert "not a directory" in _one_line_error(capsys)

    empty = tmp_path / "empty"
    empty.mkdir()
    assert fovea_main(["plot", str(empty)]) == 2
    assert "config.json" in _one_line_error(capsys)

    no_model = tmp_path / "no_model"
    no_model.mkdir()
    (no_model / "config.json").write_text((runs["linear"] / "config.json").read_text())
    assert fovea_main(["plot", str(no_model)]) == 2
    assert "model.safetensors" in _one_line_error(capsys)

    bad_metrics = tmp_path / "bad_metrics"
    bad_metrics.mkdir()
    (bad_metrics / "config.json").write_text((runs["linear"] / "config.json").read_text())
    (bad_metrics / "metrics.jsonl").write_text("{oops\n")
    assert fovea_main(["plot", str(bad_metrics)]) == 2
    assert "metrics.jsonl" in _one_line_error(capsys)

    as_file = tmp_path / "file.png"
    as_file.write_text("x")
    assert fovea_main(["plot", str(runs["linear"]), "--out", str(as_file)]) == 2
    assert "not a directory" in _one_line_error(capsys)
