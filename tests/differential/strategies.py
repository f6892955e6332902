"""Hypothesis strategies of random valid architectures (:class:`~tests.differential.spec.ModelSpec`):
Keras graphs (several inputs and outputs, shared layers, nested models, masks, ``keras.ops``
nodes) and DL4J networks, drawn from the recipes, and a seed for their weights and inputs."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.differential.dl4j_recipes import dl4j_networks
from tests.differential.keras_recipes import RECIPES, Recipe, Shape
from tests.differential.spec import SAVE_FORMATS, Input, ModelSpec, Node

MAX_NODES = 6


@st.composite
def input_shapes(draw: st.DrawFn) -> Shape:
    rank = draw(st.integers(1, 3))
    return tuple(draw(st.integers(2 if rank > 1 else 1, 6 if rank > 1 else 8)) for _ in range(rank))


@st.composite
def keras_models(draw: st.DrawFn, framework: str) -> ModelSpec:
    recipes = [r for r in RECIPES if framework in r.frameworks]
    inputs: list[Input] = []
    nodes: list[Node] = []
    shapes: list[Shape] = []
    masked: list[bool] = []
    first = draw(input_shapes())
    for _ in range(draw(st.integers(1, 2))):
        if draw(st.integers(0, 7)) == 0:  # indices for an Embedding
            steps = draw(st.integers(1, 5))
            inputs.append(Input((steps,), "int32", high=draw(st.integers(2, 6))))
        else:
            inputs.append(Input(first if inputs or draw(st.booleans()) else draw(input_shapes())))
        shapes.append(inputs[-1].shape)
        masked.append(False)
    for i, given in enumerate(inputs):
        if given.dtype == "int32":
            dim, zero = draw(st.integers(1, 4)), draw(st.booleans())
            nodes.append(Node("layer", "Embedding", {"input_dim": given.high, "output_dim": dim, "mask_zero": zero},
                              (i,), kind="Embedding"))
            shapes.append((*given.shape, dim))
            masked.append(zero)
    floats = [t for t in range(len(shapes)) if t >= len(inputs) or inputs[t].dtype == "float32"]
    used: set[int] = set()
    wanted, added = draw(st.integers(1, MAX_NODES)), 0
    for _ in range(4 * wanted):
        if added == wanted:
            break
        made = _node(draw, framework, recipes, nodes, shapes, masked, floats)
        if made is None:
            continue
        added += 1
        node, out_shapes = made
        used.update(node.inputs)
        nodes.append(node)
        for shape in out_shapes:
            floats.append(len(shapes))
            shapes.append(shape)
            masked.append(masked[node.inputs[0]] and _keeps_mask(node))
    last = len(shapes) - 1
    dangling = [t for t in floats if t not in used and t != last and t >= len(inputs)]
    outputs = [last, *draw(st.lists(st.sampled_from(dangling), unique=True, max_size=2))] if dangling else [last]
    if last < len(inputs):
        return draw(keras_models(framework))  # nothing was drawn on the inputs: draw again
    chain = len(inputs) == 1 and len(outputs) == 1 and all(
        n.inputs == (i,) and n.outputs == 1 and n.share is None and n.op != "ops" for i, n in enumerate(nodes))
    return ModelSpec(framework=framework, save_as=draw(st.sampled_from(SAVE_FORMATS[framework])),  # type: ignore[arg-type]
                     inputs=tuple(inputs), nodes=tuple(nodes), outputs=tuple(outputs),
                     sequential=chain and draw(st.booleans()), seed=draw(st.integers(0, 2**31 - 1)))


def _keeps_mask(node: Node) -> bool:
    return not (node.cls in ("LSTM", "GRU", "SimpleRNN", "Bidirectional") and
                not node.config.get("return_sequences", False)) and node.cls != "GlobalAveragePooling1D"


def _node(draw: st.DrawFn, framework: str, recipes: list[Recipe], nodes: list[Node], shapes: list[Shape],
          masked: list[bool], floats: list[int]) -> tuple[Node, list[Shape]] | None:
    choice = draw(st.integers(0, 9))
    if choice == 0 and nodes:  # a layer called again, on a tensor of the shape it was built for
        return _shared(draw, nodes, shapes, masked, floats)
    if choice == 1 and framework != "dl4j":  # a nested Sequential of unary layers
        return _nested(draw, framework, recipes, shapes, masked, floats)
    recipe = draw(st.sampled_from(recipes))
    # recent tensors are likelier, so models grow deep as well as wide
    first = draw(st.sampled_from(floats[-3:] if draw(st.booleans()) else floats))
    if masked[first] and not recipe.passes_mask or not recipe.applies(shapes[first]):
        return None
    args = [first]
    if recipe.arity == 2:
        args.append(draw(st.sampled_from(floats)))
        if masked[args[1]] and not recipe.passes_mask:
            return None
    made = recipe.draw(draw, [shapes[a] for a in args], framework)
    if made is None:
        return None
    cls, config, out = made
    return Node(recipe.op, cls, config, tuple(args), len(out), kind=recipe.kind), out


def _shared(draw: st.DrawFn, nodes: list[Node], shapes: list[Shape], masked: list[bool],
            floats: list[int]) -> tuple[Node, list[Shape]] | None:
    index = draw(st.integers(0, len(nodes) - 1))
    node = nodes[index]
    if node.op != "layer" or len(node.inputs) != 1 or node.outputs != 1 or node.share is not None or \
            node.cls == "Embedding":
        return None
    wanted = shapes[node.inputs[0]]
    fits = [t for t in floats if shapes[t] == wanted and t != node.inputs[0] and not masked[t]]
    if not fits:
        return None
    out = _out_shape(nodes, shapes, index)
    return Node(node.op, node.cls, node.config, (draw(st.sampled_from(fits)),), 1, share=index, kind=node.kind), [out]


def _out_shape(nodes: list[Node], shapes: list[Shape], index: int) -> Shape:
    """The shape of node ``index``'s (first) output: tensors are numbered in node order."""
    first_input_tensors = len(shapes) - sum(n.outputs for n in nodes)
    return shapes[first_input_tensors + sum(n.outputs for n in nodes[:index])]


def _nested(draw: st.DrawFn, framework: str, recipes: list[Recipe], shapes: list[Shape], masked: list[bool],
            floats: list[int]) -> tuple[Node, list[Shape]] | None:
    tensor = draw(st.sampled_from(floats))
    if masked[tensor]:
        return None
    shape, layers = shapes[tensor], []
    for _ in range(draw(st.integers(1, 3))):
        recipe = draw(st.sampled_from([r for r in recipes if r.arity == 1 and r.op == "layer"]))
        if not recipe.applies(shape):
            continue
        made = recipe.draw(draw, [shape], framework)
        if made is None or len(made[2]) != 1:
            continue
        layers.append([made[0], made[1]])
        shape = made[2][0]
    if not layers:
        return None
    return Node("nested", "Sequential", {"layers": layers, "input_shape": list(shapes[tensor])}, (tensor,),
                kind="Model"), [shape]


@st.composite
def model_specs(draw: st.DrawFn, frameworks: tuple[str, ...] = ("keras3", "tf_keras", "dl4j")) -> ModelSpec:
    framework = draw(st.sampled_from(frameworks))
    if framework == "dl4j":
        return draw(dl4j_networks())
    return draw(keras_models(framework))


def drawn_kinds() -> set[str]:
    """The IR kinds the Keras recipes exercise (with Embedding, InputLayer and nested Model)."""
    return {r.kind for r in RECIPES} | {"Embedding", "InputLayer", "Model"}


__all__ = ["drawn_kinds", "keras_models", "model_specs"]
