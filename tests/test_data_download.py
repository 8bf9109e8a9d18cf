"""Resumable, verified downloads against a real local HTTP server; MNIST download via mirrors."""

from __future__ import annotations

import gzip
import hashlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from fovea.data import load_mnist
from fovea.data import mnist as mnist_mod
from fovea.data.download import download, download_from_mirrors
from fovea.data.idx import to_idx_bytes
from fovea.errors import DataError

BODY = np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8).tobytes()
BODY_SHA = hashlib.sha256(BODY).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        srv = self.server
        rng = self.headers.get("Range")
        srv.log.append((self.path, rng))
        if self.path == "/slow":
            time.sleep(1.0)
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and srv.support_range:
            start = int(m.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.path in srv.truncate:
            payload = payload[: len(payload) // 2]
            self.close_connection = True
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
            return
        srv.sent.append(len(payload))

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


@pytest.fixture(scope="module")
def _server_instance():
    srv = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def server(_server_instance, monkeypatch):
    """The local server, reset: ``files`` maps paths to bodies; ``log`` records requests."""
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    srv = _server_instance
    srv.files, srv.log, srv.sent, srv.truncate = {"/f.bin": BODY, "/slow": BODY}, [], [], set()
    srv.support_range = True
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}"
    return srv


def _closed_port_url():
    probe = _Server(("127.0.0.1", 0), _Handler)
    port = probe.server_address[1]
    probe.server_close()
    return f"http://127.0.0.1:{port}"


# ---- download -------------------------------------------------------------------------------
def test_download_and_verify(server, tmp_path, capsys):
    dest = tmp_path / "sub" / "f.bin"
    out = download(f"{server.url}/f.bin", dest, expected_sha256=BODY_SHA)
    assert out == dest and dest.read_bytes() == BODY
    assert not (tmp_path / "sub" / "f.bin.part").exists()
    assert server.log == [("/f.bin", None)]
    assert "f.bin" in capsys.readouterr().err  # the progress bar


def test_download_without_progress(server, tmp_path, capsys):
    download(f"{server.url}/f.bin", tmp_path / "f.bin", progress=False)
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert capsys.readouterr().err == ""


def test_download_resumes_with_range(server, tmp_path):
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(BODY[:100_000])
    download(f"{server.url}/f.bin", dest, expected_sha256=BODY_SHA, progress=False)
    assert dest.read_bytes() == BODY
    assert server.log == [("/f.bin", "bytes=100000-")]
    assert server.sent == [200_000]


def test_download_restarts_when_server_ignores_range(server, tmp_path):
    server.support_range = False
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(b"junk" * 1000)
    download(f"{server.url}/f.bin", dest, expected_sha256=BODY_SHA, progress=False)
    assert dest.read_bytes() == BODY
    assert server.log == [("/f.bin", "bytes=4000-")] and server.sent == [len(BODY)]


def test_download_interrupted_then_resumed(server, tmp_path):
    dest, part = tmp_path / "f.bin", tmp_path / "f.bin.part"
    server.truncate = {"/f.bin"}
    with pytest.raises(DataError, match="connection closed") as info:
        download(f"{server.url}/f.bin", dest, expected_sha256=BODY_SHA, progress=False)
    assert "/f.bin" in str(info.value)
    assert not dest.exists() and part.read_bytes() == BODY[: len(BODY) // 2]
    server.truncate = set()
    download(f"{server.url}/f.bin", dest, expected_sha256=BODY_SHA, progress=False)
    assert dest.read_bytes() == BODY and not part.exists()
    assert server.log[-1] == ("/f.bin", f"bytes={len(BODY) // 2}-")


def test_download_stale_complete_part_gets_416_and_restarts(server, tmp_path):
    (tmp_path / "f.bin.part").write_bytes(b"x" * (len(BODY) + 10))
    download(f"{server.url}/f.bin", tmp_path / "f.bin", expected_sha256=BODY_SHA, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert [r for _, r in server.log] == [f"bytes={len(BODY) + 10}-", None]


def test_download_bad_resumed_part_is_fetched_whole_again(server, tmp_path):
    (tmp_path / "f.bin.part").write_bytes(b"\x00" * 5000)  # e.g. from another mirror
    download(f"{server.url}/f.bin", tmp_path / "f.bin", expected_sha256=BODY_SHA, progress=False)
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert [r for _, r in server.log] == ["bytes=5000-", None]


def test_download_checksum_mismatch_leaves_nothing(server, tmp_path):
    dest = tmp_path / "f.bin"
    with pytest.raises(DataError, match="SHA-256 mismatch") as info:
        download(f"{server.url}/f.bin", dest, expected_sha256="0" * 64, progress=False)
    assert "/f.bin" in str(info.value) and BODY_SHA in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_download_verify_callback_rejects(server, tmp_path):
    def verify(path):
        raise DataError(f"{path}: not what I wanted")

    with pytest.raises(DataError, match="not what I wanted"):
        download(f"{server.url}/f.bin", tmp_path / "f.bin", verify=verify, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_download_404(server, tmp_path):
    with pytest.raises(DataError, match="HTTP 404") as info:
        download(f"{server.url}/missing.bin", tmp_path / "m.bin", progress=False)
    assert "/missing.bin" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_download_timeout(server, tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(DataError, match="timed out"):
        download(f"{server.url}/slow", tmp_path / "s.bin", progress=False, timeout=0.2)
    assert time.perf_counter() - t0 < 1.0


def test_mirrors_404_then_success(server, tmp_path):
    dest = tmp_path / "f.bin"
    out = download_from_mirrors(
        [f"{server.url}/nothing/", server.url],
        "f.bin",
        dest,
        expected_sha256=BODY_SHA,
        progress=False,
    )
    assert out.read_bytes() == BODY
    assert [p for p, _ in server.log] == ["/nothing/f.bin", "/f.bin"]


def test_mirrors_all_fail(server, tmp_path):
    dead = _closed_port_url()
    with pytest.raises(DataError, match="could not download f.bin") as info:
        download_from_mirrors(
            [f"{server.url}/a", f"{server.url}/b/", dead],
            "f.bin",
            tmp_path / "f.bin",
            progress=False,
            timeout=2,
        )
    msg = str(info.value)
    assert f"{server.url}/a/f.bin: HTTP 404" in msg and f"{server.url}/b/f.bin" in msg
    assert f"{dead}/f.bin" in msg
    assert list(tmp_path.iterdir()) == []


# ---- MNIST through mirrors ------------------------------------------------------------------
@pytest.fixture
def fake_mnist(server, monkeypatch):
    """Small generated MNIST test files served at /m1/ (gzip level 1) and /m2/ (level 9)."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    labels = (np.arange(30) % 10).astype(np.uint8)
    for name, arr in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        raw = to_idx_bytes(arr)
        monkeypatch.setitem(mnist_mod.SHA256_UNCOMPRESSED, name, hashlib.sha256(raw).hexdigest())
        server.files[f"/m1/{name}.gz"] = gzip.compress(raw, compresslevel=1)
        server.files[f"/m2/{name}.gz"] = gzip.compress(raw, compresslevel=9, mtime=0)
        bad = bytearray(raw)
        bad[-1] ^= 1
        server.files[f"/bad/{name}.gz"] = gzip.compress(bytes(bad))
    monkeypatch.delenv(mnist_mod.MIRRORS_ENV, raising=False)
    return images, labels.astype(np.int64)


def test_load_mnist_downloads_from_second_mirror(server, fake_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv(mnist_mod.MIRRORS_ENV, f"{server.url}/none/, {server.url}/m2/")
    images, labels = load_mnist("test", data_dir=tmp_path, progress=False)
    assert np.array_equal(images, fake_mnist[0]) and np.array_equal(labels, fake_mnist[1])
    assert labels.dtype == np.int64
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ]
    assert [p for p, _ in server.log] == [
        "/none/t10k-images-idx3-ubyte.gz",
        "/m2/t10k-images-idx3-ubyte.gz",
        "/none/t10k-labels-idx1-ubyte.gz",
        "/m2/t10k-labels-idx1-ubyte.gz",
    ]
    server.log.clear()
    load_mnist("test", data_dir=tmp_path, download=False)
    assert server.log == []


def test_load_mnist_default_dir_and_module_mirrors(server, fake_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("FOVEA_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist_mod, "MIRRORS", [f"{server.url}/m1/"])
    images, _ = load_mnist("test", progress=False)
    assert np.array_equal(images, fake_mnist[0])
    assert (tmp_path / "cache" / "mnist" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_load_mnist_wrong_content_mirror_is_skipped(server, fake_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv(mnist_mod.MIRRORS_ENV, f"{server.url}/bad/,{server.url}/m1/")
    _, labels = load_mnist("test", data_dir=tmp_path, progress=False)
    assert np.array_equal(labels, fake_mnist[1])
    assert not any(p.name.endswith(".part") for p in tmp_path.iterdir())


def test_load_mnist_all_mirrors_fail(server, fake_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv(mnist_mod.MIRRORS_ENV, f"{server.url}/none/,{server.url}/bad/")
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz") as info:
        load_mnist("test", data_dir=tmp_path, progress=False)
    msg = str(info.value)
    assert "/none/t10k-images-idx3-ubyte.gz: HTTP 404" in msg
    assert "/bad/t10k-images-idx3-ubyte.gz" in msg and "SHA-256 mismatch" in msg
    assert list(tmp_path.iterdir()) == []
