"""Files between the driver and a worker that does not see the driver's file system.

A model's source (a file, or a directory such as a TF.js model) travels to the worker as the bytes
of an uncompressed tar, and what the worker wrote comes back the same way; both are bounded
(:data:`MAX_SHIP_BYTES`) so that one huge file cannot fill the object store.  The worker runs the
model on private copies whose file names are the driver's, so every message and report names the
same files; :func:`translate` then puts the driver's folders back in place of the worker's.
Whether a worker sees the driver's files is told by :class:`Fingerprint` (the inputs, by size and
modification time) and a token file the driver writes into the output folder.
"""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the most bytes one model's files may weigh when sent to or from a worker (a model larger than
#: this is that model's error; a cluster whose nodes share the driver's files sends none)
MAX_SHIP_BYTES = 4 * 1024**3


class TooLarge(Exception):
    """What is to be sent weighs more than :data:`MAX_SHIP_BYTES`."""


def files_of(path: Path) -> list[Path]:
    """The regular files a source or export is made of: itself, or those below it."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file())
    return [path]


def pack(entries: Mapping[str, Path], limit: int = MAX_SHIP_BYTES) -> bytes:
    """A tar holding each path (a file, or a directory and what is below it) under its name."""
    files = {name: files_of(path) for name, path in entries.items()}
    total = sum(f.stat().st_size for listed in files.values() for f in listed)
    if total > limit:
        raise TooLarge(f"{total} bytes to send to or from a cluster worker, over the {limit}-byte limit")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, path in entries.items():
            if path.is_dir():
                tar.add(path, arcname=name, recursive=False)
            for file in files[name]:
                arcname = name if file == path else f"{name}/{file.relative_to(path).as_posix()}"
                tar.add(file, arcname=arcname, recursive=False)
    return buffer.getvalue()


def unpack(data: bytes, folder: Path) -> list[str]:
    """Write a :func:`pack` tar below ``folder`` (nothing may land outside it); the top-level names."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r") as tar:
        tar.extractall(folder, filter="data")
        return list(dict.fromkeys(member.name.split("/", 1)[0] for member in tar.getmembers()))


@dataclass(frozen=True)
class Fingerprint:
    """A file as the driver sees it: a worker that sees the same path, size and modification time
    sees the same file."""

    path: str
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> Fingerprint:
        found = os.stat(path)
        return cls(str(path), found.st_size, found.st_mtime_ns)

    def holds(self) -> bool:
        try:
            return Fingerprint.of(Path(self.path)) == self
        except OSError:
            return False


def fingerprints(paths: Iterable[Path]) -> list[Fingerprint]:
    """The fingerprints of every file the paths (files or directories) are made of."""
    return [Fingerprint.of(f) for path in paths for f in files_of(path)]


def translate(value: Any, places: Mapping[str, str]) -> Any:
    """``value`` (a string, or lists and dicts of them) with each worker path in ``places``
    replaced by the driver's; longer paths first, so a file's path wins over its folder's."""
    order = sorted(places, key=len, reverse=True)
    if isinstance(value, str):
        for local in order:
            value = value.replace(local, places[local])
        return value
    if isinstance(value, list):
        return [translate(v, places) for v in value]
    if isinstance(value, dict):
        return {k: translate(v, places) for k, v in value.items()}
    return value
