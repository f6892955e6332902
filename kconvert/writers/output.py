"""Atomic output: a writer fills a private temporary directory that replaces the target at the end.

A conversion that fails half-way (an incompatible layer found late, a full disk, Ctrl-C) leaves
no partial model behind, and an existing model is replaced only once its successor is complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from kconvert.errors import KConvertError


class OutputError(KConvertError):
    """The output location cannot be used (exists, is a file, is not writable)."""


def check_target(path: Path, overwrite: bool) -> None:
    """Refuse an output path that holds something, unless ``overwrite`` (checked before any work)."""
    if path.is_symlink():
        raise OutputError("the output path is a symbolic link; give a real directory", file=str(path))
    if path.exists() and not path.is_dir():
        raise OutputError("the output path is an existing file, not a directory", file=str(path))
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise OutputError("the output directory exists and is not empty (use --overwrite / overwrite=True to "
                          "replace it)", file=str(path))


@contextmanager
def atomic_directory(target: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a fresh directory beside ``target``; on success it becomes ``target``, on error it is removed.

    With ``overwrite``, a non-empty ``target`` is moved aside and deleted only after the new
    directory is in place, so an interrupted replacement never loses both.
    """
    path = Path(target)
    check_target(path, overwrite)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the parent directory ({exc.strerror})", file=str(path)) from None
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=parent))
    except OSError as exc:
        raise OutputError(f"cannot write beside the output directory ({exc.strerror})", file=str(path)) from None
    try:
        yield staging
        os.chmod(staging, 0o777 & ~_umask())  # mkdtemp makes it private; give it the usual mode
        _install(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _install(staging: Path, path: Path) -> None:
    if path.is_dir():
        backup = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=staging.parent))
        backup.rmdir()
        os.rename(path, backup)
        try:
            os.rename(staging, path)
        except BaseException:
            os.rename(backup, path)
            raise
        shutil.rmtree(backup, ignore_errors=True)
    else:
        os.rename(staging, path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
