"""What a model input is: one ordered table of formats, each with the test that recognises it and
the reader that reads it.

Every place that takes a model or an export -- :func:`kconvert.load`, ``convert``, ``verify
--target``, ``check``, the target runners and batch discovery -- asks :func:`detect`, so they agree
on what an input is (a DL4J output directory is a model wherever a TF.js one is).  The format is
decided by content, not by extension: HDF5 and ZIP by their signatures, text as JSON when it starts
like JSON and as YAML otherwise, then by the parsed document's keys.  Each input is opened once and
read once; what was read (the parsed document, the zip's member names) travels with the answer to
the reader, which reads nothing twice.

Nothing heavy is imported here: batch discovery and ``--help`` use the table's names and suffixes.
"""

from __future__ import annotations

import io
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Union

from kconvert.errors import InputReadError, KConvertError
from kconvert.formats.names import DL4J_COEFFICIENTS, DL4J_CONFIGURATION, DL4J_ZIP, TFJS_MODEL

if TYPE_CHECKING:
    from kconvert.ir.graph import Model
    from kconvert.readers.context import Limits, LoadOptions

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
SourceLike = Union[str, bytes, bytearray, "os.PathLike[str]"]
Format = Literal["tfjs", "dl4j-json", "keras-json", "keras-yaml", "dl4j-zip", "keras-v3", "keras-h5", "onnx"]
Container = Literal["hdf5", "zip", "json", "yaml", "onnx"]
_DL4J_ZIP_MEMBERS = frozenset({DL4J_CONFIGURATION, DL4J_COEFFICIENTS})
_HEAD = 512


@dataclass(frozen=True)
class Sniffed:
    """What opening an input once found: its container, and for text its parsed document (or why
    it did not parse), for a zip its member names (None: not a readable zip)."""

    container: Container
    document: Any = None
    problem: KConvertError | None = None
    members: frozenset[str] | None = None
    marker: str | None = None  # the file name that made its directory a model


@dataclass(frozen=True)
class Entry:
    """One format: the test on what was sniffed, its reader, and (for batch discovery, which opens
    nothing) the file suffixes and directory marker it is found by."""

    format: Format
    matches: Callable[[Sniffed], bool]
    read: Callable[["Detected", "Detected | None", "LoadOptions"], "Model"]
    suffixes: tuple[str, ...] = ()
    marker: str | None = None
    keras: bool = False  # a Keras (or TF.js) model, as opposed to a Deeplearning4j one
    readable: bool = True  # kconvert reads it into its IR (ONNX is written and run, not read)


@dataclass(frozen=True)
class Detected:
    """One input recognised: its format, where it is (``path``, the file within a model directory)
    or its bytes (``data``), and what was read to decide, for its reader."""

    format: Format
    display: str
    sniffed: Sniffed
    path: str | None = None
    data: bytes | None = None

    @property
    def kind(self) -> Container:
        return self.sniffed.container

    @property
    def entry(self) -> Entry:
        return next(e for e in TABLE if e.format == self.format)

    def content(self) -> str | bytes:
        """The path for file inputs, the bytes for in-memory ones (what h5py and zipfile take)."""
        return self.path if self.path is not None else self.data  # type: ignore[return-value]

    def config(self) -> Any:
        """The parsed JSON or YAML document; raises why the text did not parse."""
        if self.sniffed.problem is not None:
            raise self.sniffed.problem
        return self.sniffed.document

    def read(self, weights: "Detected | None", options: "LoadOptions") -> "Model":
        return self.entry.read(self, weights, options)


def _read_keras(model: Detected, weights: Detected | None, options: "LoadOptions") -> "Model":
    from kconvert.readers.keras.reader import read_keras

    return read_keras(model, weights, options)


def _read_dl4j(model: Detected, weights: Detected | None, options: "LoadOptions") -> "Model":
    from kconvert.readers.dl4j import read_dl4j

    if weights is not None:
        raise InputReadError("a Deeplearning4j model holds its own weights; a separate weights file goes with "
                             "a Keras configuration", file=weights.display)
    return read_dl4j(model, options.limits, options.input_shapes)


