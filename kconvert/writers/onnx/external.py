"""Initializers as TensorProtos: embedded in the model, or streamed to one external-data file beside
it, chunk by chunk (at most :data:`~kconvert.ir.weights.CHUNK_BYTES` of a tensor in memory; past
protobuf's 2 GB limit this is the only way to write a model at all)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from kconvert.writers.onnx.graph import Initial

#: tensors this small stay in the model even when the others go to external data (as onnx.save does)
EMBED_BELOW = 1024
#: large tensors start at multiples of this in the external file, so that a runtime can map them
ALIGNMENT = 4096


def written_dtype(dtype: np.dtype) -> np.dtype:
    """What a weight is written as: floats as float32 (the model computes in float32), others as they are."""
    return np.dtype(np.float32) if dtype.kind == "f" else dtype


def embedded(initial: Initial) -> TensorProto:
    values = initial.weight.numpy()
    return numpy_helper.from_array(values.astype(written_dtype(values.dtype), copy=False), initial.name)


def streamed(initials: Iterable[Initial], data: BinaryIO, location: str) -> list[TensorProto]:
    """The initializers, the large ones written to ``data`` (the file named ``location`` beside the model)."""
    out = []
    for initial in initials:
        weight = initial.weight
        dtype = written_dtype(weight.dtype)
        if weight.size * dtype.itemsize < EMBED_BELOW:
            out.append(embedded(initial))
            continue
        offset = data.tell()
        if weight.size * dtype.itemsize >= ALIGNMENT:
            offset = -(-offset // ALIGNMENT) * ALIGNMENT
            data.seek(offset)
        for chunk in weight.iter_chunks():
            data.write(np.ascontiguousarray(chunk, dtype=dtype.newbyteorder("<")).tobytes())
        tensor = TensorProto(name=initial.name, dims=list(weight.shape),
                             data_type=helper.np_dtype_to_tensor_dtype(dtype))
        for key, value in (("location", location), ("offset", offset), ("length", data.tell() - offset)):
            entry = tensor.external_data.add()  # (onnx's set_external_data wants the data in memory first)
            entry.key, entry.value = key, str(value)
        tensor.data_location = TensorProto.EXTERNAL
        out.append(tensor)
    return out
