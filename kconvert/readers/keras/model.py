"""Building an IR model from a Keras model config, in any dialect.

Handles Sequential configs (Keras 1/2.2.2 bare lists, later ``{"layers": [...]}`` dicts, Keras 1
"branching" Sequentials that start with a ``Merge`` of sub-models), functional configs whose
inbound nodes use the Keras 1 (``[name, node, tensor]``), Keras 2 (``[..., kwargs]``) or Keras 3
(``{"args", "kwargs"}`` with ``__keras_tensor__``) encoding, and models nested as layers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from kconvert.errors import IncompatibleKerasConfigurationException, KConvertError
from kconvert.formats.tfjs import LISTED_INPUTS
from kconvert.ir.graph import Call, Layer, Model, TensorRef
from kconvert.ir.layers.core import InputLayer
from kconvert.ir.layers.model import NestedModel
from kconvert.ir.structure import Structure, StructureError, parse
from kconvert.ir.weights import Weight
from kconvert.readers.context import ReadContext
from kconvert.readers.keras.layer import Binder, Converted, SourceWeight, build_layer
from kconvert.readers.keras.values import dtype as parse_dtype

_DROPPED_CALL_KWARGS = frozenset({"training"})


@dataclass
class BuiltModel:
    """An IR model plus, for each layer that has weights, how to bind them."""

    model: Model
    binders: dict[Layer, Binder] = field(default_factory=dict)

    @property
    def bind_nested(self) -> Binder | None:
        """Binder for this model used as a layer: its saved weights are split among inner layers."""
        if not self.binders:
            return None
        return self._bind_nested

    def _bind_nested(self, saved: list[SourceWeight]) -> dict[str, Weight]:
        for layer, chunk in partition_by_layer(self, saved):
            layer.weights = self.binders[layer](chunk)
        return {}


def partition_by_layer(built: BuiltModel, saved: list[SourceWeight]) -> list[tuple[Layer, list[SourceWeight]]]:
    """Split a nested model's saved weights among its layers, by the layer names in the weight names.

    Keras writes ``inner_layer/kernel:0`` (Keras 2), ``model/inner_layer/kernel`` (Keras 3) or
    ``inner_layer_W`` (Keras 1).  Layers are matched by name so that Keras 2's
    trainable-before-non-trainable ordering of nested weights does not matter.
    """
    owners = [layer for layer in built.model.layers if layer in built.binders]
    names = {layer.name: layer for layer in owners}
    chunks: dict[Layer, list[SourceWeight]] = {layer: [] for layer in owners}
    for w in saved:
        tokens = w.name.split("/")[:-1]
        owner = next((names[t] for t in reversed(tokens) if t in names), None)
        if owner is None:  # Keras 1: "<layer>_<param>", or a scope path containing the layer name
            candidates = [n for n in names if w.name.startswith(n + "_") or f"/{n}_" in w.name
                          or w.name.startswith(n + "/")]
            owner = names[max(candidates, key=len)] if candidates else None
        if owner is None:
            raise IncompatibleKerasConfigurationException(
                f"nested model '{built.model.name}': cannot tell which of its layers the saved weight "
                f"'{w.name}' belongs to (layers with weights: {', '.join(names) or 'none'})")
        chunks[owner].append(w)
    empty = [layer.name for layer, chunk in chunks.items() if not chunk]
    if empty:
        raise IncompatibleKerasConfigurationException(
            f"nested model '{built.model.name}': no saved weights for layer(s) {', '.join(empty)}")
    return list(chunks.items())


def build_model(model_config: Any, ctx: ReadContext, *, nested: bool = False) -> BuiltModel:
    """Build the IR for a serialized model ``{"class_name", "config"}`` (or a bare Sequential list)."""
    if ctx.depth >= ctx.limits.max_nesting:
        raise IncompatibleKerasConfigurationException(f"models are nested more than {ctx.limits.max_nesting} deep")
    ctx.depth += 1
    try:
        return _build(model_config, ctx, nested)
    finally:
        ctx.depth -= 1


def _build(model_config: Any, ctx: ReadContext, nested: bool) -> BuiltModel:
    if isinstance(model_config, list):
        model_config = {"class_name": "Sequential", "config": model_config}
    if not isinstance(model_config, dict):
        raise IncompatibleKerasConfigurationException(
            "the model configuration must be an object with 'class_name' and 'config', got "
            f"{type(model_config).__name__}")
    class_name = model_config.get("class_name")
    config = model_config.get("config")
    builder = _ModelBuilder(ctx)
    if class_name == "Sequential":
        return builder.sequential(config, nested)
    if class_name in ("Model", "Functional"):
        return builder.functional(config, class_name)
    if class_name is None:
        raise IncompatibleKerasConfigurationException("the model configuration has no 'class_name'", key="class_name")
    raise IncompatibleKerasConfigurationException(
        f"model class {class_name!r} is not Sequential, Model or Functional (subclassed models carry "
        "no configuration kconvert can read)", key="class_name")


class _ModelBuilder:
    def __init__(self, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.layers: list[Layer] = []
        self.by_name: dict[str, Layer] = {}
        self.binders: dict[Layer, Binder] = {}
        self.converted: dict[Layer, Converted] = {}
        self.sequential_entries: dict[str, Any] = {}  # a Sequential may list one (shared) layer twice

    # -- layers --------------------------------------------------------------------------------

    def add(self, node: Any) -> Layer:
        if len(self.layers) >= self.ctx.limits.max_layers:
            raise IncompatibleKerasConfigurationException(
                f"the model has more than {self.ctx.limits.max_layers} layers")
        layer, converted = build_layer(node, self.ctx)
        if layer.name in self.by_name:
            raise IncompatibleKerasConfigurationException(f"duplicate layer name '{layer.name}'", layer=layer.name)
        self.layers.append(layer)
        self.by_name[layer.name] = layer
        self.converted[layer] = converted
        if converted.bind is not None:
            self.binders[layer] = converted.bind
        return layer

    def input_layer(self, name: str, shape: tuple, dtype: str) -> Layer:
        override = self.ctx.input_shape_override(name)
        layer = Layer(name, InputLayer(batch_shape=override or shape, dtype=dtype), calls=[Call([])],
                      source_class="InputLayer")
        self.layers.append(layer)
        self.by_name[layer.name] = layer
        return layer

    def finish(self, name: str, inputs: list[TensorRef], outputs: list[TensorRef], structure: str) -> BuiltModel:
        model = Model(name, self.layers, inputs, outputs, structure=structure, report=self.ctx.report)  # type: ignore[arg-type]
        return BuiltModel(model, self.binders)

    # -- Sequential ----------------------------------------------------------------------------

    def sequential(self, config: Any, nested: bool) -> BuiltModel:
        if isinstance(config, dict):
            entries = config.get("layers")
            name = config.get("name") or "sequential"
            build_shape = config.get("build_input_shape")
        else:
            entries, name, build_shape = config, "sequential", None
        if not isinstance(entries, list) or not entries:
            raise IncompatibleKerasConfigurationException("a Sequential model needs a non-empty list of layers",
                                                          key="layers")
        inputs, output = self.chain(entries, build_shape, nested)
        structure = "sequential" if len(inputs) == 1 else "functional"
        return self.finish(str(name), inputs, [output], structure)

    def chain(self, entries: list[Any], build_shape: Any, nested: bool) -> tuple[list[TensorRef], TensorRef]:
        """Connect a Sequential list; returns its input tensors and its output tensor."""
        entries = [_legacy_entry(e) for e in entries]
        first, rest = entries[0], entries[1:]
        if _is_branching_merge(first):
            inputs, prev = self.branches(first)
        elif isinstance(first, dict) and first.get("class_name") == "InputLayer":
            layer = self.add(first)
            layer.calls = [Call([])]
            inputs = [TensorRef(layer.name)]
            prev = inputs[0]
        else:
            prev = self.implicit_input(first, build_shape, nested)
            inputs, rest = [prev], entries
        for entry in rest:
            prev = self.call(entry, [prev])
        return inputs, prev

    def call(self, entry: Any, inputs: list[TensorRef]) -> TensorRef:
        """Add (or reuse, for a layer appearing twice) a layer and call it on ``inputs``."""
        name = _entry_name(entry)
        layer = self.by_name.get(name) if name else None
        if layer is None:
            layer = self.add(entry)
            self.sequential_entries[layer.name] = entry
        elif self.sequential_entries.get(layer.name) != entry:  # the same name for another layer
            raise IncompatibleKerasConfigurationException(f"duplicate layer name '{name}' for layers configured "
                                                          "differently", layer=name)
        layer.calls.append(Call(list(inputs)))
        return TensorRef(layer.name, len(layer.calls) - 1)

    def implicit_input(self, first: Any, build_shape: Any, nested: bool) -> TensorRef:
        """The input layer Keras creates for a Sequential whose first layer declares a shape."""
        config = first.get("config") if isinstance(first, dict) else None
        config = config if isinstance(config, dict) else {}
        shape = _declared_shape(config)
        if shape is None and isinstance(build_shape, list):
            shape = tuple(build_shape)
        first_name = _entry_name(first) or "layer"
        if shape is not None:
            shape = self.checked_shape(shape, first_name)
        name = f"{first_name}_input"
        if shape is None:
            if self.ctx.input_shape_override(name) is None and not nested:
                raise IncompatibleKerasConfigurationException(
                    "the Sequential model's first layer declares no input shape (batch_input_shape), so "
                    f"the model was never built; pass input_shapes={{'{name}': (...)}} to kconvert.load",
                    layer=first_name, key="batch_input_shape")
            shape = None  # filled in from the caller's input when nested
        try:
            dtype = parse_dtype(config.get("dtype") or config.get("input_dtype")) or "float32"
        except KConvertError:
            dtype = "float32"
        if dtype.startswith("mixed_"):
            dtype = "float32"
        layer = self.input_layer(name, shape, dtype)  # type: ignore[arg-type]
        return TensorRef(layer.name)

    def checked_shape(self, shape: tuple, layer: str) -> tuple[int | None, ...]:
        """A declared input shape's dimensions: None (unknown) or sizes within the limits."""
        try:
            return tuple(None if d is None else self.ctx.limits.integer(d, 0) for d in shape)
        except ValueError as exc:
            raise IncompatibleKerasConfigurationException(f"input shape {_short(list(shape))}: {exc}", layer=layer,
                                                          key="batch_input_shape") from None

    def branches(self, merge_entry: dict[str, Any]) -> tuple[list[TensorRef], TensorRef]:
        """Keras 1 ``Sequential([Merge([model_a, model_b], ...), ...])``: each branch becomes a chain."""
        config = dict(merge_entry["config"])
        inputs: list[TensorRef] = []
        outputs: list[TensorRef] = []
        for branch in config.pop("layers"):
            if isinstance(branch, dict) and branch.get("class_name") == "Sequential":
                branch_config = branch.get("config")
                entries = branch_config.get("layers") if isinstance(branch_config, dict) else branch_config
                if not isinstance(entries, list) or not entries:
                    raise IncompatibleKerasConfigurationException("a Merge branch has no layers", key="layers")
                branch_inputs, out = self.chain(entries, None, False)
            else:
                branch_inputs, out = self.chain([branch], None, False)
            inputs += branch_inputs
            outputs.append(out)
        self.ctx.note("rewritten", "Keras 1 Sequential with a Merge of sub-models read as a "
                      f"{len(inputs)}-input graph", layer=_entry_name(merge_entry))
        return inputs, self.call({**merge_entry, "config": config}, outputs)

    # -- functional ----------------------------------------------------------------------------

    def functional(self, config: Any, class_name: str) -> BuiltModel:
        if not isinstance(config, dict):
            raise IncompatibleKerasConfigurationException(f"a {class_name} config must be an object", key="config")
        entries = config.get("layers")
        if not isinstance(entries, list) or not entries:
            raise IncompatibleKerasConfigurationException("the model has no 'layers' list", key="layers")
        nodes: dict[Layer, list[Any]] = {}
        for entry in entries:
            layer = self.add(entry)
            raw_nodes = entry.get("inbound_nodes") if isinstance(entry, dict) else None
            if raw_nodes is not None and not isinstance(raw_nodes, list):
                raise IncompatibleKerasConfigurationException("inbound_nodes must be a list", layer=layer.name,
                                                              key="inbound_nodes")
            nodes[layer] = raw_nodes or []
        for layer, raw_nodes in nodes.items():
            if isinstance(layer.config, InputLayer):
                layer.calls = [Call([])]
                continue
            try:
                layer.calls = [self.parse_node(n, layer) for n in raw_nodes]
            except KConvertError as exc:
                raise exc.with_context(layer=layer.name, layer_class=layer.source_class, key="inbound_nodes") from None
        inputs, input_structure = self.refs(config.get("input_layers"), "input_layers")
        outputs, output_structure = self.refs(config.get("output_layers"), "output_layers")
        self.fix_nested_node_indices(inputs, outputs)
        built = self.finish(str(config.get("name") or "model"), inputs, outputs, "functional")
        built.model.input_structure, built.model.output_structure = input_structure, output_structure
        return built

    def refs(self, value: Any, key: str) -> tuple[list[TensorRef], Structure]:
        """The flat tensors of ``input_layers``/``output_layers`` and how Keras groups them: a
        single ``[layer, node, tensor]``, a list of them, or (Keras 3, tf.keras 2) dicts and lists
        nested around them."""
        try:
            leaves, structure = parse(value, _is_ref)
        except StructureError as exc:
            raise IncompatibleKerasConfigurationException(
                f"'{key}' must be [layer, node, tensor] entries, in lists or dicts: {exc}", key=key) from None
        return [self.ref(v, key) for v in leaves], structure

    def ref(self, value: Any, key: str) -> TensorRef:
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            config = value.get("config")
            history = config.get("keras_history") if isinstance(config, dict) else None
            return self.ref(history, key)
        if (isinstance(value, (list, tuple)) and len(value) >= 3 and isinstance(value[0], str)
                and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value[1:3])):
            return TensorRef(value[0], value[1], value[2])
        raise IncompatibleKerasConfigurationException(f"malformed tensor reference {value!r}", key=key)

    def parse_node(self, node: Any, layer: Layer) -> Call:
        """One inbound node, in the Keras 1/2 list form or the Keras 3 dict form."""
        kwargs: dict[str, Any] = {}
        inputs: list[TensorRef] = []
        if isinstance(node, dict):  # Keras 3
            args, raw_kwargs = node.get("args") or [], node.get("kwargs") or {}
            if not isinstance(args, list) or not isinstance(raw_kwargs, dict):
                raise IncompatibleKerasConfigurationException(f"malformed inbound node {_short(node)}")
            for arg in args:
                inputs += self.tensors_in(arg)
        elif isinstance(node, list):
            raw_kwargs = {}
            for entry in node_entries(node):
                if not is_constant_entry(entry):  # a constant argument of a tf.* call: its converter reads it
                    inputs.append(self.ref(entry, "inbound_nodes"))
                if isinstance(entry, list) and len(entry) > 3 and isinstance(entry[3], dict):
                    raw_kwargs.update(entry[3])
        else:
            raise IncompatibleKerasConfigurationException(f"malformed inbound node {node!r}")
        if LISTED_INPUTS in raw_kwargs:  # kconvert's TF.js nodes list each distinct tensor once
            inputs = _listed_inputs(inputs, raw_kwargs.pop(LISTED_INPUTS))
        converted = self.converted[layer]
        for key in converted.tensor_kwargs:  # Keras 3 tensors, tf.keras [layer, node, tensor] lists
            value = raw_kwargs.get(key)
            if is_tensor_entry(value) or self.tensors_in(value):
                inputs += self.tensors_in(value) or [self.ref(value, key)]
            elif isinstance(value, list):  # neither a tensor nor a constant a converter could read
                raise IncompatibleKerasConfigurationException(f"malformed tensor reference {_short(value)}", key=key)
        if (isinstance(node, dict) and self.tensor_arguments(node) > 1 and "mask" not in raw_kwargs
                and not converted.masks_per_argument):
            # Keras 3 fills in a mask only for calls with a single tensor argument: an RNN given
            # initial_state tensors, say, gets none (Keras 2 passed the first input's)
            kwargs["mask"] = None
        consumed = set(converted.call_kwargs) | set(converted.tensor_kwargs) | _DROPPED_CALL_KWARGS
        for key, value in raw_kwargs.items():
            if key in consumed:
                continue
            tensors = self.tensors_in(value)
            if key == "initial_state" and tensors:
                inputs += tensors
            elif key == "mask":
                kwargs["mask"] = (tensors if len(tensors) > 1 else tensors[0]) if tensors else None
            elif value is not None:
                self.ctx.note("ignored-key", f"call argument {key}={_short(value)} is not read by kconvert",
                              layer=layer.name, key=key, severity="warning")
        return Call(inputs, kwargs)

    def tensor_arguments(self, node: dict[str, Any]) -> int:
        """How many arguments of a Keras 3 call carry tensors (a list of tensors counts once)."""
        kwargs = node.get("kwargs") or {}
        return (sum(1 for arg in node.get("args") or [] if self.tensors_in(arg))
                + sum(1 for key, value in kwargs.items() if key != "mask" and self.tensors_in(value)))

    def tensors_in(self, value: Any) -> list[TensorRef]:
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            return [self.ref(value, "inbound_nodes")]
        if isinstance(value, list):
            return [t for v in value for t in self.tensors_in(v)]
        return []

    def fix_nested_node_indices(self, inputs: list[TensorRef], outputs: list[TensorRef]) -> None:
        """Keras numbers the calls of a nested model from 1 (its own graph is call 0); undo that."""
        nested = {layer.name: layer for layer in self.layers if isinstance(layer.config, NestedModel)}
        if not nested:
            return
        all_refs = [r for layer in self.layers for c in layer.calls for r in c.refs()] + inputs + outputs
        offsets: dict[str, int] = {}
        for name, layer in nested.items():
            used = [r.node for r in all_refs if r.layer == name]
            if used and max(used) >= len(layer.calls):
                offsets[name] = 1
            elif 0 in used:
                offsets[name] = 0
            else:
                offsets[name] = 1 if self.ctx.generation < 3 or layer.source_class != "Sequential" else 0
        if not any(offsets.values()):
            return

        def fix(ref: TensorRef) -> TensorRef:
            off = offsets.get(ref.layer, 0)
            return TensorRef(ref.layer, ref.node - off, ref.index) if off else ref

        for layer in self.layers:
            for call in layer.calls:
                call.inputs = [fix(r) for r in call.inputs]
                mask = call.kwargs.get("mask")
                if isinstance(mask, TensorRef):
                    call.kwargs["mask"] = fix(mask)
                elif isinstance(mask, list):
                    call.kwargs["mask"] = [fix(r) for r in mask]
        inputs[:] = [fix(r) for r in inputs]
        outputs[:] = [fix(r) for r in outputs]


