"""The functional operations Keras records as graph nodes (:mod:`kconvert.ir.layers.ops`), each as
its ONNX operator: elementwise ones in whatever layout their input has, reductions over the mapped
axes, and axis insertion, removal and subscripts in the source's layout."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from kconvert.writers.onnx.emit import Emit, emits
from kconvert.writers.onnx.emitters.merge import aligned
from kconvert.writers.onnx.graph import Perm, Value, identity

_BINARY = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "maximum": "Max",
           "minimum": "Min", "power": "Pow"}
#: unary operations that are no IR activation: op -> (its nodes on tensor x)
_UNARY: dict[str, Callable[[Emit, str], str]] = {
    "exp": lambda em, x: em.op("Exp", [x]), "sqrt": lambda em, x: em.op("Sqrt", [x]),
    "square": lambda em, x: em.op("Mul", [x, x]), "abs": lambda em, x: em.op("Abs", [x]),
    "negative": lambda em, x: em.op("Neg", [x]), "cast": lambda em, x: x,  # inputs arrive as float32
}
_REDUCE = {"mean": "ReduceMean", "sum": "ReduceSum", "max": "ReduceMax", "min": "ReduceMin"}
_BIG = np.iinfo(np.int64)


@emits("BinaryOp")
def binary_op(em: Emit) -> list[Value]:
    c, op = em.config, _BINARY[em.config.op]
    if c.constant is None:
        a, b = aligned(em)
        return [Value(em.op(op, [a.name, b.name]), max((a, b), key=lambda v: v.rank).perm)]
    x, constant = em.values[0], em.const(c.constant)
    if em.opset >= 15:  # in the tensor's own type, as Keras computes (integer positions: KerasHub's)
        constant = em.op("CastLike", [constant, x.name])
    return [Value(em.op(op, [constant, x.name] if c.constant_first else [x.name, constant]), x.perm)]


@emits("UnaryOp")
def unary_op(em: Emit) -> list[Value]:
    """An IR activation's nodes where the op is one, its operator otherwise."""
    op, x = em.config.op, em.values[0]
    if op in _UNARY:
        return [Value(_UNARY[op](em, x.name), x.perm)]
    return [em.activation(x, op)]


def without_axes(perm: Perm, axes: set[int]) -> Perm:
    """The layout of a tensor laid out as ``perm`` once the source axes ``axes`` are removed."""
    kept = [p for p in perm if p not in axes]
    order = sorted(kept)
    return tuple(order.index(p) for p in kept)


@emits("Reduce")
def reduce(em: Emit) -> list[Value]:
    c, x = em.config, em.values[0]
    axes = {a % x.rank for a in c.axis}
    y = em.graph.reduce(_REDUCE[c.op], x.name, sorted(x.axis(a) for a in axes), em.base, keepdims=c.keepdims)
    return [Value(y, x.perm if c.keepdims else without_axes(x.perm, axes))]


@emits("ExpandDims")
def expand_dims(em: Emit) -> list[Value]:
    rank = len(em.outputs[0])
    axes = sorted(a % rank for a in em.config.axis)
    return [Value(em.op("Unsqueeze", [em.input(0).name, em.const(axes, np.int64)]), identity(rank))]


@emits("Cumsum")
def cumsum(em: Emit) -> list[Value]:
    """ONNX's CumSum, inclusive and forward as Keras's, along the axis as the tensor holds it."""
    x = em.values[0]
    axis = np.array(x.axis(em.config.axis % x.rank), np.int64)  # a scalar: CumSum's axis is rank 0
    return [Value(em.op("CumSum", [x.name, em.const(axis, np.int64)]), x.perm)]


@emits("Squeeze")
def squeeze(em: Emit) -> list[Value]:
    x = em.values[0]
    axes = {a % x.rank for a in em.config.axis}
    y = em.op("Squeeze", [x.name, em.const(sorted(x.axis(a) for a in axes), np.int64)])
    return [Value(y, without_axes(x.perm, axes))]


@emits("GetItem")
def get_item(em: Emit) -> list[Value]:
    """One Slice for the slices and integer indices (an index ``i`` as ``i:i+1``), a Squeeze of the
    indexed axes, an Unsqueeze for the new ones; numpy's clamping of out-of-range bounds is ONNX's."""
    x = em.input(0)
    starts, ends, axes, steps, indexed, new = [], [], [], [], [], []
    axis = out = 0
    for item in em.config.expanded(x.rank):
        if item.what == "newaxis":
            new.append(out)
            out += 1
            continue
        if item.what == "index":
            start = item.start
            starts.append(start), ends.append(start + 1 if start != -1 else _BIG.max), axes.append(axis)
            steps.append(1), indexed.append(axis)
        elif not item.full:
            step = item.step or 1
            starts.append(item.start if item.start is not None else (0 if step > 0 else _BIG.max))
            ends.append(item.stop if item.stop is not None else (_BIG.max if step > 0 else _BIG.min))
            axes.append(axis), steps.append(step)
            out += 1
        else:
            out += 1
        axis += 1
    y = x.name
    if axes:
        y = em.op("Slice", [y, *(em.const(v, np.int64) for v in (starts, ends, axes, steps))])
    if indexed:
        y = em.op("Squeeze", [y, em.const(indexed, np.int64)])
    if new:
        y = em.op("Unsqueeze", [y, em.const(new, np.int64)])
    return [Value(y, identity(len(em.outputs[0])))]

