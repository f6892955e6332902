"""Converters for DL4J's recurrent layers and wrappers; DL4J's NCW sequences are transposed into
the IR's (batch, time, features) around each."""

from __future__ import annotations

import numpy as np

from kconvert.formats.dl4j import BIDIRECTIONAL_MERGE_MODES
from kconvert.ir.graph import Layer
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import core, normalization, recurrent, wrappers
from kconvert.ir.shapes import Shape
from kconvert.readers.dl4j.activations import activation
from kconvert.readers.dl4j.layer import (
    Entry,
    Parameters,
    convert_layer,
    dl4j_layer,
    first_input_shape,
    first_layer_input,
    sequence_shape,
    transposed,
    weights,
)
from kconvert.readers.dl4j.spec import LayerSpec, layer_spec

#: recurrent layers (one direction) that DL4J's recurrent wrappers may hold
_RECURRENT_CELLS = ("LSTM", "GravesLSTM", "GravesBidirectionalLSTM", "recurrent.SimpleRnn")
#: DL4J LSTM gate blocks (c, f, o, i) -> Keras order (i, f, c, o)
_KERAS_FROM_DL4J_GATES = (3, 1, 0, 2)


def _cell(spec: LayerSpec, params: Parameters, return_sequences: bool,
          go_backwards: bool = False) -> tuple[LayerConfig, dict[str, np.ndarray]]:
    """One direction of a recurrent layer: ``W`` [nIn, g*n] 'f', ``RW`` [n, g*n] 'f' (GravesLSTM
    appends its forget, output and input peephole columns), ``b`` [g*n]."""
    if spec.cls not in _RECURRENT_CELLS:
        raise spec.error(f"recurrent layer {spec.cls}: not supported")
    if spec.flag("hasLayerNorm", False):
        raise spec.error(f"a {spec.cls} with layer normalization: not supported")
    n_in, n = spec.integer("nin"), spec.integer("nout")
    peepholes = 3 if spec.cls in ("GravesLSTM", "GravesBidirectionalLSTM") else 0
    gates = 1 if spec.cls == "recurrent.SimpleRnn" else 4
    w = params.take(n_in * gates * n, (n_in, gates * n), "F")
    rw = params.take(n * (gates * n + peepholes), (n, gates * n + peepholes), "F")
    arrays = {"kernel": w, "recurrent_kernel": rw[:, :gates * n], "bias": params.take(gates * n, (gates * n,))}
    common = {"units": n, "activation": activation(spec), "return_sequences": return_sequences,
              "go_backwards": go_backwards}
    if gates == 1:
        return recurrent.SimpleRNN(**common), arrays
    for key in ("kernel", "recurrent_kernel", "bias"):
        blocks = np.split(arrays[key], 4, axis=-1)
        arrays[key] = np.concatenate([blocks[i] for i in _KERAS_FROM_DL4J_GATES], axis=-1)
    gate_activation = activation(spec, "gateActivationFn")
    if not peepholes:
        return recurrent.LSTM(**common, recurrent_activation=gate_activation), arrays
    forget, output, input_ = rw[:, gates * n:].T
    arrays["peephole_kernel"] = np.stack([input_, forget, output])
    return recurrent.PeepholeLSTM(**common, recurrent_activation=gate_activation), arrays


@dl4j_layer("LSTM", "recurrent.SimpleRnn", "GravesLSTM")
def recurrent_layer(spec: LayerSpec, shape: Shape, params: Parameters, return_sequences: bool = True) -> list[Entry]:
    config, arrays = _cell(spec, params, return_sequences)
    entry: list[Entry] = [(spec.name, config, arrays)]
    return transposed(spec.name, entry, back=return_sequences) if spec.rnn_format() == "NCW" else entry


@first_layer_input(*_RECURRENT_CELLS)
def sequence_input(spec: LayerSpec) -> Shape:
    n_in = spec.declared_inputs()
    return sequence_shape(spec.rnn_format(), n_in)


