"""Kernels for recurrent layers: one time loop (Keras masking semantics) and one cell per kind.

A masked timestep keeps the previous states and repeats the previous output (or outputs zeros
with ``zero_output_for_mask``, which Keras forces inside Bidirectional when returning
sequences).  With ``go_backwards`` the sequence is processed, and returned, in reverse.  Stateful
layers run as one call starting from zero states.
"""

from __future__ import annotations

from typing import Callable, Sequence

from kconvert.runtime.activations import activation
from kconvert.runtime.kernels.conv import from_channels_last, to_channels_last
from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import Mask, Invocation, kernel

Cell = Callable[[tf.Tensor, Sequence[tf.Tensor]], tuple[tf.Tensor, list[tf.Tensor]]]


def time_loop(cell: Cell, x: tf.Tensor, states: list[tf.Tensor], mask: Mask, go_backwards: bool,
              zero_output_for_mask: bool) -> tuple[tf.Tensor, tf.Tensor, list[tf.Tensor]]:
    """Run ``cell`` over axis 1 of ``x``; returns (last output, all outputs, final states)."""
    perm = [1, 0, *range(2, x.shape.rank)]
    xs = tf.transpose(x, perm)
    ms = tf.transpose(tf.cast(mask, tf.bool), [1, 0]) if mask is not None else None
    if go_backwards:
        xs = tf.reverse(xs, [0])
        ms = tf.reverse(ms, [0]) if ms is not None else None
    first_output, _ = cell(xs[0], states)
    zero = tf.zeros_like(first_output)

    def step(carry: tuple, elems: tuple) -> tuple:
        prev_output, prev_states = carry[0], list(carry[1:])
        x_t, m_t = elems if ms is not None else (elems, None)
        output, new_states = cell(x_t, prev_states)
        if m_t is not None:
            def keep(new: tf.Tensor, old: tf.Tensor) -> tf.Tensor:
                return tf.where(tf.reshape(m_t, [-1] + [1] * (new.shape.rank - 1)), new, old)
            output = keep(output, zero if zero_output_for_mask else prev_output)
            new_states = [keep(n, o) for n, o in zip(new_states, prev_states)]
        return (output, *new_states)

    results = tf.scan(step, (xs, ms) if ms is not None else xs, initializer=(zero, *states))
    outputs = results[0]
    final = [r[-1] for r in results[1:]]
    return outputs[-1], tf.transpose(outputs, perm), final


def _initial_states(step: Invocation, n: int, shape: list) -> list[tf.Tensor]:
    """Given initial states, the carried ones of a stateful layer, or zeros of ``shape``."""
    if step.inputs[1:]:
        return list(step.inputs[1:])
    if step.config.stateful:
        if not isinstance(shape[0], int):
            raise ValueError(f"stateful layer '{step.layer.name}' needs a fixed batch size")
        return [v.read_value() for v in step.executor.state_variables(step.layer, [shape] * n)]
    return [tf.zeros(shape, step.dtype) for _ in range(n)]


def _carry(step: Invocation, final: list[tf.Tensor]) -> None:
    """Keep a stateful layer's final states for its next call."""
    if step.config.stateful and not step.inputs[1:]:
        for variable, value in zip(step.executor.states[id(step.layer)], final):
            variable.assign(value)


def _outputs(step: Invocation, last: tf.Tensor, sequence: tf.Tensor, states: list[tf.Tensor]) -> tuple[list, list]:
    c = step.config
    out = sequence if c.return_sequences else last
    extra = states if c.return_state else []
    return [out, *extra], [step.mask if c.return_sequences else None] + [None] * len(extra)


def _zero_output_for_mask(step: Invocation) -> bool:
    """The layer's setting, unless the caller (Bidirectional) forces it."""
    return bool(step.kwargs.get("zero_output_for_mask", getattr(step.config, "zero_output_for_mask", False)))


def _batch(step: Invocation) -> int | tf.Tensor:
    return step.x.shape[0] if step.x.shape[0] is not None else tf.shape(step.x)[0]


def _run(step: Invocation, cell: Cell, n_states: int) -> tuple[list, list]:
    c = step.config
    states = _initial_states(step, n_states, [_batch(step), c.units])
    last, seq, final = time_loop(cell, step.x, states, step.mask, c.go_backwards, _zero_output_for_mask(step))
    _carry(step, final)
    return _outputs(step, last, seq, final)


@kernel("SimpleRNN", mask="custom")
def simple_rnn(step: Invocation) -> tuple[list, list]:
    c = step.config
    kernel_, recurrent = step.w("kernel"), step.w("recurrent_kernel")
    bias = step.w("bias") if c.use_bias else None
    act = activation(c.activation)

    def cell(x: tf.Tensor, states: Sequence[tf.Tensor]) -> tuple[tf.Tensor, list[tf.Tensor]]:
        h = tf.matmul(x, kernel_)
        if bias is not None:
            h = h + bias
        out = act(h + tf.matmul(states[0], recurrent))
        return out, [out]
    return _run(step, cell, 1)


