"""Running a written ONNX model in ONNX Runtime (CPU), as ``verify --target`` and ``check`` do.

The model's metadata (:mod:`kconvert.formats.onnx`) says how its inputs and outputs permute the
source's axes (so channels-first inputs are fed and read back in the source's layout) and where each
layer's output is held, in which layout: the first-diverging-layer probe adds those tensors as graph
outputs and reads them back in the source's layout.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException, KConvertError
from kconvert.formats.detect import Detected
from kconvert.formats.onnx import ACTIVATIONS_KEY, IO_PERMS_KEY
from kconvert.ir.footprint import over_limit
from kconvert.readers.context import Limits
from kconvert.verification import TargetRun

#: ONNX Runtime's input type names -> numpy dtypes
INPUT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int32)": np.int32,
               "tensor(int64)": np.int64, "tensor(bool)": np.bool_, "tensor(float16)": np.float16,
               "tensor(int8)": np.int8, "tensor(int16)": np.int16, "tensor(uint8)": np.uint8,
               "tensor(uint16)": np.uint16}


def _session(model: str | bytes) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for models it cannot load
        raise KConvertError(f"ONNX Runtime cannot load the model: {exc}") from None


def run_onnx(target: Detected, inputs: list[np.ndarray], layers: list[str], device: str | None,
             dtype: str, limits: Limits | None = None) -> TargetRun:
    import onnxruntime as ort

    session = _session(target.display)
    metadata = session.get_modelmeta().custom_metadata_map
    perms = json.loads(metadata.get(IO_PERMS_KEY, "{}"))
    probes: dict[str, list[Any]] = json.loads(metadata.get(ACTIVATIONS_KEY, "{}"))
    declared = session.get_inputs()
    if len(declared) != len(inputs):
        raise KConvertError(f"the ONNX model takes {len(declared)} inputs, the source {len(inputs)}",
                            file=target.display)
    in_perms = perms.get("inputs") or [None] * len(inputs)
    feeds = {d.name: np.ascontiguousarray(np.transpose(x, p) if p else x).astype(INPUT_TYPES.get(d.type, np.float32))
             for d, x, p in zip(declared, inputs, in_perms)}
    _bound(target.display, feeds, (limits or Limits()).max_intermediate_bytes)
    wanted = {name: probes[name] for name in layers if name in probes}
    if wanted:
        session = _probing_session(target.display, sorted({t for t, _ in wanted.values()}))
    names = [o.name for o in session.get_outputs()]
    try:
        results = dict(zip(names, session.run(None, feeds)))
    except ort.capi.onnxruntime_pybind11_state.Fail as exc:  # type: ignore[attr-defined]
        raise KConvertError(f"ONNX Runtime failed to run the model: {exc}", file=target.display) from None
    out_perms = perms.get("outputs") or [None] * len(names)
    outputs = [_to_source(results[name], p) for name, p in zip(names, out_perms)]
    activations = {layer: _to_source(results[tensor], perm) for layer, (tensor, perm) in wanted.items()}
    return TargetRun(outputs, activations, f"ONNX Runtime {ort.__version__} (CPU)", names)


def _bound(path: str, feeds: dict[str, np.ndarray], max_bytes: int) -> None:
    """Refuse a run on ``feeds`` that would make a tensor over ``max_bytes``, before ONNX Runtime
    allocates anything: kconvert does not read ONNX back into its IR, so the sizes come from ONNX's
    own shape inference, with the inputs' symbolic dimensions set to the sizes fed."""
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
        for value in model.graph.input:
            if value.name in feeds:
                for dim, size in zip(value.type.tensor_type.shape.dim, feeds[value.name].shape):
                    dim.dim_value = size  # replaces a symbolic dim_param (the oneof)
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except (OSError, ValueError, onnx.shape_inference.InferenceError) as exc:
        raise KConvertError(f"ONNX's shape inference fails on the model: {' '.join(str(exc).split())}",
                            file=path) from None
    for value in (*inferred.graph.value_info, *inferred.graph.output):
        tensor = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in tensor.shape.dim]
        if None in dims or not tensor.elem_type:
            continue  # a size inference leaves open: ONNX Runtime's allocator is the last bound
        size = math.prod(dims) * np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)).itemsize
        if size > max_bytes:
            raise IncompatibleKerasConfigurationException(
                over_limit(f"tensor '{value.name}' of shape {tuple(dims)}", size, max_bytes), file=path)


def _to_source(array: np.ndarray, perm: list[int] | None) -> np.ndarray:
    """A tensor held as ``transpose(source, perm)`` back in the source's layout."""
    return np.transpose(array, np.argsort(perm)) if perm else array


def _probing_session(path: str, tensors: list[str]) -> Any:
    """The model with ``tensors`` added to its outputs (after the model's own)."""
    import onnx

    model = onnx.load(path)
    have = {o.name for o in model.graph.output} | {i.name for i in model.graph.input}
    for name in tensors:
        if name not in have:
            model.graph.output.append(onnx.ValueInfoProto(name=name))
    return _session(model.SerializeToString())
