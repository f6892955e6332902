"""Zip archives written byte by byte, for hostile-input tests: any method, any name (a NUL, ``..``),
sizes that lie; and compression bombs of gigabytes built in a second.

Python's zipfile writes only honest archives, and compressing gigabytes of zeros takes half a
minute; here a bomb is spliced from one compressed block repeated (bzip2) or one flushed deflate
chunk repeated, so a test can afford a real 2.5 GB member.
"""

from __future__ import annotations

import bz2
import functools
import lzma
import struct
import zlib
from dataclasses import dataclass

STORED, DEFLATED, BZIP2, LZMA = 0, 8, 12, 14
GiB = 1024**3


@dataclass(frozen=True)
class Member:
    """One member as stored: its raw name, method, stored bytes, and the size and CRC it declares."""

    name: bytes
    method: int
    stored: bytes
    size: int
    crc: int
    flags: int = 0


def member(name: str | bytes, data: bytes, method: int = DEFLATED) -> Member:
    """An honest member holding ``data``."""
    raw = name.encode("utf-8") if isinstance(name, str) else name
    return Member(raw, method, compress(data, method), len(data), zlib.crc32(data), 0x800 if _utf8(raw) else 0)


def lying(m: Member, size: int) -> Member:
    """``m`` declaring ``size`` bytes in both of its headers."""
    return Member(m.name, m.method, m.stored, size, m.crc, m.flags)


def compress(data: bytes, method: int) -> bytes:
    """``data`` as a zip member of ``method`` stores it (LZMA: zip's 4-byte header, then the
    properties and the raw stream)."""
    if method == STORED:
        return data
    if method == DEFLATED:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush()
    if method == BZIP2:
        return bz2.compress(data)
    if method == LZMA:
        raw = lzma.compress(data, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA1}])
        props = lzma._encode_filter_properties({"id": lzma.FILTER_LZMA1})  # type: ignore[attr-defined]
        return struct.pack("<BBH", 9, 4, len(props)) + props + raw
    raise ValueError(f"no compressor for method {method}")


def archive(members: list[Member]) -> bytes:
    """A zip of ``members`` in order, local headers and central directory agreeing."""
    body, directory = bytearray(), bytearray()
    for m in members:
        offset = len(body)
        fields = (20, m.flags, m.method, 0, 0x21, m.crc, len(m.stored), m.size, len(m.name))
        body += struct.pack("<4s5HL2L2H", b"PK\x03\x04", *fields, 0) + m.name + m.stored
        directory += struct.pack("<4s6HL2L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, offset) + m.name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), len(body), 0)
    return bytes(body + directory + end)


def _utf8(raw: bytes) -> bool:
    try:
        raw.decode("ascii")
        return False
    except UnicodeDecodeError:
        return True


# -- bombs ----------------------------------------------------------------------------------------

def deflate_zeros(size: int) -> bytes:
    """A raw deflate stream of ``size`` zeros (a multiple of 1 MiB): one fully flushed chunk (byte
    aligned, no back-reference into the previous one) repeated, then the final block."""
    chunk = 1 << 20
    assert size % chunk == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    return first + again * (size // chunk - 1) + c.flush(zlib.Z_FINISH)


@functools.lru_cache(maxsize=None)
def bzip2_zeros(blocks: int) -> tuple[bytes, int]:
    """A bzip2 stream of ``blocks`` full blocks of zeros (about 45 MB each), and its size once
    decompressed: one block, compressed once, repeated bit for bit, with the stream's CRC redone."""
    sample = bz2.compress(bytes(100 << 20), 9)  # two full blocks and a part
    bits = "".join(f"{byte:08b}" for byte in sample)
    magic = f"{0x314159265359:048b}"
    starts = [i for i in _find_all(bits, magic)]
    block = bits[starts[0]:starts[1]]
    assert bits[starts[1]:starts[2]] == block, "bzip2 blocks of zeros differ"
    crc = int(block[48:80], 2)
    one = _bzip2_stream(block, 1, crc)
    per_block = len(bz2.decompress(one))
    return _bzip2_stream(block, blocks, crc), per_block * blocks


def _bzip2_stream(block: str, count: int, crc: int) -> bytes:
    combined = 0
    for _ in range(count):
        combined = (((combined << 1) | (combined >> 31)) & 0xFFFFFFFF) ^ crc
    bits = block * count + f"{0x177245385090:048b}" + f"{combined:032b}"
    bits += "0" * (-len(bits) % 8)
    return b"BZh9" + int(bits, 2).to_bytes(len(bits) // 8, "big")


def _find_all(text: str, pattern: str) -> list[int]:
    found, at = [], text.find(pattern)
    while at != -1:
        found.append(at)
        at = text.find(pattern, at + 1)
    return found
