"""Where a tensor's bytes lie in its source file, for writers that copy them unchanged.

An HDF5 dataset stored contiguously and unfiltered, in a standard little-endian type, holds its
values at one byte range of the file, in C order, exactly as TF.js (and numpy) lay them out.
Reading that range with plain file reads into one small reused buffer is the copy limit: it skips
HDF5's hyperslab machinery and a fresh array per slice (see ``bench/memory.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from kconvert.errors import InputReadError
from kconvert.readers.files import open_input

#: bytes read per piece: small enough that reading a piece, checking it and writing it stay in the
#: CPU cache (VGG16 to TF.js measured 3-6x slower with 8 MiB pieces than with 1 MiB ones)
RAW_BYTES = 2**20


@dataclass(frozen=True)
class Extent:
    """``nbytes`` bytes at ``offset`` of ``source`` (a file's path, or its bytes when the model was
    read from memory)."""

    source: str | bytes
    offset: int
    nbytes: int

    def pieces(self, buffer: memoryview) -> Iterator[memoryview]:
        """The range in consecutive pieces of ``len(buffer)`` bytes (the last may be shorter), read
        into ``buffer`` -- each piece is valid until the next is asked for -- or, for a source in
        memory, views of it."""
        step, end = len(buffer), self.offset + self.nbytes
        if isinstance(self.source, bytes):
            data = memoryview(self.source)
            for start in range(self.offset, end, step):
                yield data[start:min(start + step, end)]
            return
        with open_input(self.source) as fh:  # the file may have been swapped since: a regular file still
            fh.seek(self.offset)
            for start in range(self.offset, end, step):
                piece = buffer[:min(step, end - start)]
                got = 0
                while got < len(piece):
                    n = fh.readinto(piece[got:])
                    if not n:
                        raise InputReadError(f"the file ends inside a weight's data (byte {start + got})",
                                             file=self.source)
                    got += n
                yield piece
