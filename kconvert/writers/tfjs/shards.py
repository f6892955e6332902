"""Weight data as TF.js reads it: one byte stream in manifest order, cut into fixed-size shards.

TF.js concatenates a group's shards and slices the result by each entry's byte size, so entries
may straddle shard boundaries.  Sizes are known from shapes and dtypes before any data is read,
so the shard count (part of every file name) is fixed up front and each tensor is streamed to
disk and released before the next one is read.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np

from kconvert.formats.tfjs import shard_names


class ShardWriter:
    """Writes a byte stream of known total length into ``shard_size``-byte files."""

    def __init__(self, directory: Path, total_bytes: int, shard_size: int) -> None:
        if shard_size < 1 or total_bytes < 1:
            raise ValueError("shards need a positive size and something to hold")
        self.paths = [directory / name for name in shard_names(total_bytes, shard_size)]
        self.total = total_bytes
        self.shard_size = shard_size
        self.written = 0
        self._index = -1
        self._file: BinaryIO | None = None

    def write(self, data: np.ndarray) -> None:
        view = memoryview(np.ascontiguousarray(data)).cast("B")
        while view:
            if self._file is None or self._file.tell() == self.shard_size:
                self._next()
            assert self._file is not None
            room = self.shard_size - self._file.tell()
            self._file.write(view[:room])
            self.written += min(room, len(view))
            view = view[room:]

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.written != self.total:
            raise AssertionError(f"wrote {self.written} weight bytes, planned {self.total}")

    def _next(self) -> None:
        if self._file is not None:
            self._file.close()
        self._index += 1
        self._file = open(self.paths[self._index], "wb")  # noqa: SIM115 (spans write calls; closed by close)

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        elif self._file is not None:
            self._file.close()
