"""A model used as a layer of another model (kept as a sub-graph, not flattened)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape, ShapeError, shape_str

if TYPE_CHECKING:
    from kconvert.ir.graph import Model


@layer_kind
@layer_config
class NestedModel(LayerConfig):
    """Calls ``model`` on its inputs; the inner layers own the weights.

    Inputs are checked against the shapes the inner model declares and, as in Keras, conformed to
    their rank by adding or dropping a last axis of size 1.
    """

    kind = "Model"
    max_inputs = None
    model: "Model"

    def check_arity(self, count: int) -> None:
        if count != len(self.model.inputs):
            raise ShapeError(f"model '{self.model.name}' takes {len(self.model.inputs)} input(s), got {count}")

    def conformed_inputs(self, inputs: list[Shape]) -> list[Shape]:
        """The input shapes the inner model sees when called on ``inputs``."""
        return [_conform(self.model, ref.layer, given) for ref, given in zip(self.model.inputs, inputs)]

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        from kconvert.errors import KConvertError
        from kconvert.ir.graph import infer_shapes

        try:
            shapes = infer_shapes(self.model, self.conformed_inputs(inputs))
        except KConvertError as exc:
            raise ShapeError(str(exc)) from None
        return [shapes[(r.layer, r.node)][r.index] for r in self.model.outputs]


def _conform(model: "Model", name: str, given: Shape) -> Shape:
    """The shape the nested model sees for input ``name``; refuse one that contradicts the shape it
    declares, as Keras's input spec does.  The batch axis is not compared, a ``None`` matches
    anything, and a last axis of size 1 may be missing on either side: Keras then squeezes or adds
    it (``allow_last_axis_squeeze``)."""
    declared = next((getattr(lay.config, "batch_shape", None) for lay in model.layers if lay.name == name), None)
    if declared is None:
        return given
    a, b = tuple(declared), tuple(given)
    if len(b) == len(a) + 1 and b[-1] == 1:
        b = b[:-1]
    elif len(a) == len(b) + 1 and a[-1] == 1:
        b = (*b, 1)
    if len(a) != len(b) or any(d is not None and g is not None and d != g for d, g in zip(a[1:], b[1:])):
        raise ShapeError(f"model '{model.name}' expects its input '{name}' to be {shape_str(declared)}, "
                         f"got {shape_str(tuple(given))}")
    return b
