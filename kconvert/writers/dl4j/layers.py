"""IR layers as Deeplearning4j layer configurations and parameter blocks, one emitter per IR kind.

An emitter returns the layer's JSON (its ``@class`` and keys, in the 1.0.0-beta7+ dialect) and
its parameters as blocks (DL4J key, a weight whose C order is DL4J's flattening of it) in DL4J's
order (see ``kconvert.formats.dl4j`` and the layouts below).  Keras's channels-last data becomes DL4J's
NHWC / NWC formats, so a converted model takes the same input arrays as its source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException, UnsupportedKerasConfigurationException
from kconvert.formats.dl4j import ACTIVATIONS, BIDIRECTIONAL_MODES, DROPOUTS, LAYERS, WEIGHT_INITS
from kconvert.ir.graph import Layer
from kconvert.ir.layer import layer_config
from kconvert.ir.layers.core import Dense
from kconvert.ir.layers.recurrent import LSTM, SimpleRNN
from kconvert.ir.shapes import Shape
from kconvert.ir.values import ACTIVATIONS as FORMULAS
from kconvert.ir.weights import Weight
from kconvert.registry import register_kinds
from kconvert.writers.context import WriteContext

#: IR activation -> DL4J activation class and its keys
DL4J_ACTIVATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "linear": ("ActivationIdentity", {}), "relu": ("ActivationReLU", {"max": None, "negativeSlope": None,
                                                                     "threshold": None}),
    "relu6": ("ActivationReLU6", {}), "elu": ("ActivationELU", {"alpha": 1.0}), "selu": ("ActivationSELU", {}),
    "sigmoid": ("ActivationSigmoid", {}), "hard_sigmoid": ("ActivationHardSigmoid", {}),
    "tanh": ("ActivationTanH", {}), "softmax": ("ActivationSoftmax", {}), "softplus": ("ActivationSoftPlus", {}),
    "softsign": ("ActivationSoftSign", {}), "silu": ("ActivationSwish", {}),
    "gelu_sigmoid": ("ActivationGELU", {"precise": False}), "dl4j_precise_gelu": ("ActivationGELU", {"precise": True}),
    "mish": ("ActivationMish", {}), "hard_tanh": ("ActivationHardTanH", {}), "cube": ("ActivationCube", {}),
    "rectified_tanh": ("ActivationRectifiedTanh", {}), "dl4j_rational_tanh": ("ActivationRationalTanh", {}),
}
#: IR activations whose DL4J namesake computes something else -> the IR activations it computes
_NAMESAKES = {"gelu": ("gelu_sigmoid", "dl4j_precise_gelu")}
#: Keras LSTM gate blocks (i, f, c, o) in DL4J's order (c, f, o, i)
LSTM_GATE_ORDER = (2, 1, 3, 0)



@dataclass(frozen=True)
class Block:
    """One parameter block: its DL4J key, and a weight whose C-order flattening is the block's
    values (streamed in chunks when the zip is written)."""

    key: str
    weight: Weight

    @property
    def size(self) -> int:
        return self.weight.size


Params = list[Block]


@dataclass
class Emitted:
    """A DL4J layer: its JSON and its parameter blocks in DL4J's flattening order."""

    config: dict[str, Any]
    params: Params = field(default_factory=list)


def inexpressible(layer: Layer, message: str, key: str | None = None) -> IncompatibleKerasConfigurationException:
    """The error for what Deeplearning4j cannot express, naming the layer."""
    return layer.context_error(IncompatibleKerasConfigurationException(  # type: ignore[return-value]
        f"{message}: Deeplearning4j cannot express it", key=key))


