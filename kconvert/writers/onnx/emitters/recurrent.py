"""SimpleRNN, GRU and LSTM as ONNX's RNN, GRU and LSTM, and Bidirectional over them as one
bidirectional operator.

ONNX reads sequences time-major, (time, batch, features): the input is asked for in that layout,
and the sequence output keeps it (a later layer reading it batch-major gets one Transpose).  Gate
blocks: Keras's LSTM kernel is (i, f, c, o), ONNX's (i, o, f, c); GRU is (z, r, h) in both, and
Keras's ``reset_after`` is ONNX's ``linear_before_reset``.  Keras's single bias is ONNX's input
bias with a zero recurrent bias (a reset_after GRU has both).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kconvert.ir.graph import Layer
from kconvert.ir.weights import Weight
from kconvert.writers.onnx.emit import Emit, emits
from kconvert.writers.onnx.emitters.conv_recurrent import conv_lstm, last_step
from kconvert.writers.onnx.emitters.recurrent_scan import masked_scan
from kconvert.writers.onnx.graph import Value

#: IR activation -> (ONNX recurrent activation, its alpha and beta, where it takes them)
_ACTIVATIONS: dict[str, tuple[str, tuple[float, ...]]] = {
    "sigmoid": ("Sigmoid", ()), "tanh": ("Tanh", ()), "relu": ("Relu", ()), "softsign": ("Softsign", ()),
    "softplus": ("Softplus", ()), "linear": ("Affine", (1.0, 0.0)), "elu": ("Elu", (1.0,)),
    "hard_sigmoid": ("HardSigmoid", (0.2, 0.5)), "hard_sigmoid_relu6": ("HardSigmoid", (1 / 6, 0.5))}
#: ONNX operator and the order of Keras's gate blocks in it
_OPS = {"SimpleRNN": ("RNN", (0,)), "GRU": ("GRU", (0, 1, 2)), "LSTM": ("LSTM", (0, 3, 1, 2))}
_TIME_MAJOR = (1, 0, 2)


def _gates(weight: Weight, order: tuple[int, ...]) -> Weight:
    """The last axis's gate blocks in ONNX's order."""
    return weight if order == tuple(range(len(order))) else Weight.concat(
        [weight.split(len(order))[g] for g in order])


def _direction_weights(em: Emit, layer: Layer) -> tuple[Weight, Weight, Weight | None]:
    """W (G*h, in), R (G*h, h) and B (2*G*h,) of one direction."""
    c, w = layer.config, em.ctx.weights(layer, em.shapes)
    order = _OPS[c.kind][1]
    width = len(order) * c.units
    kernel = _gates(w["kernel"], order).transpose((1, 0))
    recurrent = _gates(w["recurrent_kernel"], order).transpose((1, 0))
    if not c.use_bias:
        return kernel, recurrent, None
    bias = w["bias"]
    if len(bias.shape) == 2:  # a reset_after GRU: input and recurrent biases
        return kernel, recurrent, Weight.concat([_gates(bias.reshape((2 * width,)).split(2)[i], order)
                                                 for i in range(2)])
    zeros = Weight.filled((width,), 0.0, bias.dtype, "ONNX's recurrent bias (Keras has one bias)")
    return kernel, recurrent, Weight.concat([_gates(bias, order), zeros])


def _activations(em: Emit, c: Any, directions: int) -> dict[str, Any]:
    """The operator's activations, one list per direction."""
    names = [c.recurrent_activation, c.activation, c.activation] if c.kind == "LSTM" else \
        [c.recurrent_activation, c.activation] if c.kind == "GRU" else [c.activation]
    for name, key in zip(names, ("recurrent_activation", "activation", "activation")):
        if name not in _ACTIVATIONS:
            raise em.refuse(f"has no recurrent operator with activation {name!r}", key=key)
    specs = [_ACTIVATIONS[n] for n in names] * directions
    alphas = [p[0] for _, p in specs if p]
    betas = [p[1] for _, p in specs if len(p) > 1]
    return {"activations": [op for op, _ in specs], "activation_alpha": alphas or None,
            "activation_beta": betas or None}


