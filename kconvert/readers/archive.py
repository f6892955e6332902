"""Reading members of zip archives (Keras 3 ``.keras`` files, Deeplearning4j model zips) safely.

Archives are read in memory, never extracted.  Still, an archive another tool would extract must
not smuggle anything past us: member names that are absolute, climb out with ``..`` or hold a NUL
(Python's zipfile cuts a name there, Java's does not), the same name twice (zip readers disagree
on which copy wins), compression methods neither format writes, and members whose declared size
is over the limits or implausible for their stored size (a "zip bomb") are refused before
anything is decompressed.  A header can lie, so members are then decompressed here, in bounded
chunks, and refused the moment they yield more than they declare.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Iterator
from types import TracebackType
from typing import BinaryIO, Callable

from kconvert.errors import InputReadError
from kconvert.readers.context import Limits
from kconvert.readers.files import CHUNK, open_input

# Errors zipfile raises for a damaged or unsupported archive; RuntimeError: an encrypted member.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, RuntimeError,
              ValueError)
#: the methods the formats write: Keras 3 (Python's zipfile) and Deeplearning4j (java.util.zip)
#: store or deflate; others (bzip2 and LZMA, whose Python decompressors take no output bound) are refused
METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
_METHOD_NAMES = {1: "shrink", 6: "implode", 9: "deflate64", 12: "bzip2", 14: "LZMA", 93: "Zstandard", 95: "xz",
                 98: "PPMd", 99: "AES encryption"}
_ENCRYPTED = 0x01 | 0x40  # traditional and strong encryption flag bits
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")


class SafeZip:
    """A zip archive opened for reading named members, checked as a whole on opening."""

    def __init__(self, source: str | bytes, display: str, limits: Limits, what: str) -> None:
        self.display, self.limits, self.what = display, limits, what
        self._fh: BinaryIO = io.BytesIO(source) if isinstance(source, bytes) else open_input(source, display)
        try:
            self._zip = self._guard(lambda: zipfile.ZipFile(self._fh))
            infos = self._zip.infolist()
            if len(infos) > limits.max_archive_members:
                raise self.error(f"the archive has {len(infos)} members, over the limit of "
                                 f"{limits.max_archive_members}")
            self.members: dict[str, zipfile.ZipInfo] = {}
            for info in infos:
                self._check_member(info)
                if info.filename in self.members:
                    raise self.error(f"the archive holds two members named '{info.filename}'")
                self.members[info.filename] = info
            total = sum(info.file_size for info in infos)
            if total > limits.max_archive_total_bytes:
                raise self.error(f"the archive expands to {total} bytes, over the limit of "
                                 f"{limits.max_archive_total_bytes}")
        except BaseException:
            self._fh.close()
            raise

    def error(self, reason: str) -> InputReadError:
        return InputReadError(reason, file=self.display)

    def _guard(self, fn: Callable[[], object]) -> zipfile.ZipFile:
        try:
            return fn()  # type: ignore[return-value]
        except ZIP_ERRORS as exc:
            raise self.unreadable(' '.join(str(exc).split()) or type(exc).__name__) from None

    def unreadable(self, why: str) -> InputReadError:
        return self.error(f"not a readable {self.what} ({why})")

    def _check_member(self, info: zipfile.ZipInfo) -> None:
        """Refuse a member by its name (the whole name as stored: zipfile's ``filename`` stops at a
        NUL), its method and its flags, before anything is read."""
        name = info.orig_filename
        parts = name.replace("\\", "/").split("/")
        if "\0" in name:
            raise self.error(f"archive member name {name!r} holds a NUL byte (zip readers disagree on where it ends)")
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts:
            raise self.error(f"archive member name {name!r} points outside the archive (absolute or '..')")
        if info.compress_type not in METHODS:
            method = _METHOD_NAMES.get(info.compress_type, f"method {info.compress_type}")
            raise self.error(f"archive member '{name}' is compressed with {method}; {self.what}s are stored or "
                             "deflated, and kconvert reads nothing else")
        if info.flag_bits & _ENCRYPTED:
            raise self.unreadable(f"member '{name}' is encrypted")

    def read(self, name: str) -> bytes | None:
        """The member's bytes (None when absent), after checking its declared size; decompressed in
        chunks and refused as soon as it yields more than it declares."""
        info = self.members.get(name)
        if info is None:
            return None
        if info.file_size > self.limits.max_archive_member_bytes or (
                info.file_size > 1024 * 1024
                and info.file_size > self.limits.max_compression_ratio * max(info.compress_size, 1)):
            raise self.error(f"archive member '{name}' declares {info.file_size} bytes from "
                             f"{info.compress_size} stored: refused")
        data = bytearray()
        crc = 0
        for chunk in self._chunks(info):
            data += chunk
            crc = zlib.crc32(chunk, crc)
            if len(data) > info.file_size:
                raise self.error(f"archive member '{name}' expands past the {info.file_size} bytes it declares: "
                                 "refused")
        if len(data) != info.file_size:
            raise self.error(f"archive member '{name}' is not the size it declares")
        if crc != info.CRC:
            raise self.unreadable(f"bad CRC-32 for member '{name}'")
        return bytes(data)

    def _chunks(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """The member's data, at most :data:`CHUNK` bytes at a time, from its stored bytes."""
        inflate = zlib.decompressobj(-zlib.MAX_WBITS) if info.compress_type == zipfile.ZIP_DEFLATED else None
        try:
            for raw in self._stored(info):
                while raw:
                    out = raw if inflate is None else inflate.decompress(raw, CHUNK)
                    raw = b"" if inflate is None else inflate.unconsumed_tail
                    yield out
                    if inflate is not None and inflate.eof:
                        return
            while inflate is not None and (out := inflate.decompress(b"", CHUNK)):
                yield out  # what zlib still holds once every stored byte went in
        except zlib.error as exc:
            raise self.unreadable(f"member '{info.orig_filename}': {exc}") from None
        if inflate is not None and not inflate.eof:
            raise self.unreadable(f"member '{info.orig_filename}' ends before its deflate stream does")

    def _stored(self, info: zipfile.ZipInfo) -> Iterator[bytes]:
        """The member's stored (compressed) bytes, in chunks, after its local header, which must
        agree with the central directory on the name."""
        self._fh.seek(info.header_offset)
        header = self._fh.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
            raise self.unreadable(f"member '{info.orig_filename}' has no local header where the directory says")
        name_length, extra_length = _LOCAL_HEADER.unpack(header)[-2:]
        encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
        if self._fh.read(name_length) != info.orig_filename.encode(encoding):
            raise self.unreadable(f"member '{info.orig_filename}' is named otherwise in its local header")
        self._fh.seek(extra_length, io.SEEK_CUR)
        left = info.compress_size
        while left > 0:
            raw = self._fh.read(min(CHUNK, left))
            if not raw:
                raise self.unreadable(f"member '{info.orig_filename}' is truncated")
            left -= len(raw)
            yield raw

    def __enter__(self) -> "SafeZip":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._zip.close()
        self._fh.close()