def _listed_inputs(entries: list[TensorRef], order: Any) -> list[TensorRef]:
    if not (isinstance(order, list) and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(entries)
                                            for i in order)):
        raise IncompatibleKerasConfigurationException(f"malformed {LISTED_INPUTS} {_short(order)}", key=LISTED_INPUTS)
    return [entries[i] for i in order]


def node_entries(node: list[Any]) -> list[Any]:
    """A tf.keras 2 node's entries: tf.keras writes the node of a ``tf.*`` call on one tensor as a
    single flat entry ``[layer, node, tensor, kwargs]`` rather than a list of them."""
    return [node] if node and isinstance(node[0], str) else node


def is_constant_entry(entry: Any) -> bool:
    """tf.keras 2 writes a constant positional argument of a ``tf.*`` call (``2.0 - x``) as
    ``["_CONSTANT_VALUE", -1, value, kwargs]``."""
    return isinstance(entry, list) and len(entry) >= 3 and entry[0] == "_CONSTANT_VALUE" and entry[1] == -1


def is_tensor_entry(value: Any) -> bool:
    """A tf.keras 2 tensor reference ``[layer, node, tensor]`` inside a call's keyword arguments."""
    return (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:]))


def _is_ref(value: Any) -> bool:
    """A model input/output entry: ``[layer, node, tensor]`` or a Keras 3 ``__keras_tensor__``."""
    if isinstance(value, dict):
        return value.get("class_name") == "__keras_tensor__"
    return isinstance(value, list) and len(value) >= 3 and isinstance(value[0], str)


