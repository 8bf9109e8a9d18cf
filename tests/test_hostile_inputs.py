"""Hostile files handed to fovea's readers: a gzip bomb, IDX dims that overflow, FIFOs and
devices where a file is expected, symlink loops under an image folder, NaN filter results.
Each ends in one of fovea's errors naming the file, in bounded memory and time."""

from __future__ import annotations

import gzip
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from fovea.cli import main
from fovea.data import idx
from fovea.data.idx import read_bytes, read_idx
from fovea.errors import DataError
from fovea.filters.io import read_image, write_image
from fovea.filters.spec import FilterSpecError, build_kernel, read_kernel_file, to_depth

SRC = str(Path(__file__).resolve().parents[1] / "src")
MiB = 2**20


def _header(dims, code=0x08) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def _bomb(header: bytes, mib: int) -> bytes:
    """A gzip file whose members inflate to ``header`` and then ``mib`` MiB of zeros (each
    1 MiB member compresses to about 1 KiB, so the file is ~1000 times smaller)."""
    zeros = gzip.compress(bytes(MiB), compresslevel=9, mtime=0)
    return gzip.compress(header, mtime=0) + zeros * mib


# ---- 1. gzip bomb and absurd IDX dims ---------------------------------------------------------
def test_gzip_bomb_behind_a_small_header_stops_at_the_declared_size(tmp_path):
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(_bomb(_header((10, 28, 28)), 64))  # declares 7840 bytes, holds 64 MiB
    assert path.stat().st_size < MiB
    with pytest.raises(DataError, match="trailing bytes") as info:
        read_bytes(path)
    assert str(path) in str(info.value)


def test_header_declaring_more_than_the_limit_is_refused_before_inflating(tmp_path):
    path = tmp_path / "big.gz"
    path.write_bytes(_bomb(_header((60_000, 28, 28)), 4))
    with pytest.raises(DataError, match="more than the limit") as info:
        read_bytes(path, max_bytes=1000)
    assert str(path) in str(info.value)
    huge = tmp_path / "huge.gz"
    huge.write_bytes(_bomb(_header((2**32 - 1,) * 3), 1))
    with pytest.raises(DataError, match="more than the limit"):
        read_idx(huge)


def test_a_bomb_is_refused_in_bounded_memory(tmp_path):
    """6 MB that inflate to 6 GiB took the machine down: under a 300 MiB address-space rlimit
    above the interpreter's own, reading it is a DataError, not a MemoryError."""
    path = tmp_path / "bomb.gz"
    path.write_bytes(_bomb(_header((2, 2)), 1024))  # 1 GiB of zeros in about 1 MiB
    script = textwrap.dedent(f"""
        import resource, sys
        from fovea.data.idx import read_idx
        from fovea.errors import DataError
        vm = next(int(line.split()[1]) for line in open("/proc/self/status")
                  if line.startswith("VmSize:")) * 1024
        resource.setrlimit(resource.RLIMIT_AS, (vm + 300 * 2**20, resource.RLIM_INFINITY))
        try:
            read_idx({str(path)!r})
        except DataError as exc:
            print("DataError", exc)
            sys.exit(0)
        sys.exit(1)
    """)
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to measure the interpreter's address space")
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": SRC},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "trailing bytes" in result.stdout and str(path) in result.stdout


def test_canonical_files_are_capped_at_their_known_size(tmp_path, monkeypatch):
    from fovea.data import load_mnist
    from fovea.data.mnist import IDX_BYTES

    assert IDX_BYTES["t10k-labels-idx1-ubyte"] == 10_008
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(_bomb(_header((10**6, 28, 28)), 1))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(_header((10_000,)) + bytes(10_000))
    with pytest.raises(DataError, match="more than the limit") as info:
        load_mnist("test", data_dir=tmp_path, download=False)
    assert "t10k-images-idx3-ubyte.gz" in str(info.value)


@pytest.mark.parametrize("dims", [(2**32 - 1,) * 3, (2**32 - 1,) * 8, (65536, 65536, 65536)])
def test_idx_dims_overflowing_int64_are_a_data_error_naming_the_file(tmp_path, dims):
    path = tmp_path / "x.idx"
    path.write_bytes(_header(dims, 0x0E) + bytes(16))
    with pytest.raises(DataError, match="truncated data") as info:
        read_idx(path)
    assert str(path) in str(info.value)
    with pytest.raises(DataError, match="truncated data"):
        idx.parse_idx(path.read_bytes(), path)


