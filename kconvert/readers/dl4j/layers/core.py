"""Converters for DL4J's feed-forward, embedding, loss, activation, dropout and normalization layers."""

from __future__ import annotations

import numpy as np

from kconvert.formats.dl4j import DROPOUTS
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import activations as act
from kconvert.ir.layers import core, noise, normalization
from kconvert.ir.shapes import Shape
from kconvert.readers.dl4j.activations import activation, activation_fn
from kconvert.readers.dl4j.layer import Entry, Parameters, dl4j_layer, first_layer_input, sequence_shape, transposed
from kconvert.readers.dl4j.spec import Keys, LayerSpec, java_object

#: layers whose output has their input's shape (and which record no input size)
SHAPE_KEEPING = ("ActivationLayer", "DropoutLayer")


@dl4j_layer("DenseLayer", "OutputLayer", "RnnOutputLayer", "CenterLossOutputLayer")
def dense(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """``W`` [nIn, nOut] 'f', ``b``; an RnnOutputLayer applies it at each step of an NCW sequence.  A
    CenterLossOutputLayer's class centers ``cL`` [nOut, nIn] serve its training loss only."""
    n_in, n_out = spec.integer("nin"), spec.integer("nout")
    has_bias = spec.flag("hasBias", True)
    if spec.cls == "DenseLayer" and spec.flag("hasLayerNorm", False):
        return _layer_norm_dense(spec, params, n_in, n_out, has_bias)
    weights = {"kernel": params.take(n_in * n_out, (n_in, n_out), "F")}
    if has_bias:
        weights["bias"] = params.take(n_out, (n_out,))
    if spec.cls == "CenterLossOutputLayer":
        params.take(n_out * n_in, (n_out, n_in))
    entry = (spec.name, core.Dense(units=n_out, activation=activation(spec), use_bias=has_bias), weights)
    if spec.cls == "RnnOutputLayer" and spec.rnn_format() == "NCW":
        return transposed(spec.name, [entry])
    return [entry]


def _layer_norm_dense(spec: LayerSpec, params: Parameters, n_in: int, n_out: int, has_bias: bool) -> list[Entry]:
    """A DenseLayer with ``hasLayerNorm``: ``activation(g * standardize(x @ W) + b)``, ND4J's standardize
    dividing by the population std with no epsilon (BaseLayer.preOutputWithPreNorm), so a Dense
    without bias, then a LayerNormalization with epsilon 0 (gamma g, beta b); parameters W, b, g."""
    kernel = params.take(n_in * n_out, (n_in, n_out), "F")
    bias = params.take(n_out, (n_out,)) if has_bias else None
    norm_weights = {"gamma": params.take(n_out, (n_out,)), **({"beta": bias} if has_bias else {})}
    name, act_name = spec.name, activation(spec)
    entries: list[Entry] = [
        (f"{name}_linear", core.Dense(units=n_out, use_bias=False), {"kernel": kernel}),
        (name if act_name == "linear" else f"{name}_norm",
         normalization.LayerNormalization(axis=(-1,), epsilon=0.0, center=has_bias), norm_weights)]
    if act_name != "linear":
        entries.append((name, core.Activation(activation=act_name), {}))
    return entries


@first_layer_input("DenseLayer", "OutputLayer", "CenterLossOutputLayer", "misc.RepeatVector")
def features_input(spec: LayerSpec) -> Shape:
    return (None, spec.declared_inputs())


@first_layer_input("RnnOutputLayer")
def rnn_output_input(spec: LayerSpec) -> Shape:
    n_in = spec.declared_inputs()
    return sequence_shape(spec.rnn_format(), n_in)


@dl4j_layer("EmbeddingLayer", "EmbeddingSequenceLayer")
def embedding(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    n_in, n_out = spec.integer("nin"), spec.integer("nout")
    sequence = spec.cls == "EmbeddingSequenceLayer"
    if spec.flag("hasBias", not sequence):
        raise spec.error("an embedding with a bias: kconvert's IR embeddings have none")
    weights = {"embeddings": params.take(n_in * n_out, (n_in, n_out), "F")}
    entry = (spec.name, core.Embedding(input_dim=n_in, output_dim=n_out), weights)
    if not sequence:  # [batch, 1] indices -> [batch, nOut]
        return [entry, (f"{spec.name}_flat", core.Reshape(target_shape=(n_out,)), {})]
    if spec.text("outputFormat", "NCW") == "NCW":
        return [entry, (f"{spec.name}_ncw", core.Permute(dims=(2, 1)), {})]
    return [entry]


@first_layer_input("EmbeddingLayer")
def embedding_input(spec: LayerSpec) -> Shape:
    spec.declared_inputs()  # the vocabulary size, refused when absent as for any sized first layer
    return (None, 1)


@first_layer_input("EmbeddingSequenceLayer")
def embedding_sequence_input(spec: LayerSpec) -> Shape:
    spec.declared_inputs()  # the vocabulary size, refused when absent as for any sized first layer
    length = spec.integer("inputLength", -1, minimum=-1)
    return (None, length if length > 0 and not spec.flag("inferInputLength", False) else None)


@dl4j_layer("LossLayer", "RnnLossLayer", "CnnLossLayer")
def loss(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """No parameters, the activation over the features (the channel axis of an image or sequence in
    DL4J's channels-first layouts)."""
    fn = activation(spec)
    channels_first = len(shape) > 2 and not (spec.channels_last() or spec.rnn_format() == "NWC")
    if fn == "softmax" and channels_first:
        return [(spec.name, act.Softmax(axis=1), {})]
    return [(spec.name, core.Activation(activation=fn), {})]


@dl4j_layer("misc.RepeatVector")
def repeat_vector(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    n = spec.integer("n")
    if spec.text("dataFormat", "NCW") == "NCW":
        return [(f"{spec.name}_nwc", core.RepeatVector(n=n), {}), (spec.name, core.Permute(dims=(2, 1)), {})]
    return [(spec.name, core.RepeatVector(n=n), {})]


@dl4j_layer("ActivationLayer")
def activation_layer(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """DL4J's parameterized activations as the IR's activation layers."""
    name, keys = activation_fn(spec.body.get("activationFn") or {"Identity": {}})

    def number(key: str, default: float) -> float:
        return Keys(keys).number(key, default)
    config: LayerConfig
    if name == "ReLU" and keys:
        config = act.ReLU(max_value=None if "max" not in keys else number("max", 0.0),
                          negative_slope=number("negativeSlope", 0.0), threshold=number("threshold", 0.0))
    elif name == "LReLU":
        config = act.LeakyReLU(negative_slope=number("alpha", 0.01))
    elif name == "ELU":
        config = act.ELU(alpha=number("alpha", 1.0))
    elif name == "RReLU":
        # at inference DL4J (1.0.0-M2.1) runs its RectifiedLinear scalar op with the mean slope as the scalar:
        # max(x, (l + u) / 2), not a leaky ReLU; exactly relu(x - m) + m
        mean = 0.5 * (number("l", 1 / 8) + number("u", 1 / 3))
        return [(f"{spec.name}_shift", core.Rescaling(offset=-mean), {}), (f"{spec.name}_relu", act.ReLU(), {}),
                (spec.name, core.Rescaling(offset=mean), {})]
    elif name == "ThresholdedReLU":
        config = act.ThresholdedReLU(theta=number("theta", 1.0))
    else:
        config = core.Activation(activation=activation(spec))
    return [(spec.name, config, {})]


@dl4j_layer("DropoutLayer")
def dropout(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """The layer's idropout (DL4J keeps ``p``); SpatialDropout drops whole maps along axis 1."""
    return [(spec.name, _dropout(spec, shape), {})]


def _dropout(spec: LayerSpec, shape: Shape) -> LayerConfig:
    raw = spec.body.get("idropout")
    if raw is None:
        return noise.Dropout(rate=0.0)
    cls, body = java_object(raw, "a dropout", DROPOUTS)
    rate = 1.0 - Keys(body).number("p", 1.0)
    if cls == "SpatialDropout" and 3 <= len(shape) <= 5:
        spatial = (noise.SpatialDropout1D, noise.SpatialDropout2D, noise.SpatialDropout3D)[len(shape) - 3]
        return spatial(rate=rate, data_format="channels_first")
    if cls == "AlphaDropout":
        return noise.AlphaDropout(rate=rate)
    if cls == "GaussianDropout":
        return noise.GaussianDropout(rate=Keys(body).number("rate"))
    if cls == "GaussianNoise":
        return noise.GaussianNoise(stddev=Keys(body).number("stddev"))
    if cls not in ("Dropout", "SpatialDropout"):
        raise spec.error(f"dropout {cls}: not supported")
    return noise.Dropout(rate=rate)


@first_layer_input(*SHAPE_KEEPING)
def any_features_input(spec: LayerSpec) -> Shape:
    return (None, None)  # a network of activations and dropout takes features of any size


@dl4j_layer("PReLULayer")
def prelu(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """``W``, alpha in the input's shape with the shared axes of size 1, 'f'."""
    dims = spec.integers("inputShape")
    shared = spec.integers("sharedAxes") if spec.get("sharedAxes") else ()
    if any(not 1 <= a <= len(dims) for a in shared):
        raise spec.error(f"shared axes {list(shared)} outside the input's {len(dims)} axes", "sharedAxes")
    alpha_shape = tuple(1 if i + 1 in shared else d for i, d in enumerate(dims))
    alpha = params.take(int(np.prod(alpha_shape)), alpha_shape, "F")
    return [(spec.name, act.PReLU(shared_axes=tuple(shared)), {"alpha": alpha})]


@first_layer_input("PReLULayer")
def prelu_input(spec: LayerSpec) -> Shape:
    spec.declared_inputs()  # refused when absent as for any sized first layer
    return (None, *spec.integers("inputShape"))


@dl4j_layer("BatchNormalization")
def batch_normalization(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """``gamma``, ``beta`` (unless locked to constants), ``mean``, ``var`` (or log10 of the std)."""
    n = spec.integer("nout") if spec.get("nout") is not None else spec.integer("nin")
    if spec.flag("lockGammaBeta", False):
        gamma = np.full(n, spec.number("gamma", 1.0), np.float32)
        beta = np.full(n, spec.number("beta", 0.0), np.float32)
    else:
        gamma, beta = params.take(n, (n,)), params.take(n, (n,))
    mean, var = params.take(n, (n,)), params.take(n, (n,))
    if spec.flag("useLogStd", False) and "var" not in spec.variables:
        var = (10.0 ** var) ** 2  # DL4J stored log10(std)
    axis = 3 if len(shape) == 4 and spec.cnn_format() == "NHWC" else 1
    config = normalization.BatchNormalization(axis=(axis,), epsilon=spec.number("eps", 1e-5),
                                              momentum=spec.number("decay", 0.9))
    return [(spec.name, config, {"gamma": gamma, "beta": beta, "moving_mean": mean, "moving_variance": var})]


@first_layer_input("BatchNormalization")
def batch_normalization_input(spec: LayerSpec) -> Shape:
    """Features, unless the layer says its images are NHWC: a first one is taken to read features."""
    n_in = spec.declared_inputs()
    return (None, None, None, n_in) if spec.cnn_format() == "NHWC" else (None, n_in)
