"""How Keras will see an IR graph: as a Sequential or a Functional model, and in what order it
lists the layers.

Order matters because both of Keras's weight layouts are positional: legacy HDF5 files are loaded
layer by layer in ``model.layers`` order, and Keras 3 names each layer's weights group after its
class and its position (``dense``, ``dense_1``...).  Keras does not take that order from the
config: a Functional model sorts its layers by depth from the outputs, ties broken by the order
a depth-first walk from the outputs first meets them (``map_graph`` in Keras 3,
``_map_graph_network`` in tf.keras 2 -- the same algorithm).  A model Keras saved is already in
that order; one kconvert rewrote (lowering inserts layers) is not, so writers list layers the
way Keras will.
"""

from __future__ import annotations

from kconvert.ir.graph import Layer, Model, TensorRef
from kconvert.ir.layers.core import InputLayer
from kconvert.writers.keras.masks import mask_operations
from kconvert.writers.keras.operations import OPERATIONS

Node = tuple[str, int]  # (layer name, call index)


def is_chain(model: Model) -> bool:
    """A model Sequential can express: one input layer first, then each layer called once on the
    previous layer's only output, its input and output not named (a dict)."""
    layers = model.layers
    if len(model.inputs) != 1 or len(model.outputs) != 1 or not isinstance(layers[0].config, InputLayer):
        return False
    if model.input_structure is not None or model.output_structure is not None:
        return False
    previous = layers[0].name
    for layer in layers[1:]:
        if layer.kind in OPERATIONS:  # a Sequential holds layers, not operations
            return False
        if len(layer.calls) != 1 or [str(r) for r in layer.calls[0].inputs] != [previous] or layer.calls[0].kwargs:
            return False
        previous = layer.name
    return model.outputs[0] == TensorRef(previous)


def keras_layers(model: Model) -> list[Layer]:
    """The layers written for ``model``, in the order Keras lists them once it has loaded the
    config: mask computations Keras 3 recorded are left implicit (see masks.py); a Sequential
    keeps its order.  Layers no output depends on, which Keras would leave out of ``model.layers``,
    come last in their IR order (kconvert's readers and lowering make none)."""
    if is_chain(model):
        return list(model.layers)
    implicit = mask_operations(model)
    return [layer for layer in _functional_order(model) if layer.name not in implicit]


def _functional_order(model: Model) -> list[Layer]:
    order: list[Node] = []  # nodes, inputs first, as the walk finishes them
    first_seen: dict[str, int] = {}
    finished: set[Node] = set()

    def walk(ref: TensorRef) -> None:
        # iterative depth-first walk: deep graphs (ResNets) exceed Python's recursion limit
        stack: list[tuple[Node, bool]] = [((ref.layer, ref.node), False)]
        while stack:
            node, expanded = stack.pop()
            if node in finished:
                continue
            if expanded:
                finished.add(node)
                order.append(node)
                continue
            first_seen.setdefault(node[0], len(first_seen))
            stack.append((node, True))
            stack.extend(((r.layer, r.node), False) for r in reversed(_parents(model, node)))

    for ref in model.outputs:
        walk(ref)
    node_depth: dict[Node, int] = {}
    layer_depth: dict[str, int] = {}
    for node in reversed(order):
        depth = max(node_depth.setdefault(node, 0), layer_depth.get(node[0], 0))
        layer_depth[node[0]] = node_depth[node] = depth
        for parent in _parents(model, node):
            key = (parent.layer, parent.node)
            node_depth[key] = max(depth + 1, node_depth.get(key, 0))
    for ref in model.inputs:  # inputs no output depends on
        if ref.layer not in layer_depth:
            layer_depth[ref.layer], first_seen[ref.layer] = 0, -1
    ranked = sorted(layer_depth, key=lambda name: (-layer_depth[name], first_seen[name]))
    unreached = [layer for layer in model.layers if layer.name not in layer_depth]
    return [model.layer(name) for name in ranked] + unreached


def _parents(model: Model, node: Node) -> list[TensorRef]:
    layer = model.layer(node[0])
    return [] if isinstance(layer.config, InputLayer) else list(layer.calls[node[1]].inputs)
