"""Running a written ONNX model in ONNX Runtime (CPU), as ``verify --target`` and ``check`` do.

The model's metadata (:mod:`kconvert.formats.onnx`) says how its inputs and outputs permute the
source's axes (so channels-first inputs are fed and read back in the source's layout) and where each
layer's output is held, in which layout: the first-diverging-layer probe adds those tensors as graph
outputs and reads them back in the source's layout.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from kconvert.errors import KConvertError
from kconvert.formats.detect import Detected
from kconvert.formats.onnx import ACTIVATIONS_KEY, IO_PERMS_KEY
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
             dtype: str) -> TargetRun:
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