@dataclass
class EmitContext:
    layer: Layer
    inputs: list[Shape]  # input shapes of the layer's (single) call
    updater: dict[str, Any]  # the iupdater every parameterized layer carries
    write: WriteContext  # notes and the enforce_training_config policy
    mask_value: float | None = None  # a recurrent layer masking the steps equal to it (``masks.py``)

    def sub(self, layer: Layer, inputs: list[Shape] | None = None) -> "EmitContext":
        """The context of a wrapped layer."""
        return EmitContext(layer, self.inputs if inputs is None else inputs, self.updater, self.write)

    def unsupported(self, message: str, key: str | None = None) -> None:
        """A training-only setting Deeplearning4j cannot carry: refused or warned about, as the policy says."""
        self.write.unsupported(self.layer.context_error(  # type: ignore[arg-type]
            UnsupportedKerasConfigurationException(message, key=key)))

    def error(self, message: str, key: str | None = None) -> IncompatibleKerasConfigurationException:
        return inexpressible(self.layer, message, key)

    def activation(self, name: str, key: str = "activation") -> dict[str, Any]:
        if name not in DL4J_ACTIVATIONS:
            others = "; ".join(f"{other} = {FORMULAS[other]}" for other in _NAMESAKES.get(name, ()))
            namesake = f" (DL4J's namesake computes another function: {others})" if others else ""
            raise self.error(f"activation '{name}' = {FORMULAS.get(name, 'unknown')}{namesake}", key)
        class_name, keys = DL4J_ACTIVATIONS[name]
        return {"@class": ACTIVATIONS + class_name, **keys}

    def base(self, class_name: str, n_in: int, n_out: int, activation: str = "linear",
             **keys: Any) -> dict[str, Any]:
        """A parameterized (BaseLayer) layer's JSON."""
        return {"@class": LAYERS + class_name, "layerName": self.layer.name,
                "activationFn": self.activation(activation), "biasInit": 0.0, "biasUpdater": None,
                "constraints": None, "gainInit": 1.0, "gradientNormalization": "None",
                "gradientNormalizationThreshold": 1.0, "idropout": None,
                "iupdater": self.updater, "nin": n_in, "nout": n_out, "regularization": [],
                "regularizationBias": [], "weightInitFn": {"@class": WEIGHT_INITS + "WeightInitXavier"},
                "weightNoise": None, **keys}

    def plain(self, class_name: str, **keys: Any) -> dict[str, Any]:
        """A layer without parameters."""
        return {"@class": LAYERS + class_name, "layerName": self.layer.name, "constraints": None,
                "gradientNormalization": "None", "gradientNormalizationThreshold": 1.0, "idropout": None, **keys}

    @property
    def weights(self) -> dict[str, Weight]:
        """The layer's weights (shape-only stand-ins when the configuration alone is written)."""
        return self.write.weights(self.layer, self.inputs)

    def block(self, key: str, name: str, transform: Callable[[Weight], Weight] = lambda w: w,
              order: str = "C") -> Block:
        """Block ``key`` holding weight ``name``, transformed and flattened in ``order``."""
        return Block(key, flattened(transform(self.weights[name]), order))


def flattened(weight: Weight, order: str) -> Weight:
    """``weight`` as a tensor whose C-order flattening is its flattening in ``order`` ('C' or 'F'):
    'F' order is the C order of the reversed axes, so it still streams by hyperslab."""
    return weight.transpose(tuple(reversed(range(len(weight.shape))))) if order == "F" else weight


def _filled(key: str, size: int, value: float) -> Block:
    """A block the Keras layer has no weight for (a bias it does not use, a gamma it does not scale by)."""
    return Block(key, Weight.filled((size,), value, np.float32, f"DL4J {key} filled with {value}"))


Emitter = Callable[[EmitContext], Emitted]
EMITTERS: dict[str, Emitter] = {}
#: kinds whose DL4J layer (or preprocessor) records the size of its input, so that a reader can derive
#: a network's input shape from it
DECLARES_INPUT: set[str] = set()
#: kinds whose DL4J layer keeps its input's shape and declares no input size
KEEPS_SHAPE: set[str] = set()


def says_of_input(kinds: tuple[str, ...], declares_input: bool = False, keeps_shape: bool = False) -> None:
    """Records what the DL4J layers (or preprocessors) written for ``kinds`` say of their input."""
    if declares_input:
        DECLARES_INPUT.update(kinds)
    if keeps_shape:
        KEEPS_SHAPE.update(kinds)


def emitter(*kinds: str, declares_input: bool = False, keeps_shape: bool = False) -> Callable[[Emitter], Emitter]:
    """Registers the emitter of ``kinds``, and what its DL4J layer says of its input."""
    def register(fn: Emitter) -> Emitter:
        register_kinds(EMITTERS, kinds, fn, "a Deeplearning4j emitter")
        says_of_input(kinds, declares_input, keeps_shape)
        return fn
    return register


def _cnn_format(data_format: str) -> str:
    return "NHWC" if data_format == "channels_last" else "NCHW"


