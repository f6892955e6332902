"""Atomic output: a writer fills private temporary files or directories that replace the targets
at the end.

A conversion that fails half-way (an incompatible layer found late, a full disk, Ctrl-C) leaves
no partial model behind, and an existing model is replaced only once its successor is complete.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


def remove_staged(target: str | os.PathLike[str]) -> None:
    """Remove what a writer that died mid-way (killed, or crashed in a C library) staged beside
    ``target``: the writers above clean up after themselves only while their process lives."""
    path = Path(target)
    parent = path.parent if str(path.parent) else Path(".")
    for staged in parent.glob(f".{glob.escape(path.name)}.*.partial"):
        if staged.is_dir() and not staged.is_symlink():
            shutil.rmtree(staged, ignore_errors=True)
        else:
            staged.unlink(missing_ok=True)


def identity(target: str | os.PathLike[str]) -> tuple[int, int, int] | None:
    """What is at ``target`` (device, inode, modification time), None when nothing is: a writer
    killed mid-way is told from one that finished by comparing it before and after."""
    try:
        found = os.lstat(target)
    except OSError:
        return None
    return found.st_dev, found.st_ino, found.st_mtime_ns


def remove_unfinished(target: str | os.PathLike[str], before: tuple[int, int, int] | None) -> None:
    """Remove what a model killed mid-way (a time limit, a crash) wrote for ``target``: what it
    staged, and ``target`` itself when it installed one (it is no longer what was there ``before``)."""
    remove_staged(target)
    if identity(target) not in (None, before):
        path = Path(target)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


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


@contextmanager
def atomic_files(targets: list[Path], overwrite: bool = False) -> Iterator[list[Path]]:
    """Yield a temporary path beside each target; on success each replaces its target, on error
    all are removed.  A target that exists is refused unless ``overwrite``."""
    for path in targets:
        if path.is_dir():
            raise OutputError("the output path is a directory, not a file", file=str(path))
        if path.exists() and not overwrite:
            raise OutputError("the output file exists (use --overwrite / overwrite=True to replace it)",
                              file=str(path))
    staged: list[Path] = []
    try:
        for path in targets:
            parent = path.parent if str(path.parent) else Path(".")
            parent.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=parent)
            os.close(handle)
            staged.append(Path(name))
        yield staged
        for temp, path in zip(staged, targets):
            os.chmod(temp, 0o666 & ~_umask())
            os.replace(temp, path)
    except OSError as exc:
        for temp in staged:
            temp.unlink(missing_ok=True)
        raise OutputError(f"cannot write the output ({exc.strerror or exc})", file=str(targets[0])) from None
    except BaseException:
        for temp in staged:
            temp.unlink(missing_ok=True)
        raise
