"""A model used as a layer of another model (kept as a sub-graph, not flattened)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kconvert.ir.layer import LayerConfig, layer_kind
from kconvert.ir.shapes import Shape, ShapeError

if TYPE_CHECKING:
    from kconvert.ir.graph import Model


@layer_kind
@dataclass(frozen=True, kw_only=True)
class NestedModel(LayerConfig):
    """Calls ``model`` on its inputs; the inner layers own the weights."""

    kind = "Model"
    max_inputs = None
    model: "Model"

    def check_arity(self, count: int) -> None:
        if count != len(self.model.inputs):
            raise ShapeError(f"model '{self.model.name}' takes {len(self.model.inputs)} input(s), got {count}")

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        from kconvert.errors import KConvertError
        from kconvert.ir.graph import infer_shapes

        try:
            shapes = infer_shapes(self.model, inputs)
        except KConvertError as exc:
            raise ShapeError(str(exc)) from None
        return [shapes[(r.layer, r.node)][r.index] for r in self.model.outputs]
