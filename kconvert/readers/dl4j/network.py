"""What the MultiLayerNetwork and ComputationGraph readers share: the IR layers built so far, and
a network input's shape, derived from the layer reading it (DL4J records none)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from kconvert.ir.graph import Call, Layer, ShapeMap, TensorRef, call_shapes
from kconvert.ir.layers import core
from kconvert.ir.shapes import Shape
from kconvert.errors import KConvertError
from kconvert.readers.dl4j.layer import FIRST_LAYER_INPUTS, SOURCE, Entry, Parameters, convert_layer, first_input_shape, weights
from kconvert.readers.dl4j.preprocessors import declared_input, preprocess, sized_by_layer
from kconvert.readers.dl4j.sizes import Declared, given_shape
from kconvert.readers.dl4j.spec import LayerSpec


@dataclass
class Chain:
    """IR layers appended one after another, with their output shapes inferred as they come, and the
    shapes the configuration declares for their inputs (which decide the network's input sizes)."""

    inputs: list[TensorRef]
    #: the input shapes the user gives (by name, batch left out)
    given: Mapping[str, tuple[int | None, ...]] = field(default_factory=dict)
    layers: list[Layer] = field(default_factory=list)
    shapes: ShapeMap = field(default_factory=dict)
    declared: list[Declared] = field(default_factory=list)

    def shape(self, ref: TensorRef) -> Shape:
        return self.shapes[(ref.layer, ref.node)][ref.index]

    def add(self, layer: Layer) -> TensorRef:
        self.layers.append(layer)
        self.shapes[(layer.name, 0)] = call_shapes(layer, 0, self.shapes)
        return TensorRef(layer.name)

    def add_input(self, name: str, shape: Shape | None) -> TensorRef:
        """Input ``name`` of the shape derived from the configuration, or given (and checked against it)."""
        return self.add(Layer(name, core.InputLayer(batch_shape=given_shape(name, shape, self.given)),
                              calls=[Call([])]))

    def extend(self, entries: list[Entry], source: TensorRef) -> TensorRef:
        """Each entry called on the previous one's output (or on the entries it names), the first on ``source``."""
        made = {SOURCE: source}
        for name, config, arrays, *wired in entries:
            inputs = [made[n] for n in wired[0]] if wired else [source]
            source = made[name] = self.add(Layer(name, config, weights(arrays), [Call(inputs)]))
        return source

    def add_layer(self, spec: LayerSpec, source: TensorRef, params: Parameters) -> TensorRef:
        """One DL4J layer, called on ``source``."""
        if spec.cls in FIRST_LAYER_INPUTS and spec.get("nin") is not None:
            self.declare(source, first_input_shape(spec))
        return self.extend(convert_layer(spec, self.shape(source), params), source)

    def preprocessed(self, raw: Any, name: str, source: TensorRef) -> TensorRef:
        """The IR layers of a preprocessor (in front of layer or vertex ``name``) called on ``source``."""
        entries = preprocess(raw, name)
        try:
            shape = declared_input(raw)
        except KConvertError:
            shape = None  # a preprocessor declaring no input shape
        if shape is not None:
            self.declare(source, shape)
        return self.extend(entries, source)

    def declare(self, ref: TensorRef, shape: Shape) -> None:
        """Keep what the configuration says ``ref``'s shape is (where it is of that rank)."""
        if len(shape) == len(self.shape(ref)):
            self.declared.append(Declared(ref, shape))


def input_shape(spec: LayerSpec, preprocessor: dict[str, Any] | None) -> Shape:
    """The shape a network input must have for its first layer and that layer's preprocessor."""
    if preprocessor is not None:
        shape = declared_input(preprocessor)
        return sized_by_layer(preprocessor, first_input_shape(spec)) if shape is None else shape
    return first_input_shape(spec)
