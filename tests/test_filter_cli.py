"""``fovea filter``: kernels and edge maps end to end, and every bad input gives one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import fovea_in_process as fovea

from fovea.filters import convolve, correlate
from fovea.filters import kernels as K
from fovea.filters.io import read_image, write_image
from fovea.filters.smoothing import gaussian_filter

SRC = str(Path(__file__).resolve().parents[1] / "src")


def assert_one_line_error(code, err):
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    # argparse reports an unrecognized argument from the top-level parser: "fovea: error: ..."
    assert lines[0].startswith(("fovea filter: error: ", "fovea: error: ")), err


def rounded(x, dtype=np.uint8):
    return np.rint(np.clip(x, 0, np.iinfo(dtype).max)).astype(dtype)


@pytest.fixture
def scene():
    """A 40 × 52 grayscale test image: a gradient, a bright square and some texture."""
    y, x = np.mgrid[0:40, 0:52]
    img = 40 + 2.0 * x + 20 * np.sin(y / 3.0)
    img[10:28, 14:34] = 220
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def gray_png(tmp_path, scene):
    return write_image(tmp_path / "in.png", scene)


@pytest.fixture
def kernel_file(tmp_path):
    path = tmp_path / "k.txt"
    path.write_text("# an asymmetric kernel\n0 0 0\n0 0.5 0.5\n\n0 0 0   # trailing comment\n")
    return path


# ---- bad input: one line, exit 2, no output file ------------------------------------------
def _bad_files(tmp_path):
    files = {
        "ragged.txt": "1 2 3\n4 5\n",
        "word.txt": "1 2\n3 x\n",
        "empty.txt": "\n# nothing\n",
        "nan.txt": "1 nan\n",
        "binary.txt": None,
    }
    for name, text in files.items():
        if text is None:
            (tmp_path / name).write_bytes(b"\xff\xfe\x00\x81")
        else:
            (tmp_path / name).write_text(text)
    (tmp_path / "kdir").mkdir()
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    write_image(tmp_path / "deep.png", np.arange(12, dtype=np.uint16).reshape(3, 4) * 999)


BAD = [
    (["-k", "gaussian:sigma=-1"], "sigma must be a positive number"),
    (["-k", "gaussian:sigma=abc"], "sigma must be a positive number"),
    (["-k", "gaussian:sigma=nan"], "sigma must be a positive number"),
    (["-k", "box:size=0"], "size must be a positive integer"),
    (["-k", "box:size=2.5"], "size must be a positive integer"),
    (["-k", "gaussian:foo=1"], "no parameter 'foo'"),
    (["-k", "gaussian"], "needs sigma"),
    (["-k", "gaussian:sigma"], "expected key=value"),
    (["-k", "gaussian:sigma=1,sigma=2"], "given twice"),
    (["-k", "gaussian:sigma=1e6"], "the limit is"),
    (["-k", "laplacian:size=3"], "no parameter 'size'"),
    (["-k", "median:size=3"], "unknown kernel 'median'"),
    (["-k", "sobel"], "needs axis"),
    (["-k", "sobel:axis=2"], "axis must be 0"),
    (["-k", "derivative:axis=1,kind=sideways"], "kind must be"),
    (["-k", "impulse:size=4"], "odd"),
    (["-k", "sharpen:sigma=1,size=3"], "not both"),
    (["-k", "file:"], "needs a path"),
    (["-k", "file:{tmp}/missing.txt"], "missing.txt: no such file"),
    (["-k", "file:{tmp}/kdir"], "is a directory"),
    (["-k", "file:{tmp}/ragged.txt"], "ragged.txt: line 2 has 2 numbers, line 1 has 3"),
    (["-k", "file:{tmp}/word.txt"], "word.txt: line 2: 'x' is not a number"),
    (["-k", "file:{tmp}/empty.txt"], "empty.txt: no numbers"),
    (["-k", "file:{tmp}/nan.txt"], "nan.txt: line 1: 'nan' is not a finite number"),
    (["-k", "file:{tmp}/binary.txt"], "not a text file"),
    (["-k", "box:size=3", "--edges", "sobel"], "not both"),
    ([], "nothing to do"),
    (["--edges", "prewitt"], "unknown edge detector"),
    (["--edges", "canny:low=0.5,high=0.2"], "must not exceed"),
    (["--edges", "canny:low=2"], "low must be a number in [0, 1]"),
    (["--edges", "canny:sigma=1,foo=2"], "no parameter 'foo'"),
    (["-k", "box:size=3", "--boundary", "sideways"], "invalid choice"),
    (["-k", "box:size=3", "--method", "magic"], "invalid choice"),
    (["-k", "laplacian", "--method", "separable"], "not separable"),
    (["-k", "box:size=3", "--no-such-flag"], "unrecognized arguments"),
]


@pytest.mark.parametrize("extra, message", BAD, ids=[" ".join(a) or "no-k" for a, _ in BAD])
def test_bad_kernel_and_option_input(capsys, tmp_path, gray_png, extra, message):
    _bad_files(tmp_path)
    out = tmp_path / "out.png"
    before = sorted(tmp_path.iterdir())
    extra = [a.replace("{tmp}", str(tmp_path)) for a in extra]
    code, stdout, err = fovea(capsys, "filter", gray_png, "-o", out, *extra)
    assert_one_line_error(code, err)
    assert message in err
    assert not out.exists()
    assert sorted(tmp_path.iterdir()) == before  # nothing written, no temp files


@pytest.mark.parametrize("source, output, message", [
    ("missing.png", "out.png", "missing.png: no such file"),
    ("corrupt.png", "out.png", "corrupt.png: not a readable image"),
    ("kdir", "out.png", "kdir: is a directory"),
    ("in.png", "out.xyz", "extension '.xyz'"),
    ("in.png", "out", "no file extension"),
    ("in.png", "out.xbm", "as XBM"),  # a format Pillow writes, but only for 1-bit images
    ("deep.png", "out.jpg", "16-bit"),
])
def test_bad_files(capsys, tmp_path, gray_png, source, output, message):
    _bad_files(tmp_path)
    before = sorted(tmp_path.iterdir())
    code, _, err = fovea(capsys, "filter", tmp_path / source, "-o", tmp_path / output,
                         "-k", "box:size=3")
    assert_one_line_error(code, err)
    assert message in err
    assert sorted(tmp_path.iterdir()) == before


def test_input_and_output_are_required(capsys, tmp_path, gray_png):
    code, _, err = fovea(capsys, "filter", "-k", "box:size=3", "-o", tmp_path / "o.png")
    assert_one_line_error(code, err)
    assert "INPUT" in err
    code, _, err = fovea(capsys, "filter", gray_png, "-k", "box:size=3")
    assert_one_line_error(code, err)
    assert "-o OUTPUT is required" in err
    code, _, err = fovea(capsys, "filter", "--show-kernel")
    assert_one_line_error(code, err)
    assert "needs at least one -k" in err


def test_real_process_prints_no_traceback(tmp_path, gray_png):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "fovea.cli", "filter", *map(str, args)],
                              capture_output=True, text=True, env=env, timeout=120)

    bad = run(gray_png, "-o", tmp_path / "o.png", "-k", "gaussian:sigma=-1")
    assert_one_line_error(bad.returncode, bad.stderr)
    assert not (tmp_path / "o.png").exists()
    good = run(gray_png, "-o", tmp_path / "o.png", "-k", "box:size=3")
    assert good.returncode == 0, good.stderr
    assert read_image(tmp_path / "o.png").shape == read_image(gray_png).shape


# ---- happy paths ----------------------------------------------------------------------------
def test_gaussian_equals_the_library(capsys, tmp_path, gray_png, scene):
    out = tmp_path / "blur.png"
    code, stdout, err = fovea(capsys, "filter", gray_png, "-o", out, "-k", "gaussian:sigma=2")
    assert code == 0, err
    assert str(out) in stdout
    result = read_image(out)
    assert result.dtype == np.uint8 and result.shape == scene.shape
    np.testing.assert_array_equal(result, rounded(gaussian_filter(scene, 2.0)))


@pytest.mark.parametrize("boundary", ["constant", "mirror", "nearest", "wrap"])
def test_boundary_and_method_are_passed_on(capsys, tmp_path, gray_png, scene, boundary):
    out = tmp_path / "o.png"
    code, _, err = fovea(capsys, "filter", gray_png, "-o", out, "-k", "box:size=5",
                         "--boundary", boundary, "--method", "fft")
    assert code == 0, err
    expected = correlate(scene, K.box(5), boundary=boundary, method="direct")
    np.testing.assert_array_equal(read_image(out), rounded(expected))


def test_kernels_apply_in_order(capsys, tmp_path, gray_png, scene):
    out = tmp_path / "o.png"
    code, _, err = fovea(capsys, "filter", gray_png, "-o", out, "-k", "shift:dx=3",
                         "-k", "shift:dx=-3", "--boundary", "constant")
    assert code == 0, err
    result = read_image(out)
    # correlation with shift(0, 3) reads 3 pixels to the right (the content moves left, the
    # last 3 columns are zero-filled); shift(0, -3) then moves it back, reading zeros into
    # the first 3 columns
    np.testing.assert_array_equal(result[:, 3:], scene[:, 3:])
    assert not result[:, :3].any()
    expected = correlate(correlate(scene, K.shift(0, 3), "constant"), K.shift(0, -3), "constant")
    np.testing.assert_array_equal(result, rounded(expected))
    code, _, err = fovea(capsys, "filter", gray_png, "-o", out, "-k", "shift:dx=-3",
                         "-k", "shift:dx=3", "--boundary", "constant")
    assert code == 0, err
    reverse = read_image(out)  # the other order loses the last columns instead
    np.testing.assert_array_equal(reverse[:, :-3], scene[:, :-3])
    assert not reverse[:, -3:].any()


def test_chain_is_rounded_once(capsys, tmp_path, gray_png, scene):
    out = tmp_path / "o.png"
    code, _, err = fovea(capsys, "filter", gray_png, "-o", out, "-k", "gaussian:sigma=1",
                         "-k", "sharpen:alpha=1.5,sigma=1")
    assert code == 0, err
    blur = correlate(scene, K.gaussian(1.0))
    expected = correlate(blur, K.sharpen(1.5, K.gaussian(1.0)))
    np.testing.assert_array_equal(read_image(out), rounded(expected))


def test_kernel_file_is_correlated_or_convolved(capsys, tmp_path, gray_png, scene, kernel_file):
    g = np.array([[0, 0, 0], [0, 0.5, 0.5], [0, 0, 0]])
    out = tmp_path / "o.png"
    code, _, err = fovea(capsys, "filter", gray_png, "-o", out, "-k", f"file:{kernel_file}")
    assert code == 0, err
    corr = read_image(out)
    np.testing.assert_array_equal(corr, rounded(correlate(scene, g)))
    code, _, err = fovea(capsys, "filter", gray_png, "-o", out, "-k", f"file:{kernel_file}",
                         "--convolve")
    assert code == 0, err
    conv = read_image(out)
    np.testing.assert_array_equal(conv, rounded(convolve(scene, g)))
    assert not np.array_equal(corr, conv)  # an asymmetric kernel: the two differ


def test_show_kernel(capsys, tmp_path, kernel_file):
    code, out, err = fovea(capsys, "filter", "-k", "gaussian:sigma=1", "-k", "laplacian",
                           "-k", "sobel:axis=1", "-k", f"file:{kernel_file}", "--show-kernel")
    assert code == 0, err
    blocks = out.split("\n\n")
    assert len(blocks) == 4
    assert blocks[0].startswith("gaussian:sigma=1: 9×9 kernel")
    assert "separable: yes" in blocks[0]
    assert "separable: no" in blocks[1] and "[ 1. -4.  1.]" in blocks[1]
    assert "separable: yes" in blocks[2]
    assert "column: [0.25 0.5  0.25]" in blocks[2] and "row:    [-4.  0.  4.]" in blocks[2]
    assert "separable: yes" in blocks[3] and "correlation" in blocks[3]
    assert list(tmp_path.iterdir()) == [kernel_file]  # nothing written


def test_edges_sobel(capsys, tmp_path):
    step = np.zeros((30, 40), np.uint8)
    step[:, 20:] = 200
    src = write_image(tmp_path / "step.png", step)
    out = tmp_path / "edges.png"
    code, _, err = fovea(capsys, "filter", src, "-o", out, "--edges", "sobel")
    assert code == 0, err
    edges = read_image(out)
    assert edges.shape == step.shape and edges.dtype == np.uint8
    assert edges.max() == 255
    np.testing.assert_array_equal(edges[:, 19:21], 255)  # the step, scaled to the peak
    assert not edges[:, :18].any() and not edges[:, 22:].any()


def test_edges_canny_of_a_colour_image(capsys, tmp_path):
    img = np.zeros((40, 48, 3), np.uint8)
    img[10:30, 12:36] = (200, 60, 10)
    src = write_image(tmp_path / "square.png", img)
    out = tmp_path / "canny.png"
    code, _, err = fovea(capsys, "filter", src, "-o", out, "--edges", "canny:sigma=1,low=0.2")
    assert code == 0, err
    edges = read_image(out)
    assert edges.shape == img.shape[:2] and edges.dtype == np.uint8
    assert set(np.unique(edges)) == {0, 255}
    assert edges[20, 10:14].any() and edges[20, 34:38].any()  # left and right sides of the square
    assert not edges[:5].any() and not edges[18:22, 16:32].any()


def test_colour_stays_colour(capsys, tmp_path, rng):
    img = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    src = write_image(tmp_path / "c.png", img)
    out = tmp_path / "c_blur.png"
    code, stdout, err = fovea(capsys, "filter", src, "-o", out, "-k", "box:size=3")
    assert code == 0, err
    assert "RGB" in stdout
    result = read_image(out)
    assert result.shape == img.shape and result.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(result[..., c], rounded(correlate(img[..., c], K.box(3))))


def test_16_bit_stays_16_bit(capsys, tmp_path):
    y, x = np.mgrid[0:16, 0:20]
    img = (x * 1000 + y * 97).astype(np.uint16)
    img[4:12, 6:14] = 60000  # a bright square: sharpening overshoots above 65535
    src = write_image(tmp_path / "deep.png", img)
    out = tmp_path / "deep_out.png"
    code, _, err = fovea(capsys, "filter", src, "-o", out, "-k", "sharpen:alpha=2")
    assert code == 0, err
    result = read_image(out)
    assert result.dtype == np.uint16
    expected = correlate(img, K.sharpen(2.0))
    assert expected.max() > 65535 and expected.min() < 0  # clipped, not wrapped
    np.testing.assert_array_equal(result, rounded(expected, np.uint16))


def test_jpeg_output(capsys, tmp_path, gray_png, scene):
    out = tmp_path / "o.jpg"
    code, _, err = fovea(capsys, "filter", gray_png, "-o", out, "-k", "gaussian:sigma=1.5")
    assert code == 0, err
    result = read_image(out)
    assert result.shape == scene.shape
    expected = rounded(gaussian_filter(scene, 1.5)).astype(int)
    assert np.abs(result.astype(int) - expected).mean() < 2.0