# ---- 2. only regular files, of bounded size ---------------------------------------------------
@pytest.fixture
def fifo(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_a_fifo_is_refused_without_blocking(fifo):
    for read in (read_image, read_idx, read_bytes):
        with pytest.raises(DataError, match="FIFO") as info:
            read(fifo)
        assert str(fifo) in str(info.value)
    with pytest.raises(FilterSpecError, match="FIFO"):
        read_kernel_file(fifo)
    with pytest.raises(FilterSpecError, match=f"kernel file {fifo}: is a FIFO"):
        build_kernel(f"file:{fifo}")


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dev_zero_is_refused_instead_of_read_forever():
    with pytest.raises(FilterSpecError, match="/dev/zero: is a character device"):
        build_kernel("file:/dev/zero")
    for read in (read_image, read_idx):
        with pytest.raises(DataError, match="/dev/zero: is a character device"):
            read("/dev/zero")


def test_files_over_the_limit_are_refused(tmp_path, monkeypatch):
    import fovea.filters.io as io_module
    import fovea.filters.spec as spec_module

    kernel = tmp_path / "k.txt"
    kernel.write_text("1 2 1\n" * 10)
    monkeypatch.setattr(spec_module, "MAX_KERNEL_FILE_BYTES", 20)
    with pytest.raises(FilterSpecError, match=r"k\.txt: 60 bytes, more than the limit"):
        read_kernel_file(kernel)
    image = write_image(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    monkeypatch.setattr(io_module, "MAX_IMAGE_FILE_BYTES", 10)
    with pytest.raises(DataError, match=r"a\.png: \d+ bytes, more than the limit of 10 bytes"):
        read_image(image)
    plain = tmp_path / "x.idx"
    plain.write_bytes(_header((4,)) + bytes(4))
    with pytest.raises(DataError, match="more than the limit"):
        read_bytes(plain, max_bytes=8)
    assert read_bytes(plain, max_bytes=12) == plain.read_bytes()


def cli(capsys, *args):
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = exc.code
    return code, *capsys.readouterr()


def test_filter_cli_gives_one_line_for_a_fifo_kernel_or_input(tmp_path, fifo, capsys):
    image = write_image(tmp_path / "in.png", np.zeros((8, 8), np.uint8))
    for args in ([image, "-o", tmp_path / "o.png", "-k", f"file:{fifo}"],
                 [fifo, "-o", tmp_path / "o.png", "-k", "box:size=3"]):
        code, out, err = cli(capsys, "filter", *args)
        assert code == 2 and "Traceback" not in err, err
        assert len(err.strip().splitlines()) == 1 and "FIFO" in err, err


# ---- 4. NaN filter results --------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_to_depth_refuses_nan_instead_of_casting_it(dtype):
    result = np.array([[1.0, np.nan], [300.0, -2.0]], np.float32)
    with pytest.raises(DataError, match="1 NaN values"):
        to_depth(result, dtype)
    assert to_depth(np.nan_to_num(result), dtype).tolist() == [[1, 0], [300 if dtype == np.uint16
                                                                        else 255, 0]]


def test_filter_cli_with_overflowing_kernels_gives_one_line_and_writes_nothing(tmp_path, capsys):
    image = write_image(tmp_path / "in.png", np.full((8, 8), 200, np.uint8))
    kernel = tmp_path / "k.txt"
    # 1e39 is inf and -inf in float32, so every output pixel sums inf − inf = NaN whatever the
    # order of the sum (3e38 weights overflow only in the products, and a fused multiply-add
    # keeps the last product exact: inf + (−6e40) = inf, no NaN)
    kernel.write_text("1e39 1e39 -1e39\n")
    out = tmp_path / "out.png"
    code, _, err = cli(capsys, "filter", image, "-o", out, "-k", f"file:{kernel}")
    assert code == 2 and "Traceback" not in err and "NaN" in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


# ---- 5. TOML configuration --------------------------------------------------------------------
@pytest.mark.parametrize(("text", "match"), [
    ('[train]\nepochs = 2\n[model]\nhidden = [3]\n', r"unknown table \[model\]"),
    ('[train]\nepochs = 2\n[train.extra]\nx = 1\n', r"unknown table \[train\.extra\]"),
    ('[optimiser]\nlr = 0.1\n', r"unknown table \[optimiser\]"),
    ('seed = 1\n[train]\nepochs = 2\n', "unknown key 'seed' beside"),
])
def test_unknown_toml_table_is_an_error_naming_it(tmp_path, text, match):
    from fovea.train.config import ConfigError, load_toml

    path = tmp_path / "run.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load_toml(path)
    assert str(path) in str(info.value)


def test_toml_config_must_be_a_regular_file(fifo):
    from fovea.train.config import ConfigError, load_toml

    with pytest.raises(ConfigError, match="FIFO"):
        load_toml(fifo)


# ---- 3. ImageFolder and symlinks --------------------------------------------------------------
@pytest.fixture
def two_classes(tmp_path):
    root = tmp_path / "root"
    for name, value in (("cat", 10), ("dog", 200)):
        (root / name).mkdir(parents=True)
        write_image(root / name / f"{name}.png", np.full((4, 4), value, np.uint8))
    return root


def test_image_folder_does_not_follow_symlink_loops(two_classes, tmp_path):
    from fovea.data.folder import ImageFolder

    root = two_classes
    (root / "cat" / "up").symlink_to(root, target_is_directory=True)       # back to the root
    (root / "cat" / "self").symlink_to(root / "cat", target_is_directory=True)
    (root / "dog" / "a").mkdir()
    (root / "dog" / "a" / "b").symlink_to(root / "dog", target_is_directory=True)
    (root / "dog" / "again.png").symlink_to(root / "dog" / "dog.png")  # one real image
    outside = tmp_path / "outside"
    outside.mkdir()
    write_image(outside / "x.png", np.full((4, 4), 99, np.uint8))
    (root / "cat" / "more").symlink_to(outside, target_is_directory=True)  # followed
    ds = ImageFolder(root)
    assert len(ds) == 3
    # each real image once, under the first of its paths in sorted order
    assert [(p.name, label) for p, label in ds.samples] == [("cat.png", 0), ("x.png", 0),
                                                          ("again.png", 1)]
    assert np.allclose(ds.arrays[0][:, 0, 0, 0] * 255, [10, 99, 200], atol=0.5)


def test_a_class_folder_linking_back_to_the_root_is_an_error(two_classes):
    from fovea.data.folder import ImageFolder

    (two_classes / "everything").symlink_to(two_classes, target_is_directory=True)
    with pytest.raises(DataError, match="everything: a symlink to .* loop"):
        ImageFolder(two_classes)


def test_dataset_fingerprint_walk_ends_on_a_symlink_loop(two_classes):
    from fovea.data.registry import _fingerprint

    (two_classes / "cat" / "l1").symlink_to(two_classes, target_is_directory=True)
    (two_classes / "dog" / "l2").symlink_to(two_classes, target_is_directory=True)
    assert len(_fingerprint(two_classes)) == 64


def test_mixed_sizes_message_names_no_missing_cli_option(two_classes):
    from fovea.data.folder import ImageFolder

    write_image(two_classes / "dog" / "z.png", np.zeros((5, 4), np.uint8))
    with pytest.raises(DataError, match=r"needs images of one size .*ImageFolder\(size=") as info:
        ImageFolder(two_classes)
    assert "--" not in str(info.value)


def test_a_fifo_among_a_folder_datasets_images_is_refused(two_classes):
    from fovea.data.folder import ImageFolder

    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    os.mkfifo(two_classes / "dog" / "pipe.png")
    with pytest.raises(DataError, match=r"pipe\.png: is a FIFO"):
        ImageFolder(two_classes)


# ---- mnist-mini from a path given by the caller -------------------------------------------
def test_mnist_mini_path_must_be_a_regular_file(tmp_path):
    from fovea.data.mini import load_mnist_mini

    fifo = tmp_path / "mini.npz"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="FIFO"):
        load_mnist_mini("train", fifo)


def test_mnist_mini_members_declaring_too_much_are_refused(tmp_path, monkeypatch):
    from fovea.data import mini

    path = tmp_path / "mini.npz"
    np.savez_compressed(path, train_images=np.zeros((4096, 28, 28), np.uint8),
                        train_labels=np.zeros(4096, np.uint8))
    monkeypatch.setattr(mini, "MAX_ASSET_BYTES", 1 << 20)  # the arrays unpack to 3.2 MB
    with pytest.raises(DataError, match="declare"):
        mini.load_mnist_mini("train", path)
