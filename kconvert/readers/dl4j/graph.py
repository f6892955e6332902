"""A DL4J ``ComputationGraphConfiguration`` (``vertices``) as an IR model."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping

from kconvert.errors import IncompatibleKerasConfigurationException, InputReadError, KConvertError
from kconvert.formats.dl4j import GRAPH
from kconvert.ir.graph import Call, Layer, Model, TensorRef
from kconvert.ir.layers import core
from kconvert.ir.shapes import Shape
from kconvert.readers.dl4j.layer import Parameters
from kconvert.readers.dl4j.network import Chain, input_shape
from kconvert.readers.dl4j.preprocessors import declared_input
from kconvert.readers.dl4j.sizes import Declared
from kconvert.readers.dl4j.spec import Keys, java_object, layer_spec, strings
from kconvert.readers.dl4j.vertices import DL4J_VERTICES, unsupported


def read_graph(document: dict[str, Any], params: Parameters,
               given: Mapping[str, tuple[int | None, ...]]) -> tuple[Model, list[Declared]]:
    """The vertices in topological order (the saved one, else derived), after the network inputs; and the
    shapes the configuration declares on the way (``given``: input shapes as the user gives them)."""
    inputs, outputs = strings(document, "networkInputs"), strings(document, "networkOutputs")
    vertices = document.get("vertices")
    if not inputs or not outputs or not isinstance(vertices, dict):
        raise InputReadError("a ComputationGraphConfiguration without inputs, outputs or vertices",
                             file=params.display)
    edges = Keys(document).get("vertexInputs", {})
    if not isinstance(edges, dict):
        raise IncompatibleKerasConfigurationException("expected an object", key="vertexInputs")
    vertex_inputs = {str(k): strings(edges, k) for k in edges}
    classes = {name: java_object(v, "a graph vertex", GRAPH) for name, v in vertices.items()}
    order = strings(document, "topologicalOrderStr") or _kahn(inputs, vertices, vertex_inputs)
    if sorted(order) != sorted([*inputs, *classes]):
        raise IncompatibleKerasConfigurationException(
            "the topological order does not list exactly the inputs and vertices", key="topologicalOrderStr")
    _refuse_in_place_activations(document, inputs, outputs, classes, vertex_inputs)
    builder = ComputationGraphBuilder(params, classes, vertex_inputs, order, Chain([TensorRef(i) for i in inputs], given))
    builder.add_inputs(inputs, document.get("networkInputTypes"))
    for name in order:
        if name not in inputs:
            builder.add_vertex(name)
    unknown = [o for o in outputs if o not in builder.produced]
    if unknown:
        raise IncompatibleKerasConfigurationException(f"outputs {unknown} name no vertex", key="networkOutputs")
    model = Model("dl4j", builder.chain.layers, builder.chain.inputs, [builder.produced[o] for o in outputs])
    return model, builder.chain.declared


def _layer_class(vertex: tuple[str, dict[str, Any]]) -> str:
    kind, body = vertex
    conf = body.get("layerConf") if kind == "LayerVertex" else None
    layer = conf.get("layer") if isinstance(conf, dict) else None
    return str(layer.get("@class", "")).rsplit(".", 1)[-1] if isinstance(layer, dict) else ""


def _refuse_in_place_activations(document: dict[str, Any], inputs: list[str], outputs: list[str],
                                 vertices: dict[str, tuple[str, dict[str, Any]]],
                                 vertex_inputs: dict[str, list[str]]) -> None:
    """At inference DL4J's ActivationLayer applies its function to its input array itself unless its
    workspace copies it, which it does not for a network input, a network output or with workspaces
    off.  Another vertex reading that array (directly or through vertices that pass it on) then
    reads the activated values or not by DL4J's evaluation order: refused, naming the layer."""
    readers = Counter(source for names in vertex_inputs.values() for source in names)
    readers.update(outputs)
    no_workspaces = document.get("inferenceWorkspaceMode") == "NONE"
    passes_on = {name for name, vertex in vertices.items()
                 if vertex[0] == "PreprocessorVertex" or _layer_class(vertex) in ("ActivationLayer", "DropoutLayer")}
    for name, vertex in vertices.items():
        if _layer_class(vertex) != "ActivationLayer" or not vertex_inputs.get(name):
            continue
        chain, source = [], vertex_inputs[name][0]
        while True:
            chain.append(source)
            if source not in passes_on or not vertex_inputs.get(source):
                break
            source = vertex_inputs[source][0]
        uncopied = no_workspaces or source in inputs or any(s in outputs for s in chain)
        shared = next((s for s in chain if readers[s] > 1), None)
        if uncopied and shared is not None:
            raise IncompatibleKerasConfigurationException(
                f"an ActivationLayer that Deeplearning4j applies in place to the array of '{shared}', which "
                f"{'is a network output' if shared in outputs else 'another vertex also reads'}: what that "
                "reader sees depends on DL4J's evaluation order", layer=name)