def _is_branching_merge(entry: Any) -> bool:
    config = entry.get("config") if isinstance(entry, dict) else None
    return (isinstance(config, dict) and entry.get("class_name") == "Merge"
            and isinstance(config.get("layers"), list))


def _legacy_entry(entry: Any) -> Any:
    """Pre-1.0 Sequential entries had no class_name: the class was 'name', the name 'custom_name'."""
    if isinstance(entry, dict) and "class_name" not in entry and isinstance(entry.get("name"), str):
        config = {k: v for k, v in entry.items() if k not in ("name", "custom_name")}
        config["name"] = entry.get("custom_name") or entry["name"].lower()
        return {"class_name": entry["name"], "config": config}
    return entry


def _entry_name(entry: Any) -> str | None:
    if isinstance(entry, dict):
        config = entry.get("config")
        name = config.get("name") if isinstance(config, dict) else None
        return name if isinstance(name, str) else entry.get("name")
    return None


def _declared_shape(config: dict[str, Any]) -> tuple | None:
    for key in ("batch_input_shape", "batch_shape"):
        if isinstance(config.get(key), list):
            return tuple(config[key])
    if isinstance(config.get("input_shape"), list):
        return (config.get("batch_size"), *config["input_shape"])
    if isinstance(config.get("input_dim"), int) and "output_dim" in config and "input_length" not in config:
        return (None, config["input_dim"])  # Keras 1 Dense(input_dim=...)
    return None


def _short(value: Any) -> str:
    text = re.sub(r"\s+", " ", repr(value))
    return text if len(text) < 60 else text[:57] + "..."
