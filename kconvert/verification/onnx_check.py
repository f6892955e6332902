"""``check``'s stages for an ONNX model: the schema (onnx.checker's full check, shape inference
included) and loading (every initializer read, external data too; ONNX Runtime builds a session)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from kconvert.errors import KConvertError

if TYPE_CHECKING:
    from kconvert.verification.check import CheckReport, Status


def check_onnx_schema(path: str) -> tuple[Status, str]:
    import onnx

    try:
        onnx.checker.check_model(path, full_check=True)  # a path: external data and models past 2 GB too
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError, OSError) as exc:
        return "failed", f"onnx.checker: {' '.join(str(exc).split())}"
    return "passed", f"onnx.checker's full check (shape inference included) passes with onnx {onnx.__version__}"


def check_onnx_loads(report: CheckReport, path: str) -> dict[str, int] | None:
    """Read every initializer and build an ONNX Runtime session; the count of non-finite values per
    initializer (None if it did not load)."""
    import onnx
    from onnx import numpy_helper

    from kconvert.verification.onnx_runner import _session

    try:
        model = onnx.load(path)
        non_finite: dict[str, int] = {}
        size = 0
        for tensor in model.graph.initializer:
            values = numpy_helper.to_array(tensor)
            size += values.size
            if values.dtype.kind == "f":
                bad = int(values.size - np.count_nonzero(np.isfinite(values)))
                if bad:
                    non_finite[tensor.name] = bad
        _session(path)
    except (OSError, ValueError, onnx.onnx_cpp2py_export.checker.ValidationError, KConvertError) as exc:
        report.add("loads", "failed", f"{' '.join(str(exc).split())}")
        return None
    report.runnable = True
    report.add("loads", "passed", f"{len(model.graph.node)} nodes and {len(model.graph.initializer)} initializers "
                                  f"({size} values) read; ONNX Runtime loads the model")
    return non_finite
