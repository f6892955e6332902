"""Converters for recurrent layers.

Keras 1 saved LSTM and GRU gates as separate matrices (``W_i, U_i, b_i, W_c, ...`` in the order
i, c, f, o for LSTM and z, r, h for GRU) unless ``consume_less='gpu'`` fused them (then already in
Keras 2 order).  CuDNNLSTM/CuDNNGRU kept each gate's input kernel in cuDNN's flattened layout,
transposed recurrent kernels, and separate input and recurrent biases.
"""

from __future__ import annotations

import re
from typing import Callable

from kconvert.ir.layers import recurrent
from kconvert.ir.weights import Weight
from kconvert.readers.keras.layer import (
    Binder,
    Converted,
    KerasLayerConfig,
    SourceWeight,
    keras_layer,
    ordered,
    weight_count_error,
)
from kconvert.readers.keras.layers.conv import kernel_binder, window

_GATE_NAME = re.compile(r"(?:^|_)([WUb])_([a-z])(?::\d+)?$")


def _common(cfg: KerasLayerConfig) -> dict:
    """Arguments shared by every recurrent layer, in either dialect."""
    if cfg.boolean("time_major", False):
        raise cfg.error("time-major recurrent layers are not supported", "time_major")
    cfg.mark_used("seed")
    return {
        "zero_output_for_mask": cfg.boolean("zero_output_for_mask", False),
        "activation": cfg.activation(default="tanh"),
        "return_sequences": cfg.boolean("return_sequences", False),
        "return_state": cfg.boolean("return_state", False),
        "go_backwards": cfg.boolean("go_backwards", False),
        "stateful": cfg.boolean("stateful", False),
        "unroll": cfg.boolean("unroll", False),
        "dropout": cfg.number("dropout", 0.0, k1="dropout_W", minimum=0.0, maximum=1.0),
        "recurrent_dropout": cfg.number("recurrent_dropout", 0.0, k1="dropout_U", minimum=0.0, maximum=1.0),
    }


def _settings(cfg: KerasLayerConfig) -> None:
    cfg.weight("kernel", k1=("init", "W_regularizer", "W_constraint"))
    cfg.weight("recurrent_kernel", prefix="recurrent", k1=("inner_init", "U_regularizer", "U_constraint"))
    cfg.weight("bias", k1=(None, "b_regularizer", "b_constraint"))


def _recurrent_activation(cfg: KerasLayerConfig) -> str:
    # Keras 1 and multi-backend Keras 2 defaulted to hard_sigmoid, tf.keras 2 and Keras 3 to sigmoid
    default = "sigmoid" if cfg.generation >= 3 else "hard_sigmoid"
    return cfg.activation("recurrent_activation", default, k1="inner_activation")


def _unit_forget_bias(cfg: KerasLayerConfig) -> bool:
    if cfg.has("forget_bias_init"):  # Keras 1
        init = cfg.get("forget_bias_init")
        if init not in ("one", "zero", "ones", "zeros"):
            cfg.unsupported(f"forget_bias_init={init!r} (only 'one' or 'zero' carry over); read as 'one'",
                            "forget_bias_init")
        return init in ("one", "ones") or init not in ("zero", "zeros")
    return cfg.boolean("unit_forget_bias", True)


def gate_binder(cfg: KerasLayerConfig, keras1_order: str, canonical_order: str, use_bias: bool,
                convert: Callable[[Weight], Weight] = lambda w: w) -> Binder:
    """Bind fused (3 or 2 arrays) or Keras 1 per-gate (3 x gates) RNN weights."""
    names = ("kernel", "recurrent_kernel", "bias") if use_bias else ("kernel", "recurrent_kernel")
    fused = ordered(*names)
    gates = len(canonical_order)

    def bind(saved: list[SourceWeight]) -> dict[str, Weight]:
        if len(saved) != 3 * gates:
            weights = fused(saved)
            return {n: convert(w) for n, w in weights.items()}
        by_name: dict[tuple[str, str], Weight] = {}
        for w in saved:
            match = _GATE_NAME.search(w.name)
            if match:
                by_name[(match.group(1), match.group(2))] = w.weight
        if len(by_name) != len(saved) or {g for _, g in by_name} != set(canonical_order):
            by_name = {(kind, gate): saved[3 * i + j].weight  # Keras 1 order W, U, b per gate
                       for i, gate in enumerate(keras1_order) for j, kind in enumerate("WUb")}
        return {name: convert(Weight.concat([by_name[(kind, g)] for g in canonical_order], axis=-1))
                for name, kind in zip(("kernel", "recurrent_kernel", "bias"), "WUb")}
    return bind


@keras_layer("SimpleRNN")
def simple_rnn(cfg: KerasLayerConfig) -> Converted:
    use_bias = cfg.boolean("use_bias", True)
    _settings(cfg)
    config = recurrent.SimpleRNN(units=cfg.integer("units", k1="output_dim"), use_bias=use_bias, **_common(cfg))
    return Converted(config, ordered(*(("kernel", "recurrent_kernel", "bias") if use_bias else
                                      ("kernel", "recurrent_kernel"))))


