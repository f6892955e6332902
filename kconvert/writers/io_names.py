"""Keeping a model's dict input/output names in targets that name inputs and outputs by layer.

TF.js (``model.inputNames``/``outputNames``) and Deeplearning4j (``networkInputs``/
``networkOutputs``) know an input or output only by the name of the layer (vertex) that makes it,
so a Keras 3 dict key survives there as that layer's name.  A key that cannot be a layer's name
(another layer has it, one layer makes two outputs, an output is a model input or a layer's second
output, or it is not ``[A-Za-z0-9][-A-Za-z0-9._]*``) leaves the layer's name, and the report says so.
"""

from __future__ import annotations

import re

from kconvert.ir.graph import Model, renamed
from kconvert.writers.context import WriteContext

_NAME = re.compile(r"[A-Za-z0-9][-A-Za-z0-9._]*")


def with_io_names(model: Model, ctx: WriteContext) -> Model:
    """``model`` with the layers that make its structured inputs and outputs named by their keys."""
    if model.input_structure is None and model.output_structure is None:
        return model
    taken = {layer.name for layer in model.layers}
    names: dict[str, str] = {}
    inputs = {r.layer for r in model.inputs}
    pairs = [(k, r, True) for k, r in zip(model.input_names, model.inputs) if model.input_structure is not None]
    pairs += [(k, r, False) for k, r in zip(model.output_names, model.outputs) if model.output_structure is not None]
    for key, ref, is_input in pairs:
        if key == ref.layer or names.get(ref.layer) == key:
            continue
        why = ("it is not a name the target allows" if not _NAME.fullmatch(key) else
               "another layer has that name" if key in taken or key in names.values() else
               "that layer makes another input or output too" if ref.layer in names else
               "it is a layer's second output or call" if ref.index or ref.node else
               "it is one of the model's inputs" if not is_input and ref.layer in inputs else None)
        if why:
            ctx.report.add("info", "renamed", f"{'input' if is_input else 'output'} '{key}' keeps its layer's name "
                           f"'{ref.layer}' in {ctx.target}: {why}")
            continue
        names[ref.layer] = key
    return renamed(model, names) if names else model
