"""ConvLSTM2D as an ONNX Scan over time whose body is the Keras cell, its products convolutions.

The input convolution (the layer's strides, padding and dilation) runs once over every frame, the
frames of all steps stacked as one batch; the body adds the recurrent convolution (always 'same',
stride 1) and applies the LSTM gates, in Keras's order (i, f, c, o) along the channels.  Inside,
frames are channels-first (time, batch, channels, rows, columns).
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from kconvert.ir.graph import Layer
from kconvert.writers.onnx.emit import Emit, emits
from kconvert.writers.onnx.emitters.conv import onnx_kernel, padding
from kconvert.writers.onnx.emitters.ops import without_axes
from kconvert.writers.onnx.emitters.recurrent_scan import scan, zeros
from kconvert.writers.onnx.graph import Value


def conv_lstm(em: Emit, layer: Layer) -> tuple[Value, Value, Value]:
    """``layer`` (the emitted one, or a Bidirectional's direction) over the call's input: its outputs
    over time in the order it reads them, and its final states, each with its layout."""
    c, w = layer.config, em.ctx.weights(layer, em.shapes)
    em.unmasked("kconvert writes ConvLSTM2D's Scan without a mask")
    if c.stateful or len(em.values) > 1:
        raise em.refuse("writes a stateless ConvLSTM2D from zero states only (not given initial states)")
    first = c.data_format == "channels_first"
    x = em.input(0, (1, 0, 2, 3, 4) if first else (1, 0, 4, 2, 3))  # (time, batch, channels, rows, columns)
    frame = tuple(em.shapes[0][3:] if first else em.shapes[0][2:4])
    frames = em.op("Reshape", [x.name, em.op("Concat", [em.const([-1], np.int64), em.sizes(x.name, 2)], axis=0)])
    own = Emit(layer, em.values, em.shapes, em.outputs, em.graph, em.ctx)  # weights named after the layer
    inputs = [frames, own.weight("kernel", onnx_kernel(w["kernel"]))] + ([own.weight("bias", w["bias"])]
                                                                         if c.use_bias else [])
    projected = em.op("Conv", inputs, kernel_shape=list(c.kernel_size), strides=list(c.strides),
                      dilations=list(c.dilation_rate),
                      **padding(own, c.kernel_size, c.strides, c.dilation_rate, frame))
    xc = em.op("Reshape", [projected, em.op("Concat", [em.sizes(x.name, 0, 2), em.sizes(projected, 1)], axis=0)])
    nothing = zeros(em, [em.sizes(xc, 1, 2), em.const([c.filters], np.int64), em.sizes(xc, 3)])
    recurrent = own.weight("recurrent_kernel", onnx_kernel(w["recurrent_kernel"]))
    same = padding(own, c.kernel_size, (1, 1), (1, 1), (None, None), mode="same")

    def step(body: Emit, carried: list[str], slices: list[str]) -> tuple[list[str], list[str]]:
        h, cell = carried
        z = body.op("Add", [slices[0], body.op("Conv", [h, recurrent], kernel_shape=list(c.kernel_size), **same)])
        i, f, g, o = (body.activation(Value(v, (0, 1, 2, 3)), name).name for v, name in zip(
            body.graph.node("Split", [z, body.const([c.filters] * 4, np.int64)], body.base, outputs=4, axis=1),
            [c.recurrent_activation, c.recurrent_activation, c.activation, c.recurrent_activation]))
        new_cell = body.op("Add", [body.op("Mul", [f, cell]), body.op("Mul", [i, g])])
        new_h = body.op("Mul", [o, body.activation(Value(new_cell, (0, 1, 2, 3)), c.activation).name])
        return [new_h, new_cell], [new_h]

    h, cell, sequence = scan(em, layer, [nothing, nothing], [(xc, TensorProto.FLOAT)], step, c.go_backwards)
    image = (0, 1, 2, 3) if first else (0, 3, 1, 2)  # (batch, channels, rows, columns) as the source's axes
    return Value(sequence, (1, 0, 2, 3, 4) if first else (1, 0, 4, 2, 3)), Value(h, image), Value(cell, image)


def last_step(em: Emit, sequence: Value) -> Value:
    """The output of the last step read: the sequence's last entry (time, the source's axis 1, is its
    axis 0)."""
    return Value(em.op("Gather", [sequence.name, em.const(-1, np.int64)], axis=0), without_axes(sequence.perm, {1}))


@emits("ConvLSTM2D")
def conv_lstm_2d(em: Emit) -> list[Value]:
    c = em.config
    sequence, h, cell = conv_lstm(em, em.layer)
    out = sequence if c.return_sequences else last_step(em, sequence)
    return [out, h, cell] if c.return_state else [out]
