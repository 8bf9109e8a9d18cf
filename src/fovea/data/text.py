"""Character-level text: the embedded ``shakespeare`` corpus, any UTF-8 file (``text:PATH``),
the character vocabulary, nanoGPT's train/validation split and batches of windows.

``shakespeare`` is tinyshakespeare (1,115,394 characters, 65 symbols: karpathy/char-rnn's
``data/tinyshakespeare/input.txt``) shipped xz-compressed as ``assets/shakespeare.txt.xz``,
built by ``scripts/build_shakespeare.py`` and checked against the SHA-256 of the text at load.

A text becomes token ids through :class:`CharVocab` (the sorted set of its characters, as
nanoGPT's ``shakespeare_char``); :func:`split_ids` keeps the first 90% for training and the
last 10% for validation. :class:`RandomWindows` draws batches of random windows
(x = ids[i:i+T], y = ids[i+1:i+T+1]) from a seeded generator whose state resumes exactly;
:class:`FixedWindows` draws the same windows on every pass (the periodic validation estimate);
:class:`SequentialWindows` covers a split with non-overlapping windows (its full evaluation).
"""

from __future__ import annotations

import hashlib
import lzma
import numbers
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..files import read_regular
from .dataset import DataArgumentError
from .rng import generator_state, restore_generator

ASSET = Path(__file__).resolve().parent.parent / "assets" / "shakespeare.txt.xz"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
"""SHA-256 of tinyshakespeare's input.txt (its SHA256SUMS), checked on the decompressed text."""
SHAKESPEARE_CHARS = 1_115_394
TEXT_PREFIX = "text:"
TEXT_DATASETS = {
    "shakespeare": {"chars": SHAKESPEARE_CHARS, "vocab_size": 65,
                    "description": "tinyshakespeare (karpathy/char-rnn), embedded"},
}
"""The named text datasets and what is known of them."""
MAX_TEXT_BYTES = 64 << 20
"""The largest text read, compressed or not (64 MiB; tinyshakespeare is about 1 MiB)."""
VAL_FRACTION = 0.1


def is_text_dataset(name) -> bool:
    """True for "shakespeare" and "text:PATH"."""
    return isinstance(name, str) and (name in TEXT_DATASETS or name.startswith(TEXT_PREFIX))


