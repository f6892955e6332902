"""An IR model as a Keras model config (``model_config``), in a dialect (tf.keras 2 or Keras 3).

A single chain becomes a ``Sequential`` config (with its InputLayer first, as tf.keras 2.4+ and
Keras 3 write it); anything else a ``Functional`` config.  Keras 3's explicit mask operations
are left implicit when they compute what implicit propagation delivers anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.graph import Call, Layer, Model, TensorRef
from kconvert.ir.layers.core import InputLayer
from kconvert.ir.layers.model import NestedModel
from kconvert.writers.keras.dialect import KERAS2, Keras2Dialect
from kconvert.writers.keras.graph import is_chain, keras_layers
from kconvert.writers.keras.layers import EMITTERS, EmitContext
from kconvert.writers.keras.masks import explicit_mask
from kconvert.writers.keras.operations import OPERATIONS, operation_args
from kconvert.writers.keras.values import weight_settings

#: called with each layer and its emitted ``{"class_name", "config"}`` entry, to check or adjust it
Adapter = Callable[[Layer, dict[str, Any]], None]

#: kinds the config writer writes itself (inputs, nested models), without a per-kind emitter
GRAPH_KINDS = frozenset({"InputLayer", "Model"})


class ConfigWriter:
    """Emits configs in ``dialect``.  ``names`` renames layers (by ``id``), and ``adapt`` sees every
    emitted layer, wrapped and nested ones included, so that a target can refuse or adjust what it
    cannot read as is."""

    def __init__(self, dialect: Keras2Dialect = KERAS2, names: Mapping[int, str] | None = None,
                 adapt: Adapter | None = None) -> None:
        self.dialect = dialect
        self.names = dict(names or {})
        self.adapt = adapt
        self.context = EmitContext(self.layer_entry, dialect, self.name)
        self._call_kwargs: dict[int, dict[str, Any]] = {}  # call arguments a dialect moved out of configs

    def name(self, layer: Layer) -> str:
        return self.names.get(id(layer), layer.name)

    def model(self, model: Model) -> dict[str, Any]:
        if is_chain(model):
            layers = [self.layer_entry(layer) for layer in model.layers]
            return self.dialect.model("Sequential", {"name": model.name, "layers": layers})
        shapes = model.shapes()
        entries = []
        for layer in keras_layers(model):
            entry = self.layer_entry(layer)
            entry["name"] = self.name(layer)
            entry["inbound_nodes"] = [] if isinstance(layer.config, InputLayer) else [
                self.node(model, layer, call, shapes) for call in layer.calls]
            entries.append(entry)
        return self.dialect.model("Functional", {
            "name": model.name, "layers": entries,
            "input_layers": self.dialect.io([self.ref(model, r, output=True) for r in model.inputs],
                                            model.input_structure),
            "output_layers": self.dialect.io([self.ref(model, r, output=True) for r in model.outputs],
                                             model.output_structure),
        })

    def layer_entry(self, layer: Layer) -> dict[str, Any]:
        """``{"class_name", "config"}`` of one layer (without its graph connections)."""
        entry = self._entry(layer)
        if self.adapt is not None:
            self.adapt(layer, entry)
        return entry

    def _entry(self, layer: Layer) -> dict[str, Any]:
        c = layer.config
        if isinstance(c, InputLayer):
            return self.dialect.obj("layer", "InputLayer", self.dialect.input_config(
                c.batch_shape, c.dtype, c.sparse, c.ragged, self.name(layer)))
        if isinstance(c, NestedModel):
            entry = self.model(c.model)
            entry["config"]["name"] = self.name(layer)  # Keras reads a nested model's name from its config
            return entry
        if layer.kind in OPERATIONS:
            spelled = None if self.dialect.writes_operations else self.dialect.operation_layer(layer)
            if spelled is None:
                return self._operation(layer)
            class_name, config = spelled
        else:
            fn = EMITTERS.get(layer.kind)
            if fn is None:
                raise layer.context_error(IncompatibleKerasConfigurationException(
                    f"layer kind {layer.kind} has no equivalent in {self.dialect.name}"))
            class_name, config = fn(layer, self.context)
        config = {"name": self.name(layer), "trainable": layer.trainable, "dtype": self.dialect.dtype(layer.dtype),
                  **config, **weight_settings(layer, self.dialect)}
        config, call_kwargs = self.dialect.layer(class_name, config)
        if call_kwargs:
            self._call_kwargs[id(layer)] = call_kwargs
        return self.dialect.obj("layer", class_name, config)

    def _operation(self, layer: Layer) -> dict[str, Any]:
        """A Keras 3 operation node (see operations.py); refused in the tf.keras 2 dialects that have
        no layer computing it."""
        if not self.dialect.writes_operations:
            raise layer.context_error(IncompatibleKerasConfigurationException(
                f"operation {layer.kind} {_attributes(layer)} has no safe equivalent in {self.dialect.name}: "
                "write a .keras archive, where Keras 3 records it as an operation node"))
        op = OPERATIONS[layer.kind](layer)
        return {"module": op.module, "class_name": op.class_name, "config": {"name": self.name(layer), **op.config},
                "registered_name": op.class_name}

    def node(self, model: Model, layer: Layer, call: Call, shapes: Any) -> Any:
        if explicit_mask(model, call):
            raise layer.context_error(IncompatibleKerasConfigurationException(
                f"the call passes an explicit padding mask (a Keras 3 graph) other than the one {self.dialect.name} "
                "would propagate itself", key="inbound_nodes"))
        inputs = [(self.ref(model, r), shapes[(r.layer, r.node)][r.index], _dtype(model, r)) for r in call.inputs]
        if layer.kind in OPERATIONS and self.dialect.writes_operations:
            tensors = self.dialect.node(layer.kind, inputs, {})["args"]
            tensors = tensors[0] if len(inputs) > 1 else tensors  # the dialect lists several tensors as one argument
            return {"args": operation_args(OPERATIONS[layer.kind](layer).args, tensors), "kwargs": {}}
        return self.dialect.node(layer.kind, inputs, dict(self._call_kwargs.get(id(layer), {})))

    def ref(self, model: Model, ref: TensorRef, output: bool = False) -> list[Any]:
        """``[layer, node, tensor]`` of a tensor, in an inbound node or (``output``) a model's
        input/output list."""
        layer = model.layer(ref.layer)
        offset = 0
        if isinstance(layer.config, NestedModel):
            offset = self.dialect.nested_call_offset(is_chain(layer.config.model), output)
        return [self.name(layer), ref.node + offset, ref.index]


def _attributes(layer: Layer) -> str:
    return "(" + ", ".join(f"{k}={v!r}" for k, v in layer.config.attributes().items()) + ")"


def _dtype(model: Model, ref: TensorRef) -> str:
    """The dtype a tensor carries: an input's own, float32 after any layer."""
    layer = model.layer(ref.layer)
    return layer.config.dtype if isinstance(layer.config, InputLayer) else "float32"
