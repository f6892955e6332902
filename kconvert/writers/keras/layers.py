"""IR layers as Keras layer configs, one emitter per IR kind (the inverse of readers/keras/layers).

An emitter returns the Keras class name and the layer-specific part of its config in the tf.keras
2 spelling; the model emitter adds the name, dtype, trainability, weight settings and graph
connections, and the dialect (:mod:`kconvert.writers.keras.dialect`) its own spelling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.graph import Layer
from kconvert.ir.layer import LayerConfig
from kconvert.ir.values import ACTIVATIONS
from kconvert.registry import registrar

if TYPE_CHECKING:
    from kconvert.writers.keras.dialect import Keras2Dialect

Emitter = Callable[[Layer, "EmitContext"], tuple[str, dict[str, Any]]]
EMITTERS: dict[str, Emitter] = {}


@dataclass
class EmitContext:
    """What an emitter needs beside its layer: how to emit wrapped layers, the dialect, names."""

    emit_layer: Callable[[Layer], dict[str, Any]]
    dialect: Keras2Dialect
    name: Callable[[Layer], str]  # the name a layer is written under

    @property
    def target(self) -> str:
        return self.dialect.name

    def activation(self, layer: Layer, name: str, key: str = "activation") -> str:
        if name not in self.dialect.activations:
            raise layer.context_error(IncompatibleKerasConfigurationException(
                f"activation '{name}' ({ACTIVATIONS.get(name, 'unknown')}) has no equivalent in {self.target}",
                key=key))
        return self.dialect.activations[name]


emitter = registrar(EMITTERS, "a Keras emitter")


def attrs(config: LayerConfig, *names: str) -> dict[str, Any]:
    """The named IR attributes, tuples as lists (JSON)."""
    return {n: _plain(getattr(config, n)) for n in names}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _simple(class_name: str, *names: str) -> Emitter:
    return lambda layer, ctx: (class_name, attrs(layer.config, *names))


def _register_simple() -> None:
    table: dict[str, tuple[str, ...]] = {
        "Masking": ("mask_value",), "ActivityRegularization": ("l1", "l2"), "Flatten": ("data_format",),
        "Reshape": ("target_shape",), "Permute": ("dims",), "RepeatVector": ("n",),
        "Rescaling": ("scale", "offset"), "ELU": ("alpha",), "ThresholdedReLU": ("theta",),
        "ReLU": ("max_value", "negative_slope", "threshold"), "Softmax": ("axis",), "PReLU": ("shared_axes",),
        "Dropout": ("rate", "noise_shape", "seed"), "SpatialDropout1D": ("rate", "seed"),
        "SpatialDropout2D": ("rate", "data_format", "seed"), "SpatialDropout3D": ("rate", "data_format", "seed"),
        "GaussianNoise": ("stddev", "seed"), "GaussianDropout": ("rate", "seed"),
        "AlphaDropout": ("rate", "noise_shape", "seed"),
        "Add": (), "Subtract": (), "Multiply": (), "Average": (), "Maximum": (), "Minimum": (),
        "Concatenate": ("axis",), "Dot": ("axes", "normalize"),
        "Cropping2D": ("cropping", "data_format"), "Cropping3D": ("cropping", "data_format"),
        "ZeroPadding2D": ("padding", "data_format"), "ZeroPadding3D": ("padding", "data_format"),
        "UpSampling2D": ("size", "data_format", "interpolation"), "UpSampling3D": ("size", "data_format"),
        "Identity": (), "LayerScale": ("init_values", "projection_dim"), "CustomScaleLayer": ("scale",),
        "GroupNormalization": ("groups", "axis", "epsilon", "center", "scale"),
        # UnitNormalization's floor is each Keras's own (the norm at 1e-12, or its square): they differ
        # only on vectors of norm below 1e-6
        "UnitNormalization": ("axis",),
        "Resizing": ("height", "width", "interpolation", "antialias", "data_format", "crop_to_aspect_ratio"),
        "CenterCrop": ("height", "width", "data_format"),
        "CategoryEncoding": ("num_tokens", "output_mode"), "Discretization": ("bin_boundaries", "output_mode"),
        "IntegerLookup": ("vocabulary", "num_oov_indices", "mask_token", "oov_token", "invert", "output_mode"),
        "Hashing": ("num_bins", "mask_value", "salt", "output_mode"),
    }
    for kind, names in table.items():
        emitter(kind)(_simple(kind, *names))
    for dims in (1, 2, 3):
        for pool in ("MaxPooling", "AveragePooling"):
            emitter(f"{pool}{dims}D")(_simple(f"{pool}{dims}D", "pool_size", "strides", "padding", "data_format"))
            emitter(f"Global{pool}{dims}D")(_simple(f"Global{pool}{dims}D", "data_format", "keepdims"))


_register_simple()


@emitter("Cropping1D", "ZeroPadding1D")
def pad_or_crop_1d(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    """One (before, after) pair, not a tuple of pairs, for the single axis."""
    key = "cropping" if layer.kind == "Cropping1D" else "padding"
    return layer.kind, {key: list(getattr(layer.config, key)[0])}


@emitter("UpSampling1D")
def upsampling_1d(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    return "UpSampling1D", {"size": layer.config.size[0]}


@emitter("LeakyReLU")
def leaky_relu(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    return "LeakyReLU", {"alpha": layer.config.negative_slope}


@emitter("Activation")
def activation(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    return "Activation", {"activation": ctx.activation(layer, layer.config.activation)}


@emitter("Dense")
def dense(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    c = layer.config
    return "Dense", {"units": c.units, "activation": ctx.activation(layer, c.activation), "use_bias": c.use_bias}


@emitter("Embedding")
def embedding(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    return "Embedding", attrs(layer.config, "input_dim", "output_dim", "mask_zero")


@emitter("BatchNormalization")
def batch_normalization(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    c = layer.config
    return "BatchNormalization", {"axis": c.axis[0] if len(c.axis) == 1 else list(c.axis),
                                  **attrs(c, "momentum", "epsilon", "center", "scale")}


@emitter("LayerNormalization")
def layer_normalization(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    c = layer.config
    if c.rms_scaling:
        raise layer.context_error(IncompatibleKerasConfigurationException(
            f"rms_scaling has no equivalent in {ctx.target}", key="rms_scaling"))
    return "LayerNormalization", attrs(c, "axis", "epsilon", "center", "scale")


def _windowed(layer: Layer, ctx: EmitContext, class_name: str, *extra: str,
              **fixed: Any) -> tuple[str, dict[str, Any]]:
    c = layer.config
    if c.padding == "full":
        raise layer.context_error(IncompatibleKerasConfigurationException(
            f"Keras 1 'full' padding has no equivalent in {ctx.target}", key="padding"))
    out = {**attrs(c, "kernel_size", "strides", "padding", "data_format", "dilation_rate", *extra), **fixed}
    if hasattr(c, "activation"):
        out.update(activation=ctx.activation(layer, c.activation), use_bias=c.use_bias)
    return class_name, out


for _rank in (1, 2, 3):
    emitter(f"Conv{_rank}D")(lambda layer, ctx, r=_rank: _windowed(layer, ctx, f"Conv{r}D", "filters", "groups"))
    emitter(f"Conv{_rank}DTranspose")(
        lambda layer, ctx, r=_rank: _windowed(layer, ctx, f"Conv{r}DTranspose", "filters", "output_padding"))
for _rank in (1, 2):
    emitter(f"SeparableConv{_rank}D")(
        lambda layer, ctx, r=_rank: _windowed(layer, ctx, f"SeparableConv{r}D", "filters", "depth_multiplier"))
    emitter(f"DepthwiseConv{_rank}D")(
        lambda layer, ctx, r=_rank: _windowed(layer, ctx, f"DepthwiseConv{r}D", "depth_multiplier"))
    emitter(f"LocallyConnected{_rank}D")(
        lambda layer, ctx, r=_rank: _windowed(layer, ctx, f"LocallyConnected{r}D", "filters", implementation=1))


def _recurrent(layer: Layer, ctx: EmitContext) -> dict[str, Any]:
    c = layer.config
    out = attrs(c, "units", "use_bias", "return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                "dropout", "recurrent_dropout")
    out["activation"] = ctx.activation(layer, c.activation)
    if hasattr(c, "recurrent_activation"):
        out["recurrent_activation"] = ctx.activation(layer, c.recurrent_activation, "recurrent_activation")
    return out


@emitter("SimpleRNN")
def simple_rnn(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    return "SimpleRNN", _recurrent(layer, ctx)


@emitter("GRU")
def gru(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    return "GRU", {**_recurrent(layer, ctx), "reset_after": layer.config.reset_after}


@emitter("LSTM")
def lstm(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    return "LSTM", {**_recurrent(layer, ctx), "unit_forget_bias": layer.config.unit_forget_bias}


@emitter("ConvLSTM2D")
def conv_lstm_2d(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    c = layer.config
    class_name, out = _windowed(layer, ctx, "ConvLSTM2D", "filters", "unit_forget_bias", "return_sequences",
                                "return_state", "go_backwards", "stateful", "dropout", "recurrent_dropout")
    out["recurrent_activation"] = ctx.activation(layer, c.recurrent_activation, "recurrent_activation")
    return class_name, out


@emitter("TimeDistributed")
def time_distributed(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    return "TimeDistributed", {"layer": ctx.emit_layer(layer.config.layer)}


@emitter("Bidirectional")
def bidirectional(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    """tf.keras names the wrapped layer after the base name and derives ``forward_``/``backward_``;
    a backward layer that is not the forward one's mirror is written out, and so is a mirror the
    dialect's loader would not derive (Keras 3 sets go_backwards=True instead of flipping it)."""
    c = layer.config
    inner = ctx.emit_layer(c.forward)
    name = ctx.name(c.forward)
    inner["config"]["name"] = name.removeprefix("forward_")
    out = {"layer": inner, "merge_mode": c.merge_mode}
    if not is_mirrored(c) or (c.forward.config.go_backwards and not ctx.dialect.flips_go_backwards):
        out["backward_layer"] = ctx.emit_layer(c.backward)
    return "Bidirectional", out