def _cnn3d_format(data_format: str) -> str:
    return "NDHWC" if data_format == "channels_last" else "NCDHW"


def _bias(ctx: EmitContext, use_bias: bool) -> Params:
    return [ctx.block("b", "bias")] if use_bias else []


def _per_time_step(ctx: EmitContext, inner: Emitted) -> Emitted:
    """A feed-forward layer applied at every step of an NWC sequence: DL4J's TimeDistributed wrapper
    (its parameters are the wrapped layer's, unprefixed)."""
    return Emitted({"@class": LAYERS + "recurrent.TimeDistributed", "layerName": ctx.layer.name,
                    "rnnDataFormat": "NWC", "underlying": inner.config}, inner.params)


@layer_config
class LayerNormDense(Dense):
    """Deeplearning4j's DenseLayer with ``hasLayerNorm``: ``activation(gain * standardize(x @ kernel) + bias)``,
    ND4J's standardize being ``(z - mean) / std`` over the units with the population std and no epsilon
    (BaseLayer.preOutputWithPreNorm: the LayerNorm op on x.W, then the bias).  No format spells it but
    DL4J, so it is no IR kind: only DL4J's LayerNormalization rule (``rewrites.py``) makes it, and its
    kind stays ``Dense`` so that every pass before the emitter treats it as one."""

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        return {**super().weight_shapes(inputs), "gain": (self.units,)}


@emitter("Dense", declares_input=True)
def dense(ctx: EmitContext) -> Emitted:
    c, rank = ctx.layer.config, len(ctx.inputs[0])
    if rank > 3:
        raise ctx.error("a Dense layer over an image (Keras applies it per position)")
    n_in, normed = ctx.inputs[0][-1], isinstance(c, LayerNormDense)
    # DL4J's DefaultParamInitializer flattens W, then b, then the gain g
    emitted = Emitted(ctx.base("DenseLayer", n_in, c.units, c.activation, hasBias=c.use_bias, hasLayerNorm=normed),
                      [ctx.block("W", "kernel", order="F"), *_bias(ctx, c.use_bias),
                       *([ctx.block("g", "gain")] if normed else [])])
    return _per_time_step(ctx, emitted) if rank == 3 else emitted


@emitter("TimeDistributed", declares_input=True)
def time_distributed(ctx: EmitContext) -> Emitted:
    inner, shape = ctx.layer.config.layer, ctx.inputs[0]
    if len(shape) != 3 or inner.kind not in EMITTERS:
        raise ctx.error(f"TimeDistributed({inner.kind}) over a rank-{len(shape)} input")
    return _per_time_step(ctx, EMITTERS[inner.kind](ctx.sub(inner, [(shape[0], shape[2])])))


@emitter("Activation", keeps_shape=True)
def activation(ctx: EmitContext) -> Emitted:
    return Emitted(ctx.plain("ActivationLayer", activationFn=ctx.activation(ctx.layer.config.activation)))


@emitter("ReLU", "LeakyReLU", "ELU", "ThresholdedReLU", "Softmax", keeps_shape=True)
def activation_layer(ctx: EmitContext) -> Emitted:
    """Keras's activation layers as an ActivationLayer with a parameterized DL4J activation."""
    c, kind = ctx.layer.config, ctx.layer.kind
    if kind == "ReLU":
        fn = {"@class": ACTIVATIONS + "ActivationReLU", "max": c.max_value, "negativeSlope": c.negative_slope,
              "threshold": c.threshold}
    elif kind == "LeakyReLU":
        fn = {"@class": ACTIVATIONS + "ActivationLReLU", "alpha": c.negative_slope}
    elif kind == "ELU":
        fn = {"@class": ACTIVATIONS + "ActivationELU", "alpha": c.alpha}
    elif kind == "ThresholdedReLU":
        fn = {"@class": ACTIVATIONS + "ActivationThresholdedReLU", "theta": c.theta}
    else:
        rank = len(ctx.inputs[0])
        axes = tuple(a % rank for a in (c.axis if isinstance(c.axis, tuple) else (c.axis,)))
        if axes != (rank - 1,):  # ND4J's softmax runs over the last axis
            raise ctx.error(f"a softmax over axis {c.axis} of a rank-{rank} input", "axis")
        fn = ctx.activation("softmax")
    return Emitted(ctx.plain("ActivationLayer", activationFn=fn))