def _read_onnx(model: Detected, weights: Detected | None, options: "LoadOptions") -> "Model":
    raise InputReadError("an ONNX model: kconvert writes ONNX (and verifies it in ONNX Runtime) but does not read "
                         "it", file=model.display)


def _looks_like_onnx(head: bytes) -> bool:
    """A serialized ONNX ModelProto: field 1 (ir_version, a small varint) first, then another field.
    No text kconvert reads starts with byte 0x08."""
    return len(head) > 2 and head[0] == 0x08 and 1 <= head[1] <= 0x7F


def _is_tfjs(s: Sniffed) -> bool:
    """Any TF.js key, so that a model.json lacking its topology is reported as a broken TF.js model
    rather than as a Keras config without a class name."""
    return _broken_marker(s, TFJS_MODEL) or _mapping_with(s, lambda d: "modelTopology" in d or "weightsManifest" in d)


def _is_dl4j_config(s: Sniffed) -> bool:
    """A MultiLayerConfiguration (``confs``) or ComputationGraphConfiguration."""
    return _broken_marker(s, DL4J_CONFIGURATION) or _mapping_with(
        s, lambda d: "confs" in d or ("vertices" in d and "networkInputs" in d))


def _is_dl4j_zip(s: Sniffed) -> bool:
    return _broken_marker(s, DL4J_ZIP) or (s.members is not None and _DL4J_ZIP_MEMBERS <= s.members)


def _mapping_with(s: Sniffed, test: Callable[[dict[str, Any]], bool]) -> bool:
    return isinstance(s.document, dict) and test(s.document)


def _broken_marker(s: Sniffed, marker: str) -> bool:
    """An unreadable file that its directory's marker names: a broken export is still that export
    (``check`` reports what is wrong with it as that format)."""
    unreadable = s.problem is not None or (s.container == "zip" and s.members is None)
    return unreadable and s.marker == marker


#: the formats, in the order they are tried: the first whose test holds decides (and, for a
#: directory, the first whose marker file it holds: a DL4J output's model.zip before its configuration)
TABLE: tuple[Entry, ...] = (
    Entry("tfjs", _is_tfjs, _read_keras, marker=TFJS_MODEL, keras=True),
    Entry("dl4j-zip", _is_dl4j_zip, _read_dl4j, (".zip",), marker=DL4J_ZIP),
    Entry("dl4j-json", _is_dl4j_config, _read_dl4j, marker=DL4J_CONFIGURATION),
    Entry("keras-v3", lambda s: s.container == "zip", _read_keras, (".keras",), keras=True),
    Entry("keras-json", lambda s: s.container == "json", _read_keras, (".json",), keras=True),
    Entry("keras-yaml", lambda s: s.container == "yaml", _read_keras, (".yaml", ".yml"), keras=True),
    Entry("keras-h5", lambda s: s.container == "hdf5", _read_keras, (".h5", ".hdf5"), keras=True),
    Entry("onnx", lambda s: s.container == "onnx", _read_onnx, (".onnx",), readable=False),
)
#: the formats batch conversion reads (its sources), as opposed to all those ``check`` takes
KERAS = tuple(e for e in TABLE if e.keras)


def suffixes(entries: tuple[Entry, ...] = TABLE) -> tuple[str, ...]:
    """The file suffixes of ``entries``' formats (batch discovery picks files by them)."""
    return tuple(s for e in entries for s in e.suffixes)


def marked_format(directory: str | os.PathLike[str], entries: tuple[Entry, ...] = TABLE) -> Entry | None:
    """The first of ``entries`` whose marker file ``directory`` holds, else None; opens nothing."""
    return next((e for e in entries if e.marker and os.path.isfile(os.path.join(directory, e.marker))), None)


