"""CIFAR-10 from its binary release (``cifar-10-binary.tar.gz``), verified, downloaded on demand.

The release holds ``cifar-10-batches-bin/`` with ``data_batch_1.bin`` .. ``data_batch_5.bin``
(training, 10,000 images each), ``test_batch.bin`` (10,000) and ``batches.meta.txt`` (the
class names, one a line). Each record is 3,073 bytes: the label (0..9), then the 32×32 red,
green and blue planes, row by row. No pickle anywhere: the Python release is not used.

The files are read from an extracted ``cifar-10-batches-bin`` folder when one is complete, else
straight from the tarball (streamed with :mod:`tarfile`, nothing is extracted).

Checksums: the tarball is checked against the MD5 the dataset's page publishes
(cs.toronto.edu/~kriz/cifar.html) and, as a cross check, the SHA-256 and byte count in
TensorFlow Datasets' ``url_checksums/cifar10.txt``; a download that fails either is rejected, a
local tarball that fails is a DataError. Nobody publishes checksums of the extracted ``.bin``
files, so those are checked for their exact size (10,000 records) and label range only.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import posixpath
import tarfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..files import read_regular
from .dataset import DataArgumentError
from .download import download_from_mirrors
from .mnist import default_data_dir

TARBALL = "cifar-10-binary.tar.gz"
FOLDER = "cifar-10-batches-bin"
"""The folder inside the tarball (and of an extracted copy)."""

TARBALL_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
"""MD5 of the tarball, from the CIFAR-10 page."""

TARBALL_SHA256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
"""SHA-256 of the tarball, from TensorFlow Datasets' url_checksums/cifar10.txt."""

TARBALL_SIZE = 170_052_171
"""Byte count of the tarball (same source)."""

FILES = {
    "train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    "test": ("test_batch.bin",),
}
META = "batches.meta.txt"

RECORDS_PER_FILE = 10_000
RECORD_BYTES = 1 + 3 * 32 * 32
MAX_META_BYTES = 2**16

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
           "truck")
"""The standard class names, used when ``batches.meta.txt`` is missing or malformed."""

MIRRORS = ["https://www.cs.toronto.edu/~kriz/"]
"""Base URLs serving the tarball; ``$FOVEA_CIFAR10_MIRRORS`` (comma-separated) overrides them."""

MIRRORS_ENV = "FOVEA_CIFAR10_MIRRORS"

_verified: dict = {}  # (path, size, mtime_ns) of tarballs already checked in this process


def mirrors() -> list[str]:
    """The mirrors to try: ``$FOVEA_CIFAR10_MIRRORS`` (comma-separated) or :data:`MIRRORS`."""
    env = os.environ.get(MIRRORS_ENV)
    if env is not None and env.strip():
        return [m.strip() for m in env.split(",") if m.strip()]
    return list(MIRRORS)