def _dropout_layer(ctx: EmitContext) -> dict[str, Any]:
    """A DropoutLayer: a BaseLayer, so with an updater and an activation (DL4J 1.0.0-M2.1's
    MultiLayerConfiguration reader takes a BaseLayer without an updater for a 0.x configuration and
    fails reading it as one)."""
    return {k: v for k, v in ctx.base("DropoutLayer", 0, 0).items() if k not in ("nin", "nout")}


@emitter("GaussianNoise", "GaussianDropout", "AlphaDropout", keeps_shape=True)
def noise_layer(ctx: EmitContext) -> Emitted:
    """Training-time noise as DL4J's dropouts of the same parameters (identity at inference)."""
    c, kind = ctx.layer.config, ctx.layer.kind
    if kind == "GaussianNoise":
        idropout = {"@class": DROPOUTS + "GaussianNoise", "stddev": c.stddev, "stddevSchedule": None}
    elif kind == "GaussianDropout":
        idropout = {"@class": DROPOUTS + "GaussianDropout", "rate": c.rate, "rateSchedule": None}
    else:
        if c.noise_shape is not None:
            ctx.unsupported("AlphaDropout with a noise_shape: written as element-wise alpha dropout", "noise_shape")
        idropout = {"@class": DROPOUTS + "AlphaDropout", "p": 1.0 - c.rate, "pSchedule": None,
                    "alpha": _SELU_ALPHA, "lambda": _SELU_LAMBDA}
    config = _dropout_layer(ctx)
    config["idropout"] = idropout
    return Emitted(config)


#: SELU's constants, AlphaDropout's defaults in DL4J and Keras
_SELU_ALPHA, _SELU_LAMBDA = 1.6732632423543772, 1.0507009873554804


@emitter("PReLU", declares_input=True)
def prelu(ctx: EmitContext) -> Emitted:
    """PReLULayer: ``inputShape`` without the batch axis, Keras's 1-based ``sharedAxes``, and ``W``,
    alpha in the shape of the input with the shared axes of size 1."""
    c, shape = ctx.layer.config, ctx.inputs[0]
    if any(d is None for d in shape[1:]):
        raise ctx.error(f"a PReLU over an input of unknown size {shape}")
    dims = [int(d) for d in shape[1:]]  # type: ignore[arg-type]
    units = int(np.prod([1 if i + 1 in c.shared_axes else d for i, d in enumerate(dims)]))
    config = ctx.base("PReLULayer", units, units, inputShape=dims, sharedAxes=list(c.shared_axes) or None)
    return Emitted(config, [ctx.block("W", "alpha", order="F")])


@emitter("RepeatVector")
def repeat_vector(ctx: EmitContext) -> Emitted:
    n_in = ctx.inputs[0][-1]
    config = ctx.plain("misc.RepeatVector", n=ctx.layer.config.n, dataFormat="NWC", nin=n_in, nout=n_in,
                       activationFn=ctx.activation("linear"), iupdater=ctx.updater)  # a BaseLayer: see _dropout_layer
    return Emitted(config)


@emitter("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", keeps_shape=True)
def dropout(ctx: EmitContext) -> Emitted:
    """DL4J's dropout keeps ``p`` (Keras drops ``rate``)."""
    c = ctx.layer.config
    spatial = c.rank is not None
    if spatial and c.data_format == "channels_last":
        ctx.unsupported("spatial dropout of channels-last data (DL4J's SpatialDropout drops along axis 1): written "
                        "as element-wise dropout of the same rate", "data_format")
        spatial = False
    config = _dropout_layer(ctx)
    config["idropout"] = {"@class": DROPOUTS + ("SpatialDropout" if spatial else "Dropout"), "p": 1.0 - c.rate}
    return Emitted(config)