def detect(source: SourceLike, limits: Limits | None = None) -> Detected:
    """Open ``source`` (a path, a model directory, a configuration string or bytes) once and say
    what it is.  Raises :class:`InputReadError` for what is no model input at all."""
    from kconvert.readers.context import Limits

    limits = limits or Limits()
    if isinstance(source, (bytes, bytearray)):
        return _decide("<bytes>", _sniff(io.BytesIO(bytes(source)), "<bytes>", limits), data=bytes(source))
    if isinstance(source, str) and not os.path.exists(source) and _looks_like_config(source):
        data = source.encode("utf-8")
        return _decide("<string>", _sniff(io.BytesIO(data), "<string>", limits), data=data)
    path = os.fspath(source)
    if not isinstance(path, str):
        raise InputReadError(f"expected a path, a configuration string or bytes, got {type(source).__name__}")
    if not os.path.exists(path):
        raise InputReadError("no such file or directory", file=path)
    marker = None
    if os.path.isdir(path):
        found = marked_format(path)
        if found is None:
            raise InputReadError(f"is a directory without a TF.js {TFJS_MODEL} or a Deeplearning4j {DL4J_ZIP} or "
                                 f"{DL4J_CONFIGURATION}; kconvert reads Keras model files (.h5, .hdf5, .keras, "
                                 ".json, .yaml) and the model directories kconvert writes", file=path)
        marker = found.marker
        path = os.path.join(path, found.marker)  # type: ignore[arg-type]
    from kconvert.readers.files import open_input

    try:
        with open_input(path) as fh:
            return _decide(path, _sniff(fh, path, limits, marker), path=path)
    except OSError as exc:
        raise InputReadError(f"cannot read the file ({exc.strerror})", file=path) from None


def _decide(display: str, sniffed: Sniffed, path: str | None = None, data: bytes | None = None) -> Detected:
    entry = next(e for e in TABLE if e.matches(sniffed))  # every container has a catch-all entry
    return Detected(entry.format, display, sniffed, path, data)


def _looks_like_config(text: str) -> bool:
    stripped = text.lstrip()
    return stripped[:1] in ("{", "[") or "class_name" in text or "\n" in text


def _sniff(fh: BinaryIO, display: str, limits: Limits, marker: str | None = None) -> Sniffed:
    """Read what decides the format from the open input: the signature; then a zip's member list
    or the whole text, parsed."""
    head = fh.read(_HEAD)
    if head.startswith(HDF5_SIGNATURE):
        return Sniffed("hdf5", marker=marker)
    if head.startswith(ZIP_SIGNATURE):
        fh.seek(0)
        return Sniffed("zip", members=_members(fh), marker=marker)
    if _looks_like_onnx(head):
        return Sniffed("onnx", marker=marker)
    container: Container = "json" if head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[", b'"') else "yaml"
    try:
        return Sniffed(container, document=_parse(head, fh, container, display, limits), marker=marker)
    except KConvertError as exc:  # the reader reports it, when one is asked to read this
        return Sniffed(container, problem=exc, marker=marker)


def _members(fh: BinaryIO) -> frozenset[str] | None:
    from kconvert.readers.archive import ZIP_ERRORS

    try:
        with zipfile.ZipFile(fh) as zf:
            return frozenset(zf.namelist())
    except ZIP_ERRORS:
        return None  # not a readable zip: the archive reader says why


def _parse(head: bytes, fh: BinaryIO, container: Container, display: str, limits: Limits) -> Any:
    from kconvert.readers.files import read_bounded
    from kconvert.readers.text import parse_json, parse_yaml

    if not isinstance(fh, io.BytesIO):  # a file (bytes in memory meet parse_json's own limit)
        size = os.fstat(fh.fileno()).st_size
        if size > limits.max_config_bytes:
            raise InputReadError(f"the file is {size} bytes, over the {limits.max_config_bytes}-byte limit "
                                 "for a model configuration", file=display)
    raw = head + read_bounded(fh, max(limits.max_config_bytes - len(head), 0), display, "a model configuration")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputReadError(f"not UTF-8 text (byte {exc.start}); not a Keras JSON or YAML configuration",
                             file=display) from None
    return (parse_json if container == "json" else parse_yaml)(text, display, limits)
