"""Opening files named from outside: regular files only, of bounded size.

A FIFO would block the reader forever and ``/dev/zero`` never ends, so a path is opened
non-blocking and checked with ``fstat`` on the open descriptor (no window between the check
and the read) before a byte is read; the reads stop at the size limit.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from .errors import DataError

__all__ = ["open_regular", "read_regular", "read_at_most", "MAX_IMAGE_FILE_BYTES"]

MAX_IMAGE_FILE_BYTES = 2**30
"""The largest image file read (1 GiB); Pillow's own ``Image.MAX_IMAGE_PIXELS`` guard refuses
a small file that decodes to a huge image."""

_KINDS = ((stat.S_ISDIR, "is a directory"), (stat.S_ISFIFO, "is a FIFO (named pipe)"),
          (stat.S_ISCHR, "is a character device"), (stat.S_ISBLK, "is a block device"),
          (stat.S_ISSOCK, "is a socket"))


def _limit_text(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n} bytes"


def read_at_most(f, n: int, chunk: int = 1 << 20) -> bytes:
    """Up to ``n`` bytes of the binary stream ``f``, read in chunks, so that the memory taken
    follows the bytes that exist rather than ``n`` (``f.read(n)`` allocates ``n`` up front)."""
    parts, left = [], n
    while left > 0:
        part = f.read(min(chunk, left))
        if not part:
            break
        parts.append(part)
        left -= len(part)
    return b"".join(parts)


def open_regular(path, max_bytes: int, label=None, error=DataError, missing="no such file",
                 follow_symlinks=True):
    """``path`` opened for binary reading, once ``fstat`` shows a regular file of at most
    ``max_bytes`` bytes; otherwise ``error`` whose message starts with ``label`` (the path).
    With ``follow_symlinks=False`` a symbolic link at ``path`` is refused too."""
    label = str(path) if label is None else label
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(Path(path), flags)
    except FileNotFoundError:
        raise error(f"{label}: {missing}") from None
    except PermissionError:
        raise error(f"{label}: permission denied") from None
    except OSError as exc:
        if not follow_symlinks and os.path.islink(path):
            raise error(f"{label}: is a symbolic link, not a regular file") from None
        raise error(f"{label}: cannot open ({exc.strerror or exc})") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((text for test, text in _KINDS if test(st.st_mode)), "is not a file")
            raise error(f"{label}: {kind}, not a regular file")
        if st.st_size > max_bytes:
            raise error(f"{label}: {st.st_size} bytes, more than the limit of "
                        f"{_limit_text(max_bytes)}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path, max_bytes: int, label=None, error=DataError,
                 missing="no such file", follow_symlinks=True) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them (a file that grows
    past the limit while read is refused too); failures as :func:`open_regular`."""
    label = str(path) if label is None else label
    with open_regular(path, max_bytes, label, error, missing, follow_symlinks) as f:
        try:
            data = read_at_most(f, max_bytes + 1)
        except OSError as exc:
            raise error(f"{label}: cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise error(f"{label}: more than the limit of {_limit_text(max_bytes)}")
    return data