@emitter("BatchNormalization", declares_input=True)
def batch_normalization(ctx: EmitContext) -> Emitted:
    c, shape = ctx.layer.config, ctx.inputs[0]
    axis = tuple(a % len(shape) for a in c.axis)
    rank = len(shape)
    if rank == 3 and axis == (2,):  # the features of a sequence: at every time step
        per_step = replace(ctx.layer, config=replace(c, axis=(1,)))
        return _per_time_step(ctx, batch_normalization(ctx.sub(per_step, [(shape[0], shape[2])])))
    if rank == 2 and axis == (1,):
        fmt = "NCHW"
    elif rank == 4 and axis in ((3,), (1,)):
        fmt = "NHWC" if axis == (3,) else "NCHW"
    else:
        raise ctx.error(f"batch normalization over axis {c.axis} of a rank-{rank} input", "axis")
    n = shape[axis[0]]
    w = ctx.weights

    def param(key: str, fill: float) -> Block:
        return ctx.block(key, key) if key in w else _filled(key, n, fill)

    config = ctx.base("BatchNormalization", n, n, beta=0.0, gamma=1.0, decay=c.momentum, eps=c.epsilon,
                      lockGammaBeta=False, minibatch=True, useLogStd=False, cnn2DFormat=fmt,
                      cudnnAllowFallback=True)
    return Emitted(config, [param("gamma", 1.0), param("beta", 0.0), ctx.block("mean", "moving_mean"),
                            ctx.block("var", "moving_variance")])


def _window(values: tuple[int, ...]) -> list[int]:
    """A window size, stride or dilation: DL4J stores 1D ones as (k, 1)."""
    return [*values, 1] if len(values) == 1 else list(values)


_CONVOLUTION_MODES = {"valid": "Truncate", "same": "Same", "causal": "Causal"}


def _conv_keys(ctx: EmitContext) -> dict[str, Any]:
    c = ctx.layer.config
    if c.padding not in _CONVOLUTION_MODES:
        raise ctx.error(f"padding '{c.padding}'", "padding")
    if getattr(c, "groups", 1) != 1:
        raise ctx.error("a grouped convolution", "groups")
    return {"convolutionMode": _CONVOLUTION_MODES[c.padding], "kernelSize": _window(c.kernel_size),
            "stride": _window(c.strides), "padding": [0] * max(2, len(c.kernel_size)),
            "dilation": _window(c.dilation_rate),
            "cudnnAlgoMode": "PREFER_FASTEST", "cudnnAllowFallback": True, "cudnnBwdDataAlgo": None,
            "cudnnBwdFilterAlgo": None, "cudnnFwdAlgo": None}


def _channels(ctx: EmitContext) -> int:
    return ctx.inputs[0][-1 if ctx.layer.config.data_format == "channels_last" else 1]


@emitter("Conv2D", declares_input=True)
def conv2d(ctx: EmitContext) -> Emitted:
    c = ctx.layer.config
    config = ctx.base("ConvolutionLayer", _channels(ctx), c.filters, c.activation, hasBias=c.use_bias,
                      cnn2dDataFormat=_cnn_format(c.data_format), **_conv_keys(ctx))
    # bias first, then the kernel as [out, in, kh, kw]
    return Emitted(config, [*_bias(ctx, c.use_bias), ctx.block("W", "kernel", lambda k: k.transpose((3, 2, 0, 1)))])


@emitter("Conv3D", declares_input=True)
def conv3d(ctx: EmitContext) -> Emitted:
    c = ctx.layer.config
    keys = _conv_keys(ctx)
    config = ctx.base("Convolution3D", _channels(ctx), c.filters, c.activation, hasBias=c.use_bias,
                      dataFormat=_cnn3d_format(c.data_format), mode=keys["convolutionMode"], **keys)
    # bias first, then the kernel as [out, in, kd, kh, kw]
    return Emitted(config, [*_bias(ctx, c.use_bias),
                            ctx.block("W", "kernel", lambda k: k.transpose((4, 3, 0, 1, 2)))])


@emitter("SeparableConv2D", declares_input=True)
def separable_conv2d(ctx: EmitContext) -> Emitted:
    c = ctx.layer.config
    config = ctx.base("SeparableConvolution2D", _channels(ctx), c.filters, c.activation, hasBias=c.use_bias,
                      depthMultiplier=c.depth_multiplier, cnn2dDataFormat=_cnn_format(c.data_format),
                      **_conv_keys(ctx))
    # bias, depthwise [dm, in, kh, kw], pointwise [out, in * dm, 1, 1]
    to_oihw = lambda k: k.transpose((3, 2, 0, 1))  # noqa: E731
    return Emitted(config, [*_bias(ctx, c.use_bias), ctx.block("W", "depthwise_kernel", to_oihw),
                            ctx.block("pW", "pointwise_kernel", to_oihw)])