@kernel("LSTM", "PeepholeLSTM", mask="custom")
def lstm(step: Invocation) -> tuple[list, list]:
    c = step.config
    kernel_, recurrent = step.w("kernel"), step.w("recurrent_kernel")
    bias = step.w("bias") if c.use_bias else None
    act, rec_act = activation(c.activation), activation(c.recurrent_activation)
    peep_i, peep_f, peep_o = tf.unstack(step.w("peephole_kernel")) if step.layer.kind == "PeepholeLSTM" else [None] * 3

    def cell(x: tf.Tensor, states: Sequence[tf.Tensor]) -> tuple[tf.Tensor, list[tf.Tensor]]:
        h_prev, c_prev = states
        z = tf.matmul(x, kernel_) + tf.matmul(h_prev, recurrent)
        if bias is not None:
            z = z + bias
        i, f, g, o = tf.split(z, 4, axis=-1)
        if peep_i is not None:
            i, f = i + peep_i * c_prev, f + peep_f * c_prev
        cell_state = rec_act(f) * c_prev + rec_act(i) * act(g)
        if peep_o is not None:
            o = o + peep_o * cell_state
        h = rec_act(o) * act(cell_state)
        return h, [h, cell_state]
    return _run(step, cell, 2)


@kernel("GRU", mask="custom")
def gru(step: Invocation) -> tuple[list, list]:
    c = step.config
    units = c.units
    kernel_, recurrent = step.w("kernel"), step.w("recurrent_kernel")
    bias = step.w("bias") if c.use_bias else None
    input_bias = (bias[0] if c.reset_after else bias) if bias is not None else None
    recurrent_bias = bias[1] if bias is not None and c.reset_after else None
    act, rec_act = activation(c.activation), activation(c.recurrent_activation)

    def cell(x: tf.Tensor, states: Sequence[tf.Tensor]) -> tuple[tf.Tensor, list[tf.Tensor]]:
        h_prev = states[0]
        mx = tf.matmul(x, kernel_)
        if input_bias is not None:
            mx = mx + input_bias
        x_z, x_r, x_h = tf.split(mx, 3, axis=-1)
        if c.reset_after:
            inner = tf.matmul(h_prev, recurrent)
            if recurrent_bias is not None:
                inner = inner + recurrent_bias
            r_z, r_r, r_h = tf.split(inner, 3, axis=-1)
        else:
            r_z, r_r = tf.split(tf.matmul(h_prev, recurrent[:, :2 * units]), 2, axis=-1)
        z = rec_act(x_z + r_z)
        r = rec_act(x_r + r_r)
        r_h = r * r_h if c.reset_after else tf.matmul(r * h_prev, recurrent[:, 2 * units:])
        h = z * h_prev + (1.0 - z) * act(x_h + r_h)
        return h, [h]
    return _run(step, cell, 1)


@kernel("ConvLSTM2D", mask="custom")
def conv_lstm_2d(step: Invocation) -> tuple[list, list]:
    c = step.config
    kernels = tf.split(step.w("kernel"), 4, axis=-1)
    recurrents = tf.split(step.w("recurrent_kernel"), 4, axis=-1)
    biases = tf.split(step.w("bias"), 4) if c.use_bias else [None] * 4
    act, rec_act = activation(c.activation), activation(c.recurrent_activation)
    frames = tf.stack([to_channels_last(f, c.data_format) for f in tf.unstack(step.x, axis=1)], axis=1) \
        if c.data_format == "channels_first" else step.x

    def conv_in(x: tf.Tensor, k: tf.Tensor, b: tf.Tensor | None) -> tf.Tensor:
        y = tf.nn.convolution(x, k, strides=c.strides, padding=c.padding.upper(), dilations=c.dilation_rate)
        return y if b is None else y + b

    def cell(x: tf.Tensor, states: Sequence[tf.Tensor]) -> tuple[tf.Tensor, list[tf.Tensor]]:
        h_prev, c_prev = states
        i, f, g, o = (conv_in(x, k, b) + tf.nn.convolution(h_prev, r, padding="SAME")
                      for k, b, r in zip(kernels, biases, recurrents))
        cell_state = rec_act(f) * c_prev + rec_act(i) * act(g)
        h = rec_act(o) * act(cell_state)
        return h, [h, cell_state]

    shape = [_batch(step), *c.spatial_output(tuple(frames.shape[2:-1])), c.filters]
    states = [to_channels_last(s, c.data_format) for s in _initial_states(step, 2, shape)] \
        if step.inputs[1:] else _initial_states(step, 2, shape)
    last, seq, final = time_loop(cell, frames, states, step.mask, c.go_backwards, _zero_output_for_mask(step))
    _carry(step, final)
    last = from_channels_last(last, c.data_format)
    final = [from_channels_last(s, c.data_format) for s in final]
    if c.data_format == "channels_first":
        seq = tf.stack([from_channels_last(f, c.data_format) for f in tf.unstack(seq, axis=1)], axis=1)
    return _outputs(step, last, seq, final)
