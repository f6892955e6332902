"""The ``modelTopology`` of a TF.js layers model: the IR as a tf.keras 2 config tfjs-layers reads."""

from __future__ import annotations

from typing import Any

from kconvert.ir.graph import Layer, Model
from kconvert.ir.layers.core import InputLayer
from kconvert.ir.shapes import Shape
from kconvert.writers.context import WriteContext
from kconvert.writers.keras.config import ConfigWriter
from kconvert.writers.keras.training import training_config
from kconvert.writers.tfjs.companion import Companion
from kconvert.writers.tfjs.dialect import TFJS, Emission, adapt
from kconvert.writers.tfjs.masking import check_masks


def model_topology(model: Model, names: dict[int, str], ctx: WriteContext,
                   companion: Companion | None = None) -> dict[str, Any]:
    """``{keras_version, backend, model_config, training_config}``; refuses what TF.js cannot run as
    Keras does.  ``keras_version`` names the config's dialect, and the weights are in TensorFlow's
    layout whatever backend trained them.  ``companion`` (enabled) lets the layers its module
    defines through, and records which the model uses."""
    check_masks(model)
    shapes = input_shapes(model)
    companion = companion if companion is not None else Companion()

    def adapt_entry(layer: Layer, entry: dict[str, Any]) -> None:
        adapt(Emission(layer, entry, shapes[id(layer)], ctx, companion))

    writer = ConfigWriter(TFJS, names, adapt_entry)
    topology: dict[str, Any] = {"keras_version": TFJS.keras_version, "backend": "tensorflow",
                                "model_config": writer.model(model)}
    if model.training is not None:
        outputs = [writer.name(model.layer(ref.layer)) for ref in model.outputs]
        renamed = {ref.layer: name for ref, name in zip(model.outputs, outputs)}
        topology["training_config"] = training_config(model.training, outputs, renamed)
    return topology


def input_shapes(model: Model) -> dict[int, list[Shape]]:
    """The input shapes of every layer (its first call), wrapped and nested ones included, by ``id``."""
    out: dict[int, list[Shape]] = {}
    for layer in model.layers:
        if isinstance(layer.config, InputLayer):
            shapes = [layer.config.batch_shape]
        else:
            shapes = model.call_input_shapes(layer, 0)
        out[id(layer)] = shapes
        _wrapped_shapes(layer, shapes, out)
        if layer.kind == "Model":
            out.update(input_shapes(layer.config.model))
    return out


def _wrapped_shapes(layer: Layer, shapes: list[Shape], out: dict[int, list[Shape]]) -> None:
    for sub, sub_shapes in layer.config.sublayer_inputs(shapes):
        out[id(sub)] = sub_shapes
        _wrapped_shapes(sub, sub_shapes, out)
