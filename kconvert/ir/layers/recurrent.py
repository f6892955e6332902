"""Recurrent layers.

Gate blocks in fused kernels follow Keras 2: LSTM ``i, f, c, o``; GRU ``z, r, h``.  A GRU with
``reset_after`` applies the reset gate after the recurrent matrix product and has separate
input and recurrent biases: its bias is (2, 3 * units) instead of (3 * units,).
"""

from __future__ import annotations

from typing import ClassVar

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.layers.conv import _Windowed
from kconvert.ir.shapes import Shape, ShapeError, join_channels, require_rank, split_channels


@layer_config
class _Recurrent(LayerConfig):
    """Shared fields of recurrent layers.

    A call takes the sequence and optionally initial states (``initial_state`` in Keras); with
    ``return_state`` the final states follow the output.
    """

    n_states: ClassVar[int] = 1
    max_inputs = None
    recurrent = True

    units: int
    activation: str = "tanh"
    use_bias: bool = True
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    stateful: bool = False
    unroll: bool = False
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    #: a masked timestep outputs zeros instead of repeating the previous output
    zero_output_for_mask: bool = False

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        shape = inputs[0]
        require_rank(shape, 3)
        extra = len(inputs) - 1
        if extra not in (0, self.n_states):
            raise ShapeError(f"takes the sequence and {self.n_states} initial state(s), got {extra}")
        out = (shape[0], shape[1], self.units) if self.return_sequences else (shape[0], self.units)
        states = [(shape[0], self.units)] * self.n_states if self.return_state else []
        return [out, *states]

    def _blocks(self) -> int:
        """The blocks of ``units`` columns along the weights' last axis: one per gate, or one."""
        return self.gates[0] if self.gates else 1

    def _bias_shape(self) -> Shape:
        return (self._blocks() * self.units,)

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        n = self._blocks() * self.units
        out: dict[str, Shape] = {"kernel": (inputs[0][-1], n), "recurrent_kernel": (self.units, n)}
        if self.use_bias:
            out["bias"] = self._bias_shape()
        return out


@layer_kind
@layer_config
class SimpleRNN(_Recurrent):
    kind = "SimpleRNN"


@layer_kind
@layer_config
class GRU(_Recurrent):
    kind = "GRU"
    gates = (3, (0, 1))
    recurrent_activation: str = "sigmoid"
    reset_after: bool = False

    def _bias_shape(self) -> Shape:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)


@layer_kind
@layer_config
class LSTM(_Recurrent):
    kind = "LSTM"
    gates = (4, (0, 1, 3))
    n_states = 2
    recurrent_activation: str = "sigmoid"
    unit_forget_bias: bool = True


@layer_kind
@layer_config
class PeepholeLSTM(LSTM):
    """An LSTM whose gates also read the cell state (Gers & Schmidhuber's peepholes, as in
    Deeplearning4j's GravesLSTM and tf.keras's PeepholeLSTMCell): the input and forget gates
    the previous cell state, the output gate the new one.

    ``peephole_kernel`` is (3, units): the per-unit weights of the input, forget and output gates.
    It is a kind of its own, not an LSTM option, so that targets without peepholes refuse it.
    """

    kind = "PeepholeLSTM"

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        return {**super().weight_shapes(inputs), "peephole_kernel": (3, self.units)}


@layer_kind
@layer_config
class ConvLSTM2D(_Windowed):
    """LSTM whose matrix products are 2-D convolutions over (batch, time, image) inputs.

    The input convolution uses ``strides``/``padding``/``dilation_rate``; the recurrent one is
    always 'same' with stride 1.  kernel: (kh, kw, in, 4 * filters); recurrent_kernel:
    (kh, kw, filters, 4 * filters).
    """

    kind = "ConvLSTM2D"
    rank = 2
    max_inputs = None
    recurrent = True
    gates = (4, (0, 1, 3))

    filters: int
    activation: str = "tanh"
    recurrent_activation: str = "sigmoid"
    use_bias: bool = True
    unit_forget_bias: bool = True
    return_sequences: bool = False
    return_state: bool = False
    go_backwards: bool = False
    stateful: bool = False
    dropout: float = 0.0
    recurrent_dropout: float = 0.0

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        shape = inputs[0]
        require_rank(shape, 5)
        frame = (shape[0], *shape[2:])
        _, spatial = split_channels(frame, self.data_format)
        state = join_channels(shape[0], self.filters, self.spatial_output(spatial), self.data_format)
        out = (state[0], shape[1], *state[1:]) if self.return_sequences else state
        return [out, *([state, state] if self.return_state else [])]

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        frame = (inputs[0][0], *inputs[0][2:])
        channels = self._known_channels(split_channels(frame, self.data_format)[0])
        n = 4 * self.filters
        out: dict[str, Shape] = {
            "kernel": (*self.kernel_size, channels, n),
            "recurrent_kernel": (*self.kernel_size, self.filters, n),
        }
        if self.use_bias:
            out["bias"] = (n,)
        return out

