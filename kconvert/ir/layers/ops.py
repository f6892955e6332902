"""Tensor operations that Keras 3 records in a functional graph as if they were layers."""

from __future__ import annotations

from dataclasses import dataclass

from kconvert.ir.layer import LayerConfig, layer_kind
from kconvert.ir.shapes import Shape


@layer_kind
@dataclass(frozen=True, kw_only=True)
class NotEqual(LayerConfig):
    """``x != value``, a boolean tensor; Keras 3 records it when it passes an Embedding's padding
    mask (``ids != 0``) to the layers after it."""

    kind = "NotEqual"
    value: float = 0.0

    def output_shape(self, shape: Shape) -> Shape:
        return shape