@keras_layer("GRU")
def gru(cfg: KerasLayerConfig) -> Converted:
    use_bias = cfg.boolean("use_bias", True)
    _settings(cfg)
    config = recurrent.GRU(units=cfg.integer("units", k1="output_dim"), use_bias=use_bias,
                           recurrent_activation=_recurrent_activation(cfg),
                           reset_after=cfg.boolean("reset_after", cfg.generation >= 3), **_common(cfg))
    return Converted(config, gate_binder(cfg, "zrh", "zrh", use_bias))


@keras_layer("LSTM")
def lstm(cfg: KerasLayerConfig) -> Converted:
    use_bias = cfg.boolean("use_bias", True)
    _settings(cfg)
    config = recurrent.LSTM(units=cfg.integer("units", k1="output_dim"), use_bias=use_bias,
                            recurrent_activation=_recurrent_activation(cfg),
                            unit_forget_bias=_unit_forget_bias(cfg), **_common(cfg))
    return Converted(config, gate_binder(cfg, "icfo", "ifco", use_bias))


def _cudnn(cfg: KerasLayerConfig, gates: int) -> Binder:
    """cuDNN kept each gate's (in, units) kernel as a flat (units, in) matrix and the recurrent one
    transposed; biases come as [input biases, recurrent biases]."""
    units = cfg.integer("units")

    def gatewise(w: Weight, fn: Callable) -> Weight:
        return Weight.concat([fn(part) for part in w.split(gates, axis=-1)], axis=-1)

    def bind(saved: list[SourceWeight]) -> dict[str, Weight]:
        if len(saved) != 3:
            raise weight_count_error(("kernel", "recurrent_kernel", "bias"), saved)
        kernel, rec, bias = (s.weight for s in saved)
        n_in = kernel.shape[0]
        out = {
            "kernel": gatewise(kernel, lambda k: k.reshape((units, n_in)).transpose((1, 0))),
            "recurrent_kernel": gatewise(rec, lambda r: r.transpose((1, 0))),
        }
        if gates == 4:
            first, second = bias.split(2)
            out["bias"] = first.derive(lambda a: a + second.numpy(), first.shape, "input + recurrent bias",
                                       lambda index: first.take(index) + second.take(index))
        else:
            out["bias"] = bias.reshape((2, gates * units))
        return out
    return bind


@keras_layer("CuDNNLSTM")
def cudnn_lstm(cfg: KerasLayerConfig) -> Converted:
    _settings(cfg)
    common = _common(cfg)
    config = recurrent.LSTM(units=cfg.integer("units"), recurrent_activation="sigmoid",
                            unit_forget_bias=cfg.boolean("unit_forget_bias", True), **common)
    cfg.note("rewritten", "CuDNNLSTM read as LSTM(recurrent_activation='sigmoid') with weights "
             "converted from the cuDNN layout")
    return Converted(config, _cudnn(cfg, 4))


@keras_layer("CuDNNGRU")
def cudnn_gru(cfg: KerasLayerConfig) -> Converted:
    _settings(cfg)
    config = recurrent.GRU(units=cfg.integer("units"), recurrent_activation="sigmoid", reset_after=True,
                           **_common(cfg))
    cfg.note("rewritten", "CuDNNGRU read as GRU(reset_after=True, recurrent_activation='sigmoid') with "
             "weights converted from the cuDNN layout")
    return Converted(config, _cudnn(cfg, 3))


@keras_layer("ConvLSTM2D")
def conv_lstm_2d(cfg: KerasLayerConfig) -> Converted:
    use_bias = cfg.boolean("use_bias", True)
    _settings(cfg)
    common = _common(cfg)
    del common["unroll"], common["zero_output_for_mask"]
    config = recurrent.ConvLSTM2D(filters=cfg.integer("filters", k1="nb_filter"), use_bias=use_bias,
                                  recurrent_activation=_recurrent_activation(cfg),
                                  unit_forget_bias=_unit_forget_bias(cfg), **common, **window(cfg, 2))
    # Keras 1 per-gate kernels: 'th' (filters, in, rows, cols) -> (rows, cols, in, filters)
    channels_first_k1 = config.data_format == "channels_first" and cfg.has("nb_filter")
    to_last = (lambda w: w.transpose((2, 3, 1, 0)) if len(w.shape) == 4 else w) if channels_first_k1 else (lambda w: w)
    gates = gate_binder(cfg, "icfo", "ifco", use_bias)

    def per_gate_layout(saved: list[SourceWeight]) -> list[SourceWeight]:
        return [SourceWeight(s.name, to_last(s.weight)) for s in saved]

    flipping = kernel_binder(cfg, ("kernel", "recurrent_kernel", "bias")[:3 if use_bias else 2],
                             flip=("kernel", "recurrent_kernel"))

    def bind(saved: list[SourceWeight]) -> dict[str, Weight]:
        weights = gates(per_gate_layout(saved))
        return flipping([SourceWeight(n, w) for n, w in weights.items()])
    return Converted(config, bind)