def _check(em: Emit, c: Any, wrapped: bool = False) -> None:
    if c.stateful:
        raise em.refuse(f"writes a stateless {c.kind} only (a stateful one carries its state between batches)",
                        key="stateful")
    given = {k for call in em.layer.calls[:1] for k, v in call.kwargs.items() if v is not None}  # (wrapped: none)
    if "constants" in given:
        raise em.refuse(f"does not write {c.kind} calls given constants")
    if wrapped and len(em.values) > 1:
        raise em.refuse(f"does not write Bidirectional over {c.kind} given initial states")


def initial_states(em: Emit) -> list[str]:
    """The states a call is given (its inputs after the sequence), each (batch, units)."""
    return [em.input(i).name for i in range(1, len(em.values))]


def _recurrent(em: Emit, layers: list[Layer], direction: str) -> list[str]:
    """The operator over the input; its outputs Y (time, directions, batch, units), Y_h[, Y_c]."""
    c = layers[0].config
    for layer in layers:
        _check(em, layer.config, wrapped=len(layers) > 1)
    x = em.input(0, _TIME_MAJOR)
    parts = [_direction_weights(em, layer) for layer in layers]
    stacked = [Weight.concat([p[i].reshape((1, *p[i].shape)) for p in parts], axis=0) for i in range(2)]
    inputs = [x.name, em.weight("W", stacked[0]), em.weight("R", stacked[1])]
    inputs.append(em.weight("B", Weight.concat([p[2].reshape((1, *p[2].shape)) for p in parts], axis=0))
                  if c.use_bias else "")
    given = [em.op("Unsqueeze", [s, em.const([0], np.int64)]) for s in initial_states(em)]
    inputs += ["", *given] if given else []  # (no sequence_lens), initial_h[, initial_c]
    op = _OPS[c.kind][0]
    extra = {"linear_before_reset": int(c.reset_after)} if c.kind == "GRU" else {}
    return em.graph.node(op, inputs, em.base, outputs=3 if op == "LSTM" else 2, hidden_size=c.units,
                         direction=direction, **_activations(em, c, len(layers)), **extra)


def _reversed_in_time(em: Emit, y: str) -> str:
    big = np.iinfo(np.int64)
    return em.op("Slice", [y, em.const([-1], np.int64), em.const([big.min], np.int64), em.const([0], np.int64),
                           em.const([-1], np.int64)])


def _masked(em: Emit) -> list[Value]:
    """The layer given a mask: a Scan (see :mod:`.recurrent_scan`); outputs as :func:`recurrent`'s."""
    c = em.config
    _check(em, c)
    zero_output = bool(getattr(c, "zero_output_for_mask", False))
    sequence, states = masked_scan(em, em.layer, c.go_backwards, zero_output, initial_states(em))
    em.out_masks = [em.mask(0) if c.return_sequences else None]
    first = Value(sequence, _TIME_MAJOR) if c.return_sequences else \
        Value(em.op("Gather", [sequence, em.const(-1, np.int64)], axis=0), (0, 1))
    return [first, *(Value(s, (0, 1)) for s in states)] if c.return_state else [first]


@emits("SimpleRNN", "GRU", "LSTM")
def recurrent(em: Emit) -> list[Value]:
    c = em.config
    if em.mask(0) is not None:
        return _masked(em)
    outputs = _recurrent(em, [em.layer], "reverse" if c.go_backwards else "forward")
    if c.return_sequences:
        y = em.op("Squeeze", [outputs[0], em.const([1], np.int64)])
        if c.go_backwards:  # Keras gives the outputs in the order it read the steps
            y = _reversed_in_time(em, y)
        first = Value(y, _TIME_MAJOR)
    else:
        first = Value(em.op("Squeeze", [outputs[1], em.const([0], np.int64)]), (0, 1))
    if not c.return_state:
        return [first]
    return [first, *(Value(em.op("Squeeze", [s, em.const([0], np.int64)]), (0, 1)) for s in outputs[1:])]


@emits("Bidirectional")
def bidirectional(em: Emit) -> list[Value]:
    """Both directions in one operator; ONNX gives the backward outputs in forward time order, as
    Keras's Bidirectional does."""
    c = em.config
    forward, backward = c.forward, c.backward
    fc, bc = forward.config, backward.config
    scanned = fc.kind == "ConvLSTM2D"  # each direction a Scan reading in its own direction
    if fc.kind not in (*_OPS, "ConvLSTM2D") or bc.kind != fc.kind or \
            not scanned and (fc.go_backwards or not bc.go_backwards):
        raise em.refuse("writes Bidirectional over a forward SimpleRNN, GRU or LSTM and its backward twin, or "
                        "over a ConvLSTM2D")
    if fc.return_state or c.merge_mode is None:
        raise em.refuse("writes Bidirectional with a merge mode and without return_state", key="merge_mode")
    if fc.kind == "ConvLSTM2D":
        a, b, perm = _conv_bidirectional(em, forward, backward)
    elif em.mask(0) is not None:
        a, b, perm = _masked_bidirectional(em, forward, backward)
    else:
        a, b, perm = _bidirectional(em, forward, backward)
    channels = perm.index(len(perm) - 1)  # the source's last axis, which concat joins along
    merged = {"concat": lambda: em.op("Concat", [a, b], axis=channels), "sum": lambda: em.op("Add", [a, b]),
              "mul": lambda: em.op("Mul", [a, b]), "ave": lambda: em.op("Mean", [a, b])}
    if c.merge_mode not in merged:
        raise em.refuse(f"has no Bidirectional merge mode {c.merge_mode!r}", key="merge_mode")
    return [Value(merged[c.merge_mode](), perm)]


def _bidirectional(em: Emit, forward: Layer, backward: Layer) -> tuple[str, str, tuple[int, ...]]:
    """Both directions' outputs from one bidirectional operator, and their layout."""
    outputs = _recurrent(em, [forward, backward], "bidirectional")
    if forward.config.return_sequences:
        y, axis, perm = outputs[0], 1, _TIME_MAJOR  # (time, 2, batch, units)
    else:
        y, axis, perm = outputs[1], 0, (0, 1)  # (2, batch, units)
    halves = em.graph.node("Split", [y, em.const([1, 1], np.int64)], em.base, outputs=2, axis=axis)
    a, b = (em.op("Squeeze", [h, em.const([axis], np.int64)]) for h in halves)
    return a, b, perm


def _masked_bidirectional(em: Emit, forward: Layer, backward: Layer) -> tuple[str, str, tuple[int, ...]]:
    """Each direction a masked Scan; Keras zeroes their outputs at masked steps when they return
    sequences, and turns the backward one's back into forward time."""
    for layer in (forward, backward):
        _check(em, layer.config, wrapped=True)
    sequences = forward.config.return_sequences
    em.out_masks = [em.mask(0) if sequences else None]
    (y_fw, _), (y_bw, _) = (masked_scan(em, layer, layer.config.go_backwards, sequences, [])
                            for layer in (forward, backward))
    if sequences:
        return y_fw, _reversed_in_time(em, y_bw), _TIME_MAJOR
    last = [em.op("Gather", [y, em.const(-1, np.int64)], axis=0) for y in (y_fw, y_bw)]
    return last[0], last[1], (0, 1)


def _conv_bidirectional(em: Emit, forward: Layer, backward: Layer) -> tuple[str, str, tuple[int, ...]]:
    """Each direction of a ConvLSTM2D a Scan in the direction its layer reads; the backward layer's
    sequence turned around (Keras turns it whichever way it was read)."""
    (y_fw, _, _), (y_bw, _, _) = (conv_lstm(em, layer) for layer in (forward, backward))
    if forward.config.return_sequences:
        return y_fw.name, _reversed_in_time(em, y_bw.name), y_fw.perm
    a, b = last_step(em, y_fw), last_step(em, y_bw)
    return a.name, b.name, a.perm
