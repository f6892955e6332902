"""Merge layers: elementwise merges in whatever layout their first input has, Concatenate along the
mapped axis, Dot as an Einsum."""

from __future__ import annotations

import numpy as np

from kconvert.writers.onnx.emit import Emit, emits
from kconvert.writers.onnx.graph import Value, identity

#: Keras merge -> the variadic ONNX operator computing it
_VARIADIC = {"Add": "Sum", "Average": "Mean", "Maximum": "Max", "Minimum": "Min"}


def aligned(em: Emit) -> list[Value]:
    """Every input in the first one's layout; inputs of different ranks (broadcast along the source's
    trailing axes) in the source layout."""
    ranks = {v.rank for v in em.values}
    perm = em.values[0].perm if len(ranks) == 1 else None
    return [em.input(i, perm if perm is not None else identity(v.rank)) for i, v in enumerate(em.values)]


@emits(*_VARIADIC)
def variadic(em: Emit) -> list[Value]:
    xs = aligned(em)
    em.out_masks = em.all_masks()
    return [Value(em.op(_VARIADIC[em.layer.kind], [x.name for x in xs]), max(xs, key=lambda v: v.rank).perm)]


@emits("Multiply")
def multiply(em: Emit) -> list[Value]:
    xs = aligned(em)
    em.out_masks = em.all_masks()
    y = xs[0].name
    for x in xs[1:]:
        y = em.op("Mul", [y, x.name])
    return [Value(y, max(xs, key=lambda v: v.rank).perm)]


@emits("Subtract")
def subtract(em: Emit) -> list[Value]:
    a, b = aligned(em)
    em.out_masks = em.all_masks()
    return [Value(em.op("Sub", [a.name, b.name]), max((a, b), key=lambda v: v.rank).perm)]


@emits("Concatenate")
def concatenate(em: Emit) -> list[Value]:
    em.unmasked("Keras concatenates the masks broadcast to the inputs' shapes, which is not written")
    xs = aligned(em)
    return [Value(em.op("Concat", [x.name for x in xs], axis=xs[0].axis(em.config.axis)), xs[0].perm)]


def l2_normalized(em: Emit, x: str, axis: int) -> str:
    """x / sqrt(max(sum(x^2), 1e-12)) along ``axis`` (Keras's l2_normalize)."""
    squares = em.graph.reduce("ReduceSum", em.op("Mul", [x, x]), [axis], em.base, keepdims=True)
    return em.op("Div", [x, em.op("Sqrt", [em.op("Max", [squares, em.const(1e-12)])])])


@emits("Dot")
def dot(em: Emit) -> list[Value]:
    """Contract axis ``axes[0]`` of the first input with ``axes[1]`` of the second, per sample."""
    (a, b), c = (em.input(i) for i in range(2)), em.config
    axes = [ax % v.rank for ax, v in zip(c.axes, (a, b))]
    names = [a.name, b.name]
    if c.normalize:
        names = [l2_normalized(em, n, ax) for n, ax in zip(names, axes)]
    letters = iter("bcdefghijklmnopqrstuvwxyz")
    batch, shared = "a", next(letters)
    left = [batch] + [shared if i == axes[0] else next(letters) for i in range(1, a.rank)]
    right = [batch] + [shared if i == axes[1] else next(letters) for i in range(1, b.rank)]
    out = [batch] + [x for x in left[1:] if x != shared] + [x for x in right[1:] if x != shared]
    y = em.op("Einsum", names, equation=f"{''.join(left)},{''.join(right)}->{''.join(out)}")
    rank = len(em.outputs[0])
    if len(out) != rank:  # a (batch,) result is (batch, 1) in Keras
        y = em.op("Reshape", [y, em.const([0, *em.outputs[0][1:]], np.int64)])
    return [Value(y, identity(rank))]
