"""Which companion module a TF.js runtime started by kconvert may load: kconvert's own, and only that.

A TF.js directory is an input like any other, and a ``kconvert-layers.js`` in it is code.  Node (the
harness's ``predict.js``) and the browser page would run it with the rights of whoever checks the
model, so the runners never hand them the directory's file: a copy byte-identical to the packaged
module gets the packaged module loaded instead (what was compared is what runs, however the file
changes afterwards), and anything else by that name is refused.  This module is the one place
that rule lives; the Node runner, the browser page, ``verify`` and ``check`` (one model or a batch)
all ask it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kconvert.errors import ForeignCodeError
from kconvert.formats.tfjs import COMPANION_FILE
from kconvert.writers.tfjs.companion import PACKAGED, source

#: what a refusal advises
_ADVICE = "kconvert runs no JavaScript but its own: remove the file, or convert the model again to get kconvert's"


def vetted_companion(model: str | os.PathLike[str]) -> Path | None:
    """The module to load before the TF.js model at ``model`` (its directory or ``model.json``): the
    packaged module when the directory holds an exact copy of it, None when it holds nothing named
    ``kconvert-layers.js``.  Raises :class:`ForeignCodeError` naming the file for anything else of
    that name: other bytes, a symbolic link, a directory, a pipe or a device."""
    path = Path(model)
    module = (path if path.is_dir() else path.parent) / COMPANION_FILE
    expected = source()
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)  # a pipe does not block
    try:
        fd = os.open(module, flags)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ForeignCodeError(("is a symbolic link, not kconvert's companion module; " if module.is_symlink()
                                else f"cannot be read ({exc.strerror}); ") + _ADVICE, file=str(module)) from None
    try:
        mode = os.fstat(fd).st_mode  # of what was opened: no window between looking and reading
        if not stat.S_ISREG(mode):
            raise ForeignCodeError(f"is not a regular file, not kconvert's companion module; {_ADVICE}",
                                   file=str(module))
        data = _read(fd, len(expected) + 1)  # one byte more than kconvert's tells a longer file apart
    finally:
        os.close(fd)
    if data != expected:
        raise ForeignCodeError(f"is not kconvert's companion module (its bytes differ from the {COMPANION_FILE} "
                               f"this kconvert writes); {_ADVICE}", file=str(module))
    return PACKAGED


def _read(fd: int, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``fd``."""
    chunks: list[bytes] = []
    left = limit
    while left > 0:
        chunk = os.read(fd, left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
