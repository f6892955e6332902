"""Writing an IR model as a TF.js layers model: ``model.json`` plus binary weight shards.

What tfjs-layers lacks is first rewritten into layers it has (its rules: :mod:`kconvert.writers.tfjs.rewrites`).
Everything that can refuse the model (layers, options, masks, names, quantization patterns)
runs before the first byte is written; weights then stream from the source file into the shards
in chunks of at most :data:`kconvert.ir.weights.CHUNK_BYTES` (never a whole large tensor), inside
a temporary directory that replaces the output at the end.  A weight the file already stores as
the bytes TF.js reads (contiguous little-endian float32/int32, unchanged) is copied as those bytes
(:meth:`~kconvert.ir.weights.Weight.iter_raw`), the copy limit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.formats.tfjs import (
    COMPANION_FILE,
    DEFAULT_SHARD_SIZE,
    ITEM_SIZE,
    MODEL_FILE,
    quantization_entry,
    quantize_values,
)
from kconvert.ir.graph import Model
from kconvert.ir.weights import Weight
from kconvert.rewrite.lowering import Target, lower
from kconvert.writers.context import WriteContext, Written
from kconvert.writers.io_names import with_io_names
from kconvert.writers.output import atomic_directory
from kconvert.writers.serialize import json_text
from kconvert.writers.tfjs.companion import LOAD_HINT, Companion
from kconvert.writers.tfjs.companion import source as companion_source
from kconvert.writers.tfjs.dialect import TFJS
from kconvert.writers.tfjs.naming import layer_names, weight_names
from kconvert.writers.tfjs.quantization import QuantizationPlan, QuantizeSpec
from kconvert.writers.tfjs.rewrites import TFJS_RULES
from kconvert.writers.tfjs.shards import ShardWriter
from kconvert.writers.tfjs.topology import model_topology

#: what TF.js expresses: its activations, and its rewrites of what tfjs-layers lacks
TFJS_TARGET = Target("TF.js", TFJS.activations, TFJS_RULES, sized_weights=True)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
_INT32 = np.iinfo(np.int32)
#: manifest dtype -> the bytes TF.js reads for it (bool is stored as uint8)
_STORED = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4")}


@dataclass
class _Entry:
    """One manifest entry: where its data comes from and how it is stored."""

    name: str
    weight: Weight
    dtype: str  # float32 | int32 | bool
    stored: str  # dtype of the bytes on disk (dtype, or the quantized dtype)

    @property
    def nbytes(self) -> int:
        return self.weight.size * ITEM_SIZE[self.stored]


def write_tfjs(model: Model, out_dir: str | os.PathLike[str], *, shard_size: int = DEFAULT_SHARD_SIZE,
               quantize: QuantizeSpec = None, overwrite: bool = False,
               enforce_training_config: bool = False, companion: bool = False) -> Written:
    """Write ``model`` to the directory ``out_dir`` for ``tf.loadLayersModel``.

    ``quantize``: ``"uint8"``, ``"uint16"`` or ``"float16"`` for every float weight, or with
    weight-name wildcards (``"uint8:conv*/kernel"``, a list of such, or a dict dtype -> patterns).
    ``companion``: keep layers stock TF.js lacks and write the module that defines them,
    ``kconvert-layers.js``, beside ``model.json`` when the model uses one (see
    :mod:`kconvert.writers.tfjs.companion`).
    Raises :class:`IncompatibleKerasConfigurationException` for what TF.js cannot run as Keras does,
    and ``ValueError`` for a quantization pattern that matches no weight.
    """
    if shard_size < 1:
        raise ValueError("shard_size must be a positive number of bytes")
    ctx = WriteContext("tfjs", enforce_training_config)
    model = with_io_names(lower(model, TFJS_TARGET, ctx), ctx)
    names = layer_names(model, ctx)
    extra = Companion(enabled=companion)
    topology = model_topology(model, names, ctx, extra)
    if extra.needed:
        ctx.note("rewritten", f"{COMPANION_FILE} is written beside {MODEL_FILE}: stock TF.js has no "
                 f"{', '.join(f'{what} (layer {layer!r})' for what, layer in extra.uses.items())}; {LOAD_HINT}")
    entries = _plan_entries(model, names, QuantizationPlan.parse(quantize))
    total = sum(e.nbytes for e in entries)
    if not entries and (model.param_count() or 0) > 0:
        ctx.note("assumed", "the model has no weights (a configuration only): model.json holds the architecture, "
                 "and TF.js will initialize the weights", severity="warning")
    out = Path(out_dir)
    with atomic_directory(out, overwrite) as staging:
        manifest: list[dict[str, Any]] = []
        shard_files: list[Path] = []
        if entries:
            with ShardWriter(staging, total, shard_size) as shards:
                specs = [_write_entry(e, shards) for e in entries]
            shard_files = shards.paths
            manifest = [{"paths": [p.name for p in shard_files], "weights": specs}]
        document = {
            "format": "layers-model",
            "generatedBy": _generated_by(model),
            "convertedBy": f"kconvert v{_version()}",
            "modelTopology": topology,
            "weightsManifest": manifest,
        }
        (staging / MODEL_FILE).write_text(json_text(document), encoding="utf-8")
        if extra.needed:
            (staging / COMPANION_FILE).write_bytes(companion_source())
    files = [out / MODEL_FILE, *(out / p.name for p in shard_files)]
    module = out / COMPANION_FILE if extra.needed else None
    return Written(out / MODEL_FILE, files + ([module] if module else []), ctx.report, weights=len(entries),
                   weight_bytes=total, companion=module)


def _plan_entries(model: Model, names: dict[int, str], plan: QuantizationPlan) -> list[_Entry]:
    entries = []
    for name, weight in weight_names(model, names):
        entries.append(_Entry(name, weight, _manifest_dtype(name, weight), ""))
    chosen = plan.assign([e.name for e in entries], [e.name for e in entries if e.dtype == "float32"])
    for entry in entries:
        entry.stored = chosen.get(entry.name, entry.dtype)
    return entries


def _manifest_dtype(name: str, weight: Weight) -> str:
    kind = weight.dtype.kind
    if kind == "f":
        return "float32"
    if kind in "iu":
        return "int32"
    if kind == "b":
        return "bool"
    raise IncompatibleKerasConfigurationException(f"weight {name} has dtype {weight.dtype}, which TF.js cannot hold")


def _write_entry(entry: _Entry, shards: ShardWriter) -> dict[str, Any]:
    """Stream one entry into the shards chunk by chunk; its manifest spec."""
    spec: dict[str, Any] = {"name": entry.name, "shape": list(entry.weight.shape), "dtype": entry.dtype}
    quantization = _quantization(entry) if entry.stored != entry.dtype else None
    if quantization is None and entry.weight.raw and entry.weight.dtype == _STORED.get(entry.dtype):
        for piece in entry.weight.iter_raw():  # the file holds the very bytes TF.js reads: copy them
            shards.write(piece)
        return spec
    for chunk in entry.weight.iter_chunks():
        data = _stored_values(entry, chunk)
        if quantization is not None:
            data = quantize_values(_finite(entry, data), quantization)
            data = data.astype(data.dtype.newbyteorder("<"), copy=False)
        shards.write(data)
    if quantization is not None:
        spec["quantization"] = quantization
    return spec


def _stored_values(entry: _Entry, data: np.ndarray) -> np.ndarray:
    """A chunk of an entry's values in its manifest dtype, refusing values TF.js cannot hold."""
    if entry.dtype == "float32":
        if data.dtype == np.float64 and data.size and np.nanmax(np.abs(data), initial=0.0) > _FLOAT32_MAX:
            raise IncompatibleKerasConfigurationException(
                f"weight {entry.name} holds float64 values beyond the float32 range")
        return data.astype(_STORED["float32"], copy=False)
    if entry.dtype == "int32":
        if data.size and (data.min() < _INT32.min or data.max() > _INT32.max):
            raise IncompatibleKerasConfigurationException(f"weight {entry.name} holds integers beyond the int32 range")
        return data.astype(_STORED["int32"], copy=False)
    return data.astype(np.uint8, copy=False)


def _finite(entry: _Entry, data: np.ndarray) -> np.ndarray:
    if not np.isfinite(data).all():
        raise IncompatibleKerasConfigurationException(
            f"weight {entry.name} holds NaN or infinite values and cannot be quantized")
    return data


def _quantization(entry: _Entry) -> dict[str, Any]:
    """The manifest's quantization entry: uint8/uint16 take a first pass over the chunks for the
    tensor's global range, so that every chunk is encoded on the same scale."""
    if entry.stored == "float16":
        return quantization_entry("float16", 0.0, 0.0)
    ranges = [(float(data.min()), float(data.max())) for data in
              (_finite(entry, _stored_values(entry, chunk)) for chunk in entry.weight.iter_chunks())]
    return quantization_entry(entry.stored, min((lo for lo, _ in ranges), default=0.0),
                              max((hi for _, hi in ranges), default=0.0))


def _generated_by(model: Model) -> str:
    version = model.provenance.keras_version if model.provenance else None
    return f"keras v{version}" if version else "keras"


def _version() -> str:
    from kconvert import __version__
    return __version__