@emitter("DepthwiseConv2D", declares_input=True)
def depthwise_conv2d(ctx: EmitContext) -> Emitted:
    c = ctx.layer.config
    n_in = _channels(ctx)
    config = ctx.base("DepthwiseConvolution2D", n_in, n_in * c.depth_multiplier, c.activation, hasBias=c.use_bias,
                      depthMultiplier=c.depth_multiplier, cnn2dDataFormat=_cnn_format(c.data_format),
                      **_conv_keys(ctx))
    # bias, then the kernel in Keras's own [kh, kw, in, dm] layout
    return Emitted(config, [*_bias(ctx, c.use_bias), ctx.block("W", "depthwise_kernel")])


@emitter("Conv2DTranspose", declares_input=True)
def conv2d_transpose(ctx: EmitContext) -> Emitted:
    c = ctx.layer.config
    if c.output_padding is not None:
        raise ctx.error("a transposed convolution with output_padding", "output_padding")
    config = ctx.base("Deconvolution2D", _channels(ctx), c.filters, c.activation, hasBias=c.use_bias,
                      cnn2dDataFormat=_cnn_format(c.data_format), **_conv_keys(ctx))
    # bias first, then the kernel as [in, out, kh, kw]
    return Emitted(config, [*_bias(ctx, c.use_bias), ctx.block("W", "kernel", lambda k: k.transpose((3, 2, 0, 1)))])


@emitter("Conv3DTranspose", declares_input=True)
def conv3d_transpose(ctx: EmitContext) -> Emitted:
    c = ctx.layer.config
    if c.output_padding is not None:
        raise ctx.error("a transposed convolution with output_padding", "output_padding")
    keys = _conv_keys(ctx)
    config = ctx.base("Deconvolution3D", _channels(ctx), c.filters, c.activation, hasBias=c.use_bias,
                      dataFormat=_cnn3d_format(c.data_format), **keys)
    # bias first, then the kernel in Keras's own [kd, kh, kw, out, in] layout
    return Emitted(config, [*_bias(ctx, c.use_bias), ctx.block("W", "kernel")])


@emitter("Conv1D", declares_input=True)
def conv1d(ctx: EmitContext) -> Emitted:
    """Convolution1DLayer over NWC, or over NCW (DL4J's native recurrent layout) for channels_first."""
    c = ctx.layer.config
    last = c.data_format == "channels_last"
    config = ctx.base("Convolution1DLayer", ctx.inputs[0][2 if last else 1], c.filters, c.activation,
                      hasBias=c.use_bias, rnnDataFormat="NWC" if last else "NCW", **_conv_keys(ctx))
    # bias, then the kernel in Keras's own [k, in, out] layout (DL4J 1.0.0-M1 and later run the conv1d op,
    # checked in 1.0.0-M2.1; earlier versions stored [out, in, k, 1])
    return Emitted(config, [*_bias(ctx, c.use_bias), ctx.block("W", "kernel")])


def _pooling_type(ctx: EmitContext) -> str:
    """DL4J's PoolingType for the layer's reduction."""
    return "MAX" if ctx.layer.config.reduction == "max" else "AVG"


def _pooling(ctx: EmitContext, class_name: str, **keys: Any) -> Emitted:
    c = ctx.layer.config
    n = max(2, len(c.pool_size))
    return Emitted(ctx.plain(class_name, poolingType=_pooling_type(ctx), kernelSize=_window(c.pool_size),
                             stride=_window(c.strides),
                             padding=[0] * n, dilation=[1] * n, convolutionMode=_CONVOLUTION_MODES[c.padding],
                             pnorm=0, eps=1e-8, avgPoolIncludePadInDivisor=False, cudnnAllowFallback=True, **keys))


@emitter("MaxPooling2D", "AveragePooling2D")
def pooling2d(ctx: EmitContext) -> Emitted:
    return _pooling(ctx, "SubsamplingLayer",
                    cnn2dDataFormat=_cnn_format(ctx.layer.config.data_format))


@emitter("MaxPooling3D", "AveragePooling3D")
def pooling3d(ctx: EmitContext) -> Emitted:
    return _pooling(ctx, "Subsampling3DLayer",
                    dataFormat=_cnn3d_format(ctx.layer.config.data_format))


@emitter("GlobalMaxPooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling2D",
         "GlobalMaxPooling3D", "GlobalAveragePooling3D")
