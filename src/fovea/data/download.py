"""Resumable, verified downloads over HTTP(S) with urllib, and a loop over mirrors.

A download streams to ``<dest>.part``; an interrupted one is resumed with an HTTP Range request
when the server answers 206 (else it restarts). The file is fsynced and renamed to its final
name only when complete and verified, so a final path never holds a partial or bad file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from ..errors import DataError

DEFAULT_TIMEOUT = 30.0
"""Seconds to wait for a connection or for the next bytes of a response."""

_CHUNK = 1 << 16
_USER_AGENT = "fovea (+https://github.com/fovea)"


def sha256_file(path) -> str:
    """The hex SHA-256 of the bytes of ``path``."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        if not isinstance(exc.reason, BaseException):
            return str(exc.reason)
        exc = exc.reason
    if isinstance(exc, TimeoutError):
        return f"timed out (no answer in {timeout:g} s)"
    if isinstance(exc, http.client.IncompleteRead):
        return "connection closed before the end of the file"
    return str(exc) or type(exc).__name__


def _open(url: str, offset: int, timeout: float):
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _fetch(url: str, part: Path, progress: bool, timeout: float) -> bool:
    """Stream ``url`` into ``part``, resuming it if it exists; True if it resumed."""
    offset = part.stat().st_size if part.exists() else 0
    try:
        resp = _open(url, offset, timeout)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not offset:
            raise
        exc.close()  # range not satisfiable: the partial file is stale, start again
        part.unlink()
        offset, resp = 0, _open(url, 0, timeout)
    with resp:
        resumed = bool(offset) and resp.status == 206
        if resumed and not resp.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            resp.close()
            part.unlink()
            return _fetch(url, part, progress, timeout)
        if not resumed:
            offset = 0
        length = resp.headers.get("Content-Length")
        remaining = int(length) if length and length.isdigit() else None
        total = None if remaining is None else offset + remaining
        got = 0
        with (
            open(part, "ab" if resumed else "wb") as f,
            tqdm(
                total=total,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name.removesuffix(".part"),
                disable=not progress,
                dynamic_ncols=True,
            ) as bar,
        ):
            while chunk := resp.read(_CHUNK):
                f.write(chunk)
                got += len(chunk)
                bar.update(len(chunk))
            f.flush()
            os.fsync(f.fileno())
    if remaining is not None and got != remaining:
        raise DataError(
            f"{url}: connection closed after {offset + got} of {total} bytes "
            f"(kept {part.name} to resume)"
        )
    return resumed


def _check(part: Path, url: str, expected_sha256, verify) -> None:
    if expected_sha256 is not None:
        got = sha256_file(part)
        if got != expected_sha256.lower():
            raise DataError(
                f"{url}: SHA-256 mismatch (expected {expected_sha256}, got {got}); "
                "the download was discarded"
            )
    if verify is not None:
        try:
            verify(part)
        except DataError as exc:
            raise DataError(f"{url}: {exc}") from None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def download(
    url: str,
    dest_path,
    expected_sha256: str | None = None,
    progress: bool = True,
    verify=None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Download ``url`` to ``dest_path`` and return it.

    ``expected_sha256`` checks the downloaded bytes; ``verify(path)`` may check them further
    (e.g. the content of a gzip file) and raises DataError to reject them. A rejected file is
    deleted; a file resumed from an old ``.part`` that fails is fetched whole once more. Network
    failures raise DataError naming the URL, keeping the ``.part`` file for a later resume.
    """
    dest = Path(dest_path)
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(2):
            resumed = _fetch(url, part, progress, timeout)
            try:
                _check(part, url, expected_sha256, verify)
                break
            except DataError:
                part.unlink(missing_ok=True)
                if not resumed or attempt:
                    raise
        os.replace(part, dest)
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise DataError(f"{url}: {_describe(exc, timeout)}") from None
    _fsync_dir(dest.parent)
    return dest


def mirror_url(mirror: str, filename: str) -> str:
    """``filename`` under the base URL ``mirror``."""
    return mirror if mirror.endswith(filename) else mirror.rstrip("/") + "/" + filename


def download_from_mirrors(
    mirrors,
    filename: str,
    dest_path,
    expected_sha256: str | None = None,
    progress: bool = True,
    verify=None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Try ``download(mirror/filename, dest_path, ...)`` for each mirror in order.

    Raises DataError listing every URL tried and why it failed when none succeeds.
    """
    dest = Path(dest_path)
    part = dest.with_name(dest.name + ".part")
    errors = []
    for i, mirror in enumerate(mirrors):
        if i:  # a partial file from another mirror cannot be resumed: its bytes may differ
            part.unlink(missing_ok=True)
        try:
            return download(
                mirror_url(mirror, filename),
                dest,
                expected_sha256=expected_sha256,
                progress=progress,
                verify=verify,
                timeout=timeout,
            )
        except DataError as exc:
            errors.append(str(exc))
    if not errors:
        raise DataError(f"cannot download {filename}: no mirrors configured")
    tried = "\n  ".join(errors)
    raise DataError(f"could not download {filename} to {dest}; tried:\n  {tried}")
