"""TF.js layers models (``model.json`` + binary shards) as the parts of a Keras model.

``modelTopology`` is a Keras config (written by the TF.js converter, by kconvert, or by
tfjs-layers' ``model.save``), so the Keras reader builds the graph; this module supplies the
weights.  A manifest group's shards form one byte stream that its entries slice in order; each
entry becomes a lazy weight that reads only its own bytes, dequantized as TF.js decodes them.
Shard paths are confined to the model's directory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from kconvert.errors import InputReadError
from kconvert.formats.tfjs import ITEM_SIZE, MANIFEST_DTYPES, QUANTIZED_DTYPES, dequantize
from kconvert.ir.graph import Layer, Model
from kconvert.ir.weights import Index, Weight, box_shape, flat_runs
from kconvert.readers.files import checked_path, open_input
from kconvert.readers.keras.layer import SourceWeight
from kconvert.readers.keras.legacy_h5 import WeightGroup

_SCOPED = re.compile(r"[^/]+/[^/]")  # <layer>/<weight...>


@dataclass
class TfjsParts:
    config: Any
    training: Any = None
    keras_version: str | None = None
    backend: str | None = None
    #: manifest entries by their first name token (None: no weights were located, the topology alone)
    scopes: dict[str, list[SourceWeight]] | None = None
    quantized: dict[str, str] = field(default_factory=dict)  # weight name -> stored dtype


def read_tfjs(document: dict[str, Any], path: str | None, display: str) -> TfjsParts:
    """``document`` is the parsed model.json; ``path`` its file (None for in-memory text, whose
    weights cannot be located)."""
    if document.get("format") == "graph-model":
        raise InputReadError("a TF.js graph model (a TensorFlow graph, not Keras layers) cannot be read",
                             file=display, key="format")
    topology = document.get("modelTopology")
    if not isinstance(topology, dict):
        raise InputReadError("modelTopology is missing or not an object (a weights-only conversion?); there is no "
                             "model to read", file=display, key="modelTopology")
    parts = TfjsParts(config=topology)
    if "model_config" in topology:
        parts.config = topology["model_config"]
        parts.training = topology.get("training_config")
        parts.keras_version = _str(topology.get("keras_version"))
        parts.backend = _str(topology.get("backend"))
    parts.training = parts.training or document.get("trainingConfig")
    manifest = document.get("weightsManifest", [])
    if path is None:
        if manifest:
            raise InputReadError("a TF.js model.json given as text cannot locate its weight files; pass its path",
                                 file=display)
        return parts
    parts.scopes = _weight_scopes(manifest, os.path.dirname(os.path.abspath(path)), display, parts.quantized)
    return parts


def weight_groups(scopes: dict[str, list[SourceWeight]], model: Model) -> list[WeightGroup]:
    """The manifest's weights grouped by the top-level layer that owns them.

    tfjs-layers scopes a weight by the layer that holds it, never by enclosing models, so a nested
    model's weights are found under its inner layers' names; they are given their path inside it
    (``inner_model/dense/kernel``) as Keras files name them.  Entries no layer claims stay in
    their own group, for the binder to report.
    """
    claimed: set[str] = set()

    def owned(layer: Layer, path: str) -> list[SourceWeight]:
        if layer.kind == "Model":
            return [w for inner in layer.config.model.layers for w in owned(inner, f"{path}{inner.name}/")]
        claimed.add(layer.name)
        return [SourceWeight(path + w.name.split("/", 1)[1], w.weight) for w in scopes.get(layer.name, [])]

    groups = [WeightGroup(layer.name, owned(layer, "" if layer.kind == "Model" else f"{layer.name}/"))
              for layer in model.layers]
    return groups + [WeightGroup(name, weights) for name, weights in scopes.items() if name not in claimed]


def _weight_scopes(manifest: Any, directory: str, display: str,
                   quantized: dict[str, str]) -> dict[str, list[SourceWeight]]:
    if not isinstance(manifest, list):
        raise InputReadError("weightsManifest must be a list of groups", file=display, key="weightsManifest")
    scopes: dict[str, list[SourceWeight]] = {}
    for g, group in enumerate(manifest):
        where = f"weightsManifest[{g}]"
        if not isinstance(group, dict) or not isinstance(group.get("paths"), list) \
                or not isinstance(group.get("weights"), list):
            raise InputReadError("a weight group must be an object with 'paths' and 'weights' lists", file=display,
                                 key=where)
        stream = _ShardStream([_shard_path(directory, p, display, f"{where}.paths") for p in group["paths"]])
        offset = 0
        for i, entry in enumerate(group["weights"]):
            name, shape, dtype, quantization, nbytes = _entry(entry, display, f"{where}.weights[{i}]")
            read, hyperslab = _reader(stream, offset, nbytes, shape, quantization, dtype)
            weight = Weight.from_file(shape, dtype, read, f"{display}:{name}", hyperslab)
            if quantization:
                quantized[name] = quantization["dtype"]
            offset += nbytes
            scopes.setdefault(name.split("/", 1)[0], []).append(SourceWeight(name, weight))
        if offset != stream.size:
            raise InputReadError(f"the weight files of group {g + 1} hold {stream.size} bytes but its manifest "
                                 f"entries describe {offset} (truncated or mismatched shards)", file=display,
                                 key=where)
    return scopes


def _entry(entry: Any, display: str, where: str) -> tuple[str, tuple[int, ...], str, dict | None, int]:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not _SCOPED.match(entry["name"]):
        raise InputReadError("a weight entry must be an object named '<layer>/<weight>'", file=display, key=where)
    shape = entry.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                              for d in shape):
        raise InputReadError(f"weight {entry['name']!r} has shape {shape!r}, not a list of non-negative integers",
                             file=display, key=where)
    dtype = entry.get("dtype")
    if dtype not in MANIFEST_DTYPES:
        raise InputReadError(f"weight {entry['name']!r} has dtype {dtype!r}; kconvert reads "
                             f"{', '.join(MANIFEST_DTYPES)}", file=display, key=where)
    quantization = entry.get("quantization")
    stored = dtype
    if quantization is not None:
        if not isinstance(quantization, dict) or quantization.get("dtype") not in QUANTIZED_DTYPES:
            raise InputReadError(f"weight {entry['name']!r} has an unknown quantization {quantization!r}",
                                 file=display, key=where)
        stored = quantization["dtype"]
        affine = stored != "float16"
        if affine and not all(isinstance(quantization.get(k), (int, float)) for k in ("min", "scale")):
            raise InputReadError(f"weight {entry['name']!r}: {stored} quantization needs numeric 'min' and 'scale'",
                                 file=display, key=where)
        if (dtype, affine) not in (("float32", True), ("float32", False), ("int32", True)):
            raise InputReadError(f"weight {entry['name']!r}: {dtype} values cannot be stored as {stored}",
                                 file=display, key=where)
    count = 1
    for d in shape:
        count *= d
    return entry["name"], tuple(shape), dtype, quantization, count * ITEM_SIZE[stored]


def _reader(stream: "_ShardStream", offset: int, nbytes: int, shape: tuple[int, ...], quantization: dict | None,
            dtype: str) -> tuple[Callable[[], np.ndarray], Callable[[Index], np.ndarray]]:
    """Whole and hyperslab readers of one entry: a hyperslab reads only its own byte ranges."""
    stored = quantization["dtype"] if quantization else dtype
    item = ITEM_SIZE[stored]

    def values(start: int, stop: int) -> np.ndarray:  # flat elements [start, stop)
        raw = stream.read(offset + start * item, (stop - start) * item)
        data = np.frombuffer(raw, dtype="<u1" if stored == "bool" else np.dtype(stored).newbyteorder("<"))
        if quantization:
            return dequantize(data, {**quantization, "original_dtype": dtype})
        return data.astype(bool) if dtype == "bool" else data.astype(dtype)

    def read() -> np.ndarray:
        return values(0, nbytes // item).reshape(shape)

    def hyperslab(index: Index) -> np.ndarray:
        runs = [values(start, stop) for start, stop in flat_runs(shape, index)]
        return np.concatenate(runs).reshape(box_shape(index))
    return read, hyperslab


class _ShardStream:
    """A group's shard files as one byte stream; reads open only the files a range touches."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        self.sizes = [os.path.getsize(p) for p in paths]
        self.size = sum(self.sizes)

    def read(self, offset: int, nbytes: int) -> bytes:
        out = bytearray()
        start = 0
        for path, size in zip(self.paths, self.sizes):
            end = start + size
            if offset < end and offset + nbytes > start and nbytes:
                with open_input(path) as fh:
                    fh.seek(max(offset - start, 0))
                    out += fh.read(min(end, offset + nbytes) - max(offset, start))
            start = end
        if len(out) != nbytes:
            raise InputReadError(f"a weight file changed while reading (expected {nbytes} bytes, got {len(out)})",
                                 file=self.paths[0] if self.paths else None)
        return bytes(out)


def _shard_path(directory: str, name: Any, display: str, where: str) -> str:
    """A shard's path, refused unless it is a plain relative path inside the model's directory."""
    if not isinstance(name, str) or not name or os.path.isabs(name) or "\\" in name \
            or any(part in ("..", "") for part in name.split("/")):
        raise InputReadError(f"weight file path {name!r} is not a relative path inside the model directory",
                             file=display, key=where)
    path = os.path.join(directory, *name.split("/"))
    real = os.path.realpath(path)
    if os.path.commonpath([real, os.path.realpath(directory)]) != os.path.realpath(directory):
        raise InputReadError(f"weight file {name!r} resolves outside the model directory", file=display, key=where)
    if not os.path.lexists(path):
        raise InputReadError(f"weight file {name!r} is missing", file=display, key=where)
    try:
        checked_path(real)
    except InputReadError as exc:
        raise InputReadError(f"weight file {name!r}: {exc.reason}", file=display, key=where) from None
    return real


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
