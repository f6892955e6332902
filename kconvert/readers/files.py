"""The one way kconvert opens an input file: a regular file after following links, read bounded.

A path can name a FIFO (opening it blocks until a writer comes, reading it may never end), a
character device (``/dev/zero`` reads for ever), a socket or a directory, directly or through a
symbolic link.  Every input kconvert reads -- model, ``--weights``, archives, TF.js ``model.json``
and its shards, inputs files, batch entries -- is opened here: without blocking (``O_NONBLOCK``,
so that a FIFO cannot stall the open itself), then checked on the open descriptor (no race with a
rename between check and open), and refused with an :class:`InputReadError` unless it is a regular
file.  Libraries that open paths themselves (h5py) are handed a path checked here first.
"""

from __future__ import annotations

import os
import stat
from typing import BinaryIO

from kconvert.errors import InputReadError

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))
CHUNK = 1 << 20  # bytes read at a time: what a bounded read allocates beyond what it keeps
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def open_input(path: str | os.PathLike[str], display: str | None = None) -> BinaryIO:
    """``path`` opened for reading in binary; InputReadError when it is missing, unreadable, or
    anything but a regular file once links are followed."""
    shown = display or os.fspath(path)
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        raise InputReadError(f"cannot read the file ({exc.strerror or type(exc).__name__})", file=shown) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise InputReadError(f"is {kind}, not a regular file: kconvert reads model files only", file=shown)
        if _FLAGS & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def checked_path(path: str | os.PathLike[str], display: str | None = None) -> int:
    """Check ``path`` as :func:`open_input` does, for a library that opens it by name; its size."""
    with open_input(path, display) as fh:
        return os.fstat(fh.fileno()).st_size


def read_bounded(fh: BinaryIO, limit: int, display: str, what: str) -> bytes:
    """The rest of ``fh``, refused when over ``limit`` bytes (never more than ``limit + 1`` read,
    whatever the file's size said before: it may grow while it is read)."""
    data = bytearray()
    while chunk := fh.read(min(CHUNK, limit + 1 - len(data))):
        data += chunk
        if len(data) > limit:
            raise InputReadError(f"the file is over the {limit}-byte limit for {what}", file=display)
    return bytes(data)


def read_input(path: str | os.PathLike[str], limit: int, what: str, display: str | None = None) -> bytes:
    """A whole (small) input file, opened by :func:`open_input` and read by :func:`read_bounded`."""
    shown = display or os.fspath(path)
    with open_input(path, shown) as fh:
        return read_bounded(fh, limit, shown, what)
