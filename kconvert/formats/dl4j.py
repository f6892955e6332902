"""Deeplearning4j's formats, shared by its reader and writer: ND4J's binary array encoding
(``coefficients.bin``), the model zip's member names, the Java class names DL4J's JSON uses and
the tables between DL4J's vertex ops and modes and the IR's layers.

An ND4J array (``Nd4j.write``) is two big-endian buffers back to back, each
``UTF(allocation mode) LENGTH UTF(dtype) elements``: first the shape information
``[rank, shape..., strides..., extras, element-wise stride, order]``, then the data.  LENGTH is
an int for the ``JAVACPP``/``HEAP``/``DIRECT`` modes DL4J up to 1.0.0-alpha wrote, a long for
``LONG_SHAPE`` and ``MIXED_DATA_TYPES`` (beta3 and later).  Data is read through the strides:
DL4J writes views without re-laying them out.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from kconvert.errors import InputReadError
from kconvert.formats.names import DL4J_COEFFICIENTS as COEFFICIENTS  # noqa: F401 (their names here)
from kconvert.formats.names import DL4J_CONFIGURATION as CONFIGURATION  # noqa: F401
from kconvert.formats.names import DL4J_ZIP as MODEL_ZIP  # noqa: F401
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import merge, ops

UPDATER_STATE, NO_PARAMS = "updaterState.bin", "noParams.marker"
LAYERS = "org.deeplearning4j.nn.conf.layers."
GRAPH = "org.deeplearning4j.nn.conf.graph."
PREPROCESSORS = "org.deeplearning4j.nn.conf.preprocessor."
#: the preprocessors DL4J's Keras import writes (in deeplearning4j-nn since 1.0.0-M1)
KERAS_PREPROCESSORS = "org.deeplearning4j.preprocessors."
ACTIVATIONS = "org.nd4j.linalg.activations.impl."
DROPOUTS = "org.deeplearning4j.nn.conf.dropout."
LOSSES = "org.nd4j.linalg.lossfunctions.impl."
UPDATERS = "org.nd4j.linalg.learning.config."
WEIGHT_INITS = "org.deeplearning4j.nn.weights."

#: ElementWiseVertex op -> the IR merge layer computing it
ELEMENTWISE_MERGES: dict[str, type[LayerConfig]] = {
    "Add": merge.Add, "Subtract": merge.Subtract, "Product": merge.Multiply, "Average": merge.Average,
    "Max": merge.Maximum}
#: IR merge kind -> ElementWiseVertex op
ELEMENTWISE_OPS: dict[str, str] = {cls.kind: op for op, cls in ELEMENTWISE_MERGES.items()}
#: Bidirectional mode -> the IR's (Keras's) merge_mode of the two directions
BIDIRECTIONAL_MERGE_MODES: dict[str, str] = {"CONCAT": "concat", "ADD": "sum", "MUL": "mul", "AVERAGE": "ave"}
#: the IR's merge_mode -> Bidirectional mode
BIDIRECTIONAL_MODES: dict[str, str] = {ir: mode for mode, ir in BIDIRECTIONAL_MERGE_MODES.items()}
#: x[:, :, ::-1]: a (batch, features, time) sequence reversed in time, DL4J's ReverseTimeSeriesVertex
REVERSE_TIME = ops.GetItem(items=(ops.Index("slice"), ops.Index("slice"), ops.Index("slice", step=-1)))

_INT_LENGTH_MODES = frozenset({"DIRECT", "HEAP", "JAVACPP"})
_LONG_LENGTH_MODES = frozenset({"LONG_SHAPE", "MIXED_DATA_TYPES"})
#: ND4J data type name -> numpy big-endian dtype
DTYPES = {"FLOAT": ">f4", "DOUBLE": ">f8", "HALF": ">f2", "INT": ">i4", "LONG": ">i8", "SHORT": ">i2",
          "BYTE": ">i1", "UBYTE": ">u1", "BOOL": ">u1", "UINT16": ">u2", "UINT32": ">u4", "UINT64": ">u8"}
#: the data type bit ND4J sets in a MIXED_DATA_TYPES shape's extras
_EXTRAS = {"FLOAT": 8192, "DOUBLE": 16384, "HALF": 4096}
_MAX_RANK = 32


def read_array(data: bytes, display: str) -> np.ndarray:
    """An ND4J binary array (any era) as a native-endian numpy array."""
    shape_type, info, offset = _buffer(data, 0, display)
    if shape_type not in ("INT", "LONG"):
        raise InputReadError(f"ND4J shape information of type {shape_type}", file=display)
    rank = int(info[0]) if len(info) else -1
    if not 0 <= rank <= _MAX_RANK or len(info) != 2 * rank + 4:
        raise InputReadError("malformed ND4J shape information", file=display)
    shape = [int(v) for v in info[1:1 + rank]]
    strides = [int(v) for v in info[1 + rank:1 + 2 * rank]]
    _, values, end = _buffer(data, offset, display)
    if end != len(data):
        raise InputReadError(f"{len(data) - end} bytes after the ND4J array", file=display)
    if any(not 0 <= d < 2**31 for d in shape) or any(s < 0 for s in strides):
        raise InputReadError(f"ND4J shape {shape} or strides {strides} out of range", file=display)
    strides = [s if d > 1 else 0 for d, s in zip(shape, strides)]  # a size-1 axis's stride is never used
    size = math.prod(shape)
    if size > len(values) or size and sum((d - 1) * s for d, s in zip(shape, strides)) >= len(values):
        raise InputReadError(f"ND4J array of shape {shape} does not fit its {len(values)} values", file=display)
    if size == 0:
        return np.zeros(shape, values.dtype.newbyteorder("="))
    view = np.lib.stride_tricks.as_strided(values, shape, [s * values.itemsize for s in strides])
    return view.astype(values.dtype.newbyteorder("="))


def _buffer(data: bytes, offset: int, display: str) -> tuple[str, np.ndarray, int]:
    mode, offset = _utf(data, offset, display)
    if mode in _INT_LENGTH_MODES:
        (length,), offset = _unpack(">i", data, offset, display), offset + 4
    elif mode in _LONG_LENGTH_MODES:
        (length,), offset = _unpack(">q", data, offset, display), offset + 8
    else:
        raise InputReadError(f"unknown ND4J buffer mode {mode!r}", file=display)
    dtype_name, offset = _utf(data, offset, display)
    if dtype_name not in DTYPES:
        raise InputReadError(f"unsupported ND4J data type {dtype_name!r}", file=display)
    dtype = np.dtype(DTYPES[dtype_name])
    if length < 0 or length * dtype.itemsize > len(data) - offset:
        raise InputReadError(f"ND4J buffer declares {length} values but the file is too short", file=display)
    values = np.frombuffer(data, dtype, length, offset)
    return dtype_name, values, offset + length * dtype.itemsize


def _utf(data: bytes, offset: int, display: str) -> tuple[str, int]:
    (n,) = _unpack(">H", data, offset, display)
    raw = data[offset + 2:offset + 2 + n]
    if len(raw) != n:
        raise InputReadError("truncated ND4J array", file=display)
    return raw.decode("utf-8", "replace"), offset + 2 + n


def _unpack(fmt: str, data: bytes, offset: int, display: str) -> tuple:
    try:
        return struct.unpack_from(fmt, data, offset)
    except struct.error:
        raise InputReadError("truncated ND4J array", file=display) from None


def write_row_header(count: int, dtype: str = "FLOAT") -> bytes:
    """The bytes before ``count`` big-endian values of a ``[1, count]`` row vector, as DL4J
    1.0.0-beta4 and later write ``params()`` (MIXED_DATA_TYPES, 'c' order)."""
    info = [2, 1, count, 1, 1, _EXTRAS[dtype], 1, 99]
    return (_utf_bytes("MIXED_DATA_TYPES") + struct.pack(">q", len(info)) + _utf_bytes("LONG")
            + np.asarray(info, ">i8").tobytes()
            + _utf_bytes("MIXED_DATA_TYPES") + struct.pack(">q", count) + _utf_bytes(dtype))


def _utf_bytes(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw
