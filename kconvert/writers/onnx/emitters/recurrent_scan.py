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

from typing import Any, Callable

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


def scan(em: Emit, layer: Layer, starts: list[str], scanned: list[tuple[str, int]],
         step: Callable[[Emit, list[str], list[str]], tuple[list[str], list[str]]], backwards: bool) -> list[str]:
    """An ONNX Scan over axis 0 of the ``scanned`` tensors (name, element type), carrying ``starts``:
    ``step(body, carried, slices)`` writes the body and gives the carried values' next ones and the
    outputs stacked over the steps (in the order they are read).  The Scan's outputs: the final
    carried values, then the stacked ones."""
    body = em.graph.body()
    inner = Emit(layer, [], [], [], body, em.ctx)
    carried = [body.fresh(f"{layer.name}/scan/state") for _ in starts]
    slices = [body.fresh(f"{layer.name}/scan/step") for _ in scanned]
    nexts, stacked = step(inner, carried, slices)
    outs = [inner.op("Identity", [v]) for v in [*nexts, *stacked]]
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in carried]
    info += [helper.make_tensor_value_info(n, elem, None) for n, (_, elem) in zip(slices, scanned)]
    graph = helper.make_graph(body.nodes, f"{layer.name}_step", info,
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs])
    return em.graph.node("Scan", [*starts, *(name for name, _ in scanned)], em.base, outputs=len(outs), body=graph,
                         num_scan_inputs=len(scanned), scan_input_directions=[1] * len(scanned) if backwards else None)


def zeros(em: Emit, dims: list[str]) -> str:
    """A float tensor of zeros whose shape is the concatenated 1-D int64 tensors ``dims``."""
    return em.op("ConstantOfShape", [em.op("Concat", dims, axis=0)],
                 value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]))


def masked_scan(em: Emit, layer: Layer, backwards: bool, zero_output: bool,
                initial: list[str]) -> tuple[str, list[str]]:
    """``layer`` run over the emitted call's input under its mask from the ``initial`` states (else
    zeros): the outputs (time, batch, units), in the order the steps are read, and the final states
    (batch, units)."""
    c = layer.config
    w = em.ctx.weights(layer, em.shapes)
    x = em.input(0, _TIME_MAJOR)
    xw = _projection(Emit(layer, em.values, em.shapes, em.outputs, em.graph, em.ctx), layer, w, x)
    mask = em.graph.in_layout(em.mask(0), (1, 0)).name  # (time, batch)
    nothing = zeros(em, [em.sizes(x.name, 1, 2), em.const([c.units], np.int64)])
    n = _STATES[c.kind]

    def step(body: Emit, carried: list[str], slices: list[str]) -> tuple[list[str], list[str]]:
        states, previous = carried[:n], carried[n]
        xw_t, m_t = slices
        new = _cell(body, c, w, xw_t, states)
        keep = body.op("Unsqueeze", [m_t, body.const([1], np.int64)])  # (batch, 1)
        kept = [body.op("Where", [keep, s_new, s_old]) for s_new, s_old in zip(new, states)]
        output = body.op("Where", [keep, new[0], body.const(0.0) if zero_output else previous])
        return [*kept, output], [output]

    results = scan(em, layer, [*(initial or [nothing] * n), nothing], [(xw, TensorProto.FLOAT),
                                                                        (mask, TensorProto.BOOL)], step, backwards)
    return results[n + 1], results[:n]
