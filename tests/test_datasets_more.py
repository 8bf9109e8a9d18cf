"""Fashion-MNIST, CIFAR-10 and image folders, on small generated files in the real formats:
loading, verification, errors naming the file, download from a local server, and
``fovea train`` end to end."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import warnings

import numpy as np
import pytest
import test_data_download
from PIL import Image

from fovea.cli import main
from fovea.data import cifar as cifar_mod
from fovea.data import fashion as fashion_mod
from fovea.data import mnist as mnist_mod
from fovea.data import registry as ds_mod
from fovea.data.folder import ImageFolder
from fovea.data.idx import to_idx_bytes
from fovea.data.registry import DATASET_INFO, dataset_info, load_dataset
from fovea.errors import DataArgumentError, DataError
from fovea.train.config import OPTIONS, ConfigError, load_toml

# the local HTTP server of the download tests (fixtures: server, and its module-scoped instance)
_server_instance = test_data_download._server_instance
server = test_data_download.server


# ---- Fashion-MNIST ----------------------------------------------------------------------------
def _fashion_arrays(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
            (np.arange(n) % 10).astype(np.uint8))


@pytest.fixture
def fashion(monkeypatch):
    """Small test-split files: ``gz`` maps names to published (patched) .gz bytes."""
    images, labels = _fashion_arrays(30)
    monkeypatch.setitem(fashion_mod.COUNTS, "test", 30)
    gz = {}
    for name, arr in zip(fashion_mod.FILES["test"], (images, labels)):
        gz[name] = gzip.compress(to_idx_bytes(arr), mtime=0)
        monkeypatch.setitem(fashion_mod.GZ_SHA256, name, hashlib.sha256(gz[name]).hexdigest())
        monkeypatch.setitem(fashion_mod.GZ_MD5, name, hashlib.md5(gz[name]).hexdigest())
    monkeypatch.delenv(fashion_mod.MIRRORS_ENV, raising=False)
    fashion_mod._warned.clear()
    return images, labels.astype(np.int64), gz


def _write_fashion(root, files, plain=False):
    folder = root / "fashion-mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if plain:
            (folder / name).write_bytes(gzip.decompress(data))
        else:
            (folder / f"{name}.gz").write_bytes(data)
    return folder


def test_fashion_published_gz_loads_without_warning(fashion, tmp_path):
    images, labels, gz = fashion
    _write_fashion(tmp_path, gz)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got_images, got_labels = fashion_mod.load_fashion_mnist("test", tmp_path, download=False)
        ds = load_dataset("fashion-mnist", "test", data_dir=tmp_path, download=False)
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)
    assert got_labels.dtype == np.int64
    x, y = ds.arrays
    assert x.dtype == np.float32 and x.shape == (30, 1, 28, 28) and y.dtype == np.int64
    assert np.allclose(x[:, 0] * 255, images)
    info = DATASET_INFO["fashion-mnist"]
    assert info["classes"][0] == "T-shirt/top" and info["classes"][9] == "Ankle boot"
    assert info["mean"] == (0.2860,) and info["std"] == (0.3530,)


def test_fashion_unpublished_files_are_checked_for_structure_and_warned(fashion, tmp_path):
    images, labels, gz = fashion
    folder = _write_fashion(tmp_path, gz, plain=True)
    with pytest.warns(UserWarning, match="only its structure was checked") as rec:
        got, _ = fashion_mod.load_fashion_mnist("test", tmp_path, download=False)
    assert np.array_equal(got, images)
    assert {str(folder / n) for n in gz} == {str(w.message).split(":")[0] for w in rec}
    with warnings.catch_warnings():  # once per file
        warnings.simplefilter("error")
        fashion_mod.load_fashion_mnist("test", tmp_path, download=False)


@pytest.mark.parametrize("case, match", [
    ("count", r"expected uint8 images \(30, 28, 28\)"),
    ("label", "labels outside 0..9"),
    ("truncated", "truncated gzip stream"),
    ("mnist", "MNIST file"),
])
def test_fashion_bad_files_name_the_file(fashion, tmp_path, monkeypatch, case, match):
    images, labels, gz = fashion
    name = "t10k-labels-idx1-ubyte" if case == "label" else "t10k-images-idx3-ubyte"
    if case == "count":
        gz[name] = gzip.compress(to_idx_bytes(images[:29]))
    elif case == "label":
        bad_labels = np.where(labels == 3, 10, labels).astype(np.uint8)
        gz[name] = gzip.compress(to_idx_bytes(bad_labels))
    elif case == "truncated":
        gz[name] = gz[name][: len(gz[name]) // 2]
        monkeypatch.setitem(fashion_mod.GZ_SHA256, name, "0" * 64)
    else:
        raw = gzip.decompress(gz[name])  # pretend these bytes are MNIST's, re-compressed
        monkeypatch.setitem(mnist_mod.SHA256_UNCOMPRESSED, name, hashlib.sha256(raw).hexdigest())
        gz[name] = gzip.compress(raw, compresslevel=1)
    folder = _write_fashion(tmp_path, gz)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DataError, match=match) as info:
            fashion_mod.load_fashion_mnist("test", tmp_path, download=False)
    assert str(folder / name) in str(info.value)


def test_fashion_missing_without_download(fashion, tmp_path):
    with pytest.raises(DataError, match="download=False") as info:
        load_dataset("fashion-mnist", "test", data_dir=tmp_path, download=False)
    assert "fashion-mnist" in str(info.value) and "t10k-images-idx3-ubyte" in str(info.value)


def test_fashion_download_skips_a_mirror_with_other_bytes(fashion, server, tmp_path,
                                                          monkeypatch):
    images, labels, gz = fashion
    for name, data in gz.items():
        server.files[f"/good/{name}.gz"] = data
        server.files[f"/recompressed/{name}.gz"] = gzip.compress(gzip.decompress(data), 1)
    monkeypatch.setenv(fashion_mod.MIRRORS_ENV, f"{server.url}/recompressed/,{server.url}/good/")
    got_images, got_labels = fashion_mod.load_fashion_mnist("test", tmp_path, progress=False)
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)
    assert sorted(p.name for p in (tmp_path / "fashion-mnist").iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    assert [p for p, _ in server.log] == [
        "/recompressed/t10k-images-idx3-ubyte.gz", "/good/t10k-images-idx3-ubyte.gz",
        "/recompressed/t10k-labels-idx1-ubyte.gz", "/good/t10k-labels-idx1-ubyte.gz"]


def test_fashion_default_mirrors_are_zalandos():
    assert fashion_mod.mirrors()[0].startswith("http://fashion-mnist.s3-website.eu-central-1")


# ---- CIFAR-10 ---------------------------------------------------------------------------------
PER_FILE = 40
META_NAMES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _records(n, seed):
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) + seed) % 10
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    data = np.concatenate([labels[:, None].astype(np.uint8), images.reshape(n, -1)], axis=1)
    return data.tobytes(), images, labels.astype(np.int64)


def _cifar_files(meta=True):
    """{file name: bytes} of a small binary release, and the expected arrays per split."""
    files, expected = {}, {"train": ([], []), "test": ([], [])}
    for split, names in cifar_mod.FILES.items():
        for k, name in enumerate(names):
            data, images, labels = _records(PER_FILE, seed=k + (10 if split == "test" else 0))
            files[name] = data
            expected[split][0].append(images)
            expected[split][1].append(labels)
    if meta:
        files["batches.meta.txt"] = ("\n".join(META_NAMES) + "\n\n").encode()
    return files, {s: (np.concatenate(i), np.concatenate(lab)) for s, (i, lab) in
                   expected.items()}


def _tarball(files, drop=()) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
        for name, data in files.items():
            if name in drop:
                continue
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _publish(monkeypatch, tar_bytes):
    monkeypatch.setattr(cifar_mod, "TARBALL_MD5", hashlib.md5(tar_bytes).hexdigest())
    monkeypatch.setattr(cifar_mod, "TARBALL_SHA256", hashlib.sha256(tar_bytes).hexdigest())
    monkeypatch.setattr(cifar_mod, "TARBALL_SIZE", len(tar_bytes))


@pytest.fixture
def cifar(monkeypatch, tmp_path_factory):
    """(files, expected arrays, tarball bytes), the module patched to publish that tarball."""
    monkeypatch.setattr(cifar_mod, "RECORDS_PER_FILE", PER_FILE)
    monkeypatch.delenv(cifar_mod.MIRRORS_ENV, raising=False)
    files, expected = _cifar_files()
    tar_bytes = _tarball(files)
    _publish(monkeypatch, tar_bytes)
    return files, expected, tar_bytes


def test_cifar_from_tarball(cifar, tmp_path):
    files, expected, tar_bytes = cifar
    (tmp_path / cifar_mod.TARBALL).write_bytes(tar_bytes)
    for split in ("train", "test"):
        images, labels, classes = cifar_mod.load_cifar10(split, tmp_path, download=False,
                                                         with_classes=True)
        assert images.dtype == np.uint8 and images.shape == (len(expected[split][0]), 3, 32, 32)
        assert labels.dtype == np.int64
        assert np.array_equal(images, expected[split][0])
        assert np.array_equal(labels, expected[split][1])
        assert classes == META_NAMES
    assert len(expected["train"][0]) == 5 * PER_FILE
    assert list(tmp_path.iterdir()) == [tmp_path / cifar_mod.TARBALL]  # nothing extracted
    ds = load_dataset("cifar10", "test", data_dir=tmp_path, download=False)
    x, y = ds.arrays
    assert x.dtype == np.float32 and x.shape == (PER_FILE, 3, 32, 32)
    assert np.allclose(x * 255, expected["test"][0]) and np.array_equal(y, expected["test"][1])
    assert DATASET_INFO["cifar10"]["input_shape"] == (3, 32, 32)
    assert DATASET_INFO["cifar10"]["mean"] == (0.4914, 0.4822, 0.4465)


def test_cifar_from_extracted_folder_in_cifar10_subfolder(cifar, tmp_path):
    files, expected, _ = cifar
    folder = tmp_path / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name, data in files.items():
        if name != "batches.meta.txt":
            (folder / name).write_bytes(data)
    images, labels, classes = cifar_mod.load_cifar10("train", tmp_path, download=False,
                                                     with_classes=True)
    assert np.array_equal(images, expected["train"][0])
    assert np.array_equal(labels, expected["train"][1])
    assert classes == cifar_mod.CLASSES  # no meta file: the standard names


@pytest.mark.parametrize("case, match", [
    ("truncated", "truncated, 122919 bytes"),
    ("long", "too long"),
    ("label", "label 10 outside 0..9 in record 3"),
])
def test_cifar_bad_bin_file_is_named(cifar, tmp_path, case, match):
    files, _, _ = cifar
    data = bytearray(files["test_batch.bin"])
    if case == "truncated":
        data = data[:-1]
    elif case == "long":
        data += bytes(cifar_mod.RECORD_BYTES)
    else:
        data[3 * cifar_mod.RECORD_BYTES] = 10
    (tmp_path / "test_batch.bin").write_bytes(bytes(data))
    with pytest.raises(DataError, match=match) as info:
        cifar_mod.load_cifar10("test", tmp_path, download=False)
    assert str(tmp_path / "test_batch.bin") in str(info.value)


def test_cifar_tarball_checksum_size_and_content_errors(cifar, tmp_path, monkeypatch):
    files, _, tar_bytes = cifar
    path = tmp_path / cifar_mod.TARBALL
    bad = bytearray(tar_bytes)
    bad[len(bad) // 2] ^= 0xFF
    path.write_bytes(bytes(bad))
    with pytest.raises(DataError, match="MD5 mismatch") as info:
        cifar_mod.load_cifar10("test", tmp_path, download=False)
    assert str(path) in str(info.value)
    path.write_bytes(tar_bytes[:-10])
    with pytest.raises(DataError, match=f"published {cifar_mod.TARBALL} has"):
        cifar_mod.load_cifar10("test", tmp_path, download=False)
    # a bad bin inside a tarball that passes its checksums: named as tarball:member
    broken = dict(files, **{"test_batch.bin": files["test_batch.bin"][:-5]})
    tar2 = _tarball(broken)
    _publish(monkeypatch, tar2)
    path.write_bytes(tar2)
    with pytest.raises(DataError, match="truncated") as info:
        cifar_mod.load_cifar10("test", tmp_path, download=False)
    assert f"{path}:cifar-10-batches-bin/test_batch.bin" in str(info.value)
    # a missing member, and a corrupt gzip stream (checksums switched off)
    tar3 = _tarball(files, drop=("data_batch_4.bin",))
    _publish(monkeypatch, tar3)
    path.write_bytes(tar3)
    with pytest.raises(DataError, match="no member cifar-10-batches-bin/data_batch_4.bin"):
        cifar_mod.load_cifar10("train", tmp_path, download=False)
    for attr in ("TARBALL_MD5", "TARBALL_SHA256", "TARBALL_SIZE"):
        monkeypatch.setattr(cifar_mod, attr, None)
    for broken in (tar_bytes[: len(tar_bytes) // 2], bytes(bad)):  # truncated, a flipped byte
        path.write_bytes(broken)
        with pytest.raises(DataError, match="not a readable") as info:
            cifar_mod.load_cifar10("test", tmp_path, download=False)
        assert str(path) in str(info.value)


def test_cifar_missing_without_download(cifar, tmp_path):
    with pytest.raises(DataError, match="download=False") as info:
        load_dataset("cifar10", "train", data_dir=tmp_path, download=False)
    assert cifar_mod.TARBALL in str(info.value)


def test_cifar_download_from_local_server(cifar, server, tmp_path, monkeypatch):
    _, expected, tar_bytes = cifar
    bad = bytearray(tar_bytes)
    bad[100] ^= 1
    server.files["/bad/cifar-10-binary.tar.gz"] = bytes(bad)
    server.files["/kriz/cifar-10-binary.tar.gz"] = tar_bytes
    monkeypatch.setenv(cifar_mod.MIRRORS_ENV, f"{server.url}/none/,{server.url}/bad/,"
                                              f"{server.url}/kriz/")
    images, labels = cifar_mod.load_cifar10("test", tmp_path, progress=False)
    assert np.array_equal(images, expected["test"][0])
    assert np.array_equal(labels, expected["test"][1])
    assert [p.name for p in tmp_path.iterdir()] == [cifar_mod.TARBALL]
    assert [p for p, _ in server.log] == ["/none/cifar-10-binary.tar.gz",
                                          "/bad/cifar-10-binary.tar.gz",
                                          "/kriz/cifar-10-binary.tar.gz"]
    server.log.clear()
    cifar_mod.load_cifar10("train", tmp_path, progress=False)
    assert server.log == []
    assert cifar_mod.mirrors() != cifar_mod.MIRRORS
    monkeypatch.delenv(cifar_mod.MIRRORS_ENV)
    assert cifar_mod.mirrors() == ["https://www.cs.toronto.edu/~kriz/"]


# ---- image folders ----------------------------------------------------------------------------
def _save(path, array, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


def _gray_folder(root, classes=("b_cls", "a_cls", "c_cls"), n=4, size=(10, 12), seed=0):
    rng = np.random.default_rng(seed)
    out = {}
    for c in classes:
        for i in range(n):
            a = rng.integers(0, 256, size, dtype=np.uint8)
            _save(root / c / f"{i:02d}.png", a)
            out[(c, i)] = a
    return out


def test_image_folder_classes_labels_and_pixels(tmp_path):
    arrays = _gray_folder(tmp_path)
    (tmp_path / "a_cls" / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden").mkdir()
    ds = ImageFolder(tmp_path)
    assert ds.classes == ["a_cls", "b_cls", "c_cls"]
    assert ds.class_to_idx == {"a_cls": 0, "b_cls": 1, "c_cls": 2}
    assert ds.mode == "L"
    x, y = ds.arrays
    assert x.dtype == np.float32 and x.shape == (12, 1, 10, 12) and y.dtype == np.int64
    assert y.tolist() == [0] * 4 + [1] * 4 + [2] * 4 and ds.targets == y.tolist()
    assert 0 <= x.min() and x.max() <= 1
    assert np.array_equal(np.rint(x[4, 0] * 255).astype(np.uint8), arrays[("b_cls", 0)])
    assert ds.samples[4] == (tmp_path / "b_cls" / "00.png", 1)
    assert len(ds) == 12 and ds[0][0].shape == (1, 10, 12)


def test_image_folder_modes_jpeg_and_nesting(tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    _save(tmp_path / "color" / "x.png", rgb)
    _save(tmp_path / "gray" / "deep" / "y.PNG", gray)
    _save(tmp_path / "gray" / "z.JPEG", gray, fmt="JPEG")
    auto = ImageFolder(tmp_path)
    assert auto.mode == "RGB" and auto.arrays[0].shape == (3, 3, 8, 8)
    assert np.array_equal(np.rint(auto.arrays[0][0] * 255).astype(np.uint8),
                          rgb.transpose(2, 0, 1))
    assert [p.name for p, _ in auto.samples] == ["x.png", "z.JPEG", "y.PNG"]  # as torchvision
    replicated = np.rint(auto.arrays[0][2] * 255).astype(np.uint8)
    assert all(np.array_equal(replicated[k], gray) for k in range(3))
    jpeg = auto.arrays[0][1]
    assert np.array_equal(jpeg[0], jpeg[1]) and np.abs(jpeg[0] * 255 - gray).mean() < 20
    lum = ImageFolder(tmp_path, mode="L")
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    assert lum.arrays[0].shape == (3, 1, 8, 8)
    assert np.array_equal(np.rint(lum.arrays[0][0, 0] * 255).astype(np.uint8), expected)
    only_png = ImageFolder(tmp_path, mode="RGB", extensions=".png")
    assert len(only_png) == 2 and only_png.mode == "RGB"
    with pytest.raises(DataArgumentError, match="unknown image mode"):
        ImageFolder(tmp_path, mode="CMYK")


def test_image_folder_resize_and_odd_size_error(tmp_path):
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (20, 16, 3), dtype=np.uint8)
    _save(tmp_path / "k" / "1.png", a)
    _save(tmp_path / "k" / "2.png", rng.integers(0, 256, (20, 16, 3), dtype=np.uint8))
    _save(tmp_path / "k" / "3.png", rng.integers(0, 256, (9, 7, 3), dtype=np.uint8))
    _save(tmp_path / "k" / "4.png", rng.integers(0, 256, (5, 5, 3), dtype=np.uint8))
    with pytest.raises(DataError, match="image is 9×7 but .*1.png is 20×16") as info:
        ImageFolder(tmp_path)
    assert str(info.value).startswith(str(tmp_path / "k" / "3.png"))
    ds = ImageFolder(tmp_path, size=(10, 8))
    assert ds.arrays[0].shape == (4, 3, 10, 8)
    expected = np.asarray(Image.fromarray(a).resize((8, 10), Image.Resampling.BILINEAR))
    assert np.array_equal(np.rint(ds.arrays[0][0] * 255).astype(np.uint8),
                          expected.transpose(2, 0, 1))
    assert ImageFolder(tmp_path, size=6).arrays[0].shape == (4, 3, 6, 6)


def test_image_folder_bad_inputs_name_the_file(tmp_path):
    _gray_folder(tmp_path, n=2)
    bad = tmp_path / "a_cls" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(DataError, match="not a readable image") as info:
        ImageFolder(tmp_path)
    assert str(bad) in str(info.value)
    bad.unlink()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images") as info:
        ImageFolder(tmp_path)
    assert str(tmp_path / "empty") in str(info.value)
    with pytest.raises(DataError, match="no class sub-folders"):
        ImageFolder(tmp_path / "a_cls")
    with pytest.raises(DataError, match="no such folder"):
        ImageFolder(tmp_path / "nope")


# ---- folder:PATH through load_dataset and dataset_info ---------------------------------------
def test_folder_dataset_with_train_and_test_folders(tmp_path):
    _gray_folder(tmp_path / "train", n=3, size=(6, 6))
    rng = np.random.default_rng(5)
    _save(tmp_path / "test" / "c_cls" / "t.png", rng.integers(0, 256, (6, 6, 3), np.uint8))
    name = f"folder:{tmp_path}"
    train = load_dataset(name, "train")
    test = load_dataset(name, "test")
    assert train.arrays[0].shape == (9, 1, 6, 6)
    assert test.arrays[0].shape == (1, 1, 6, 6) and test.arrays[1].tolist() == [2]
    info = dataset_info(name)
    assert info["classes"] == ("a_cls", "b_cls", "c_cls") and info["num_classes"] == 3
    assert info["input_shape"] == (1, 6, 6) and info["splits"] == {"train": 9, "test": 1}
    x = train.arrays[0]
    assert np.allclose(info["mean"], [x.mean(dtype=np.float64)], atol=1e-6)
    assert np.allclose(info["std"], [x.std(dtype=np.float64)], atol=1e-6)
    train.arrays[0][:] = 0  # the returned arrays are copies: the cache is untouched
    assert load_dataset(name, "train").arrays[0].max() > 0
    _save(tmp_path / "test" / "zzz" / "u.png", np.zeros((6, 6), np.uint8))
    with pytest.raises(DataError, match="class 'zzz' is not one of"):
        load_dataset(name, "test")


def test_folder_dataset_seeded_stratified_split(tmp_path):
    _gray_folder(tmp_path, classes=("x", "y"), n=10, size=(4, 4))
    name = f"folder:{tmp_path}"
    train, test = load_dataset(name, "train"), load_dataset(name, "test")
    assert len(train) == 16 and len(test) == 4
    assert np.bincount(test.arrays[1]).tolist() == [2, 2]
    everything = ImageFolder(tmp_path).arrays[0]
    together = np.concatenate([train.arrays[0], test.arrays[0]])
    assert sorted(map(bytes, together)) == sorted(map(bytes, everything))
    ds_mod._folder_cache.clear()  # read again from disk: the same split
    assert np.array_equal(load_dataset(name, "test").arrays[0], test.arrays[0])
    with pytest.raises(DataError, match="no such folder"):
        load_dataset(f"folder:{tmp_path / 'missing'}")
    with pytest.raises(DataArgumentError, match="folder:PATH"):
        dataset_info("folder:")
    with pytest.raises(DataArgumentError, match="known datasets: .*cifar10, folder:PATH"):
        load_dataset("imagenet")


def test_dataset_option_accepts_names_and_folders(tmp_path, monkeypatch):
    parse = OPTIONS["dataset"].parse
    assert parse("cifar10") == "cifar10" and parse("fashion-mnist") == "fashion-mnist"
    monkeypatch.chdir(tmp_path)
    assert parse("folder:imgs") == f"folder:{tmp_path / 'imgs'}"
    for bad in ("cifar100", "folder:", "Folder:x"):
        with pytest.raises(ValueError):
            parse(bad)
    toml = tmp_path / "run.toml"
    toml.write_text('dataset = "folder:imgs"\n')
    assert load_toml(toml)["dataset"] == f"folder:{tmp_path / 'imgs'}"
    toml.write_text('dataset = "svhn"\n')
    with pytest.raises(ConfigError, match="folder:PATH"):
        load_toml(toml)


# ---- end to end -------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["mlp", "vgg11_bn_cifar"])  # a CIFAR-sized network
def test_train_cifar10_end_to_end(cifar, tmp_path, capsys, model):
    files, _, _ = cifar
    folder = tmp_path / "data" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    out = tmp_path / "run"
    code = main(["train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "data"),
                 "--model", model, "--hidden", "32", "--epochs", "1", "--batch-size", "64",
                 "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert config["input_shape"] == [3, 32, 32] and config["num_classes"] == 10
    assert config["normalize"]["mean"] == [0.4914, 0.4822, 0.4465]
    assert config["train_size"] + config["val_size"] == 5 * PER_FILE
    assert json.loads((out / "test_metrics.json").read_text())["n"] == PER_FILE


def test_train_folder_end_to_end(tmp_path, capsys):
    rng = np.random.default_rng(3)
    for c in ("circle", "square", "stripe"):
        for i in range(12):
            _save(tmp_path / "imgs" / c / f"{i}.png",
                  rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
    out = tmp_path / "run"
    code = main(["train", "--dataset", f"folder:{tmp_path / 'imgs'}", "--model", "mlp",
                 "--hidden", "16", "--epochs", "1", "--batch-size", "8", "--quiet",
                 "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert config["input_shape"] == [3, 12, 12] and config["num_classes"] == 3
    info = dataset_info(config["dataset"])
    assert config["normalize"]["mean"] == list(info["mean"])
    assert json.loads((out / "test_metrics.json").read_text())["n"] == 6  # 2 of 12 per class
    capsys.readouterr()
    assert main(["evaluate", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 6
    assert main(["train", "--dataset", f"folder:{tmp_path / 'none'}", "--model", "mlp",
                 "--epochs", "1", "--quiet", "--out", str(tmp_path / "r2")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_image_folder_16_bit_alpha_and_palette(tmp_path):
    rng = np.random.default_rng(4)
    deep = rng.integers(0, 65536, (5, 5), dtype=np.uint16)
    (tmp_path / "a").mkdir()
    Image.fromarray(deep).save(tmp_path / "a" / "deep.png")  # 16-bit grayscale PNG
    gray = rng.integers(0, 256, (5, 5), dtype=np.uint8)
    Image.fromarray(gray).convert("P").save(tmp_path / "a" / "pal.png")  # a gray palette
    ds = ImageFolder(tmp_path)
    assert ds.mode == "L"
    assert np.allclose(ds.arrays[0][0, 0], deep / 65535, atol=1e-6)
    assert np.array_equal(np.rint(ds.arrays[0][1, 0] * 255), gray)
    rgba = rng.integers(0, 256, (5, 5, 4), dtype=np.uint8)
    _save(tmp_path / "b" / "alpha.png", rgba)
    ds = ImageFolder(tmp_path)
    assert ds.mode == "RGB" and ds.arrays[0].shape == (3, 3, 5, 5)
    assert np.array_equal(np.rint(ds.arrays[0][2] * 255), rgba[..., :3].transpose(2, 0, 1))
    assert np.allclose(ds.arrays[0][0], deep / 65535, atol=1e-6)  # replicated, 16-bit kept
