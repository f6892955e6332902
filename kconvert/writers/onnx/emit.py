"""The emitter registry: one function per IR kind writing a lowered layer's call as ONNX nodes.

An emitter receives an :class:`Emit` (the layer, its call's inputs as :class:`Value` s with their
layouts, the source shapes, the graph) and returns one :class:`Value` per output of the layer.
It asks for its inputs in the layout it computes in (:meth:`Emit.input`) and says which layout
its outputs have; what it cannot write it refuses (:meth:`Emit.refuse`), naming the layer.
Activations are a registry of their own (:data:`ACTIVATIONS`), keyed by IR activation name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException, KConvertError
from kconvert.ir.graph import Layer
from kconvert.ir.shapes import Shape
from kconvert.ir.weights import Weight
from kconvert.writers.context import WriteContext
from kconvert.writers.onnx.graph import Graph, Perm, Value, channels_first, identity


@dataclass
class Emit:
    """One call of a lowered layer being written."""

    layer: Layer
    values: list[Value]
    shapes: list[Shape]  # the source shapes of the inputs
    outputs: list[Shape]  # the source shapes of the outputs
    graph: Graph
    ctx: WriteContext
    #: the inputs' Keras masks (boolean, in the source's layout), None where an input has none
    masks: list[Value | None] = field(default_factory=list)
    #: the outputs' masks, set by an emitter that decides them; else the first input's passes on where
    #: the IR says the kind passes masks (``passes_mask``)
    out_masks: list[Value | None] | None = None

    @property
    def config(self) -> Any:
        return self.layer.config

    @property
    def opset(self) -> int:
        return self.graph.opset

    @property
    def base(self) -> str:
        return self.layer.name

    def input(self, i: int = 0, perm: Perm | None = None) -> Value:
        """Input ``i`` in layout ``perm`` (default: the source's own)."""
        value = self.values[i]
        return self.graph.in_layout(value, identity(value.rank) if perm is None else perm)

    def spatial_input(self, i: int = 0) -> Value:
        """Input ``i`` channels-first, as ONNX's convolutions and pooling read it (as it is for a
        channels_first layer)."""
        rank = self.values[i].rank
        return self.input(i, identity(rank) if self.config.data_format == "channels_first" else channels_first(rank))

    def op(self, op: str, inputs: list[str], **attributes: Any) -> str:
        return self.graph.op(op, inputs, self.base, **attributes)

    def weight(self, key: str, weight: Weight) -> str:
        return self.graph.weight(self.base, key, weight)

    def const(self, values: Any, dtype: Any = np.float32) -> str:
        return self.graph.const(self.base, values, dtype)

    def sizes(self, x: str, start: int, end: int | None = None) -> str:
        """The sizes of axes ``start:end`` of tensor ``x``, read when the model runs (a 1-D int64 tensor)."""
        ends = [end if end is not None else np.iinfo(np.int64).max]
        return self.op("Slice", [self.op("Shape", [x]), self.const([start], np.int64), self.const(ends, np.int64)])

    def weights(self) -> dict[str, Weight]:
        return self.ctx.weights(self.layer, self.shapes)

    def refuse(self, reason: str, key: str | None = None) -> KConvertError:
        return self.layer.context_error(IncompatibleKerasConfigurationException(f"the ONNX writer {reason}", key=key))

    def known(self, dims: tuple[int | None, ...], what: str) -> tuple[int, ...]:
        if any(d is None for d in dims):
            raise self.refuse(f"needs a known {what} to write {self.layer.kind} (got {dims})")
        return dims  # type: ignore[return-value]

    def mask(self, i: int = 0) -> Value | None:
        return self.masks[i] if i < len(self.masks) else None

    def unmasked(self, why: str) -> None:
        """Refuse a call given a mask that this emitter cannot honour exactly (``why``)."""
        if any(m is not None for m in self.masks):
            raise self.refuse(f"does not write {self.layer.kind} given a padding mask: {why}")

    def all_masks(self) -> list[Value | None]:
        """The inputs' masks ANDed (Keras's merge rule), as the one output's."""
        present = [m for m in self.masks if m is not None]
        if not present:
            return [None]
        combined = present[0].name
        for m in present[1:]:
            combined = self.op("And", [combined, m.name])
        return [Value(combined, present[0].perm)]

    def nested(self, layer: Layer, values: list[Value], shapes: list[Shape]) -> list[Value]:
        """A wrapped ``layer`` (it has no call of its own in the model) emitted through the registry."""
        emitter = EMITTERS.get(layer.kind)
        if emitter is None:
            raise layer.context_error(IncompatibleKerasConfigurationException(
                f"the ONNX writer has no ONNX operators for {layer.kind} (inside {self.layer.name})"))
        return emitter(Emit(layer, values, shapes, layer.config.output_shapes(shapes), self.graph, self.ctx))

    def activation(self, x: Value, name: str) -> Value:
        """``name`` applied to ``x`` (in whatever layout it is)."""
        if name not in ACTIVATIONS:
            raise self.refuse(f"has no exact form of activation {name!r}", key="activation")
        return Value(ACTIVATIONS[name](self, x), x.perm) if name != "linear" else x


Emitter = Callable[[Emit], list[Value]]
#: IR kind -> emitter
EMITTERS: dict[str, Emitter] = {}


def emits(*kinds: str) -> Callable[[Emitter], Emitter]:
    def register(fn: Emitter) -> Emitter:
        for kind in kinds:
            if kind in EMITTERS:
                raise TypeError(f"{kind} already has an ONNX emitter")
            EMITTERS[kind] = fn
        return fn
    return register


# -- activations: IR name -> the nodes computing it (exactly; see kconvert.ir.values.ACTIVATIONS) -------

Activation = Callable[[Emit, Value], str]


def _gated(gate: Callable[[Emit, str], str]) -> Activation:
    """``x * gate(x)``."""
    return lambda em, x: em.op("Mul", [x.name, gate(em, x.name)])


def _erf_gelu(em: Emit, x: Value) -> str:
    """0.5 x (1 + erf(x / sqrt 2)); an operator of its own from opset 20."""
    if em.opset >= 20:
        return em.op("Gelu", [x.name])
    erf = em.op("Erf", [em.op("Div", [x.name, em.const(math.sqrt(2.0))])])
    half_x = em.op("Mul", [x.name, em.const(0.5)])
    return em.op("Mul", [half_x, em.op("Add", [erf, em.const(1.0)])])


def _clip(low: float, high: float) -> Activation:
    return lambda em, x: em.op("Clip", [x.name, em.const(low), em.const(high)])


ACTIVATIONS: dict[str, Activation] = {
    "linear": lambda em, x: x.name,
    "relu": lambda em, x: em.op("Relu", [x.name]),
    "relu6": _clip(0.0, 6.0),
    "leaky_relu": lambda em, x: em.op("LeakyRelu", [x.name], alpha=0.2),
    "elu": lambda em, x: em.op("Elu", [x.name], alpha=1.0),
    "selu": lambda em, x: em.op("Selu", [x.name], alpha=1.6732632423543772, gamma=1.0507009873554805),
    "sigmoid": lambda em, x: em.op("Sigmoid", [x.name]),
    "hard_sigmoid": lambda em, x: em.op("HardSigmoid", [x.name], alpha=0.2, beta=0.5),
    "hard_sigmoid_relu6": lambda em, x: em.op("HardSigmoid", [x.name], alpha=1 / 6, beta=0.5),
    "hard_silu": lambda em, x: em.op("HardSwish", [x.name]),  # x * clip(x / 6 + 1 / 2, 0, 1)
    "tanh": lambda em, x: em.op("Tanh", [x.name]),
    "softmax": lambda em, x: em.op("Softmax", [x.name], axis=x.axis(-1)),
    "log_softmax": lambda em, x: em.op("LogSoftmax", [x.name], axis=x.axis(-1)),
    "softplus": lambda em, x: em.op("Softplus", [x.name]),
    "softsign": lambda em, x: em.op("Softsign", [x.name]),
    "exponential": lambda em, x: em.op("Exp", [x.name]),
    "silu": _gated(lambda em, x: em.op("Sigmoid", [x])),
    "gelu": _erf_gelu,
    "gelu_sigmoid": _gated(lambda em, x: em.op("Sigmoid", [em.op("Mul", [x, em.const(1.702)])])),
    "mish": lambda em, x: em.op("Mish", [x.name]) if em.opset >= 18 else em.op(
        "Mul", [x.name, em.op("Tanh", [em.op("Softplus", [x.name])])]),
    "log_sigmoid": lambda em, x: em.op("Neg", [em.op("Softplus", [em.op("Neg", [x.name])])]),
    "hard_tanh": _clip(-1.0, 1.0),
    "tanh_shrink": lambda em, x: em.op("Sub", [x.name, em.op("Tanh", [x.name])]),
}
