"""Layer and weight names as tfjs-layers requires and matches them.

tfjs-layers names a weight ``<scope>/<weight>``: the scope is the owning layer's name, without
the names of enclosing models (so names must be unique across nested models), with
``forward_``/``backward_`` sub-scopes in a Bidirectional and without the wrapped layer's name in a
TimeDistributed.  Layer names must match ``[A-Za-z0-9][-A-Za-z0-9._]*``; others are rewritten.
"""

from __future__ import annotations

import re
from typing import Iterator

from kconvert.ir.graph import Layer, Model
from kconvert.ir.weights import Weight
from kconvert.writers.context import WriteContext

_INVALID = re.compile(r"[^-A-Za-z0-9._]")


def layer_names(model: Model, ctx: WriteContext) -> dict[int, str]:
    """The name each layer is written under, by ``id``, for the layers that need a new one."""
    taken = {layer.name for layer in model.iter_layers()}
    scopes: set[str] = set()
    names: dict[int, str] = {}
    # model-level layers with weights own weight scopes: unique across the tree, outer models first
    queue = [model]
    while queue:
        current = queue.pop(0)
        local: set[str] = set()
        for layer in current.layers:
            name = _valid(layer.name)
            owns_scope = layer.kind != "Model" and layer.has_weights()
            if name in local or (owns_scope and name in scopes):
                name = _fresh(name, taken | scopes | local)
            local.add(name)
            if owns_scope:
                scopes.add(name)
            _rename(layer, name, names, ctx)
            if isinstance(getattr(layer.config, "model", None), Model):
                queue.append(layer.config.model)
            for sub in _wrapped(layer):
                _rename(sub, _valid(sub.name), names, ctx)
    return names


def _wrapped(layer: Layer) -> Iterator[Layer]:
    for sub in layer.sublayers():
        yield sub
        yield from _wrapped(sub)


def _rename(layer: Layer, name: str, names: dict[int, str], ctx: WriteContext) -> None:
    if name != layer.name:
        names[id(layer)] = name
        ctx.note("rewritten", f"written as '{name}': TF.js needs layer names that are valid tensor names and "
                 "unique across nested models", layer=layer.name)


def _valid(name: str) -> str:
    name = _INVALID.sub("_", name)
    return name if name[:1].isalnum() else f"layer{name}"


def _fresh(name: str, taken: set[str]) -> str:
    n = 1
    while f"{name}_{n}" in taken:
        n += 1
    return f"{name}_{n}"


def weight_names(model: Model, names: dict[int, str]) -> Iterator[tuple[str, Weight]]:
    """Every weight of the model as ``(manifest name, weight)``, in the IR's order."""
    for layer in model.layers:
        yield from _scoped(layer, f"{names.get(id(layer), layer.name)}/", names)


def _scoped(layer: Layer, scope: str, names: dict[int, str]) -> Iterator[tuple[str, Weight]]:
    for weight, value in layer.weights.items():
        yield scope + weight, value
    if layer.kind == "Model":
        yield from weight_names(layer.config.model, names)
    elif layer.kind == "TimeDistributed":
        yield from _scoped(layer.config.layer, scope, names)
    elif layer.kind == "Bidirectional":
        name = names.get(id(layer.config.forward), layer.config.forward.name)
        base = name[len("forward_"):] if name.startswith("forward_") else name
        yield from _scoped(layer.config.forward, f"{scope}forward_{base}/", names)
        yield from _scoped(layer.config.backward, f"{scope}backward_{base}/", names)
