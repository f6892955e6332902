"""Reading one DL4J layer: the converter registry, keyed by DL4J layer class, and the parameter
cursor over ``coefficients.bin`` the converters take their blocks from, in DL4J's order.

A converter turns a :class:`LayerSpec` (and its input's shape) into IR entries, one DL4J layer
often becoming several IR layers (transposes around a sequence layer in DL4J's NCW).  A second
registry says what input shape a network starting with a layer class takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException, InputReadError, KConvertError
from kconvert.formats.dl4j import COEFFICIENTS
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import core
from kconvert.ir.shapes import Shape
from kconvert.ir.weights import Weight
from kconvert.readers.dl4j.spec import LayerSpec
from kconvert.registry import registrar

#: one IR layer: its name, attributes and weights (arrays or :class:`Weight`), called on the entry before it;
#: a fourth item names the earlier entries of the same list it is called on instead (:data:`SOURCE`: what the
#: first entry is called on), for compositions that are not a chain (``x * f(x)``)
Entry = tuple[str, LayerConfig, dict[str, Any]] | tuple[str, LayerConfig, dict[str, Any], tuple[str, ...]]
#: in an entry's inputs, the tensor the list of entries is applied to
SOURCE = ""


@dataclass
class Parameters:
    """``coefficients.bin`` as the layers consume it; ``values`` None reads a configuration alone."""

    display: str
    values: np.ndarray | None
    max_elements: int
    offset: int = 0

    def take(self, count: int, shape: tuple[int, ...], order: str = "C") -> np.ndarray:
        """The next ``count`` parameters, shaped (DL4J's 'f' or 'c' order)."""
        if count > self.max_elements:
            raise IncompatibleKerasConfigurationException(
                f"a parameter block of shape {shape} would hold {count} numbers, over the limit of "
                f"{self.max_elements} (Limits.max_tensor_elements)")
        if self.values is None:  # a configuration alone: zeros that take no memory, dropped after checks
            self.offset += count
            return np.broadcast_to(np.float32(0), shape)
        if self.offset + count > self.values.size:
            raise InputReadError(f"{COEFFICIENTS} ends before every layer's parameters", file=self.display)
        block = self.values[self.offset:self.offset + count]
        self.offset += count
        return block.reshape(shape, order=order)  # type: ignore[call-overload]


Converter = Callable[[LayerSpec, Shape, Parameters], list[Entry]]
DL4J_LAYERS: dict[str, Converter] = {}
dl4j_layer = registrar(DL4J_LAYERS, "a converter for the Deeplearning4j layer")
#: DL4J layer class -> the input shape a network starting with it takes
FIRST_LAYER_INPUTS: dict[str, Callable[[LayerSpec], Shape]] = {}
first_layer_input = registrar(FIRST_LAYER_INPUTS, "an input shape for the Deeplearning4j layer")


def convert_layer(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """One DL4J layer as IR entries, each applied to the previous one's output."""
    fn = DL4J_LAYERS.get(spec.cls)
    if fn is None:
        raise spec.error(f"Deeplearning4j layer {spec.cls}: not supported")
    try:
        return fn(spec, shape, params)
    except ValueError as exc:  # an IR layer refusing its attributes
        raise spec.error(str(exc)) from None
    except KConvertError as exc:  # from a nested object's keys (activation, dropout, ...)
        raise exc.with_context(layer=spec.name, layer_class=spec.cls) from None


def first_input_shape(spec: LayerSpec) -> Shape:
    """The shape a network input must have for its first layer (DL4J records none)."""
    fn = FIRST_LAYER_INPUTS.get(spec.cls)
    if fn is None:
        spec.declared_inputs()  # a layer without nin is refused for that first
        raise spec.error(f"a network starting with {spec.cls}: its input shape cannot be derived")
    return fn(spec)


def sequence_shape(fmt: str, size: int) -> Shape:
    """A sequence input of ``size`` features in DL4J's NCW or NWC layout."""
    return (None, None, size) if fmt == "NWC" else (None, size, None)


def weights(arrays: dict[str, Any]) -> dict[str, Weight]:
    return {k: v if isinstance(v, Weight) else Weight.of(np.ascontiguousarray(v, np.float32), "dl4j")
            for k, v in arrays.items()}


def transposed(name: str, entries: list[Entry], back: bool = True) -> list[Entry]:
    """Entries working on (batch, time, features), between transposes from and to DL4J's NCW."""
    out = [(f"{name}_nwc", core.Permute(dims=(2, 1)), {}), *entries]
    return out + [(f"{name}_ncw", core.Permute(dims=(2, 1)), {})] if back else out