def is_mirrored(config: Any) -> bool:
    """Whether a Bidirectional's backward layer is its forward layer run backwards (the default)."""
    forward, backward = config.forward.config, config.backward.config
    return (type(forward) is type(backward) and backward.go_backwards != forward.go_backwards
            and replace(backward, go_backwards=forward.go_backwards) == forward)


@emitter("Attention")
def attention(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    c = layer.config
    if c.return_attention_scores:
        raise layer.context_error(IncompatibleKerasConfigurationException(
            f"return_attention_scores is a call argument {ctx.target} configs cannot hold",
            key="return_attention_scores"))
    return "Attention", {**attrs(c, "use_scale", "score_mode", "dropout"), **({"causal": True} if c.causal else {})}


@emitter("StochasticDepth")
def stochastic_depth(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    return "StochasticDepth", {"drop_path_rate": layer.config.rate}


@emitter("Normalization")
def normalization(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    c = layer.config
    return "Normalization", {"axis": list(c.axis) if c.axis else None, **attrs(c, "invert", "mean", "variance")}


@emitter("MultiHeadAttention")
def multi_head_attention(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    """The layer's attributes; which inputs are the key and the attention mask, and the causal
    flag, are call arguments the dialect moves into the node (``_inputs``, ``use_causal_mask``)."""
    c = layer.config
    names = ["query", "value"] + (["key"] if c.has_key(len(layer.calls[0].inputs)) else []) + (
        ["attention_mask"] if c.with_attention_mask else [])
    out = {**attrs(c, "num_heads", "key_dim", "value_dim", "dropout", "use_bias"),
           "output_shape": _plain(c.output_dims), "attention_axes": None, "_inputs": names}
    return "MultiHeadAttention", {**out, **({"use_causal_mask": True} if c.causal else {})}


@emitter("EinsumDense")
def einsum_dense(layer: Layer, ctx: EmitContext) -> tuple[str, dict[str, Any]]:
    c = layer.config
    return "EinsumDense", {"equation": c.equation, "output_shape": _plain(c.partial_output_shape),
                           "bias_axes": c.bias_axes, "activation": ctx.activation(layer, c.activation)}

