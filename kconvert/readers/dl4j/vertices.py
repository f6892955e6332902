"""DL4J graph vertices other than layers, keyed by vertex class: each one IR layer over all the
vertex's inputs, or IR entries applied to its one input (a LayerVertex is the graph builder's, being a layer)."""

from __future__ import annotations

from typing import Callable

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.formats.dl4j import ELEMENTWISE_MERGES, REVERSE_TIME
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import core, merge, ops
from kconvert.ir.layers.ops import GetItem, Index
from kconvert.ir.shapes import Shape
from kconvert.readers.dl4j.layer import SOURCE, Entry
from kconvert.readers.dl4j.preprocessors import preprocess
from kconvert.readers.dl4j.spec import Keys
from kconvert.registry import registrar

#: vertex class -> the IR layer for a vertex over all its inputs, or the entries applied to its one input (from
#: its name, keys and its inputs' shapes)
DL4J_VERTICES: dict[str, Callable[[str, Keys, list[Shape]], LayerConfig | list[Entry]]] = {}
dl4j_vertex = registrar(DL4J_VERTICES, "a converter for the Deeplearning4j graph vertex")


def unsupported(kind: str, name: str) -> IncompatibleKerasConfigurationException:
    return IncompatibleKerasConfigurationException(f"graph vertex {kind}: not supported", layer=name)


@dl4j_vertex("MergeVertex")
def merge_vertex(name: str, keys: Keys, shapes: list[Shape]) -> LayerConfig:
    return merge.Concatenate(axis=keys.integer("mergeAxis", 1, minimum=0))


@dl4j_vertex("ElementWiseVertex")
def elementwise(name: str, keys: Keys, shapes: list[Shape]) -> LayerConfig:
    op = keys.body.get("op")
    if not isinstance(op, str) or op not in ELEMENTWISE_MERGES:
        raise unsupported("ElementWiseVertex", name)
    return ELEMENTWISE_MERGES[op]()


@dl4j_vertex("rnn.ReverseTimeSeriesVertex")
def reverse_time(name: str, keys: Keys, shapes: list[Shape]) -> LayerConfig:
    """NCW sequences reversed in time."""
    if keys.body.get("maskArrayInputName"):
        raise IncompatibleKerasConfigurationException("a time reversal following a mask", layer=name)
    return REVERSE_TIME


@dl4j_vertex("PreprocessorVertex")
def preprocessor_vertex(name: str, keys: Keys, shapes: list[Shape]) -> list[Entry]:
    return preprocess(keys.body.get("preProcessor") or {}, name)


@dl4j_vertex("SubsetVertex")
def subset(name: str, keys: Keys, shapes: list[Shape]) -> LayerConfig:
    """Features ``from`` to ``to``, both included, of axis 1 (the channels of an NCW or NCHW input)."""
    start, stop = keys.integer("from", minimum=0), keys.integer("to", minimum=0)
    if stop < start:
        raise IncompatibleKerasConfigurationException(f"a subset from {start} to {stop}", layer=name, key="to")
    return GetItem(items=(Index("slice"), Index("slice", start, stop + 1)))


@dl4j_vertex("ScaleVertex")
def scale(name: str, keys: Keys, shapes: list[Shape]) -> LayerConfig:
    return core.Rescaling(scale=keys.number("scaleFactor"))


@dl4j_vertex("ShiftVertex")
def shift(name: str, keys: Keys, shapes: list[Shape]) -> LayerConfig:
    return core.Rescaling(offset=keys.number("shiftFactor"))


@dl4j_vertex("L2NormalizeVertex")
def l2_normalize(name: str, keys: Keys, shapes: list[Shape]) -> list[Entry]:
    """x / max(||x||, eps), the norm over ``dimension`` (every axis but the batch when none is given)."""
    dims = tuple(keys.integers("dimension", minimum=1)) if keys.get("dimension") else tuple(
        range(1, len(shapes[0])))
    return [(f"{name}_square", ops.UnaryOp(op="square"), {}),
            (f"{name}_sum", ops.Reduce(op="sum", axis=dims, keepdims=True), {}),
            (f"{name}_norm", ops.UnaryOp(op="sqrt"), {}),
            (f"{name}_floor", ops.BinaryOp(op="maximum", constant=keys.number("eps", 1e-8)), {}),
            (name, ops.BinaryOp(op="divide"), {}, (SOURCE, f"{name}_floor"))]


@dl4j_vertex("ReshapeVertex")
def reshape(name: str, keys: Keys, shapes: list[Shape]) -> LayerConfig:
    """``newShape`` less its batch axis, in C order."""
    if keys.text("reshapeOrder", "c") not in ("c", "C"):
        raise IncompatibleKerasConfigurationException("a reshape in Fortran order: not supported", layer=name,
                                                      key="reshapeOrder")
    return core.Reshape(target_shape=keys.integers("newShape", minimum=-1)[1:])


@dl4j_vertex("rnn.LastTimeStepVertex")
def last_time_step(name: str, keys: Keys, shapes: list[Shape]) -> LayerConfig:
    """An NCW sequence's last step (kconvert's models take no mask arrays: without one, DL4J takes the last step
    whatever ``maskArrayInputName`` names)."""
    return GetItem(items=(Index("slice"), Index("slice"), Index("index", -1)))


@dl4j_vertex("rnn.DuplicateToTimeSeriesVertex")
def duplicate_to_time_series(name: str, keys: Keys, shapes: list[Shape]) -> list[Entry]:
    """Features repeated at each step of the sequence ``inputName`` (NCW): that sequence's length must be known."""
    length = shapes[-1][2] if len(shapes) > 1 and len(shapes[-1]) == 3 else None
    if length is None:
        raise IncompatibleKerasConfigurationException(
            "features repeated along a sequence of unknown length: give the sequence's shape (--input-shape)",
            layer=name)
    return [(f"{name}_steps", core.RepeatVector(n=length), {}), (name, core.Permute(dims=(2, 1)), {})]


def _batch_axis(name: str, what: str) -> IncompatibleKerasConfigurationException:
    return IncompatibleKerasConfigurationException(
        f"{what} along the batch axis, and kconvert's models compute each sample on its own: not supported",
        layer=name)


@dl4j_vertex("StackVertex")
def stack(name: str, keys: Keys, shapes: list[Shape]) -> LayerConfig:
    raise _batch_axis(name, "StackVertex stacks its inputs")


@dl4j_vertex("UnstackVertex")
def unstack(name: str, keys: Keys, shapes: list[Shape]) -> LayerConfig:
    raise _batch_axis(name, "UnstackVertex takes a part of its input")
