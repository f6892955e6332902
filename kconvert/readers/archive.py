"""Reading members of zip archives (Keras 3 ``.keras`` files, Deeplearning4j model zips) safely.

Archives are read in memory, never extracted.  Still, an archive another tool would extract must
not smuggle anything past us: member names that are absolute or climb out with ``..``, the same
name twice (zip readers disagree on which copy wins), and members whose declared size is over the
limits or implausible for their stored size (a "zip bomb") are refused before anything is
decompressed.
"""

from __future__ import annotations

import io
import zipfile
from types import TracebackType
from typing import Callable

from kconvert.errors import InputReadError
from kconvert.readers.context import Limits

# Errors zipfile raises for a damaged or unsupported archive; RuntimeError: an encrypted member.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, RuntimeError,
               ValueError)


class SafeZip:
    """A zip archive opened for reading named members, checked as a whole on opening."""

    def __init__(self, source: str | bytes, display: str, limits: Limits, what: str) -> None:
        self.display, self.limits, self.what = display, limits, what
        self._zip = self._guard(lambda: zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source))
        try:
            infos = self._zip.infolist()
            if len(infos) > limits.max_archive_members:
                raise self.error(f"the archive has {len(infos)} members, over the limit of "
                                 f"{limits.max_archive_members}")
            self.members: dict[str, zipfile.ZipInfo] = {}
            for info in infos:
                self._check_name(info.filename)
                if info.filename in self.members:
                    raise self.error(f"the archive holds two members named '{info.filename}'")
                self.members[info.filename] = info
            total = sum(info.file_size for info in infos)
            if total > limits.max_archive_total_bytes:
                raise self.error(f"the archive expands to {total} bytes, over the limit of "
                                 f"{limits.max_archive_total_bytes}")
        except BaseException:
            self._zip.close()
            raise

    def error(self, reason: str) -> InputReadError:
        return InputReadError(reason, file=self.display)

    def _guard(self, fn: Callable[[], object]) -> zipfile.ZipFile:
        try:
            return fn()  # type: ignore[return-value]
        except ZIP_ERRORS as exc:
            raise self.error(f"not a readable {self.what} ({' '.join(str(exc).split()) or type(exc).__name__})") \
                from None

    def _check_name(self, name: str) -> None:
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts or "\0" in name:
            raise self.error(f"archive member name {name!r} points outside the archive (absolute or '..')")

    def read(self, name: str) -> bytes | None:
        """The member's bytes (None when absent), after checking its declared size."""
        info = self.members.get(name)
        if info is None:
            return None
        if info.file_size > self.limits.max_archive_member_bytes or (
                info.file_size > 1024 * 1024
                and info.file_size > self.limits.max_compression_ratio * max(info.compress_size, 1)):
            raise self.error(f"archive member '{name}' declares {info.file_size} bytes from "
                             f"{info.compress_size} stored: refused")
        data: bytes = self._guard(lambda: self._zip.read(info))  # type: ignore[assignment]
        if len(data) != info.file_size:
            raise self.error(f"archive member '{name}' is not the size it declares")
        return data

    def __enter__(self) -> "SafeZip":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._zip.close()