def global_pooling(ctx: EmitContext) -> Emitted:
    c = ctx.layer.config
    if c.keepdims:
        raise ctx.error("global pooling with keepdims", "keepdims")
    rank = len(ctx.inputs[0]) - 2
    last = c.data_format == "channels_last"
    dims = list(range(1, rank + 1)) if last else list(range(2, rank + 2))
    return Emitted(ctx.plain("GlobalPoolingLayer", poolingType=_pooling_type(ctx),
                             poolingDimensions=dims, collapseDimensions=True, pnorm=2))


@emitter("ZeroPadding2D", "Cropping2D")
def pad_or_crop_2d(ctx: EmitContext) -> Emitted:
    c = ctx.layer.config
    padding = ctx.layer.kind == "ZeroPadding2D"
    pairs = c.padding if padding else c.cropping
    amounts = [pairs[0][0], pairs[0][1], pairs[1][0], pairs[1][1]]
    fmt = _cnn_format(c.data_format)
    if padding:
        return Emitted(ctx.plain("ZeroPaddingLayer", padding=amounts, dataFormat=fmt))
    return Emitted(ctx.plain("convolutional.Cropping2D", cropping=amounts, dataFormat=fmt))


@emitter("MaxPooling1D", "AveragePooling1D")
def pooling1d(ctx: EmitContext) -> Emitted:
    """Subsampling1DLayer, which reads NCW sequences only: channels_first pooling (channels-last
    pooling is rewritten as 2D pooling, see ``rewrites``)."""
    if ctx.layer.config.data_format != "channels_first":
        raise ctx.error(f"{ctx.layer.kind} over a (batch, time, features) sequence")
    return _pooling(ctx, "Subsampling1DLayer",
                    cnn2dDataFormat="NCHW")


@emitter("ZeroPadding3D", "Cropping3D")
def pad_or_crop_3d(ctx: EmitContext) -> Emitted:
    """DL4J's 3D padding and cropping read NCDHW only (channels-last ones are rewritten between Permutes)."""
    c = ctx.layer.config
    if c.data_format != "channels_first":
        raise ctx.error(f"a channels_last {ctx.layer.kind}")
    padding = ctx.layer.kind == "ZeroPadding3D"
    amounts = [a for pair in (c.padding if padding else c.cropping) for a in pair]
    if padding:
        return Emitted(ctx.plain("ZeroPadding3DLayer", padding=amounts))
    return Emitted(ctx.plain("convolutional.Cropping3D", cropping=amounts))


@emitter("UpSampling3D")
def upsampling3d(ctx: EmitContext) -> Emitted:
    c = ctx.layer.config
    return Emitted(ctx.plain("Upsampling3D", size=list(c.size), dataFormat=_cnn3d_format(c.data_format)))


@emitter("UpSampling2D")
def upsampling2d(ctx: EmitContext) -> Emitted:
    c = ctx.layer.config
    if c.interpolation != "nearest":
        raise ctx.error(f"{c.interpolation} upsampling", "interpolation")
    return Emitted(ctx.plain("Upsampling2D", size=list(c.size), format=_cnn_format(c.data_format)))


@emitter("Embedding", declares_input=True)
def embedding(ctx: EmitContext) -> Emitted:
    c = ctx.layer.config  # mask_zero is written by ``masks.py`` (or refused there)
    if len(ctx.inputs[0]) != 2:
        raise ctx.error("an Embedding over a rank-3 input")
    length = ctx.inputs[0][1]
    config = ctx.base("EmbeddingSequenceLayer", c.input_dim, c.output_dim, hasBias=False,
                      inputLength=length if length is not None else -1, inferInputLength=length is None,
                      outputFormat="NWC")
    return Emitted(config, [ctx.block("W", "embeddings", order="F")])


#: peephole_kernel rows (input, forget, output) in the order GravesLSTM appends them to RW
_PEEPHOLE_ORDER = [1, 2, 0]