@dl4j_layer("recurrent.LastTimeStep")
def last_time_step(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    inner = layer_spec(spec.get("underlying"), spec.name + "_underlying")
    inner.name = spec.name
    if inner.cls not in ("LSTM", "GravesLSTM", "recurrent.SimpleRnn"):
        raise spec.error(f"LastTimeStep over {inner.cls}: not supported")
    return recurrent_layer(inner, shape, params, return_sequences=False)


@first_layer_input("recurrent.LastTimeStep")
def last_time_step_input(spec: LayerSpec) -> Shape:
    return first_input_shape(layer_spec(spec.get("underlying"), spec.name))


@dl4j_layer("recurrent.TimeDistributed")
def time_distributed(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """A feed-forward layer at every time step."""
    inner = layer_spec(spec.get("underlying"), spec.name + "_underlying")
    ncw = spec.rnn_format() == "NCW"
    entries = convert_layer(inner, (shape[0], shape[1 if ncw else 2]), params)
    if all(isinstance(e[1], _LAST_AXIS) for e in entries):  # they apply to the last axis of any rank already
        entry: list[Entry] = [*entries[:-1], (spec.name, *entries[-1][1:])]  # type: ignore[list-item]
    elif len(entries) == 1:
        ((name, config, arrays),) = entries
        entry = [(spec.name, wrappers.TimeDistributed(layer=Layer(name, config, weights(arrays))), {})]
    else:
        raise spec.error(f"TimeDistributed over {inner.cls}: not supported")
    return transposed(spec.name, entry) if ncw else entry


#: what a DenseLayer is read as, each computing over the last axis only (per step of a sequence)
_LAST_AXIS = (core.Dense, core.Activation, normalization.LayerNormalization)


@first_layer_input("recurrent.TimeDistributed")
def time_distributed_input(spec: LayerSpec) -> Shape:
    size = layer_spec(spec.get("underlying"), spec.name).integer("nin")
    return sequence_shape(spec.rnn_format(), size)


def _fwd_format(spec: LayerSpec, fwd: LayerSpec) -> str:
    """A Bidirectional's sequence format: its forward layer's, else its own."""
    return fwd.rnn_format() if "rnnDataFormat" in fwd.body else spec.rnn_format()


@dl4j_layer("recurrent.Bidirectional")
def bidirectional(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    mode = spec.text("mode", "CONCAT")
    if mode not in BIDIRECTIONAL_MERGE_MODES:
        raise spec.error(f"Bidirectional mode {mode}: not supported")
    fwd = layer_spec(spec.get("fwd"), "fwd")
    fmt = _fwd_format(spec, fwd)
    return _both_ways(spec, fwd, layer_spec(spec.get("bwd"), "bwd"), BIDIRECTIONAL_MERGE_MODES[mode], fmt, params)


@first_layer_input("recurrent.Bidirectional")
def bidirectional_input(spec: LayerSpec) -> Shape:
    fmt = _fwd_format(spec, layer_spec(spec.get("fwd"), spec.name))
    return sequence_shape(fmt, spec.integer("nin"))


@dl4j_layer("GravesBidirectionalLSTM")
def graves_bidirectional(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """Two GravesLSTMs in one layer (forward parameters, then backward ones), outputs summed."""
    return _both_ways(spec, spec, spec, "sum", spec.rnn_format(), params)


def _both_ways(spec: LayerSpec, fwd: LayerSpec, bwd: LayerSpec, merge_mode: str, fmt: str,
               params: Parameters) -> list[Entry]:
    f_config, f_arrays = _cell(fwd, params, True)
    b_config, b_arrays = _cell(bwd, params, True, go_backwards=True)
    config = wrappers.Bidirectional(
        forward=Layer(f"forward_{spec.name}", f_config, weights(f_arrays)),
        backward=Layer(f"backward_{spec.name}", b_config, weights(b_arrays)), merge_mode=merge_mode)
    entry: list[Entry] = [(spec.name, config, {})]
    return transposed(spec.name, entry) if fmt == "NCW" else entry
