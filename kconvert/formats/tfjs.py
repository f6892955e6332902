"""The TF.js layers format's encoding facts, shared by its reader and its writer.

Weight data is one little-endian byte stream per manifest group, cut into shards; an entry's
bytes are ``prod(shape) * ITEM_SIZE[stored dtype]``.  Quantized entries store uint8/uint16 as
``value = q * scale + min`` (``min`` nudged so that zero is exact when the range covers it, as
the TF.js converter does; the worst-case error per value is ``scale / 2``) or float16.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from kconvert.formats.names import TFJS_MODEL as MODEL_FILE  # noqa: F401 (its name here)

#: the opt-in module beside model.json that registers layer classes stock TF.js lacks
COMPANION_FILE = "kconvert-layers.js"
#: a call argument of kconvert's TF.js nodes that list each distinct input tensor once (tfjs-layers
#: frees a tensor a layer takes twice too early): the call's inputs as indices into the node's entries
LISTED_INPUTS = "kconvert_inputs"
DEFAULT_SHARD_SIZE = 4 * 1024 * 1024  # what the TF.js converter writes (4 MiB)
#: dtypes a manifest entry may declare (what tfjs-core decodes for layers models)
MANIFEST_DTYPES = ("float32", "int32", "bool")
QUANTIZED_DTYPES = ("uint8", "uint16", "float16")
#: bytes per element of each stored dtype
ITEM_SIZE = {"float32": 4, "int32": 4, "bool": 1, "uint8": 1, "uint16": 2, "float16": 2}
#: elements quantized at a time, bounding the float64 temporaries of a large tensor
_CHUNK = 1 << 20


def shard_names(total_bytes: int, shard_size: int, group: int = 1) -> list[str]:
    count = max(1, math.ceil(total_bytes / shard_size))
    return [f"group{group}-shard{i}of{count}.bin" for i in range(1, count + 1)]


def quantize(data: np.ndarray, dtype: str) -> tuple[np.ndarray, dict[str, Any]]:
    """``data`` (float32, finite) as ``dtype`` plus the manifest's ``quantization`` entry."""
    low, high = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
    entry = quantization_entry(dtype, low, high)
    return quantize_values(data, entry), entry


def quantization_entry(dtype: str, low: float, high: float) -> dict[str, Any]:
    """The manifest's ``quantization`` entry for float32 values in ``[low, high]`` stored as
    ``dtype`` (so a tensor read in chunks is quantized from its global range)."""
    if dtype == "float16":
        return {"dtype": "float16", "original_dtype": "float32"}
    if low == high:  # a constant tensor: every value is min
        return {"dtype": dtype, "min": low, "scale": 1.0, "original_dtype": "float32"}
    scale = (high - low) / float(np.iinfo(dtype).max)
    if low <= 0.0 <= high:
        low = -round(-low / scale) * scale  # nudged: q = round(-min/scale) decodes to exactly 0
    return {"dtype": dtype, "min": low, "scale": scale, "original_dtype": "float32"}


def quantize_values(data: np.ndarray, entry: Mapping[str, Any]) -> np.ndarray:
    """``data`` (float32, finite, within the entry's range) encoded as ``entry`` says:
    elementwise, so chunks of a tensor encode exactly as the whole would."""
    dtype = entry["dtype"]
    if dtype == "float16":
        return data.astype(np.float16)
    low, scale = float(entry["min"]), float(entry["scale"])
    high = low + float(np.iinfo(dtype).max) * scale
    flat = data.reshape(-1)
    out = np.empty(flat.shape, dtype)
    for start in range(0, flat.size, _CHUNK):
        chunk = flat[start:start + _CHUNK].astype(np.float64)
        np.clip(chunk, low, high, out=chunk)
        out[start:start + _CHUNK] = np.rint((chunk - low) / scale)
    return out.reshape(data.shape)


def dequantize(data: np.ndarray, entry: Mapping[str, Any]) -> np.ndarray:
    """The float32 (or int32) values TF.js decodes from quantized ``data``."""
    original = entry.get("original_dtype", "float32")
    if entry["dtype"] == "float16":
        return data.astype(np.float32)
    values = data.astype(np.float64) * float(entry["scale"]) + float(entry["min"])
    return np.rint(values).astype(np.int32) if original == "int32" else values.astype(np.float32)