# ---- checks -----------------------------------------------------------------------------------
def check_tarball(path) -> None:
    """Raise DataError unless ``path`` has the published size, MD5 and SHA-256 (a check that is
    set to None is skipped). A file that passed is not hashed again in this process."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if _verified.get(key) == (TARBALL_SIZE, TARBALL_MD5, TARBALL_SHA256):
        return
    if TARBALL_SIZE is not None and st.st_size != TARBALL_SIZE:
        raise DataError(f"{path}: {st.st_size} bytes, the published {TARBALL} has "
                        f"{TARBALL_SIZE} (truncated or another file); delete it to download "
                        "again")
    md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha256()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                md5.update(chunk)
                sha.update(chunk)
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    for what, expected, got in (("MD5", TARBALL_MD5, md5.hexdigest()),
                                ("SHA-256", TARBALL_SHA256, sha.hexdigest())):
        if expected is not None and got != expected:
            raise DataError(f"{path}: {what} mismatch (expected {expected}, got {got}); "
                            "delete it to download again")
    _verified[key] = (TARBALL_SIZE, TARBALL_MD5, TARBALL_SHA256)


def parse_batch(data: bytes, source) -> tuple[np.ndarray, np.ndarray]:
    """The (images uint8 (N, 3, 32, 32), labels uint8 (N,)) of one ``.bin`` file's bytes;
    ``source`` names the file in errors."""
    expected = RECORDS_PER_FILE * RECORD_BYTES
    if len(data) != expected:
        kind = "truncated" if len(data) < expected else "too long"
        raise DataError(f"{source}: {kind}, {len(data)} bytes ({RECORDS_PER_FILE} records of "
                        f"{RECORD_BYTES} bytes are {expected})")
    records = np.frombuffer(data, dtype=np.uint8).reshape(RECORDS_PER_FILE, RECORD_BYTES)
    labels = records[:, 0]
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise DataError(f"{source}: label {labels[bad[0]]} outside 0..9 in record {bad[0]} "
                        "(not a CIFAR-10 batch file?)")
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels.copy()


def parse_meta(data: bytes) -> tuple:
    """The class names of ``batches.meta.txt`` (one a line), or :data:`CLASSES` if it does not
    hold exactly ten."""
    try:
        names = [line.strip() for line in data.decode("utf-8").splitlines()]
    except UnicodeDecodeError:
        return CLASSES
    names = [n for n in names if n]
    return tuple(names) if len(names) == len(CLASSES) else CLASSES


# ---- sources ----------------------------------------------------------------------------------
def _read_folder(folder: Path, names) -> tuple[dict, tuple]:
    out = {}
    for name in names:
        out[name] = read_regular(folder / name, 2 * RECORDS_PER_FILE * RECORD_BYTES)  # parse_batch says "too long"
    meta = folder / META
    try:
        classes = parse_meta(read_regular(meta, MAX_META_BYTES)) if meta.is_file() else CLASSES
    except DataError:
        classes = CLASSES
    return {name: (folder / name, data) for name, data in out.items()}, classes


def _member_name(name: str) -> str:
    name = posixpath.normpath(name)
    return name[2:] if name.startswith("./") else name


def _read_tarball(path: Path, names) -> tuple[dict, tuple]:
    """The wanted files of the tarball, streamed in one pass (no seeking, no extraction).

    The gzip stream is read to its end, so that its CRC is checked even where no tarball
    checksum is configured."""
    wanted = {f"{FOLDER}/{n}": n for n in (*names, META)}
    found = {}
    try:
        with gzip.open(path, "rb") as gz:
            with tarfile.open(fileobj=gz, mode="r|") as tar:
                for member in tar:
                    key = _member_name(member.name)
                    if key in wanted and member.isfile():
                        limit = (MAX_META_BYTES if key.endswith(META)
                                 else RECORDS_PER_FILE * RECORD_BYTES)
                        if member.size > limit:  # a batch is read whole: refuse a bomb first
                            raise DataError(f"{path}: member {key} declares {member.size} "
                                            f"bytes, more than the {limit} of its kind")
                        found[wanted[key]] = tar.extractfile(member).read()
            while gz.read(1 << 20):
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{path}: not a readable {TARBALL} ({type(exc).__name__}: "
                        f"{exc})") from None
    missing = [n for n in names if n not in found]
    if missing:
        raise DataError(f"{path}: no member {FOLDER}/{missing[0]} in the tarball")
    classes = parse_meta(found[META]) if META in found else CLASSES
    return {n: (f"{path}:{FOLDER}/{n}", found[n]) for n in names}, classes


def _batch_folders(d: Path):
    """The candidate extracted folders of a search directory."""
    yield d / FOLDER
    yield d


def _search_dirs(data_dir) -> tuple[list[Path], Path]:
    """(directories to look in, directory to download into)."""
    if data_dir is None:
        root = default_data_dir()
        return [root / "cifar10", root], root / "cifar10"
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise DataError(f"data directory {root} does not exist")
    if not root.is_dir():
        raise DataError(f"data directory {root} is not a directory")
    return [root, root / "cifar10"], root


def _locate(names, data_dir, download, progress):
    """("folder", path) for a complete extracted folder, else ("tar", path)."""
    dirs, target = _search_dirs(data_dir)
    partial = None
    for d in dirs:
        for folder in _batch_folders(d):
            present = [(folder / n).is_file() for n in names]
            if all(present):
                return "folder", folder
            if any(present) and partial is None:
                partial = folder / names[present.index(False)]
    for d in dirs:
        if (d / TARBALL).is_file():
            return "tar", d / TARBALL
    if not download:
        where = ", ".join(str(d) for d in dirs)
        also = f"; {partial} is missing" if partial is not None else ""
        raise DataError(f"{target / TARBALL}: not found (looked for {FOLDER}/ and {TARBALL} "
                        f"in {where}{also}; download=False)")
    target.mkdir(parents=True, exist_ok=True)
    path = download_from_mirrors(mirrors(), TARBALL, target / TARBALL,
                                 expected_sha256=TARBALL_SHA256, progress=progress,
                                 verify=check_tarball)
    return "tar", path


def load_cifar10(split="train", data_dir=None, download=True, progress=True,
                 with_classes=False):
    """CIFAR-10 ``split`` ("train": 50,000, "test": 10,000) as (images uint8 (N, 3, 32, 32),
    labels int64), plus the class names when ``with_classes``.

    Looks in ``data_dir`` and its ``cifar10`` subfolder (default: ``default_data_dir()/cifar10``)
    for an extracted ``cifar-10-batches-bin`` folder (or the ``.bin`` files themselves), then
    for ``cifar-10-binary.tar.gz``; downloads the tarball when neither is there and
    ``download``. A bad tarball or batch file raises DataError naming it.
    """
    if split not in FILES:
        raise DataArgumentError(f"unknown CIFAR-10 split {split!r}; use 'train' or 'test'")
    names = FILES[split]
    kind, path = _locate(names, data_dir, download, progress)
    if kind == "folder":
        files, classes = _read_folder(path, names)
    else:
        check_tarball(path)
        files, classes = _read_tarball(path, names)
    parts = [parse_batch(data, source) for source, data in (files[n] for n in names)]
    images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return (images, labels, classes) if with_classes else (images, labels)