@dataclass
class ComputationGraphBuilder:
    """A graph's IR layers, added input by input and vertex by vertex; ``produced`` maps each
    input or vertex name to its output."""

    params: Parameters
    #: vertex name -> its class (relative to the graph package) and keys
    vertices: dict[str, tuple[str, dict[str, Any]]]
    vertex_inputs: dict[str, list[str]]
    order: list[str]
    chain: Chain
    produced: dict[str, TensorRef] = field(default_factory=dict)

    def add_inputs(self, inputs: list[str], types: Any) -> None:
        """The network inputs, shaped by their saved InputTypes, else by the vertex reading them."""
        if isinstance(types, list) and len(types) == len(inputs) and all(types):
            for name, raw in zip(inputs, types):
                try:
                    self.produced[name] = self.chain.add_input(name, _input_type_shape(raw))
                except KConvertError as exc:
                    raise exc.with_context(layer=name, key="networkInputTypes") from None
        for name in inputs:
            if name not in self.produced:
                derived = None  # then as given
                try:
                    derived = self._derived_input_shape(name)
                except KConvertError:
                    if name not in self.chain.given:
                        raise
                self.produced[name] = self.chain.add_input(name, derived)

    def _derived_input_shape(self, name: str) -> Shape:
        """Input ``name``'s shape from the first vertex reading it: a layer or a preprocessor declaring a size."""
        consumer = next((v for v in self.order if name in self.vertex_inputs.get(v, [])), None)
        kind, body = self.vertices.get(consumer, ("", {})) if consumer else ("", {})
        shape = declared_input(body.get("preProcessor")) if kind == "PreprocessorVertex" else None
        if kind == "LayerVertex":
            conf = body.get("layerConf")
            spec = layer_spec(conf.get("layer") if isinstance(conf, dict) else None, consumer)  # type: ignore[arg-type]
            shape = input_shape(spec, body.get("preProcessor"))
        if shape is None:
            raise IncompatibleKerasConfigurationException(
                f"network input {name} feeds no layer or preprocessor declaring a size: its shape cannot be "
                "derived", layer=name)
        return shape

    def add_vertex(self, name: str) -> None:
        kind, body = self.vertices[name]
        missing = [s for s in self.vertex_inputs.get(name, []) if s not in self.produced]
        if missing:
            raise IncompatibleKerasConfigurationException(
                f"reads {missing}, which no earlier vertex produces", layer=name, key="vertexInputs")
        sources = [self.produced[s] for s in self.vertex_inputs.get(name, [])]
        if kind == "LayerVertex":
            self.produced[name] = self._layer_vertex(name, body, sources)
            return
        convert = DL4J_VERTICES.get(kind)
        if convert is None:
            raise unsupported(kind, name)
        made = convert(name, Keys(body), [self.chain.shape(s) for s in sources])
        if isinstance(made, list):  # entries applied to the vertex's first input (the others only inform them)
            last = made[-1] if made else (name, core.Identity(), {})
            made = [*made[:-1], (name, *last[1:])]  # the vertex's name on its output
            self.produced[name] = self.chain.extend(made, sources[0])
            return
        self.produced[name] = self.chain.add(Layer(name, made, {}, [Call(sources)]))

    def _layer_vertex(self, name: str, body: dict[str, Any], sources: list[TensorRef]) -> TensorRef:
        """A layer (named for its vertex) behind its preprocessor, if any."""
        conf = body.get("layerConf")
        if not isinstance(conf, dict):
            raise IncompatibleKerasConfigurationException("a layer vertex without its layerConf", layer=name)
        spec = layer_spec(conf.get("layer"), name)
        spec.name = name
        spec.variables = strings(conf, "variables")
        if len(sources) != 1:
            raise spec.error(f"a layer vertex with {len(sources)} inputs")
        current = sources[0]
        if body.get("preProcessor"):
            current = self.chain.preprocessed(body["preProcessor"], name, current)
        return self.chain.add_layer(spec, current, self.params)


def _input_type_shape(raw: Any) -> Shape:
    """A network input's shape from its InputType JSON (-1 or absent: unknown), in the array layout
    the InputType's format names."""
    cls, body = java_object(raw, "an input type", "org.deeplearning4j.nn.conf.inputs.InputType$InputType")
    keys = Keys(body)

    def dim(key: str) -> int | None:
        value = keys.integer(key, -1, minimum=-1)
        return None if value <= 0 else value
    if cls == "FeedForward":
        return (None, dim("size"))
    if cls == "Recurrent":
        if keys.text("format", "NCW") == "NWC":
            return (None, dim("timeSeriesLength"), dim("size"))
        return (None, dim("size"), dim("timeSeriesLength"))
    if cls == "Convolutional":
        h, w, c = dim("height"), dim("width"), dim("channels")
        return (None, h, w, c) if keys.text("format", "NCHW") == "NHWC" else (None, c, h, w)
    if cls == "Convolutional3D":
        d, h, w, c = dim("depth"), dim("height"), dim("width"), dim("channels")
        return (None, d, h, w, c) if keys.text("dataFormat", "NCDHW") == "NDHWC" else (None, c, d, h, w)
    raise IncompatibleKerasConfigurationException(f"input type {cls}: not supported")


def _kahn(inputs: list[str], vertices: dict[str, Any], vertex_inputs: dict[str, list[str]]) -> list[str]:
    """A topological order of a graph saved without one."""
    order, done = list(inputs), set(inputs)
    pending = [v for v in vertices if v not in done]
    while pending:
        ready = [v for v in pending if all(s in done for s in vertex_inputs.get(v, []))]
        if not ready:
            raise IncompatibleKerasConfigurationException("the graph has a cycle or a missing vertex input")
        for v in ready:
            order.append(v)
            done.add(v)
        pending = [v for v in pending if v not in done]
    return order
