"""Layers called more than once (shared weights: a siamese tower, a layer reused in a graph) written
as one copy per call, for a target whose layers each run once (Deeplearning4j).

For inference a copy holding the same weights computes exactly what the shared layer computes at
that call; only training differs (the copies would be updated apart), which the report says.
The first call keeps the layer's name; the others get fresh names, and every reference to a later
call follows its copy.
"""

from __future__ import annotations

from dataclasses import replace

from kconvert.ir.graph import Call, Layer, Model, TensorRef, fresh_name, map_refs
from kconvert.ir.layers.core import InputLayer
from kconvert.writers.context import WriteContext


def unshared(model: Model, why: str, ctx: WriteContext) -> Model:
    """``model`` with each layer called ``n > 1`` times replaced by ``n`` layers called once each
    (``why``: why the target needs it, for the report); ``model`` itself when none is shared."""
    shared = [layer for layer in model.layers if len(layer.calls) > 1 and not isinstance(layer.config, InputLayer)]
    if not shared:
        return model
    taken = {layer.name for layer in model.layers}
    names: dict[tuple[str, int], str] = {}
    for layer in shared:
        for n in range(1, len(layer.calls)):
            names[(layer.name, n)] = fresh_name(f"{layer.name}_call{n + 1}", taken)
            taken.add(names[(layer.name, n)])
        ctx.note("rewritten", f"called {len(layer.calls)} times: written as {len(layer.calls)} layers holding the "
                 f"same weights ({why}; exact for inference, training would update the copies apart)",
                 layer=layer.name)

    def ref(r: TensorRef) -> TensorRef:
        copy = names.get((r.layer, r.node))  # a shared layer's first call keeps its name and node 0
        return TensorRef(copy, 0, r.index) if copy else r

    def rewired(call: Call) -> Call:
        return Call([ref(r) for r in call.inputs], map_refs(call.kwargs, ref))

    layers: list[Layer] = []
    for layer in model.layers:
        if layer.name in {s.name for s in shared}:
            layers.append(replace(layer, calls=[rewired(layer.calls[0])]))
            layers.extend(replace(layer, name=names[(layer.name, n)], calls=[rewired(call)])
                          for n, call in enumerate(layer.calls) if n)
        else:
            layers.append(replace(layer, calls=[rewired(call) for call in layer.calls]))
    outputs = [ref(r) for r in model.outputs]
    renamed = {a.layer: b.layer for a, b in zip(model.outputs, outputs) if a.layer != b.layer}
    training = model.training.renamed(renamed) if model.training is not None and renamed else model.training
    result = Model(model.name, layers, model.inputs, outputs, structure=model.structure,
                   provenance=model.provenance, training=training, input_structure=model.input_structure,
                   output_structure=model.output_structure)
    result.validate()
    return result

