"""``fovea predict``: image files through a trained run's model — top-k classes with
probabilities, images converted to the run's input shape, bad images reported one line each
while the others are still classified."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from fovea import cli
from fovea.cli.predict import add_predict_parser
from fovea.filters.io import write_image
from fovea.train.predict import to_input


@pytest.fixture(scope="module")
def digits():
    """Eight mnist-mini test digits as uint8 (N, 28, 28), their labels, and the run-free
    images as the dataset gives them (float32 (N, 1, 28, 28) in [0, 1])."""
    from fovea.data import load_dataset

    images, labels = load_dataset("mnist-mini", "test").arrays
    pixels = np.rint(images[:8, 0] * 255).astype(np.uint8)
    return pixels, labels[:8], images[:8]


def predict(argv, capsys):
    parser = argparse.ArgumentParser(prog="fovea")
    add_predict_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["predict", *map(str, argv)])
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def parse_text(stdout):
    """{image: [(name, probability), ...]} from the text output."""
    result, current = {}, None
    for line in stdout.splitlines():
        if not line.startswith(" "):
            current = line.rstrip(":")
            result[current] = []
        else:
            rank, name, prob = line.split()
            assert rank == f"{len(result[current]) + 1}."
            result[current].append((name, float(prob)))
    return result


def test_top_k_of_png_digits_28_and_resized_56_rgb(trained_run, digits, tmp_path, capsys):
    from fovea.train.predict import predict_proba
    from fovea.train.session import load_run

    pixels, labels, images = digits
    model, transform, _ = load_run(trained_run)
    probs = predict_proba(model, images, transform)
    paths = []
    for i, img in enumerate(pixels):
        paths.append(tmp_path / f"digit{i}.png")
        write_image(paths[-1], img)
    confident = int(np.argmax(probs.max(1)))  # the clearest digit, also as 56×56 RGB
    big = np.repeat(np.kron(pixels[confident], np.ones((2, 2), np.uint8))[..., None], 3, 2)
    paths.append(tmp_path / "big_rgb.png")
    write_image(paths[-1], big)

    code, stdout, stderr = predict([trained_run, *paths, "--top-k", "3"], capsys)
    assert code == 0 and stderr == ""
    result = parse_text(stdout)
    assert list(result) == [str(p) for p in paths]
    for i, path in enumerate(paths):
        rows = result[str(path)]
        assert len(rows) == 3
        ps = [p for _, p in rows]
        assert ps == sorted(ps, reverse=True) and sum(ps) <= 1 + 1e-3
        assert all(name in "0123456789" for name, _ in rows)  # mnist's class names
        if i < len(pixels):  # a 28×28 PNG of a dataset digit: exactly the model's answer
            assert rows[0][0] == str(int(probs[i].argmax()))
            assert rows[0][1] == pytest.approx(float(probs[i].max()), abs=6e-5)
    assert result[str(paths[-1])][0][0] == str(int(probs[confident].argmax()))
    accuracy = np.mean([result[str(p)][0][0] == str(int(y)) for p, y in zip(paths, labels)])
    assert accuracy >= 0.75


def test_json_output_and_default_top_5(trained_run, digits, tmp_path, capsys):
    path = tmp_path / "d.png"
    write_image(path, digits[0][0])
    code, stdout, _ = predict([trained_run, path, "--json"], capsys)
    assert code == 0
    lines = stdout.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["image"] == str(path) and len(obj["predictions"]) == 5
    first = obj["predictions"][0]
    assert set(first) == {"class", "name", "probability"} and first["name"] == str(first["class"])
    assert sum(p["probability"] for p in obj["predictions"]) <= 1 + 1e-6
    code, stdout, _ = predict([trained_run, path, "--top-k", "50"], capsys)
    assert len(stdout.splitlines()) == 1 + 10  # k is capped at the number of classes


def test_bad_and_missing_images_among_good_ones(trained_run, digits, tmp_path, capsys):
    good = [tmp_path / "a.png", tmp_path / "b.png"]
    for path, img in zip(good, digits[0]):
        write_image(path, img)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(40)))
    missing = tmp_path / "missing.png"
    code, stdout, stderr = predict([trained_run, good[0], corrupt, missing, good[1], "--json"],
                                   capsys)
    assert code == 2
    errors = stderr.splitlines()
    assert len(errors) == 2 and "Traceback" not in stderr
    assert errors[0].startswith(f"{corrupt}: error: ") and "readable" in errors[0]
    assert errors[1] == f"{missing}: error: no such file"
    assert [json.loads(line)["image"] for line in stdout.splitlines()] == [str(p) for p in good]
    code, stdout, stderr = predict([trained_run, missing], capsys)
    assert code == 2 and stdout == "" and len(stderr.splitlines()) == 1


def test_to_input_conversions():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    x = to_input(gray, (1, 3, 4))
    assert x.shape == (1, 3, 4) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], gray / 255, atol=1e-7)
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[..., 0] = 255  # pure red: luminance 0.299
    np.testing.assert_allclose(to_input(rgb, (1, 3, 4)), 0.299, atol=1e-6)
    three = to_input(gray, (3, 3, 4))
    assert three.shape == (3, 3, 4) and (three[0] == three[2]).all()
    wide = to_input(np.full((10, 20), 65535, np.uint16), (1, 5, 5))
    assert wide.shape == (1, 5, 5) and np.allclose(wide, 1.0)
    with pytest.raises(ValueError, match="channels"):
        to_input(gray, (2, 3, 4))


def test_bad_run_dir_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    def build_parser():
        parser = cli._Parser(prog="fovea")
        add_predict_parser(parser.add_subparsers(dest="command", parser_class=cli._Parser))
        return parser

    monkeypatch.setattr(cli, "build_parser", build_parser)
    assert cli.main(["predict", str(tmp_path / "norun"), str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("fovea predict: error:")
    with pytest.raises(SystemExit) as exit_info:  # argparse's own one-line usage error
        cli.main(["predict", str(tmp_path), "x.png", "--top-k", "0"])
    assert exit_info.value.code == 2
    assert "positive integer" in capsys.readouterr().err
