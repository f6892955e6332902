"""An IR model as a Keras model config (``model_config``) in the tf.keras 2 dialect.

A single chain becomes a ``Sequential`` config (with its InputLayer first, as tf.keras 2.4+
writes it); anything else a ``Functional`` config whose inbound nodes use the list form
``[[name, node, tensor, {}], ...]``.  References to a nested model's calls count from 1, as Keras
2 and tfjs-layers number them (the model's own graph is its call 0).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.graph import Call, Layer, Model, TensorRef
from kconvert.ir.layers.core import InputLayer
from kconvert.ir.layers.model import NestedModel
from kconvert.writers.keras.layers import EMITTERS, EmitContext, weight_settings
from kconvert.writers.keras.masks import explicit_mask, mask_operations
from kconvert.writers.keras.values import KERAS2_ACTIVATIONS


#: the keras_version written beside a config in this dialect
KERAS2_DIALECT_VERSION = "2.15.0"
#: called with each layer and its emitted ``{"class_name", "config"}`` entry, to check or adjust it
Adapter = Callable[[Layer, dict[str, Any]], None]


class ConfigWriter:
    """Emits configs.  ``activations`` maps IR activations to the target's names, ``names``
    renames layers (by ``id``), and ``adapt`` sees every emitted layer, wrapped and nested ones
    included, so that a target can refuse or adjust what it cannot read as is."""

    def __init__(self, activations: dict[str, str] | None = None, names: Mapping[int, str] | None = None,
                 adapt: Adapter | None = None, target: str = "tf.keras 2") -> None:
        self.names = dict(names or {})
        self.adapt = adapt
        self.context = EmitContext(self.layer_entry, self.model, activations or KERAS2_ACTIVATIONS, self.name,
                                   target)

    def name(self, layer: Layer) -> str:
        return self.names.get(id(layer), layer.name)

    def model(self, model: Model) -> dict[str, Any]:
        if is_chain(model):
            layers = [self.layer_entry(layer) for layer in model.layers]
            return {"class_name": "Sequential", "config": {"name": model.name, "layers": layers}}
        entries = []
        implicit = mask_operations(model)  # Keras 3 mask computations tf.keras 2 leaves implicit
        for layer in model.layers:
            if layer.name in implicit:
                continue
            entry = self.layer_entry(layer)
            entry["name"] = self.name(layer)
            entry["inbound_nodes"] = [] if isinstance(layer.config, InputLayer) else [
                self.node(model, layer, call) for call in layer.calls]
            entries.append(entry)
        return {"class_name": "Functional", "config": {
            "name": model.name, "layers": entries,
            "input_layers": [self.ref(model, r) for r in model.inputs],
            "output_layers": [self.ref(model, r) for r in model.outputs],
        }}

    def layer_entry(self, layer: Layer) -> dict[str, Any]:
        """``{"class_name", "config"}`` of one layer (without its graph connections)."""
        entry = self._entry(layer)
        if self.adapt is not None:
            self.adapt(layer, entry)
        return entry

    def _entry(self, layer: Layer) -> dict[str, Any]:
        if isinstance(layer.config, InputLayer):
            c = layer.config
            return {"class_name": "InputLayer", "config": {
                "batch_input_shape": list(c.batch_shape), "dtype": c.dtype, "sparse": c.sparse, "ragged": c.ragged,
                "name": self.name(layer)}}
        fn = EMITTERS.get(layer.kind)
        if fn is None:
            raise layer.context_error(IncompatibleKerasConfigurationException(
                f"layer kind {layer.kind} has no equivalent in {self.context.target}"))
        class_name, config = fn(layer, self.context)
        if isinstance(layer.config, NestedModel):
            return {"class_name": class_name, "config": config}
        return {"class_name": class_name, "config": {
            "name": self.name(layer), "trainable": layer.trainable, "dtype": dtype(layer.dtype), **config,
            **weight_settings(layer)}}

    def node(self, model: Model, layer: Layer, call: Call) -> list[list[Any]]:
        if explicit_mask(model, call):
            raise layer.context_error(IncompatibleKerasConfigurationException(
                f"the call passes an explicit padding mask (a Keras 3 graph) other than the one {self.context.target} "
                "would propagate itself", key="inbound_nodes"))
        return [[*self.ref(model, r), {}] for r in call.inputs]

    def ref(self, model: Model, ref: TensorRef) -> list[Any]:
        layer = model.layer(ref.layer)
        nested = isinstance(layer.config, NestedModel)
        return [self.name(layer), ref.node + (1 if nested else 0), ref.index]


def is_chain(model: Model) -> bool:
    """A model Sequential can express: one input layer first, then each layer called once on the
    previous layer's only output."""
    layers = model.layers
    if len(model.inputs) != 1 or len(model.outputs) != 1 or not isinstance(layers[0].config, InputLayer):
        return False
    previous = layers[0].name
    for layer in layers[1:]:
        if len(layer.calls) != 1 or [str(r) for r in layer.calls[0].inputs] != [previous] or layer.calls[0].kwargs:
            return False
        previous = layer.name
    return model.outputs[0] == TensorRef(previous)


def dtype(name: str) -> Any:
    """A layer dtype: a plain name, or a tf.keras Policy object for mixed precision."""
    if name.startswith("mixed_"):
        return {"class_name": "Policy", "config": {"name": name}}
    return name
