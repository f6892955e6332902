"""Resolving what the user passed (a path, a config string, bytes) and sniffing its format.

The format is decided by content, not by file extension: HDF5 and ZIP by their signatures, text
as JSON when it starts like JSON and as YAML otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal, Union

from kconvert.errors import InputReadError
from kconvert.formats.tfjs import MODEL_FILE as TFJS_MODEL_FILE
from kconvert.readers.context import Limits

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
SourceLike = Union[str, bytes, bytearray, "os.PathLike[str]"]
Kind = Literal["hdf5", "zip", "json", "yaml"]


@dataclass(frozen=True)
class Input:
    """One input: where it comes from (``path``) or its content (``data``), and its format."""

    display: str
    kind: Kind
    path: str | None = None
    data: bytes | None = None

    def content(self) -> str | bytes:
        """The path for file inputs, the bytes for in-memory ones (what h5py and zipfile take)."""
        return self.path if self.path is not None else self.data  # type: ignore[return-value]

    def text(self, limits: Limits) -> str:
        raw = self.data
        if raw is None:
            size = os.path.getsize(self.path)  # type: ignore[arg-type]
            if size > limits.max_config_bytes:
                raise InputReadError(f"the file is {size} bytes, over the {limits.max_config_bytes}-byte limit "
                                     "for a model configuration", file=self.display)
            raw = _read(self.path)  # type: ignore[arg-type]
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InputReadError(f"not UTF-8 text (byte {exc.start}); not a Keras JSON or YAML configuration",
                                 file=self.display) from None


def resolve(source: SourceLike, limits: Limits) -> Input:
    if isinstance(source, (bytes, bytearray)):
        return Input("<bytes>", _sniff(bytes(source[:8]), bytes(source)), data=bytes(source))
    if isinstance(source, str) and not os.path.exists(source) and _looks_like_config(source):
        data = source.encode("utf-8")
        return Input("<string>", _sniff(data[:8], data), data=data)
    path = os.fspath(source)
    if not isinstance(path, str):
        raise InputReadError(f"expected a path, a configuration string or bytes, got {type(source).__name__}")
    if not os.path.exists(path):
        raise InputReadError("no such file", file=path)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, TFJS_MODEL_FILE)):
            raise InputReadError("is a directory without a TF.js model.json; kconvert reads Keras model files "
                                 "(.h5, .hdf5, .keras, .json, .yaml) and TF.js model directories", file=path)
        path = os.path.join(path, TFJS_MODEL_FILE)
    with open(path, "rb") as fh:
        head = fh.read(512)
    return Input(path, _sniff(head[:8], head), path=path)


def _looks_like_config(text: str) -> bool:
    stripped = text.lstrip()
    return stripped[:1] in ("{", "[") or "class_name" in text or "\n" in text


def _sniff(head: bytes, sample: bytes) -> Kind:
    if head.startswith(HDF5_SIGNATURE):
        return "hdf5"
    if head.startswith(ZIP_SIGNATURE):
        return "zip"
    stripped = sample.lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" if stripped[:1] in (b"{", b"[", b'"') else "yaml"


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InputReadError(f"cannot read the file ({exc.strerror})", file=path) from None