def _recurrent_params(ctx: EmitContext, layer: Layer, prefix: str = "") -> Params:
    """``W``, ``RW`` (GravesLSTM: then its peephole columns), ``b``; LSTM gate blocks reordered."""
    sub = ctx.sub(layer)
    lstm = isinstance(layer.config, LSTM)

    def gates(w: Weight) -> Weight:
        if not lstm:
            return w
        blocks = w.split(4, axis=-1)
        return Weight.concat([blocks[i] for i in LSTM_GATE_ORDER], axis=-1)
    bias = (sub.block(f"{prefix}b", "bias", gates) if layer.config.use_bias else
            _filled(f"{prefix}b", (4 if lstm else 1) * layer.config.units, 0.0))
    recurrent = sub.block(f"{prefix}RW", "recurrent_kernel", gates, "F")
    if layer.kind == "PeepholeLSTM":
        kernel, peepholes = sub.weights["recurrent_kernel"], sub.weights["peephole_kernel"]
        rows = peepholes.split(len(_PEEPHOLE_ORDER), axis=0)
        columns = Weight.concat([rows[i] for i in _PEEPHOLE_ORDER], axis=0).transpose((1, 0))
        recurrent = Block(recurrent.key, flattened(Weight.concat([gates(kernel), columns], axis=1), "F"))
    return [sub.block(f"{prefix}W", "kernel", gates, "F"), recurrent, bias]


def _recurrent_config(ctx: EmitContext, layer: Layer) -> dict[str, Any]:
    c = layer.config
    if c.stateful or c.go_backwards and ctx.layer is layer or c.return_state:
        raise ctx.error("a stateful, backwards or state-returning recurrent layer")
    sub = ctx.sub(layer)
    n_in = ctx.inputs[0][-1]
    if isinstance(layer.config, LSTM):
        return sub.base("GravesLSTM" if layer.kind == "PeepholeLSTM" else "LSTM", n_in, c.units, c.activation,
                        forgetGateBiasInit=1.0, helperAllowFallback=True,
                        gateActivationFn=sub.activation(c.recurrent_activation, "recurrent_activation"),
                        weightInitFnRecurrent=None, rnnDataFormat="NWC")
    return sub.base("recurrent.SimpleRnn", n_in, c.units, c.activation, hasLayerNorm=False,
                    weightInitFnRecurrent=None, rnnDataFormat="NWC")


def _last_step(ctx: EmitContext, inner: dict[str, Any]) -> dict[str, Any]:
    """A recurrent layer returning its last output only: DL4J's LastTimeStep wrapper (over a
    MaskZeroLayer, each example's last unmasked step)."""
    return {"@class": LAYERS + "recurrent.LastTimeStep", "layerName": ctx.layer.name, "underlying": inner}


def _mask_zero(ctx: EmitContext, inner: dict[str, Any], value: float) -> dict[str, Any]:
    """A recurrent layer skipping the steps whose features all equal ``value``: DL4J's MaskZeroLayer."""
    return {"@class": LAYERS + "util.MaskZeroLayer", "layerName": ctx.layer.name, "maskingValue": value,
            "underlying": inner}


@emitter("LSTM", "PeepholeLSTM", "SimpleRNN", declares_input=True)
def recurrent(ctx: EmitContext) -> Emitted:
    config = _recurrent_config(ctx, ctx.layer)
    if ctx.mask_value is not None:
        config = _mask_zero(ctx, config, ctx.mask_value)
    if not ctx.layer.config.return_sequences:
        config = _last_step(ctx, config)
    return Emitted(config, _recurrent_params(ctx, ctx.layer))


@emitter("Bidirectional", declares_input=True)
def bidirectional(ctx: EmitContext) -> Emitted:
    c = ctx.layer.config
    forward, backward = c.forward, c.backward
    if not isinstance(forward.config, (LSTM, SimpleRNN)) or c.merge_mode not in BIDIRECTIONAL_MODES:
        raise ctx.error(f"Bidirectional over {forward.kind} with merge_mode {c.merge_mode}")
    if not forward.config.return_sequences:
        raise ctx.error("a Bidirectional returning its last step only (DL4J's LastTimeStep would take the backward "
                        "layer's first step)", "return_sequences")
    if forward.config.go_backwards or not backward.config.go_backwards:
        raise ctx.error("a Bidirectional whose forward layer runs backwards")
    fwd = _recurrent_config(ctx, forward)
    bwd = _recurrent_config(ctx, backward)
    units = forward.config.units
    config = {"@class": LAYERS + "recurrent.Bidirectional", "layerName": ctx.layer.name, "fwd": fwd, "bwd": bwd,
              "mode": BIDIRECTIONAL_MODES[c.merge_mode], "nin": ctx.inputs[0][-1],
              "nout": 2 * units if c.merge_mode == "concat" else units}
    return Emitted(config, _recurrent_params(ctx, forward, "f") + _recurrent_params(ctx, backward, "b"))
