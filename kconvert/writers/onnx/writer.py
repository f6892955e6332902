"""Writing an IR model as an ONNX model (``.onnx``), with the ``onnx`` package.

The model is lowered (:data:`~kconvert.writers.onnx.rules.ONNX_TARGET`), every layer call is emitted
through the registry (:data:`~kconvert.writers.onnx.emit.EMITTERS`) -- refusing, before anything is
written, what ONNX cannot compute -- and the model is written atomically: weights embedded, or past
``external_above`` bytes streamed to ``<name>.onnx.data`` beside it.

Inputs and outputs keep the source's names and layout (channels-last images stay channels-last;
inside, convolutions run channels-first with Transposes only where a layout must change, see
:mod:`kconvert.writers.onnx.graph`); ``io_layout="channels_first"`` makes image inputs and outputs
channels-first instead.  The batch dimension is symbolic.  Training settings are dropped, with a note.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException, UnsupportedKerasConfigurationException
from kconvert.formats.onnx import (ACTIVATIONS_KEY, BATCH, DEFAULT_OPSET, EXTERNAL_DATA_ABOVE, IO_PERMS_KEY,
                                   MIN_OPSET, external_data_path)
from kconvert.ir.graph import Call, Layer, Model, TensorRef
from kconvert.ir.shapes import Shape
from kconvert.rewrite.lowering import lower
from kconvert.writers.context import WriteContext, Written
from kconvert.writers.onnx import emitters  # noqa: F401  (registers the emitters)
from kconvert.writers.onnx.emit import EMITTERS, Emit
from kconvert.writers.onnx.external import embedded, streamed, written_dtype
from kconvert.writers.onnx.graph import Graph, Perm, Value, channels_first, identity
from kconvert.writers.onnx.rules import ONNX_TARGET
from kconvert.writers.output import atomic_files

IoLayout = Literal["source", "channels_first"]


def write_onnx(model: Model, output: str | os.PathLike[str], *, overwrite: bool = False,
               enforce_training_config: bool = False, opset: int = DEFAULT_OPSET,
               io_layout: IoLayout = "source", external_above: int = EXTERNAL_DATA_ABOVE) -> Written:
    """Write ``model`` to the file ``output`` (and ``output.data`` when its weights go beside it)."""
    if not MIN_OPSET <= opset <= onnx.defs.onnx_opset_version():
        raise ValueError(f"opset {opset} is outside {MIN_OPSET}..{onnx.defs.onnx_opset_version()} (the installed "
                         "onnx package's newest)")
    if io_layout not in ("source", "channels_first"):
        raise ValueError(f"unknown io_layout {io_layout!r}; expected source or channels_first")
    ctx = WriteContext("onnx", enforce_training_config)
    if model.lacks_weights:
        raise IncompatibleKerasConfigurationException(f"model '{model.name}' has no weights loaded (a configuration "
                                                      "only): ONNX models hold their weights")
    lowered = lower(model, ONNX_TARGET, ctx)
    _drop_training(lowered, ctx)
    builder = _Builder(lowered, Graph(opset), ctx, io_layout)
    graph, io, probes = builder.build()
    path = Path(output)
    total = sum(written_dtype(i.weight.dtype).itemsize * i.weight.size for i in graph.initializers)
    external = total > external_above
    targets = [path, external_data_path(path)] if external else [path]
    with atomic_files(targets, overwrite) as staged:
        if external:
            with open(staged[1], "wb") as data:
                tensors = streamed(graph.initializers, data, targets[1].name)
        else:
            tensors = [embedded(i) for i in graph.initializers]
        proto = _model(lowered, graph, tensors, io, {ACTIVATIONS_KEY: json.dumps(probes),
                                                     IO_PERMS_KEY: json.dumps(builder.io_perms())})
        _type_check(proto)
        staged[0].write_bytes(proto.SerializeToString())
    weights = sum(1 for i in graph.initializers if i.weight.origin != "memory")
    return Written(path, targets, ctx.report, weights=weights, weight_bytes=total)


def _type_check(proto: onnx.ModelProto) -> None:
    """Refuse to write a graph ONNX's own type and shape inference rejects (operands of different
    types, say), naming the layer whose node it is: no file a runtime would not load is written.
    Inference reads initializers' types and shapes, not their data, so external data need not exist."""
    try:
        onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    except onnx.shape_inference.InferenceError as exc:
        reason = " ".join(str(exc).split())
        node = re.search(r"node(?: name:)? \(?([^),]+)", reason)  # nodes are named LAYER/OP
        raise IncompatibleKerasConfigurationException(
            f"kconvert's ONNX graph for it is rejected by ONNX's type and shape inference ({reason[:300]})",
            layer=node.group(1).split("/")[0] if node else None) from None


def _drop_training(model: Model, ctx: WriteContext) -> None:
    """ONNX models here are for inference: training settings are noted, or refused when enforced."""
    if model.training is not None:
        ctx.unsupported(UnsupportedKerasConfigurationException(
            "the training configuration (optimizer, loss, metrics) is not written: ONNX holds inference graphs"))
    for layer in model.iter_layers():
        dropped = [f"{name} {kind}" for name, s in layer.weight_settings.items()
                   for kind in ("regularizer", "constraint") if getattr(s, kind) is not None]
        if layer.activity_regularizer is not None:
            dropped.append("activity regularizer")
        if dropped:
            ctx.unsupported(UnsupportedKerasConfigurationException(
                f"{', '.join(dropped)} not written (ONNX holds inference graphs)", layer=layer.name))


