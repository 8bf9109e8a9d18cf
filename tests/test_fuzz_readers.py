"""Fuzzing every reader of outside bytes: random and mutated inputs (bit flips, truncation,
appended bytes) only ever raise fovea's documented errors, all FoveaError subclasses —
DataError (IDX, gzip, CIFAR, images), FilterSpecError (kernel specs and files), ConfigError
(TOML), CheckpointError (safetensors, checkpoint JSON) — and stay within bounded time and size.
Each property runs a bounded number of examples, so the module takes seconds."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from fovea.data import cifar  # noqa: E402
from fovea.data.idx import parse_idx, read_bytes, read_idx, to_idx_bytes  # noqa: E402
from fovea.errors import CheckpointError, DataError  # noqa: E402
from fovea.filters.io import encode_image, read_image  # noqa: E402
from fovea.filters.spec import FilterSpecError, build_kernel, read_kernel_file  # noqa: E402
from fovea.serialization import load_safetensors, save_safetensors  # noqa: E402
from fovea.train.checkpoint import load_checkpoint  # noqa: E402
from fovea.train.config import ConfigError, load_toml  # noqa: E402

FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
MAX_OUTPUT = 1 << 20  # no fuzzed input below may decode to more than this


@st.composite
def mutated(draw, seeds):
    """One of ``seeds`` with bit flips, a truncation and appended bytes (each maybe)."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 4))):
        if data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
    if draw(st.booleans()) and data:
        data = data[:draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        data += draw(st.binary(max_size=64))
    return bytes(data)


def hostile(seeds):
    return st.one_of(st.binary(max_size=512), mutated(seeds))


def _outcome(read, path, error):
    """``read(path)``, or None when it raised ``error`` with a message naming ``path``."""
    try:
        return read(path)
    except error as exc:
        assert str(path) in str(exc)
        return None


def _write(tmp_path_factory, name: str, data: bytes):
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(data)
    return path


# ---- IDX, plain and gzip ------------------------------------------------------------------------
_IDX = [to_idx_bytes(np.arange(24, dtype=dt).reshape(2, 3, 4))
        for dt in (np.uint8, np.int16, np.float32)] + [to_idx_bytes(np.arange(7, dtype=np.int32))]
_GZ = [gzip.compress(b, mtime=0) for b in _IDX]


@FUZZ
@given(data=hostile(_IDX))
def test_parse_idx_only_raises_data_error(data):
    try:
        arr = parse_idx(data, "fuzz.idx")
    except DataError as exc:
        assert "fuzz.idx" in str(exc)
    else:
        assert arr.nbytes <= len(data)


@FUZZ
@given(data=hostile(_IDX + _GZ), gz_name=st.booleans())
def test_read_idx_files_plain_and_gzip(tmp_path_factory, data, gz_name):
    path = _write(tmp_path_factory, "x.idx.gz" if gz_name else "x.idx", data)
    arr = _outcome(read_idx, path, DataError)
    assert arr is None or arr.nbytes <= MAX_OUTPUT


@FUZZ
@given(data=mutated(_GZ), cap=st.integers(0, 200))
def test_gzip_layer_never_inflates_past_its_cap(tmp_path_factory, data, cap):
    path = _write(tmp_path_factory, "x.gz", data)
    try:
        out = read_bytes(path, max_bytes=cap)
    except DataError:
        return
    assert len(out) <= cap


# ---- CIFAR tarball ------------------------------------------------------------------------------
def _tarball(records: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, payload in (("data_batch_1.bin", bytes(records * cifar.RECORD_BYTES)),
                              (cifar.META, "\n".join(cifar.CLASSES).encode())):
            info = tarfile.TarInfo(f"{cifar.FOLDER}/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


_TARS = [_tarball(2)]


@FUZZ
@given(data=hostile(_TARS))
def test_cifar_tarball_reader_only_raises_data_error(tmp_path_factory, monkeypatch, data):
    monkeypatch.setattr(cifar, "RECORDS_PER_FILE", 2)
    path = _write(tmp_path_factory, cifar.TARBALL, data)
    try:
        files, classes = cifar._read_tarball(path, ["data_batch_1.bin"])
        source, payload = files["data_batch_1.bin"]
        cifar.parse_batch(payload, source)
    except DataError as exc:
        assert str(path) in str(exc)
    else:
        assert len(classes) == 10


def test_cifar_tar_member_declaring_a_huge_size_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"{cifar.FOLDER}/data_batch_1.bin")
        info.size = 64 * 2**20  # zeros: compresses to ~64 KiB
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    path = tmp_path / cifar.TARBALL
    path.write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="declares 67108864 bytes, more than"):
        cifar._read_tarball(path, ["data_batch_1.bin"])


# ---- safetensors and checkpoint JSON (read-only use of fovea.serialization) ---------------------
@pytest.fixture(scope="module")
def safetensors_seed(tmp_path_factory):
    pytest.importorskip("safetensors")
    path = tmp_path_factory.mktemp("st") / "w.safetensors"
    save_safetensors({"w": np.arange(6, dtype=np.float32).reshape(2, 3),
                      "b": np.zeros(3, np.float32)}, path, {"epoch": 1})
    return path.read_bytes()


@FUZZ
@given(data=st.data())
def test_safetensors_loader_only_raises_checkpoint_error(tmp_path_factory, safetensors_seed,
                                                         data):
    raw = data.draw(hostile([safetensors_seed]))
    path = _write(tmp_path_factory, "w.safetensors", raw)
    arrays = _outcome(load_safetensors, path, CheckpointError)
    assert arrays is None or sum(a.nbytes for a in arrays.values()) <= len(raw)


_POINTERS = [json.dumps({"arrays": "ckpt-1.safetensors", "sha256": "0" * 64}).encode(),
             b'{"arrays": "../../etc/passwd", "sha256": 5}', b"[]", b'{"arrays": 3}']


@FUZZ
@given(data=hostile(_POINTERS))
def test_checkpoint_json_only_raises_checkpoint_error(tmp_path_factory, data):
    from fovea.train.checkpoint import POINTER

    run = tmp_path_factory.mktemp("run")
    (run / POINTER).write_bytes(data)
    with pytest.raises(CheckpointError):
        load_checkpoint(run)


# ---- TOML configuration -------------------------------------------------------------------------
_TOMLS = [b'model = "mlp"\nepochs = 2\nlr = 0.1\nhidden = [32, 16]\n',
          b'[train]\nbatch-size = 64\noptimizer = "adam"\naugment = "flip"\n']


@FUZZ
@given(data=st.one_of(hostile(_TOMLS), st.text(max_size=200).map(str.encode)))
def test_toml_config_only_raises_config_error(tmp_path_factory, data):
    path = _write(tmp_path_factory, "run.toml", data)
    options = _outcome(load_toml, path, ConfigError)
    assert options is None or isinstance(options, dict)


# ---- kernel specifications and kernel files -----------------------------------------------------
_SPECS = ["gaussian:sigma=2", "box:size=3", "sharpen:alpha=1.5,sigma=1", "shift:dy=1,dx=-2",
          "sobel:axis=1", "log:sigma=1.2,radius=4", "impulse:size=5",
          "derivative:axis=0,kind=forward", "laplacian"]


@FUZZ
@given(spec=st.one_of(st.sampled_from(_SPECS),
                      st.builds(lambda s, cut, tail: s[:cut] + tail, st.sampled_from(_SPECS),
                                st.integers(0, 30), st.text(max_size=12)),
                      st.text(max_size=40)))
def test_kernel_specs_only_raise_filter_spec_error(spec):
    if spec.startswith("file"):
        spec = "x" + spec  # paths are the next property's
    try:
        kernel = build_kernel(spec)
    except FilterSpecError:
        return
    assert kernel.ndim == 2 and np.isfinite(kernel).all()


_KERNEL_FILES = [b"1 2 1\n2 4 2\n1 2 1\n", b"# blur\n0.25 0.5 0.25\n", b"-1 0 1\n"]


@FUZZ
@given(data=hostile(_KERNEL_FILES))
def test_kernel_files_only_raise_filter_spec_error(tmp_path_factory, data):
    path = _write(tmp_path_factory, "k.txt", data)
    kernel = _outcome(read_kernel_file, path, FilterSpecError)
    assert kernel is None or (kernel.ndim == 2 and np.isfinite(kernel).all())


# ---- image files --------------------------------------------------------------------------------
def _images() -> list[bytes]:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    rgb = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    out = [encode_image(gray, fmt) for fmt in ("PNG", "BMP", "TIFF", "GIF", "PPM")]
    out += [encode_image(rgb, fmt) for fmt in ("PNG", "JPEG", "TIFF")]
    out.append(encode_image(gray.astype(np.uint16) * 257, "PNG"))
    return out


_IMAGES = _images()


@FUZZ
@given(data=hostile(_IMAGES))
def test_read_image_only_raises_data_error(tmp_path_factory, data):
    path = _write(tmp_path_factory, "in.img", data)
    image = _outcome(read_image, path, DataError)
    assert image is None or (image.ndim in (2, 3) and image.nbytes <= 64 * MAX_OUTPUT)


def test_seeds_are_valid_inputs(tmp_path):
    """The fuzzed seeds read correctly unchanged, so the mutations start from real files."""
    for i, data in enumerate(_IMAGES):
        (tmp_path / f"{i}.img").write_bytes(data)
        assert read_image(tmp_path / f"{i}.img").size
    assert parse_idx(_IDX[0]).shape == (2, 3, 4)
    (tmp_path / "a.gz").write_bytes(_GZ[1])
    assert read_idx(tmp_path / "a.gz").dtype == np.int16
    (tmp_path / "run.toml").write_bytes(_TOMLS[1])
    assert load_toml(tmp_path / "run.toml")["batch_size"] == 64
