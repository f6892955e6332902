"""Cutting a model at named layers: their outputs become the model's inputs (``--inputs-from``).

What comes before a cut is dropped with whatever only fed it: a model that starts with string
preprocessing, or a feature extractor's head, can then be written and run alone.  The new inputs
take the cut layers' names, output shapes and dtypes.  A cut that leaves an old input a way to an
output is refused, since the cut model would then still need that input.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.graph import Call, Layer, Model, TensorRef
from kconvert.ir.layers.core import InputLayer


def cut(model: Model, layers: Sequence[str]) -> Model:
    """``model`` with the outputs of ``layers`` (top-level, called once, one output each) as its
    inputs, in the order given; the source model is left as it is."""
    by_name = {layer.name: layer for layer in model.layers}
    shapes = model.shapes()
    inputs: dict[str, Layer] = {}
    for name in dict.fromkeys(layers):
        layer = by_name.get(name)
        if layer is None:
            raise _refuse(name, f"no layer is named '{name}' (the model's top-level layers can be cut at)")
        if len(layer.calls) != 1 or len(shapes[(name, 0)]) != 1:
            raise _refuse(name, f"is called {len(layer.calls)} time(s) and makes {len(shapes[(name, 0)])} "
                                "output(s); a cut takes the one output of a layer called once")
        inputs[name] = Layer(name, InputLayer(batch_shape=shapes[(name, 0)][0], dtype=output_dtype(layer)),
                             calls=[Call([])], source_class="InputLayer")
    kept = _needed(model, set(inputs), by_name)
    for name in inputs:
        if name not in kept:
            raise _refuse(name, "feeds none of the model's outputs once the other cuts are made")
    for ref in model.inputs:
        if ref.layer in kept and ref.layer not in inputs:
            path = _path(model, ref.layer, set(inputs), by_name)
            raise _refuse(", ".join(inputs), f"the cut leaves input '{ref.layer}' a path to output "
                                             f"'{path[-1]}' (through {' -> '.join(path)}); cut there too")
    new_layers = [inputs.get(layer.name, layer) for layer in model.layers if layer.name in kept]
    cut_model = Model(model.name, new_layers, [TensorRef(n) for n in inputs], list(model.outputs),
                      structure="functional", training=model.training,
                      provenance=replace(model.provenance, inputs_from=tuple(inputs)) if model.provenance else None,
                      report=model.report, output_structure=model.output_structure)
    cut_model.resources = model.resources  # the weights still come from the source's files
    cut_model.validate()
    dropped = len(model.layers) - len(new_layers)
    model.report.add("info", "rewritten", f"cut at {', '.join(inputs)}: their outputs are the model's inputs; "
                                          f"{dropped} layer(s) before them dropped")
    return cut_model


def output_dtype(layer: Layer) -> str:
    """The dtype of a layer's output: an input's own, a kind's stated one (string preprocessing
    makes integers), else its dtype policy's compute dtype."""
    if isinstance(layer.config, InputLayer):
        return layer.config.dtype
    stated = getattr(layer.config, "output_dtype", None)
    if isinstance(stated, str):
        return stated
    return layer.dtype.removeprefix("mixed_")


def _needed(model: Model, cuts: set[str], by_name: dict[str, Layer]) -> set[str]:
    """The layers the outputs need, walking back from them and stopping at the cuts."""
    needed: set[str] = set()
    stack = [r.layer for r in model.outputs]
    while stack:
        name = stack.pop()
        if name in needed:
            continue
        needed.add(name)
        if name not in cuts:
            stack.extend(r.layer for call in by_name[name].calls for r in call.refs())
    return needed


def _path(model: Model, start: str, cuts: set[str], by_name: dict[str, Layer]) -> list[str]:
    """A chain of layers from ``start`` to a model output that passes no cut."""
    users: dict[str, list[str]] = {}
    for layer in model.layers:
        for call in layer.calls:
            for r in call.refs():
                users.setdefault(r.layer, []).append(layer.name)
    outputs = {r.layer for r in model.outputs}
    previous: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        name = queue.pop(0)
        if name in outputs:
            path = [name]
            while previous[path[-1]] is not None:
                path.append(previous[path[-1]])  # type: ignore[arg-type]
            return path[::-1]
        for user in users.get(name, []):
            if user not in previous and user not in cuts:
                previous[user] = name
                queue.append(user)
    return [start]


def _refuse(layer: str, message: str) -> IncompatibleKerasConfigurationException:
    return IncompatibleKerasConfigurationException(f"--inputs-from: {message}", layer=layer)
