"""ONNX constants: the opsets kconvert writes, the external-data file name, and the metadata a
written model carries for verification (kept here so that the writer and the runner agree)."""

from __future__ import annotations

from pathlib import Path

#: the opset written unless asked otherwise: LayerNormalization is an operator from 17 on, and every
#: ONNX Runtime since 1.14 runs it
DEFAULT_OPSET = 17
#: the oldest opset written: 13 gave Softmax its one-axis meaning and Squeeze/Unsqueeze/ReduceSum their
#: axes as inputs
MIN_OPSET = 13
#: total weight bytes above which the weights are written as external data beside the model (bounded
#: memory; protobuf cannot hold a model past 2 GB at all)
EXTERNAL_DATA_ABOVE = 100 * 2**20
#: metadata key: JSON {layer: [tensor, perm]}, where each layer's (first call's first) output is held
#: and how its axes are permuted there (the first-diverging-layer probe reads it)
ACTIVATIONS_KEY = "kconvert.activations"
#: metadata key: JSON {"inputs": [perm...], "outputs": [perm...]}: how each graph input and output
#: permutes the source model's axes (the identity unless written with channels-first inputs/outputs)
IO_PERMS_KEY = "kconvert.io_perms"
#: the batch dimension's symbolic name
BATCH = "batch"


def external_data_path(model: Path) -> Path:
    """Where a model's external data is written: beside it, named after it."""
    return model.with_name(model.name + ".data")
