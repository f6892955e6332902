"""The ONNX graph being built: nodes, initializers, unique names, and the layout of every tensor.

Layout is decided per tensor.  A :class:`Value` is an ONNX tensor holding an IR tensor with its
axes permuted (``onnx = transpose(source, perm)``): convolutions and pooling ask for their input
channels-first and give their output channels-first; layers that compute each value alone keep
whatever layout they are given; layers that read the source's axis order (Flatten, Reshape, Dense)
ask for the identity.  :meth:`Graph.in_layout` inserts the one Transpose that moves a tensor into
the layout asked for, once per tensor and layout, so a chain of convolutions runs channels-first
with no Transpose between them and Transposes appear only where the layout must change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from onnx import NodeProto, helper

from kconvert.ir.weights import Weight

Perm = tuple[int, ...]


def identity(rank: int) -> Perm:
    return tuple(range(rank))


def channels_first(rank: int) -> Perm:
    """The permutation taking (batch, spatial..., channels) to (batch, channels, spatial...)."""
    return (0, rank - 1, *range(1, rank - 1)) if rank > 2 else identity(rank)


def inverse(perm: Perm) -> Perm:
    return tuple(sorted(range(len(perm)), key=lambda i: perm[i]))


@dataclass(frozen=True)
class Value:
    """An ONNX tensor ``name`` holding the IR tensor ``transpose(source, perm)``."""

    name: str
    perm: Perm

    @property
    def rank(self) -> int:
        return len(self.perm)

    def axis(self, source_axis: int) -> int:
        """Where the source's axis ``source_axis`` (negative counts from the end) is in this tensor."""
        return self.perm.index(source_axis % self.rank)

    def permuted(self, perm: Perm) -> "Value":
        """The same tensor, read as the source tensor ``transpose(source_of_self, perm)`` (a Permute
        layer costs nothing: only the bookkeeping of which axis is where changes)."""
        back = inverse(perm)
        return Value(self.name, tuple(back[p] for p in self.perm))


@dataclass
class Initial:
    """One initializer: its weight in ONNX's layout (read only when written), or an in-memory constant."""

    name: str
    weight: Weight


@dataclass
class Graph:
    """Nodes in order, initializers, and the names taken so far."""

    opset: int
    nodes: list[NodeProto] = field(default_factory=list)
    initializers: list[Initial] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)
    _layouts: dict[tuple[str, Perm], Value] = field(default_factory=dict)
    _weights: dict[tuple[str, str], str] = field(default_factory=dict)

    def body(self) -> "Graph":
        """A subgraph's (a Scan's body): nodes of its own; names, initializers and weights shared with
        this graph, whose values a body reads from the outer scope."""
        return Graph(self.opset, [], self.initializers, self.taken, {}, self._weights)

    def fresh(self, base: str) -> str:
        name, n = base, 1
        while name in self.taken:
            name, n = f"{base}_{n}", n + 1
        self.taken.add(name)
        return name

    def node(self, op: str, inputs: Sequence[str], base: str, outputs: int = 1, **attributes: Any) -> list[str]:
        """Add an ``op`` node reading ``inputs`` ("" for an optional input left out); its output names."""
        names = [self.fresh(f"{base}/{op}" + (f":{i}" if outputs > 1 else "")) for i in range(outputs)]
        self.nodes.append(helper.make_node(op, list(inputs), names, name=names[0],
                                           **{k: v for k, v in attributes.items() if v is not None}))
        return names

    def op(self, op: str, inputs: Sequence[str], base: str, **attributes: Any) -> str:
        """Add a one-output node; its output's name."""
        return self.node(op, inputs, base, **attributes)[0]

    def weight(self, owner: str, key: str, weight: Weight) -> str:
        """An initializer for ``weight`` (``owner``/``key`` once, however often a shared layer uses it)."""
        if (owner, key) not in self._weights:
            name = self.fresh(f"{owner}/{key}")
            self.initializers.append(Initial(name, weight))
            self._weights[(owner, key)] = name
        return self._weights[(owner, key)]

    def const(self, base: str, values: Any, dtype: Any = np.float32) -> str:
        """An in-memory constant (shapes, axes, small vectors)."""
        name = self.fresh(f"{base}/const")
        self.initializers.append(Initial(name, Weight.of(np.asarray(values, dtype))))
        return name

    def in_layout(self, value: Value, perm: Perm) -> Value:
        """``value`` with its axes permuted as ``perm`` says: itself, or one Transpose shared by every reader."""
        if value.perm == perm:
            return value
        key = (value.name, perm)
        if key not in self._layouts:
            moved = [value.perm.index(p) for p in perm]
            self._layouts[key] = Value(self.op("Transpose", [value.name], value.name, perm=moved), perm)
        return self._layouts[key]

    def reduce(self, op: str, x: str, axes: Sequence[int], base: str, keepdims: bool) -> str:
        """``op`` (ReduceMean, ReduceMax...) over ``axes``: an attribute before opset 18, an input after
        (ReduceSum took it as an input from 13)."""
        if self.opset >= 18 or op == "ReduceSum":
            return self.op(op, [x, self.const(base, list(axes), np.int64)], base, keepdims=int(keepdims))
        return self.op(op, [x], base, axes=list(axes), keepdims=int(keepdims))