class _Builder:
    def __init__(self, model: Model, graph: Graph, ctx: WriteContext, io_layout: IoLayout) -> None:
        self.model, self.graph, self.ctx, self.io_layout = model, graph, ctx, io_layout
        self.values: dict[TensorRef, Value] = {}
        self.masks: dict[TensorRef, Value | None] = {}
        if io_layout == "channels_first" and any(
                getattr(layer.config, "data_format", None) == "channels_first" for layer in model.iter_layers()):
            raise ValueError("io_layout='channels_first' moves channels-last images: this model has channels_first "
                             "layers already")

    def io_perm(self, shape: Shape) -> Perm:
        rank = len(shape)
        return channels_first(rank) if self.io_layout == "channels_first" and rank in (4, 5) else identity(rank)

    def build(self) -> tuple[Graph, tuple[list, list], dict[str, list]]:
        model, graph = self.model, self.graph
        graph.taken.update(model.input_names)
        graph.taken.update(model.output_names)
        inputs = []
        for ref, name in zip(model.inputs, model.input_names):
            layer, shape = model.layer(ref.layer), model.shape_of(ref)
            perm = self.io_perm(shape)
            self.values[ref] = Value(name, perm)
            dtype = layer.config.dtype  # strings (which only a layer's refusal may meet) have no numpy name
            elem = TensorProto.STRING if dtype == "string" else helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
            inputs.append(helper.make_tensor_value_info(name, elem, _dims(shape, perm, name)))
        probes: dict[str, list] = {}
        shapes = model.shapes()
        for layer, node in model.nodes():
            if layer.kind == "InputLayer":
                continue
            call = layer.calls[node]
            outs, masks = self.emit(layer, call.inputs, self.call_masks(call), shapes[(layer.name, node)])
            for i, (value, mask) in enumerate(zip(outs, masks)):
                self.values[TensorRef(layer.name, node, i)] = value
                self.masks[TensorRef(layer.name, node, i)] = mask
            if node == 0:
                probes[layer.name] = [outs[0].name, list(outs[0].perm)]
        outputs, named = [], set()
        for ref, name in zip(model.outputs, model.output_names):
            if name in named:  # a shared layer's two calls may both be outputs under the layer's name
                name = graph.fresh(name)  # (the output names were taken above, for the outputs alone)
            named.add(name)
            value, shape = self.values[ref], model.shape_of(ref)
            perm = self.io_perm(shape)
            if value.perm == perm:
                graph.nodes.append(helper.make_node("Identity", [value.name], [name], name=name))
            else:
                moved = [value.perm.index(p) for p in perm]
                graph.nodes.append(helper.make_node("Transpose", [value.name], [name], name=name, perm=moved))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, _dims(shape, perm, name)))
        return graph, (inputs, outputs), probes

    def io_perms(self) -> dict[str, list[list[int]]]:
        """How each graph input and output permutes the source's axes."""
        return {"inputs": [list(self.io_perm(self.model.shape_of(r))) for r in self.model.inputs],
                "outputs": [list(self.io_perm(self.model.shape_of(r))) for r in self.model.outputs]}

    def call_masks(self, call: Call) -> list[Value | None]:
        """The masks a call receives: its inputs', or those its ``mask`` argument names (as the runtime)."""
        if "mask" not in call.kwargs:
            return [self.masks.get(r) for r in call.inputs]
        explicit = call.kwargs["mask"]
        refs = [] if explicit is None else explicit if isinstance(explicit, list) else [explicit]
        masks: list[Value | None] = []
        for ref in refs:
            value = self.graph.in_layout(self.values[ref], identity(self.values[ref].rank))
            masks.append(Value(self.graph.op("Cast", [value.name], ref.layer, to=TensorProto.BOOL), value.perm))
        return masks + [None] * (len(call.inputs) - len(refs))

    def emit(self, layer: Layer, refs: list[TensorRef], masks: list[Value | None],
             outputs: list[Shape]) -> tuple[list[Value], list[Value | None]]:
        emitter = EMITTERS.get(layer.kind)
        if emitter is None or layer.kind in ONNX_TARGET.lacks:
            why = ONNX_TARGET.lacks.get(layer.kind) or f"has no ONNX operators for {layer.kind}"
            raise layer.context_error(IncompatibleKerasConfigurationException(f"the ONNX writer {why}"))
        em = Emit(layer, [self.values[r] for r in refs], [self.model.shape_of(r) for r in refs], outputs,
                  self.graph, self.ctx, masks)
        values = emitter(em)
        if len(values) != len(outputs):
            raise AssertionError(f"the {layer.kind} emitter gave {len(values)} outputs for {len(outputs)}")
        if em.out_masks is not None:
            return values, em.out_masks + [None] * (len(values) - len(em.out_masks))
        passed = masks[0] if masks and layer.config.passes_mask else None
        return values, [passed] * len(values)


def _dims(shape: Shape, perm: Perm, name: str) -> list[int | str]:
    """The ONNX shape: the batch symbolic, other unknown sizes named after the tensor and axis."""
    dims = [BATCH if i == 0 else (d if d is not None else f"{name}_{i}") for i, d in enumerate(shape)]
    return [dims[p] for p in perm]


def _model(model: Model, graph: Graph, tensors: list[TensorProto], io: tuple[list, list],
           metadata: dict[str, str]) -> onnx.ModelProto:
    proto_graph = helper.make_graph(graph.nodes, model.name, io[0], io[1], initializer=tensors)
    opsets = [helper.make_opsetid("", graph.opset)]
    proto = helper.make_model(proto_graph, opset_imports=opsets, producer_name="kconvert",
                              producer_version=kconvert.__version__)
    proto.ir_version = helper.find_min_ir_version_for(opsets)
    helper.set_model_props(proto, metadata)
    return proto
