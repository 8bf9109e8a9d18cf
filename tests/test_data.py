"""Datasets, DataLoader, IDX files, MNIST and mnist-mini."""

from __future__ import annotations

import gzip
import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
from helpers import skip_missing

from fovea.data import (
    DATASET_INFO,
    DataArgumentError,
    DataLoader,
    Dataset,
    Subset,
    TensorDataset,
    default_data_dir,
    load_dataset,
    load_mnist,
    load_mnist_mini,
    read_idx,
    write_idx,
)
from fovea.data import mini as mini_mod
from fovea.errors import DataError, FoveaError, ShapeError

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ---- Dataset, TensorDataset, Subset ---------------------------------------------------------
def _ids_dataset(n=10):
    return TensorDataset(np.arange(n), np.arange(n * 2, dtype=np.float32).reshape(n, 2))


class ListDataset(Dataset):
    """A generic dataset that only takes integer indices."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        assert isinstance(i, int)
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.full((2, 3), i, dtype=np.float32), np.int64(i)


def test_dataset_is_abstract():
    with pytest.raises(TypeError):
        Dataset()


def test_tensor_dataset_indexing():
    ds = _ids_dataset()
    assert len(ds) == 10
    x, y = ds[3]
    assert x == 3 and y.tolist() == [6.0, 7.0]
    x, y = ds[np.array([4, 1, 1])]
    assert x.tolist() == [4, 1, 1] and y.shape == (3, 2)
    x, y = ds[[0, -1]]
    assert x.tolist() == [0, 9]
    assert ds[2:4][0].tolist() == [2, 3]


def test_tensor_dataset_length_mismatch():
    with pytest.raises(ValueError, match=r"\[3, 4\]") as info:
        TensorDataset(np.zeros(3), np.zeros((4, 2)))
    assert isinstance(info.value, ShapeError)
    with pytest.raises(ShapeError):
        TensorDataset(np.float32(1.0))
    with pytest.raises(ValueError):
        TensorDataset()


def test_subset():
    ds = _ids_dataset()
    sub = Subset(ds, [7, 2, -1])
    assert len(sub) == 3
    assert sub[0][0] == 7 and sub[2][0] == 9
    assert sub[np.array([2, 0])][0].tolist() == [9, 7]
    assert sub.supports_batch_index
    with pytest.raises(IndexError):
        Subset(ds, [10])
    with pytest.raises(ValueError):
        Subset(ds, [[1, 2]])


def test_subset_of_generic_dataset():
    sub = Subset(ListDataset(5), [4, 0])
    assert not sub.supports_batch_index
    x, y = sub[np.array([0, 1])]
    assert x.shape == (2, 2, 3) and y.tolist() == [4, 0]


# ---- DataLoader -----------------------------------------------------------------------------
@pytest.mark.parametrize("drop_last, lengths", [(False, [4, 4, 2]), (True, [4, 4])])
def test_loader_batches(drop_last, lengths):
    dl = DataLoader(_ids_dataset(10), batch_size=4, drop_last=drop_last)
    batches = list(dl)
    assert len(dl) == len(lengths) == len(batches)
    assert [len(b[0]) for b in batches] == lengths
    assert all(isinstance(b, tuple) and len(b) == 2 for b in batches)
    assert batches[0][1].shape == (4, 2) and batches[0][1].dtype == np.float32
    assert np.concatenate([b[0] for b in batches]).tolist() == list(range(sum(lengths)))


def test_loader_lengths():
    ds = _ids_dataset(8)
    assert len(DataLoader(ds, batch_size=4)) == 2
    assert len(DataLoader(ds, batch_size=4, drop_last=True)) == 2
    assert len(DataLoader(ds, batch_size=3, drop_last=True)) == 2
    assert len(DataLoader(ds, batch_size=100)) == 1
    assert len(DataLoader(ds, batch_size=100, drop_last=True)) == 0
    assert list(DataLoader(ds, batch_size=100, drop_last=True)) == []


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "3", None])
def test_loader_rejects_bad_batch_size(bad):
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(_ids_dataset(), batch_size=bad)


def _epoch_ids(dl):
    return np.concatenate([b[0] for b in dl])


def test_loader_shuffle_each_sample_once_new_order_each_epoch():
    n = 103
    dl = DataLoader(_ids_dataset(n), batch_size=10, shuffle=True, seed=0)
    first, second = _epoch_ids(dl), _epoch_ids(dl)
    assert sorted(first.tolist()) == list(range(n))
    assert sorted(second.tolist()) == list(range(n))
    assert not np.array_equal(first, second)
    assert not np.array_equal(first, np.arange(n))


def test_loader_shuffle_reproducible():
    ds = _ids_dataset(50)
    a = DataLoader(ds, batch_size=7, shuffle=True, seed=123)
    b = DataLoader(ds, batch_size=7, shuffle=True, seed=123)
    c = DataLoader(ds, batch_size=7, shuffle=True, seed=124)
    for _ in range(3):
        ea, eb, ec = _epoch_ids(a), _epoch_ids(b), _epoch_ids(c)
        assert np.array_equal(ea, eb)
        assert not np.array_equal(ea, ec)


def test_loader_drop_last_shuffled():
    dl = DataLoader(_ids_dataset(10), batch_size=3, shuffle=True, drop_last=True, seed=1)
    ids = _epoch_ids(dl)
    assert len(ids) == 9 and len(set(ids.tolist())) == 9


def test_loader_state_dict_replays_epoch():
    ds = _ids_dataset(40)
    dl = DataLoader(ds, batch_size=8, shuffle=True, seed=5)
    _epoch_ids(dl)
    state = json.loads(json.dumps(dl.state_dict()))  # JSON-serializable
    expected = [_epoch_ids(dl), _epoch_ids(dl)]
    fresh = DataLoader(ds, batch_size=8, shuffle=True, seed=999)
    fresh.load_state_dict(state)
    assert all(np.array_equal(_epoch_ids(fresh), e) for e in expected)
    with pytest.raises(ValueError):
        fresh.load_state_dict({"nope": 1})


def test_loader_uses_one_fancy_index_per_batch():
    calls = []

    class Counting(TensorDataset):
        def __getitem__(self, index):
            calls.append(np.asarray(index).shape)
            return super().__getitem__(index)

    dl = DataLoader(Counting(np.arange(10)), batch_size=4, shuffle=True, seed=0)
    batches = list(dl)
    assert calls == [(4,), (4,), (2,)]
    assert isinstance(batches[0], tuple) and len(batches[0]) == 1


def test_loader_generic_dataset_stacks_items():
    dl = DataLoader(ListDataset(5), batch_size=2)
    batches = list(dl)
    assert [b[0].shape for b in batches] == [(2, 2, 3), (2, 2, 3), (1, 2, 3)]
    assert np.concatenate([b[1] for b in batches]).tolist() == [0, 1, 2, 3, 4]
    sub = DataLoader(Subset(ListDataset(5), [3, 1, 4]), batch_size=2)
    assert np.concatenate([b[1] for b in sub]).tolist() == [3, 1, 4]


# ---- IDX ------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((5, 3, 4)) * 100).astype(dtype)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, arr, gzip=compress)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == compress
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert np.array_equal(back, arr)
    back[0] = 0  # writable


def test_idx_header_layout(tmp_path):
    path = write_idx(tmp_path / "x", np.arange(6, dtype=np.int32).reshape(2, 3))
    raw = path.read_bytes()
    assert raw[:4] == b"\x00\x00\x0c\x02"
    assert struct.unpack(">II", raw[4:12]) == (2, 3)
    assert struct.unpack(">6i", raw[12:]) == tuple(range(6))
    assert read_idx(path).shape == (2, 3)


def test_write_idx_rejects_unsupported(tmp_path):
    with pytest.raises(ValueError, match="dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError):
        write_idx(tmp_path / "x", np.uint8(3))


def _valid_idx() -> bytes:
    return b"\x00\x00\x08\x02" + struct.pack(">II", 2, 3) + bytes(range(6))


_GOOD_GZ = gzip.compress(_valid_idx(), mtime=0)
_CRC_BAD = bytearray(_GOOD_GZ)
_CRC_BAD[-8] ^= 0xFF  # the CRC32 of the trailer
_DEFLATE_BAD = bytearray(_GOOD_GZ)
_DEFLATE_BAD[10:14] = b"\xff\xff\xff\xff"

MALFORMED = {
    "empty": ("x.idx", b"", "empty file"),
    "short magic": ("x.idx", b"\x00\x00\x08", "truncated header"),
    "short dims": ("x.idx", b"\x00\x00\x08\x03" + struct.pack(">I", 2), "truncated header"),
    "bad magic": ("x.idx", b"\x01\x02\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic"),
    "bad type": ("x.idx", b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "type code"),
    "short data": ("x.idx", _valid_idx()[:-1], "truncated data"),
    "long data": ("x.idx", _valid_idx() + b"\x00\x00", "2 trailing bytes"),
    "gz truncated": ("x.idx.gz", _GOOD_GZ[:-12], "truncated gzip"),
    "gz crc": ("x.idx.gz", bytes(_CRC_BAD), "corrupt gzip"),
    "gz deflate": ("x.idx.gz", bytes(_DEFLATE_BAD), "gzip"),
    "gz not gzip": ("x.idx.gz", _valid_idx(), "not a gzip file"),
    "gz empty": ("x.idx.gz", gzip.compress(b""), "empty file"),
    "gz short data": ("x.idx.gz", gzip.compress(_valid_idx()[:-2]), "truncated data"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_idx_malformed_raises_data_error_naming_file(tmp_path, case):
    name, content, message = MALFORMED[case]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found") as info:
        read_idx(tmp_path / "nope.idx")
    assert "nope.idx" in str(info.value)


def test_idx_valid_cases_of_the_malformed_table(tmp_path):
    (tmp_path / "ok.gz").write_bytes(_GOOD_GZ)
    assert read_idx(tmp_path / "ok.gz").tolist() == [[0, 1, 2], [3, 4, 5]]


# ---- MNIST ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mnist_dir():
    if not MNIST_DIR.is_dir():
        skip_missing(f"the full MNIST ({MNIST_DIR})")
    return MNIST_DIR


@pytest.fixture(scope="module")
def mnist_test(mnist_dir):
    return load_mnist("test", data_dir=mnist_dir, download=False)


def _link_split(src: Path, dst: Path, split="test"):
    """Symlink the .gz files of ``split`` from ``src`` into ``dst``."""
    prefix = "t10k" if split == "test" else "train"
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.glob(f"{prefix}-*.gz"):
        (dst / f.name).symlink_to(f)


def test_load_mnist_train(mnist_dir):
    images, labels = load_mnist("train", data_dir=mnist_dir, download=False)
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).tolist() == TRAIN_COUNTS
    assert images.max() == 255 and images.min() == 0


def test_load_mnist_test(mnist_test):
    images, labels = mnist_test
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).tolist() == TEST_COUNTS


def test_load_mnist_mnist_subfolder_and_plain_files(mnist_dir, mnist_test, tmp_path):
    _link_split(mnist_dir, tmp_path / "mnist")
    images, labels = load_mnist("test", data_dir=tmp_path, download=False)
    assert np.array_equal(images, mnist_test[0]) and np.array_equal(labels, mnist_test[1])
    # plain (uncompressed) files are read as well
    plain = tmp_path / "plain"
    plain.mkdir()
    for f in (tmp_path / "mnist").iterdir():
        (plain / f.name.removesuffix(".gz")).write_bytes(gzip.decompress(f.read_bytes()))
    images, labels = load_mnist("test", data_dir=plain, download=False)
    assert np.array_equal(labels, mnist_test[1])


def test_load_mnist_default_dir(mnist_dir, monkeypatch, tmp_path):
    _link_split(mnist_dir, tmp_path / "mnist")
    monkeypatch.setenv("FOVEA_DATA_DIR", str(tmp_path))
    _, labels = load_mnist("test", download=False)
    assert len(labels) == 10000


def test_load_mnist_checksum_mismatch(mnist_dir, tmp_path):
    _link_split(mnist_dir, tmp_path)
    good = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(good.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # still a valid label
    good.unlink()
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="SHA-256 mismatch") as info:
        load_mnist("test", data_dir=tmp_path, download=False)
    msg = str(info.value)
    assert str(bad) in msg and "ff7bcfd416de" in msg and "delete it" in msg


def test_load_mnist_truncated_file(mnist_dir, tmp_path):
    _link_split(mnist_dir, tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated gzip") as info:
        load_mnist("test", data_dir=tmp_path, download=False)
    assert str(path) in str(info.value)


def test_load_mnist_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found") as info:
        load_mnist("test", data_dir=tmp_path, download=False)
    assert str(tmp_path / "t10k-images-idx3-ubyte") in str(info.value)


def test_load_mnist_missing_data_dir(tmp_path):
    with pytest.raises(DataError, match="data directory .* does not exist"):
        load_mnist("train", data_dir=tmp_path / "nope")


def test_load_mnist_bad_split(tmp_path):
    with pytest.raises(DataArgumentError, match="split"):
        load_mnist("valid", data_dir=tmp_path)


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("FOVEA_DATA_DIR", str(tmp_path / "d"))
    assert default_data_dir() == tmp_path / "d"
    monkeypatch.delenv("FOVEA_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert default_data_dir() == tmp_path / "c" / "fovea"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_data_dir() == Path.home() / ".cache" / "fovea"


# ---- mnist-mini and load_dataset ------------------------------------------------------------
@pytest.mark.parametrize("split, n", [("train", 1000), ("test", 200)])
def test_mnist_mini_balanced(split, n):
    images, labels = load_mnist_mini(split)
    assert images.shape == (10 * n, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    assert np.bincount(labels, minlength=10).tolist() == [n] * 10
    assert images.max() == 255


def test_mnist_mini_asset_small():
    assert mini_mod.ASSET.stat().st_size <= 3_000_000


@pytest.mark.parametrize("split", ["train", "test"])
def test_mnist_mini_is_a_subset_of_mnist(split, mnist_dir, mnist_test):
    """Every mnist-mini image is an image of the same split of MNIST, with its label."""
    images, labels = load_mnist_mini(split)
    source = mnist_test if split == "test" else load_mnist("train", data_dir=mnist_dir,
                                                           download=False)
    full = {img.tobytes(): lab for img, lab in zip(*source)}
    assert all(full.get(img.tobytes()) == lab for img, lab in zip(images, labels))


def _copy_asset(tmp_path) -> Path:
    path = tmp_path / "mnist-mini.npz"
    shutil.copy(mini_mod.ASSET, path)
    shutil.copy(mini_mod.PROVENANCE, tmp_path / "mnist-mini.json")
    return path


def test_mnist_mini_damaged(tmp_path):
    path = _copy_asset(tmp_path)
    assert len(load_mnist_mini("test", path=path)[0]) == 2000
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="damaged") as info:
        load_mnist_mini("train", path=path)
    assert str(path) in str(info.value)


def test_mnist_mini_wrong_content(tmp_path):
    path = _copy_asset(tmp_path)
    with np.load(path) as z:
        arrays = dict(z)
    arrays["test_images"][0, 0, 0] ^= 1
    np.savez_compressed(path, **arrays)
    with pytest.raises(DataError, match="SHA-256"):
        load_mnist_mini("test", path=path)
    arrays["test_labels"] = arrays["test_labels"].astype(np.int32)
    np.savez_compressed(path, **arrays)
    with pytest.raises(DataError, match="test_labels"):
        load_mnist_mini("test", path=path)
    del arrays["train_images"]
    np.savez_compressed(path, **arrays)
    with pytest.raises(DataError, match="missing"):
        load_mnist_mini("train", path=path)


def test_mnist_mini_rejects_pickle(tmp_path):
    path = tmp_path / "mnist-mini.npz"
    np.savez(path, train_images=np.array([object()], dtype=object), train_labels=np.zeros(1))
    shutil.copy(mini_mod.PROVENANCE, tmp_path / "mnist-mini.json")
    with pytest.raises(DataError, match="damaged"):
        load_mnist_mini("train", path=path)


def test_load_dataset_mnist_mini():
    ds = load_dataset("mnist-mini", "test")
    assert isinstance(ds, TensorDataset) and len(ds) == 2000
    x, y = ds.arrays
    assert x.shape == (2000, 1, 28, 28) and x.dtype == np.float32
    assert y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    info = DATASET_INFO["mnist-mini"]
    assert info["num_classes"] == 10 and info["input_shape"] == (1, 28, 28)
    assert info["classes"] == tuple("0123456789")
    assert info["mean"] == (0.1307,) and info["std"] == (0.3081,)
    assert x.shape[1:] == info["input_shape"]


def test_load_dataset_mnist(mnist_dir):
    ds = load_dataset("mnist", "test", data_dir=mnist_dir, download=False)
    assert len(ds) == 10000 and ds.arrays[0].dtype == np.float32
    assert np.bincount(ds.arrays[1]).tolist() == TEST_COUNTS


def test_load_dataset_unknown_name():
    with pytest.raises(FoveaError, match="mnist-mini, mnist") as info:
        load_dataset("cifar-11")
    assert isinstance(info.value, ValueError)
