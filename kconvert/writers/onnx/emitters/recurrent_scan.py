"""A SimpleRNN, GRU or LSTM given a Keras mask, as an ONNX ``Scan`` over time whose body is the
Keras cell and ``Where`` keeps the previous states at masked steps.

ONNX's recurrent operators skip only a padded tail (``sequence_lens``); a Keras mask may skip any
step.  Keras's rule (the runtime's ``time_loop``): at a masked step the states are kept and the
output repeats the previous one (zeros before the first), or is zeros with
``zero_output_for_mask`` (which Bidirectional forces when returning sequences); the body carries
the states and the previous output.  The input projection ``x W + b`` runs once over the
whole sequence, outside the loop; the body adds the recurrent part, in Keras's gate order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto, helper

from kconvert.ir.graph import Layer
from kconvert.ir.weights import Weight
from kconvert.writers.onnx.emit import Emit
from kconvert.writers.onnx.graph import Value

_TIME_MAJOR = (1, 0, 2)
#: states each kind carries
_STATES = {"SimpleRNN": 1, "GRU": 1, "LSTM": 2}


def _cell(em: Emit, c: Any, w: dict[str, Any], xw: str, states: list[str]) -> list[str]:
    """The Keras cell's new states from the step's input projection ``xw`` (batch, gates * units)."""
    def act(x: str, name: str) -> str:
        return em.activation(Value(x, (0, 1)), name).name

    def split(x: str, n: int) -> list[str]:
        return em.graph.node("Split", [x, em.const([c.units] * n, np.int64)], em.base, outputs=n, axis=-1)

    h = states[0]
    recurrent = w["recurrent_kernel"]
    if c.kind == "SimpleRNN":
        return [act(em.op("Add", [xw, em.op("MatMul", [h, em.weight("recurrent_kernel", recurrent)])]), c.activation)]
    if c.kind == "LSTM":
        i, f, g, o = split(em.op("Add", [xw, em.op("MatMul", [h, em.weight("recurrent_kernel", recurrent)])]), 4)
        cell = em.op("Add", [em.op("Mul", [act(f, c.recurrent_activation), states[1]]),
                             em.op("Mul", [act(i, c.recurrent_activation), act(g, c.activation)])])
        return [em.op("Mul", [act(o, c.recurrent_activation), act(cell, c.activation)]), cell]
    x_z, x_r, x_h = split(xw, 3)  # GRU
    if c.reset_after:
        inner = em.op("MatMul", [h, em.weight("recurrent_kernel", recurrent)])
        if c.use_bias:
            inner = em.op("Add", [inner, em.weight("recurrent_bias", w["bias"].split(2, axis=0)[1].reshape(
                (3 * c.units,)))])
        r_z, r_r, r_h = split(inner, 3)
    else:
        gates, candidate = recurrent.split(3)[:2], recurrent.split(3)[2]
        r_z, r_r = split(em.op("MatMul", [h, em.weight("recurrent_gates", Weight.concat(gates))]), 2)
    z = act(em.op("Add", [x_z, r_z]), c.recurrent_activation)
    r = act(em.op("Add", [x_r, r_r]), c.recurrent_activation)
    r_h = em.op("Mul", [r, r_h]) if c.reset_after else \
        em.op("MatMul", [em.op("Mul", [r, h]), em.weight("recurrent_candidate", candidate)])
    candidate_h = act(em.op("Add", [x_h, r_h]), c.activation)
    one_minus_z = em.op("Sub", [em.const(1.0), z])
    return [em.op("Add", [em.op("Mul", [z, h]), em.op("Mul", [one_minus_z, candidate_h])])]


def _projection(em: Emit, layer: Layer, w: dict[str, Any], x: Value) -> str:
    """``x W + b`` over the whole (time, batch, features) sequence."""
    c = layer.config
    y = em.op("MatMul", [x.name, em.weight("kernel", w["kernel"])])
    if c.use_bias:
        bias = w["bias"]
        if len(bias.shape) == 2:  # a reset_after GRU: the input bias here, the recurrent one in the body
            bias = bias.split(2, axis=0)[0].reshape((bias.shape[1],))
        y = em.op("Add", [y, em.weight("bias", bias)])
    return y


def masked_scan(em: Emit, layer: Layer, backwards: bool, zero_output: bool,
                initial: list[str]) -> tuple[str, list[str]]:
    """``layer`` run over the emitted call's input under its mask from the ``initial`` states (else
    zeros): the outputs (time, batch, units), in the order the steps are read, and the final states
    (batch, units)."""
    c = layer.config
    inner = Emit(layer, em.values, em.shapes, em.outputs, em.graph, em.ctx, em.masks)
    w = em.ctx.weights(layer, em.shapes)
    x = em.input(0, _TIME_MAJOR)
    xw = _projection(inner, layer, w, x)
    mask = em.graph.in_layout(em.mask(0), (1, 0)).name  # (time, batch)
    batch = em.sizes(x.name, 1, 2)
    zeros = em.op("ConstantOfShape", [em.op("Concat", [batch, em.const([c.units], np.int64)], axis=0)],
                  value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))
    n = _STATES[c.kind]
    starts = initial or [zeros] * n

    body = em.graph.body()
    step = Emit(layer, [], [], [], body, em.ctx)
    names = [body.fresh(f"{layer.name}/scan/{what}") for what in ["h", "c"][:n] + ["output", "xw", "mask"]]
    states, previous, xw_t, m_t = names[:n], names[n], names[n + 1], names[n + 2]
    new = _cell(step, c, w, xw_t, states)
    keep = step.op("Unsqueeze", [m_t, step.const([1], np.int64)])  # (batch, 1)
    kept = [step.op("Where", [keep, s_new, s_old]) for s_new, s_old in zip(new, states)]
    output = step.op("Where", [keep, new[0], step.const(0.0) if zero_output else previous])
    out_names = [step.op("Identity", [s]) for s in [*kept, output, output]]
    info = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in names[:n + 2]]
    info.append(helper.make_tensor_value_info(m_t, TensorProto.BOOL, None))
    graph = helper.make_graph(body.nodes, f"{layer.name}_step", info,
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in out_names])
    results = em.graph.node("Scan", [*starts, zeros, xw, mask], em.base, outputs=n + 2, body=graph,
                            num_scan_inputs=2, scan_input_directions=[1, 1] if backwards else None)
    return results[n + 1], results[:n]