def _decode(data: bytes, label: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{label}: not UTF-8 text (byte {exc.start}: {exc.reason})") from None


def load_shakespeare(path=None) -> str:
    """The tinyshakespeare text from the xz asset ``path`` (the packaged one by default),
    verified by its SHA-256; DataError naming the file when it is missing, damaged, truncated
    or not the expected text."""
    path = Path(path) if path is not None else ASSET
    packed = read_regular(path, MAX_TEXT_BYTES, missing="file not found (rebuild it with "
                          "scripts/build_shakespeare.py)")
    inflater = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    try:
        # a bound on the output: a crafted asset cannot inflate without limit
        data = inflater.decompress(packed, max_length=MAX_TEXT_BYTES + 1)
    except lzma.LZMAError as exc:
        raise DataError(f"{path}: damaged asset, not xz data ({exc})") from None
    if not inflater.eof:
        what = ("inflates past the limit" if len(data) > MAX_TEXT_BYTES
                else "is truncated (the xz stream does not end)")
        raise DataError(f"{path}: damaged asset, it {what}")
    if hashlib.sha256(data).hexdigest() != SHAKESPEARE_SHA256:
        raise DataError(f"{path}: damaged asset, its text fails the SHA-256 check")
    return _decode(data, str(path))


def load_text(name: str) -> str:
    """The text of dataset ``name``: "shakespeare" (embedded) or "text:PATH" (a regular UTF-8
    file of at most :data:`MAX_TEXT_BYTES`)."""
    if name == "shakespeare":
        return load_shakespeare()
    if isinstance(name, str) and name.startswith(TEXT_PREFIX) and name[len(TEXT_PREFIX):]:
        path = Path(name[len(TEXT_PREFIX):]).expanduser()
        text = _decode(read_regular(path, MAX_TEXT_BYTES), str(path))
        if not text:
            raise DataError(f"{path}: empty; a text dataset needs characters")
        return text
    known = ", ".join([*TEXT_DATASETS, "text:PATH"])
    raise DataArgumentError(f"unknown text dataset {name!r}; known: {known}")


def text_sha256(text: str) -> str:
    """SHA-256 of the text's UTF-8 bytes (recorded with a run, to notice a changed file)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


class CharVocab:
    """The characters of a text, sorted; id i stands for ``chars[i]``."""

    def __init__(self, chars):
        chars = list(chars)
        if not chars:
            raise DataArgumentError("a vocabulary needs at least one character")
        if any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise DataArgumentError("a vocabulary is a list of single characters")
        if chars != sorted(set(chars)):
            raise DataArgumentError("a vocabulary's characters must be distinct and sorted")
        self.chars = chars
        self._codes = _code_points("".join(chars))

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls(chr(c) for c in np.unique(_code_points(text)))

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, CharVocab) and self.chars == other.chars

    def missing(self, text: str) -> list:
        """The distinct characters of ``text`` not in the vocabulary, in order of appearance."""
        known = set(self.chars)
        return list(dict.fromkeys(c for c in text if c not in known))

    def encode(self, text: str) -> np.ndarray:
        """int64 ids of ``text``'s characters; DataArgumentError naming one not in the
        vocabulary."""
        codes = _code_points(text)
        ids = np.searchsorted(self._codes, codes)
        bad = (ids >= len(self._codes)) | (self._codes[np.minimum(ids, len(self._codes) - 1)]
                                           != codes)
        if bad.any():
            c = chr(int(codes[np.argmax(bad)]))
            raise DataArgumentError(f"character {c!r} is not in the vocabulary of "
                                    f"{len(self)} characters")
        return ids.astype(np.int64)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in np.asarray(ids).reshape(-1))

    def to_json(self) -> dict:
        return {"chars": list(self.chars)}

    @classmethod
    def from_json(cls, obj) -> CharVocab:
        if not isinstance(obj, dict) or not isinstance(obj.get("chars"), list):
            raise DataArgumentError("a vocabulary is a JSON object with a 'chars' list")
        return cls(obj["chars"])


def split_ids(ids: np.ndarray, val_fraction: float = VAL_FRACTION) -> tuple:
    """(train, val): the first ⌊n·(1 − val_fraction)⌋ ids and the rest, nanoGPT's
    ``shakespeare_char`` split at the default 0.1."""
    n_train = int(len(ids) * (1 - val_fraction))
    return ids[:n_train], ids[n_train:]


def _check_windows(ids, block_size, batch_size, what="ids"):
    for name, v in (("block_size", block_size), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
            raise DataArgumentError(f"{name} must be a positive int, got {v!r}")
    if len(ids) < block_size + 1:
        raise DataArgumentError(f"{what}: {len(ids)} characters, fewer than block_size + 1 = "
                                f"{block_size + 1} (a window and its next character)")
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise DataArgumentError(f"{what}: token ids must be integers, got {ids.dtype}")
    return ids


def compact_ids(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """``ids`` stored in the smallest dtype that holds them (uint16 up to 65,536 symbols, as
    nanoGPT's train.bin); :func:`windows_at` gives int64 windows whatever the storage."""
    return ids.astype(np.uint16 if vocab_size <= 1 << 16 else np.int32)


def windows_at(ids: np.ndarray, starts: np.ndarray, block_size: int) -> tuple:
    """(x, y) int64 (B, T): x[b] = ids[s:s+T], y[b] = ids[s+1:s+T+1] for s in ``starts``."""
    idx = starts[:, None] + np.arange(block_size)
    return ids[idx].astype(np.int64), ids[idx + 1].astype(np.int64)


class RandomWindows:
    """Endless batches of ``batch_size`` random windows of ``block_size`` ids (nanoGPT's
    get_batch: starts uniform in [0, len − T)), drawn from the loader's own generator seeded by
    ``seed``. Iterate it with a bound (``itertools.islice``); each batch draws at ``next()``,
    so ``state_dict()`` between batches resumes the same sequence."""

    def __init__(self, ids, block_size: int, batch_size: int, seed=None, what="ids"):
        self.ids = _check_windows(ids, block_size, batch_size, what)
        self.block_size, self.batch_size = int(block_size), int(batch_size)
        self.generator = np.random.default_rng(seed)

    def __iter__(self):
        high = len(self.ids) - self.block_size
        while True:
            starts = self.generator.integers(0, high, size=self.batch_size)
            yield windows_at(self.ids, starts, self.block_size)

    def state_dict(self) -> dict:
        return generator_state(self.generator)

    def load_state_dict(self, state: dict) -> None:
        restore_generator(self.generator, state, "RandomWindows", DataArgumentError)


class FixedWindows:
    """``batches`` batches of random windows, the same ones on every pass (drawn from
    ``seed``): a validation estimate comparable between evaluations."""

    def __init__(self, ids, block_size: int, batch_size: int, batches: int, seed=0,
                 what="ids"):
        self.ids = _check_windows(ids, block_size, batch_size, what)
        self.block_size = int(block_size)
        rng = np.random.default_rng(seed)
        self.starts = rng.integers(0, len(self.ids) - self.block_size,
                                   size=(int(batches), int(batch_size)))

    def __len__(self) -> int:
        return len(self.starts)

    def __iter__(self):
        return (windows_at(self.ids, s, self.block_size) for s in self.starts)


class SequentialWindows:
    """Non-overlapping windows covering ``ids``: every id after the first is a target once.
    Full windows of ``block_size`` come ``batch_size`` at a time, then the shorter rest (its
    own batch of one window)."""

    def __init__(self, ids, block_size: int, batch_size: int = 64, what="ids"):
        self.ids = _check_windows(ids, 1, batch_size, what)
        self.block_size, self.batch_size = int(block_size), int(batch_size)
        if self.block_size <= 0:
            raise DataArgumentError(f"block_size must be a positive int, got {block_size!r}")
        self.full = (len(self.ids) - 1) // self.block_size
        self.rest = (len(self.ids) - 1) % self.block_size

    def __len__(self) -> int:
        return -(-self.full // self.batch_size) + (1 if self.rest else 0)

    def __iter__(self):
        T = self.block_size  # noqa: N806 - the sequence length, as in the papers
        for first in range(0, self.full, self.batch_size):
            starts = np.arange(first, min(first + self.batch_size, self.full)) * T
            yield windows_at(self.ids, starts, T)
        if self.rest:
            yield windows_at(self.ids, np.array([self.full * T]), self.rest)


__all__ = ["ASSET", "SHAKESPEARE_SHA256", "TEXT_DATASETS", "TEXT_PREFIX", "MAX_TEXT_BYTES",
           "CharVocab", "is_text_dataset", "load_shakespeare", "load_text", "text_sha256",
           "split_ids", "compact_ids", "windows_at", "RandomWindows", "FixedWindows", "SequentialWindows"]
