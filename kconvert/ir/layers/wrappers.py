"""Layers that wrap other layers: TimeDistributed and Bidirectional.

The wrapped layers are full :class:`~kconvert.ir.graph.Layer` objects (with their own names and
weights) that are never called in the graph themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Sequence

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape, ShapeError

if TYPE_CHECKING:
    from kconvert.ir.graph import Layer


@layer_kind
@layer_config
class TimeDistributed(LayerConfig):
    """Apply ``layer`` to every slice along axis 1 (time)."""

    kind = "TimeDistributed"
    passes_mask = True
    layer: "Layer"

    def _inner_input(self, shape: Shape) -> Shape:
        if len(shape) < 3:
            raise ShapeError(f"needs an input of rank >= 3 (batch, time, ...), got rank {len(shape)}")
        return (shape[0], *shape[2:])

    def output_shape(self, shape: Shape) -> Shape:
        inner = self.layer.config.output_shapes([self._inner_input(shape)])
        if len(inner) != 1:
            raise ShapeError("the wrapped layer must produce exactly one output")
        return (inner[0][0], shape[1], *inner[0][1:])

    def intermediate_shapes(self, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> list[Shape]:
        """The outputs and what the wrapped layer makes on all steps at once (batch times steps)."""
        batch, steps = inputs[0][0], inputs[0][1]
        inner = (None if batch is None or steps is None else batch * steps, *inputs[0][2:])
        config = self.layer.config
        return [*outputs, *config.intermediate_shapes([inner], config.output_shapes([inner]))]

    def sublayers(self) -> tuple["Layer", ...]:
        return (self.layer,)

    def sublayer_inputs(self, inputs: list[Shape]) -> list[tuple["Layer", list[Shape]]]:
        return [(self.layer, [self._inner_input(inputs[0])])]


MergeMode = Literal["concat", "sum", "mul", "ave"]


@layer_kind
@layer_config
class Bidirectional(LayerConfig):
    """Run ``forward`` and ``backward`` (a ``go_backwards`` twin) over a sequence and merge them.

    With ``return_sequences`` the backward sequence is reversed back into forward time order
    before merging, as Keras does.  ``merge_mode=None`` returns both outputs unmerged.  With
    ``return_state`` the forward states then the backward states follow the output(s).
    """

    kind = "Bidirectional"
    max_inputs = None
    forward: "Layer"
    backward: "Layer"
    merge_mode: MergeMode | None = "concat"

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        states = inputs[1:]
        if len(states) % 2:
            raise ShapeError("initial states must come in forward/backward pairs")
        half = len(states) // 2
        fw = self.forward.config.output_shapes([inputs[0], *states[:half]])
        bw = self.backward.config.output_shapes([inputs[0], *states[half:]])
        n_states = len(fw) - 1
        fw_out, bw_out = fw[0], bw[0]
        if self.merge_mode is None:
            outputs = [fw_out, bw_out]
        elif self.merge_mode == "concat":
            last = None if fw_out[-1] is None or bw_out[-1] is None else fw_out[-1] + bw_out[-1]
            outputs = [(*fw_out[:-1], last)]
        else:
            if fw_out != bw_out:
                raise ShapeError(f"merge mode {self.merge_mode!r} needs equal forward and backward outputs")
            outputs = [fw_out]
        return outputs + fw[1:1 + n_states] + bw[1:1 + n_states]

    def sublayers(self) -> tuple["Layer", ...]:
        return (self.forward, self.backward)

    def sublayer_inputs(self, inputs: list[Shape]) -> list[tuple["Layer", list[Shape]]]:
        half = (len(inputs) - 1) // 2
        return [(self.forward, [inputs[0], *inputs[1:1 + half]]),
                (self.backward, [inputs[0], *inputs[1 + half:]])]
