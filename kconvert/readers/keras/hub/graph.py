"""Building a KerasHub architecture as an IR graph, and giving its layers the saved weights.

A KerasHub backbone's file holds its constructor arguments, not its graph: the architecture
modules (``bert.py``, ``gpt2.py``...) rebuild that graph here from IR kinds, and each layer that
has weights names where KerasHub saved them: the top-level layer (by the name its ``vars`` group
records) and the attribute path inside it (``transformer_layer_0``, ``_self_attention_layer``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import h5py

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.graph import Call, Layer, Model, TensorRef
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers.core import InputLayer
from kconvert.ir.report import Report
from kconvert.ir.shapes import Shape
from kconvert.ir.weights import Weight
from kconvert.readers.h5 import H5File

#: where Keras keeps a MultiHeadAttention's weights: its four EinsumDense projections, in the
#: order of the IR kind's weights
_ATTENTION_PARTS = ("query_dense", "key_dense", "value_dense", "output_dense")


#: turns the arrays saved for a layer into the IR kind's weights (their names and shapes given)
Adapt = Callable[[list[Weight], dict[str, Shape]], list[Weight]]


@dataclass(frozen=True)
class Saved:
    """Where KerasHub saved a layer's weights: the top-level layer's name, then attribute keys;
    ``scope``: the nested models (a task's backbone) the layer is inside; ``adapt`` when the IR
    layer holds them in another form than KerasHub's."""

    layer: str
    path: tuple[str, ...] = ()
    adapt: Adapt | None = field(default=None, compare=False)
    scope: tuple[str, ...] = ()

    def __str__(self) -> str:
        return "/".join((*self.scope, self.layer, *self.path))

    def at(self, *keys: str) -> "Saved":
        """The weights saved under attribute ``keys`` of this one."""
        return Saved(self.layer, (*self.path, *keys), scope=self.scope)


@dataclass
class HubGraph:
    """The IR layers of one architecture as they are added, with where each one's weights are."""

    name: str
    layers: list[Layer] = field(default_factory=list)
    inputs: list[TensorRef] = field(default_factory=list)
    saved: dict[str, Saved] = field(default_factory=dict)
    #: the nested model the layers being added are saved in (a task's backbone)
    scope: tuple[str, ...] = ()

    def input(self, name: str, shape: tuple, dtype: str) -> TensorRef:
        self.layers.append(Layer(name, InputLayer(batch_shape=(None, *shape), dtype=dtype), calls=[Call([])],
                                 source_class="InputLayer"))
        self.inputs.append(TensorRef(name))
        return self.inputs[-1]

    def add(self, name: str, config: LayerConfig, *inputs: TensorRef, saved: Saved | None = None) -> TensorRef:
        """Call a new layer ``name`` on ``inputs``; ``saved`` says where its weights are."""
        if any(layer.name == name for layer in self.layers):
            raise IncompatibleKerasConfigurationException(f"duplicate layer name '{name}' in the rebuilt graph")
        self.layers.append(Layer(name, config, calls=[Call(list(inputs))], source_class=type(config).__name__))
        if saved is not None:
            self.saved[name] = replace(saved, scope=self.scope + saved.scope)
        return TensorRef(name)

    def model(self, outputs: list[TensorRef], report: Report) -> Model:
        return Model(self.name, self.layers, list(self.inputs), outputs, report=report)


def bind_saved(graph: HubGraph, model: Model, f: H5File, backbone: H5File | None = None) -> None:
    """Give each layer the weights saved where :attr:`HubGraph.saved` says, checked against the
    shapes the IR kind expects; ``backbone``: where a task preset saved its backbone's weights
    (apart from the head's in ``f``)."""
    # each (nested) model's file and the layers saved in it
    scopes: dict[tuple[str, ...], tuple[H5File, dict[str, h5py.Group]]] = {(): (f, _tops(f, f.file))}
    for layer in model.layers:
        where = graph.saved.get(layer.name)
        if where is None:
            continue
        for depth in range(1, len(where.scope) + 1):
            if where.scope[:depth] not in scopes:
                owner, tops = scopes[where.scope[:depth - 1]]
                outer = tops.get(where.scope[depth - 1])
                if outer is not None:
                    scopes[where.scope[:depth]] = (owner, _tops(owner, outer))
                elif depth == 1 and backbone is not None:
                    scopes[where.scope[:1]] = (backbone, _tops(backbone, backbone.file))
                else:
                    raise IncompatibleKerasConfigurationException(
                        f"the weights of nested model '{where.scope[depth - 1]}' (for layer {layer.name}) are not in "
                        "this file: a KerasHub task preset saves its backbone's weights apart, in model.weights.h5 "
                        "beside task.weights.h5 (read with it when present); read the task's .keras file, or "
                        "the preset's task.json with its task.weights.h5 and model.weights.h5 in one folder")
        owner, tops = scopes[where.scope]
        group = tops.get(where.layer)
        for key in where.path:
            found = group is not None and owner.has(group, key)
            group = owner.get(group, key) if found else None  # type: ignore[arg-type,assignment]
        if group is None:
            raise IncompatibleKerasConfigurationException(f"no saved weights at '{where}' (for layer {layer.name})")
        arrays = _vars(owner, group)
        if layer.kind == "MultiHeadAttention":
            arrays = [w for part in _ATTENTION_PARTS if owner.has(group, part)
                      for w in _vars(owner, owner.get(group, part))]
        expected = layer.config.weight_shapes(model.call_input_shapes(layer, 0))
        if where.adapt is not None:
            arrays = where.adapt(arrays, expected)
        if len(arrays) != len(expected):
            raise IncompatibleKerasConfigurationException(
                f"'{where}' holds {len(arrays)} weight(s), layer {layer.name} ({layer.kind}) needs {len(expected)}")
        for (name, shape), weight in zip(expected.items(), arrays):
            if tuple(shape) != weight.shape:
                raise IncompatibleKerasConfigurationException(
                    f"'{where}': {name} has shape {weight.shape}, layer {layer.name} needs {tuple(shape)}")
        layer.weights = dict(zip(expected, arrays))


def _tops(f: H5File, model: h5py.Group) -> dict[str, h5py.Group]:
    """The layers a (nested) model saved, by the name their ``vars`` group records."""
    holder = f.get(model, "layers") if f.has(model, "layers") else None
    tops: dict[str, h5py.Group] = {}
    for key in f.children(holder) if holder is not None else ():
        group = f.get(holder, key)  # type: ignore[arg-type]
        if isinstance(group, h5py.Group) and f.has(group, "vars"):
            tops.setdefault(f.text_attr(f.get(group, "vars"), "name") or key, group)  # type: ignore[arg-type]
    return tops


def _vars(f: H5File, group: h5py.Group) -> list[Weight]:
    if not f.has(group, "vars"):
        return []
    holder = f.get(group, "vars")
    keys = sorted((k for k in f.children(holder) if k.isdigit()), key=int)  # type: ignore[arg-type]
    return [f.weight(holder, k) for k in keys]  # type: ignore[arg-type]
