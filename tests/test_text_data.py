"""Text data: the embedded shakespeare asset and its checksum, text:PATH files, the character
vocabulary, nanoGPT's split and the window loaders (their resume included)."""

from __future__ import annotations

import hashlib
import itertools
import lzma
import os
from pathlib import Path

import numpy as np
import pytest

from fovea.data import text as T
from fovea.errors import CheckpointError, DataError
from fovea.train.language import TextData, load_vocab, save_vocab

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare"


@pytest.fixture(scope="module")
def shakespeare():
    return T.load_shakespeare()


def test_shakespeare_asset_is_tinyshakespeare(shakespeare):
    assert len(shakespeare) == 1_115_394
    assert len(set(shakespeare)) == 65
    assert hashlib.sha256(shakespeare.encode()).hexdigest() == T.SHAKESPEARE_SHA256
    assert shakespeare.startswith("First Citizen:\nBefore we proceed any further")
    sums = SOURCE / "SHA256SUMS"
    if sums.is_file():  # the checksum published with the source text
        assert sums.read_text().split()[0] == T.SHAKESPEARE_SHA256


def _damaged(tmp_path, data: bytes) -> Path:
    path = tmp_path / "shakespeare.txt.xz"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("damage, match", [
    (lambda b: b[: len(b) // 2], "truncated"),
    (lambda b: b[:-40], "truncated|damaged"),
    (lambda b: b[:1000] + bytes([b[1000] ^ 0xFF]) + b[1001:], "damaged"),
    (lambda b: b"not xz at all", "not xz"),
    (lambda b: lzma.compress(b"First Citizen:\n"), "SHA-256"),
    (lambda b: b"", "not xz|truncated"),
])
def test_damaged_asset_is_an_error_naming_the_file(tmp_path, damage, match):
    path = _damaged(tmp_path, damage(T.ASSET.read_bytes()))
    with pytest.raises(DataError, match=match) as info:
        T.load_shakespeare(path)
    assert str(path) in str(info.value)


def test_missing_asset_and_not_a_file(tmp_path):
    with pytest.raises(DataError, match="build_shakespeare.py"):
        T.load_shakespeare(tmp_path / "nope.xz")
    with pytest.raises(DataError, match="directory"):
        T.load_shakespeare(tmp_path)


def test_asset_inflating_past_the_limit_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(T, "MAX_TEXT_BYTES", 1000)
    path = _damaged(tmp_path, lzma.compress(b"a" * 5000))
    with pytest.raises(DataError, match="limit"):
        T.load_shakespeare(path)


def test_text_path_reads_utf8_and_refuses_the_rest(tmp_path, monkeypatch):
    good = tmp_path / "t.txt"
    good.write_text("héllo wörld\n", encoding="utf-8")
    assert T.load_text(f"text:{good}") == "héllo wörld\n"
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("héllo".encode("latin-1"))
    with pytest.raises(DataError, match=f"{bad}: not UTF-8"):
        T.load_text(f"text:{bad}")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        T.load_text(f"text:{empty}")
    with pytest.raises(DataError, match="directory"):
        T.load_text(f"text:{tmp_path}")
    with pytest.raises(DataError, match="no such file"):
        T.load_text(f"text:{tmp_path / 'missing.txt'}")
    monkeypatch.setattr(T, "MAX_TEXT_BYTES", 4)
    with pytest.raises(DataError, match="limit"):
        T.load_text(f"text:{good}")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_text_path_fifo_does_not_hang(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="FIFO"):
        T.load_text(f"text:{fifo}")


def test_vocabulary_sorted_round_trip_and_unknown_characters(tmp_path):
    v = T.CharVocab.from_text("hello, wörld")
    assert v.chars == sorted(set("hello, wörld"))
    ids = v.encode("wörld, hello")
    assert ids.dtype == np.int64 and v.decode(ids) == "wörld, hello"
    assert v.missing("hex!") == ["x", "!"]
    with pytest.raises(ValueError, match="'x' is not in the vocabulary"):
        v.encode("hex")
    save_vocab(tmp_path, v)
    assert load_vocab(tmp_path) == v
    (tmp_path / "vocab.json").write_text('{"chars": ["b", "a"]}')
    with pytest.raises(CheckpointError, match="sorted"):
        load_vocab(tmp_path)
    (tmp_path / "vocab.json").write_text('{"chars": ["ab"]}')
    with pytest.raises(CheckpointError, match="single characters"):
        load_vocab(tmp_path)


def test_shakespeare_vocabulary_and_split_are_nanogpts(shakespeare):
    data = TextData("shakespeare")
    chars = sorted(set(shakespeare))  # nanoGPT's prepare.py
    assert data.vocab.chars == chars
    stoi = {c: i for i, c in enumerate(chars)}
    n = len(shakespeare)
    assert len(data.train) == int(n * 0.9) == 1_003_854 and len(data.val) == n - 1_003_854
    head = [stoi[c] for c in shakespeare[:50]]
    tail = [stoi[c] for c in shakespeare[int(n * 0.9):int(n * 0.9) + 50]]
    assert data.train[:50].tolist() == head and data.val[:50].tolist() == tail
    assert data.train.dtype == np.uint16  # stored as nanoGPT's train.bin; batches are int64
    x, y = next(iter(data.train_loader(block_size=8, batch_size=2, seed=0)))
    assert x.dtype == y.dtype == np.int64


def test_random_windows_are_shifted_pairs_and_resume_exactly():
    ids = np.arange(1000, dtype=np.int64)  # an id is its own position
    loader = T.RandomWindows(ids, block_size=16, batch_size=8, seed=3)
    x, y = next(iter(loader))
    assert x.shape == y.shape == (8, 16) and x.dtype == np.int64
    for row_x, row_y in zip(x, y):
        s = row_x[0]
        assert (row_x == ids[s:s + 16]).all() and (row_y == ids[s + 1:s + 17]).all()
    first = list(itertools.islice(loader, 3))
    state = loader.state_dict()
    after = list(itertools.islice(loader, 4))
    other = T.RandomWindows(ids, 16, 8, seed=99)
    other.load_state_dict(state)
    again = list(itertools.islice(other, 4))
    for (a, b), (c, d) in zip(after, again):
        assert np.array_equal(a, c) and np.array_equal(b, d)
    same_seed = T.RandomWindows(ids, 16, 8, seed=3)
    replay = list(itertools.islice(same_seed, 4))[1:]
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(first, replay))


def test_random_windows_cover_the_whole_range():
    ids = np.arange(20, dtype=np.int64)
    x, y = next(iter(T.RandomWindows(ids, block_size=4, batch_size=4000, seed=0)))
    # starts uniform in [0, len − T): the last window ends one short of the end, for its y
    assert set(x[:, 0].tolist()) == set(range(16))
    assert y.max() == 19


def test_window_arguments_are_checked():
    with pytest.raises(ValueError, match="fewer than block_size"):
        T.RandomWindows(np.arange(10), block_size=10, batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        T.RandomWindows(np.arange(10), block_size=2, batch_size=0)
    with pytest.raises(ValueError, match="RandomWindows state"):
        T.RandomWindows(np.arange(10), 2, 2).load_state_dict({"x": 1})


def test_fixed_windows_repeat_and_sequential_windows_cover_each_target_once():
    ids = np.random.default_rng(0).integers(0, 50, size=1001)
    fixed = T.FixedWindows(ids, 8, 4, batches=3, seed=5)
    a, b = list(fixed), list(fixed)
    assert len(a) == 3 and all(np.array_equal(p[0], q[0]) for p, q in zip(a, b))
    for block in (7, 10, 1000):
        seq = T.SequentialWindows(ids, block, batch_size=4)
        batches = list(seq)
        assert len(batches) == len(seq)
        xs = np.concatenate([x.reshape(-1) for x, _ in batches])
        ys = np.concatenate([y.reshape(-1) for _, y in batches])
        assert np.array_equal(xs, ids[:-1]) and np.array_equal(ys, ids[1:])
        assert all(x.shape[1] <= block for x, _ in batches)


def test_image_loaders_name_a_text_dataset_as_such():
    from fovea.data import dataset_info, load_dataset

    for name in ("shakespeare", "text:/tmp/x.txt"):
        with pytest.raises(ValueError, match="is a text dataset"):
            load_dataset(name)
        with pytest.raises(ValueError, match="is a text dataset"):
            dataset_info(name)
