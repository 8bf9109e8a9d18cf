"""Image files: read_image / write_image round trips, conversion rules and errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from fovea.errors import DataError, ShapeError
from fovea.filters.io import read_image, writable_format, write_image


def leftovers(directory):
    """Temporary files an interrupted atomic write would leave behind."""
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


@pytest.fixture
def gray(rng):
    return rng.integers(0, 256, (23, 31), dtype=np.uint8)


@pytest.fixture
def rgb(rng):
    return rng.integers(0, 256, (17, 29, 3), dtype=np.uint8)


# ---- round trips --------------------------------------------------------------------------
def test_png_gray_round_trip(tmp_path, gray):
    path = write_image(tmp_path / "g.png", gray)
    assert Image.open(path).mode == "L"
    back = read_image(path)
    assert back.dtype == np.uint8 and back.shape == gray.shape
    np.testing.assert_array_equal(back, gray)


def test_png_rgb_round_trip(tmp_path, rgb):
    path = write_image(tmp_path / "c.PNG", rgb)  # extension case does not matter
    assert Image.open(path).mode == "RGB"
    back = read_image(path)
    assert back.dtype == np.uint8 and back.shape == rgb.shape
    np.testing.assert_array_equal(back, rgb)


def test_single_channel_is_written_as_grayscale(tmp_path, gray):
    back = read_image(write_image(tmp_path / "g.png", gray[:, :, None]))
    assert back.shape == gray.shape
    np.testing.assert_array_equal(back, gray)


@pytest.mark.parametrize("ext", [".png", ".tif", ".pgm"])
def test_16_bit_round_trip(tmp_path, rng, ext):
    a = rng.integers(0, 65536, (13, 19), dtype=np.uint16)
    a[0, 0], a[0, 1] = 0, 65535
    path = write_image(tmp_path / f"deep{ext}", a)
    back = read_image(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, a)


def test_16_bit_png_is_a_16_bit_file(tmp_path):
    a = np.array([[0, 1, 256, 65535]], dtype=np.uint16)
    with Image.open(write_image(tmp_path / "deep.png", a)) as im:
        assert im.mode.startswith("I")  # "I;16" (or "I" on older Pillow), never "L"


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_16_bit_pillow_modes_read_as_uint16(tmp_path, mode):
    a = np.array([[0, 258, 40000], [65535, 7, 1]], dtype=np.uint16)
    raw = {"I;16": a.astype("<u2"), "I;16B": a.astype(">u2"), "I": a.astype("<i4")}[mode]
    path = tmp_path / "m.tif"
    Image.frombytes(mode, (3, 2), raw.tobytes()).save(path)
    back = read_image(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, a)


def test_jpeg_round_trip_is_close(tmp_path):
    y, x = np.mgrid[0:48, 0:64]
    smooth = np.stack([x * 4, y * 5, (x + y) * 2], axis=-1).astype(np.uint8)  # JPEG-friendly
    back = read_image(write_image(tmp_path / "c.jpg", smooth))
    assert back.shape == smooth.shape and back.dtype == np.uint8
    assert np.abs(back.astype(int) - smooth).mean() < 2.0
    back_gray = read_image(write_image(tmp_path / "g.jpeg", smooth[..., 0]))
    assert back_gray.shape == smooth.shape[:2]
    assert np.abs(back_gray.astype(int) - smooth[..., 0]).mean() < 2.0


def test_float_is_clipped_and_rounded(tmp_path):
    a = np.array([[-5.0, 0.4, 0.5, 1.5, 2.5, 127.6, 254.5, 255.4, 300.0, np.inf, -np.inf]])
    back = read_image(write_image(tmp_path / "f.png", a))
    assert back.dtype == np.uint8
    # round half to even (np.rint), then clip to [0, 255]
    np.testing.assert_array_equal(back, [[0, 0, 0, 2, 2, 128, 254, 255, 255, 255, 0]])


def test_float32_and_other_integers(tmp_path):
    f = np.array([[0.49, 99.51]], dtype=np.float32)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "a.png", f)), [[0, 100]])
    i = np.array([[-3, 7, 1000]], dtype=np.int64)
    np.testing.assert_array_equal(read_image(write_image(tmp_path / "b.png", i)), [[0, 7, 255]])


def test_bool_is_0_and_255(tmp_path):
    a = np.array([[True, False], [False, True]])
    back = read_image(write_image(tmp_path / "b.png", a))
    np.testing.assert_array_equal(back, [[255, 0], [0, 255]])


# ---- reading other modes ------------------------------------------------------------------
def test_rgba_drops_alpha_keeping_stored_colour(tmp_path):
    a = np.zeros((2, 3, 4), np.uint8)
    a[..., 0], a[..., 1], a[..., 2] = 10, 20, 30
    a[0, 0, 3], a[1, 2, 3] = 255, 0  # opaque and fully transparent: colour kept either way
    path = tmp_path / "a.png"
    Image.fromarray(a).save(path)
    back = read_image(path)
    assert back.shape == (2, 3, 3)
    np.testing.assert_array_equal(back, a[..., :3])


def test_gray_with_alpha_and_bilevel_are_grayscale(tmp_path):
    la = np.zeros((2, 2, 2), np.uint8)
    la[..., 0] = [[1, 2], [3, 4]]
    Image.fromarray(la).save(tmp_path / "la.png")
    np.testing.assert_array_equal(read_image(tmp_path / "la.png"), [[1, 2], [3, 4]])
    Image.fromarray(np.array([[True, False]])).save(tmp_path / "one.png")
    back = read_image(tmp_path / "one.png")
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, [[255, 0]])


def test_palette_images(tmp_path):
    colour = Image.new("P", (3, 1))
    colour.putpalette([255, 0, 0, 0, 255, 0] + [0, 0, 0] * 254)
    colour.putpixel((1, 0), 1)
    colour.save(tmp_path / "p.gif")
    np.testing.assert_array_equal(read_image(tmp_path / "p.gif"),
                                  [[[255, 0, 0], [0, 255, 0], [255, 0, 0]]])
    gray = Image.new("P", (2, 1))
    gray.putpalette([v for i in range(256) for v in (i, i, i)])
    gray.putpixel((1, 0), 200)
    gray.save(tmp_path / "g.png")
    np.testing.assert_array_equal(read_image(tmp_path / "g.png"), [[0, 200]])


def test_cmyk_becomes_rgb(tmp_path):
    Image.new("CMYK", (4, 3), (0, 255, 0, 0)).save(tmp_path / "k.tif")
    back = read_image(tmp_path / "k.tif")
    assert back.shape == (3, 4, 3)
    np.testing.assert_array_equal(back[0, 0], [255, 0, 255])


# ---- read errors --------------------------------------------------------------------------
def test_read_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nope\.png: no such file"):
        read_image(tmp_path / "nope.png")


def test_read_directory(tmp_path):
    with pytest.raises(DataError, match="is a directory"):
        read_image(tmp_path)


def test_read_not_an_image(tmp_path):
    path = tmp_path / "junk.png"
    path.write_bytes(b"this is not a PNG at all" * 10)
    with pytest.raises(DataError, match=r"junk\.png: not a readable image"):
        read_image(path)


def test_read_truncated_png(tmp_path, rng):
    path = write_image(tmp_path / "t.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=r"t\.png: not a readable image"):
        read_image(path)


def test_read_empty_file(tmp_path):
    (tmp_path / "e.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"e\.jpg"):
        read_image(tmp_path / "e.jpg")


def test_read_32_bit_integers_out_of_16_bit_range(tmp_path):
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32)).save(tmp_path / "i.tif")
    with pytest.raises(DataError, match="32-bit integer"):
        read_image(tmp_path / "i.tif")


# ---- write errors: raised before anything is written --------------------------------------
@pytest.mark.parametrize("name", ["out.xyz", "out", "out.psd"])
def test_unsupported_extension(tmp_path, gray, name):
    with pytest.raises(DataError, match="extension"):
        write_image(tmp_path / name, gray)
    assert list(tmp_path.iterdir()) == []


def test_writable_format():
    assert writable_format("a.png") == "PNG"
    assert writable_format("a.JPG") == writable_format("a.jpeg") == "JPEG"
    assert writable_format("a.tif") == "TIFF"


@pytest.mark.parametrize("array, error, match", [
    (np.zeros((4, 4), np.uint16), DataError, "JPEG stores 8-bit"),
    (np.zeros((4, 4, 3), np.uint16), DataError, "16-bit colour"),
    (np.full((4, 4), np.nan), DataError, "NaN"),
    (np.zeros((4, 4, 2), np.uint8), ShapeError, "shape"),
    (np.zeros((2, 4, 4, 3), np.uint8), ShapeError, "shape"),
    (np.zeros((0, 4), np.uint8), ShapeError, "empty"),
    (np.zeros((4, 4), complex), DataError, "dtype"),
])
def test_bad_arrays_write_nothing(tmp_path, array, error, match):
    with pytest.raises(error, match=match):
        write_image(tmp_path / "out.jpg", array)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_the_old_file_and_leaves_no_partial_file(tmp_path, gray, monkeypatch):
    path = write_image(tmp_path / "keep.png", gray)
    before = path.read_bytes()
    with pytest.raises(DataError):  # encoding fails: the old file is untouched
        write_image(path, np.full((3, 3), np.nan))

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)  # the disk fails in the middle of the write
    with pytest.raises(DataError, match="No space left"):
        write_image(path, 255 - gray)
    with pytest.raises(DataError, match="No space left"):
        write_image(tmp_path / "new.png", gray)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert not (tmp_path / "new.png").exists()
    assert leftovers(tmp_path) == []


def test_write_onto_a_directory(tmp_path, gray):
    (tmp_path / "d.png").mkdir()
    with pytest.raises(DataError, match="is a directory"):
        write_image(tmp_path / "d.png", gray)
