"""Deeplearning4j configurations and ModelSerializer zips into the IR.

Both JSON dialects are read: ``@class`` objects (1.0.0-beta and later) and the wrapper objects
of 0.x to 1.0.0-alpha (``{"dense": {...}}``).  DL4J records no input shape, so each network
input's shape is derived from the first layer that reads it.  DL4J's channels-first formats
(NCHW images, NCW sequences, the defaults before 1.0.0-beta7) keep their layout: images run as
channels_first layers, sequences are transposed into the IR's (batch, time, features) around
each recurrent layer, so the IR model takes the arrays DL4J takes.  Parameters are sliced from
``coefficients.bin`` in DL4J's order and mapped back to the canonical layout.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException, InputReadError, KConvertError
from kconvert.formats.detect import Detected
from kconvert.formats.dl4j import ACTIVATIONS as ACTIVATION_PACKAGE
from kconvert.formats.dl4j import (
    COEFFICIENTS,
    CONFIGURATION,
    DROPOUTS,
    GRAPH,
    KERAS_PREPROCESSORS,
    LAYERS,
    NO_PARAMS,
    PREPROCESSORS,
    read_array,
)
from kconvert.ir.graph import Call, Layer, Model, ShapeMap, TensorRef, call_shapes
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import activations as act
from kconvert.ir.layers import conv, core, merge, noise, normalization, ops, pooling, recurrent, reshaping, wrappers
from kconvert.ir.report import Provenance, Report
from kconvert.ir.shapes import Shape
from kconvert.ir.weights import Weight, warn_if_not_finite
from kconvert.readers.archive import SafeZip
from kconvert.readers.context import Limits
from kconvert.readers.text import parse_json

#: DL4J activation class (short) -> IR activation
_ACTIVATIONS = {"Identity": "linear", "ReLU": "relu", "ReLU6": "relu6", "SELU": "selu", "Sigmoid": "sigmoid",
                "HardSigmoid": "hard_sigmoid", "TanH": "tanh", "Softmax": "softmax", "SoftPlus": "softplus",
                "SoftSign": "softsign", "Swish": "silu", "SWISH": "silu", "Mish": "mish", "GELU": "gelu",
                "ELU": "elu"}
#: 0.x wrapper names -> @class short names
_LEGACY_LAYERS = {"dense": "DenseLayer", "output": "OutputLayer", "rnnoutput": "RnnOutputLayer",
                  "convolution": "ConvolutionLayer", "convolution1d": "Convolution1DLayer",
                  "subsampling": "SubsamplingLayer", "subsampling1d": "Subsampling1DLayer",
                  "batchNormalization": "BatchNormalization", "embedding": "EmbeddingLayer",
                  "activation": "ActivationLayer", "dropout": "DropoutLayer", "GlobalPooling": "GlobalPoolingLayer",
                  "zeroPadding": "ZeroPaddingLayer", "zeroPadding1d": "ZeroPadding1DLayer", "LSTM": "LSTM",
                  "gravesLSTM": "GravesLSTM", "gravesBidirectionalLSTM": "GravesBidirectionalLSTM",
                  "Upsampling2D": "Upsampling2D", "Bidirectional": "recurrent.Bidirectional",
                  "SimpleRnn": "recurrent.SimpleRnn"}
#: recurrent layers (one direction) that DL4J's recurrent wrappers may hold
_RECURRENT_CELLS = frozenset({"LSTM", "GravesLSTM", "GravesBidirectionalLSTM", "recurrent.SimpleRnn"})
#: DL4J LSTM gate blocks (c, f, o, i) -> Keras order (i, f, c, o)
_KERAS_FROM_DL4J_GATES = (3, 1, 0, 2)
#: layers whose output has their input's shape (and which record no input size)
_SHAPE_KEEPING = frozenset({"ActivationLayer", "DropoutLayer"})
_CONVOLUTION_RANKS = {"Convolution1DLayer": 1, "ConvolutionLayer": 2, "Convolution3D": 3}
_POOLING_RANKS = {"Subsampling1DLayer": 1, "SubsamplingLayer": 2, "Subsampling3DLayer": 3}
_POOLINGS = {(1, "MAX"): pooling.MaxPooling1D, (1, "AVG"): pooling.AveragePooling1D,
             (2, "MAX"): pooling.MaxPooling2D, (2, "AVG"): pooling.AveragePooling2D,
             (3, "MAX"): pooling.MaxPooling3D, (3, "AVG"): pooling.AveragePooling3D}
_GLOBAL_POOLINGS = {(1, "MAX"): pooling.GlobalMaxPooling1D, (1, "AVG"): pooling.GlobalAveragePooling1D,
                    (2, "MAX"): pooling.GlobalMaxPooling2D, (2, "AVG"): pooling.GlobalAveragePooling2D,
                    (3, "MAX"): pooling.GlobalMaxPooling3D, (3, "AVG"): pooling.GlobalAveragePooling3D}
#: the bounds on a configuration's sizes (any more is a hostile or corrupt file)
_LIMITS = Limits()
_MERGE_MODES = {"CONCAT": "concat", "ADD": "sum", "MUL": "mul", "AVERAGE": "ave"}
_ELEMENTWISE = {"Add": merge.Add, "Subtract": merge.Subtract, "Product": merge.Multiply, "Average": merge.Average,
                "Max": merge.Maximum}


def read_dl4j(inp: Detected, limits: Limits) -> Model:
    """A DL4J ``configuration.json`` (no weights, parsed when it was detected) or model zip as an IR model."""
    params = None
    if inp.kind == "zip":
        config_text, coefficients = _read_zip(inp, limits)
        origin = f"{inp.display}:{COEFFICIENTS}"
        params = np.zeros(0, np.float32) if coefficients is None else \
            warn_if_not_finite(read_array(coefficients, origin).reshape(-1), origin)
        document = parse_json(config_text, inp.display, limits)
    else:
        document = inp.config()
    if not isinstance(document, dict):
        raise InputReadError("a Deeplearning4j configuration that is not a JSON object", file=inp.display)
    builder = _Builder(inp.display, params, limits.max_tensor_elements)
    try:
        model = builder.graph(document) if "vertices" in document else builder.multilayer(document)
    except KConvertError as exc:
        raise exc.with_context(file=inp.display) from None
    except ValueError as exc:  # an IR layer refusing its attributes or its input shapes
        raise IncompatibleKerasConfigurationException(str(exc), file=inp.display) from None
    if params is not None and builder.offset != params.size:
        raise InputReadError(f"{COEFFICIENTS} holds {params.size} parameters but the configuration needs "
                             f"{builder.offset}", file=inp.display)
    if params is None:  # a configuration alone: the placeholder parameters go
        for layer in model.iter_layers():
            layer.weights = {}
    model.provenance = Provenance(inp.path, "dl4j-zip" if inp.kind == "zip" else "dl4j-json")
    model.report = builder.report
    model.validate(limits.max_tensor_elements)
    return model


def _read_zip(inp: Detected, limits: Limits) -> tuple[str, bytes | None]:
    """The configuration text and the coefficients' bytes; None for a model DL4J saved as having no
    parameters (an empty coefficients.bin beside a noParams.marker)."""
    with SafeZip(inp.data if inp.data is not None else inp.path, inp.display, limits,  # type: ignore[arg-type]
                 "Deeplearning4j zip") as archive:
        text, coefficients = archive.read(CONFIGURATION), archive.read(COEFFICIENTS)
        no_params = NO_PARAMS in archive.members
    for name, data in ((CONFIGURATION, text), (COEFFICIENTS, coefficients)):
        if data is None:
            raise InputReadError(f"a Deeplearning4j model zip without {name}", file=inp.display)
    try:
        config = text.decode("utf-8")  # type: ignore[union-attr]
    except UnicodeDecodeError as exc:
        raise InputReadError(f"{CONFIGURATION} is not UTF-8 ({exc.reason} at byte {exc.start})",
                             file=inp.display) from None
    return config, None if coefficients == b"" and no_params else coefficients


# -- layers ----------------------------------------------------------------------------------------

_REQUIRED: Any = object()


@dataclass
class _Keys:
    """A Jackson object's keys, read with their types checked: a missing or mistyped key is a
    typed error naming it, never a Python exception from deep inside the reader."""

    body: dict[str, Any]

    def error(self, message: str, key: str | None = None) -> KConvertError:
        return IncompatibleKerasConfigurationException(message, key=key)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.body.get(key)
        if value is None:
            if default is _REQUIRED:
                raise self.error("required key is missing", key)
            return default
        return value

    def _integer(self, value: Any, key: str, minimum: int) -> int:
        try:
            return _LIMITS.integer(value, minimum)
        except ValueError as exc:
            raise self.error(str(exc), key) from None

    def integer(self, key: str, default: Any = _REQUIRED, minimum: int = 1) -> int:
        value = self.get(key, default)
        return value if value is default and default is not _REQUIRED else self._integer(value, key, minimum)

    def integers(self, key: str, default: Any = _REQUIRED, minimum: int = 1) -> tuple[int, ...]:
        value = self.get(key, default)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)) or not value:
            raise self.error(f"expected a list of integers, got {value!r}", key)
        return tuple(self._integer(v, key, minimum) for v in value)

    def number(self, key: str, default: Any = _REQUIRED) -> float:
        value = self.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.error(f"expected a finite number, got {value!r}", key)
        return float(value)

    def flag(self, key: str, default: Any = _REQUIRED) -> bool:
        value = self.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"expected true or false, got {value!r}", key)
        return value

    def text(self, key: str, default: Any = _REQUIRED) -> str:
        value = self.get(key, default)
        if not isinstance(value, str):
            raise self.error(f"expected a string, got {value!r}", key)
        return value


@dataclass
class _Spec(_Keys):
    """One DL4J layer, unwrapped: its short class name, its keys, and the parameter names its
    enclosing configuration lists (``variables``)."""

    cls: str
    name: str
    variables: list[str] = field(default_factory=list)

    def error(self, message: str, key: str | None = None) -> KConvertError:
        return IncompatibleKerasConfigurationException(message, layer=self.name, layer_class=self.cls, key=key)


def _java_object(raw: Any, what: str, package: str,
                 legacy: dict[str, str] | None = None) -> tuple[str, dict[str, Any]]:
    """A Jackson-serialized Java object: ``{"@class": ..., keys}`` (1.0.0-beta and later) or a
    single-key wrapper ``{"name": {keys}}`` (0.x, names mapped through ``legacy``).  Returns its
    class name relative to ``package`` and its keys."""
    if not isinstance(raw, dict) or not raw:
        raise IncompatibleKerasConfigurationException(f"{what} that is not an object")
    if "@class" in raw:
        return str(raw["@class"]).removeprefix(package), raw
    if len(raw) != 1:
        raise IncompatibleKerasConfigurationException(f"{what} without @class")
    ((name, body),) = raw.items()
    if body is not None and not isinstance(body, dict):
        raise IncompatibleKerasConfigurationException(f"{what} {name} is not an object")
    return (legacy or {}).get(name, name), body or {}


def _spec(raw: Any, fallback_name: str) -> _Spec:
    try:
        cls, body = _java_object(raw, "a layer configuration", LAYERS, _LEGACY_LAYERS)
    except KConvertError as exc:
        raise exc.with_context(layer=fallback_name) from None
    name = body.get("layerName")
    return _Spec(body, cls, name if isinstance(name, str) and name else fallback_name)


def _activation_fn(raw: Any) -> tuple[str, dict[str, Any]]:
    """A DL4J activation's short name (ReLU, LReLU...) and its set keys."""
    name, body = _java_object(raw, "an activation", ACTIVATION_PACKAGE)
    return name.removeprefix("Activation"), {k: v for k, v in body.items() if k != "@class" and v is not None}


def _activation(spec: _Spec, key: str = "activationFn") -> str:
    raw = spec.body.get(key)
    if raw is None:  # 0.5-0.7 spelled it as a lower-case name
        legacy = spec.text("activationFunction", "identity").lower()
        raw = {next((k for k in _ACTIVATIONS if k.lower() == legacy), legacy): {}}
    try:
        name, keys = _activation_fn(raw)
    except KConvertError as exc:
        raise exc.with_context(key=key) from None
    if name == "ELU":
        if _Keys(keys).number("alpha", 1.0) != 1.0:
            raise spec.error("ELU with alpha other than 1: kconvert's IR has no parametric ELU activation")
        keys.pop("alpha", None)
    if name == "ReLU" and keys:
        raise spec.error(f"ReLU with {sorted(keys)}: not read yet")
    if name not in _ACTIVATIONS or keys and name != "GELU":
        raise spec.error(f"activation {name}: kconvert's IR has no equivalent")
    return _ACTIVATIONS[name]


@dataclass
class _Chain:
    """IR layers appended one after another, with their output shapes inferred as they come."""

    inputs: list[TensorRef]
    layers: list[Layer] = field(default_factory=list)
    shapes: ShapeMap = field(default_factory=dict)

    def shape(self, ref: TensorRef) -> Shape:
        return self.shapes[(ref.layer, ref.node)][ref.index]

    def add(self, layer: Layer) -> TensorRef:
        self.layers.append(layer)
        self.shapes[(layer.name, 0)] = call_shapes(layer, 0, self.shapes)
        return TensorRef(layer.name)

    def extend(self, entries: list[tuple[str, LayerConfig, dict[str, Any]]], source: TensorRef) -> TensorRef:
        """Each entry called on the previous one's output, the first on ``source``."""
        for name, config, weights in entries:
            source = self.add(Layer(name, config, _weights(weights), [Call([source])]))
        return source


class _Builder:
    def __init__(self, display: str, params: np.ndarray | None, max_elements: int) -> None:
        self.display = display
        self.params = params
        self.max_elements = max_elements
        self.offset = 0
        self.report = Report()

    def take(self, count: int, shape: tuple[int, ...], order: str = "C") -> np.ndarray:
        """The next ``count`` parameters, shaped (DL4J's 'f' or 'c' order)."""
        if count > self.max_elements:
            raise IncompatibleKerasConfigurationException(
                f"a parameter block of shape {shape} would hold {count} numbers, over the limit of "
                f"{self.max_elements} (Limits.max_tensor_elements)")
        if self.params is None:  # a configuration alone: zeros that take no memory, dropped after checks
            self.offset += count
            return np.broadcast_to(np.float32(0), shape)
        if self.offset + count > self.params.size:
            raise InputReadError(f"{COEFFICIENTS} ends before every layer's parameters", file=self.display)
        block = self.params[self.offset:self.offset + count]
        self.offset += count
        return block.reshape(shape, order=order)  # type: ignore[call-overload]

    # -- one DL4J layer as IR layers -----------------------------------------------------------

    def layer(self, spec: _Spec, shape: Shape) -> list[tuple[str, LayerConfig, dict[str, np.ndarray]]]:
        fn = _LAYERS.get(spec.cls)
        if fn is None:
            raise spec.error(f"Deeplearning4j layer {spec.cls}: not supported")
        try:
            return fn(self, spec, shape)
        except ValueError as exc:  # an IR layer refusing its attributes
            raise spec.error(str(exc)) from None
        except KConvertError as exc:  # from a nested object's keys (activation, dropout, ...)
            raise exc.with_context(layer=spec.name, layer_class=spec.cls) from None

    def dense(self, spec: _Spec, shape: Shape) -> list:
        n_in, n_out = spec.integer("nin"), spec.integer("nout")
        has_bias = spec.flag("hasBias", True)
        if spec.flag("hasLayerNorm", False):
            raise spec.error("a DenseLayer with layer normalization: not supported")
        weights = {"kernel": self.take(n_in * n_out, (n_in, n_out), "F")}
        if has_bias:
            weights["bias"] = self.take(n_out, (n_out,))
        entry = (spec.name, core.Dense(units=n_out, activation=_activation(spec), use_bias=has_bias), weights)
        if spec.cls == "RnnOutputLayer" and self.rnn_format(spec) == "NCW":
            return _transposed(spec.name, [entry])
        return [entry]

    def rnn_format(self, spec: _Spec) -> str:
        return spec.text("rnnDataFormat", "NCW")

    def cnn_format(self, spec: _Spec) -> str:
        for key in ("cnn2dDataFormat", "cnn2DFormat", "dataFormat", "format"):  # each layer class has its own key
            if spec.get(key) is not None:
                return spec.text(key)
        return "NCHW"

    def channels_last(self, spec: _Spec) -> bool:
        return self.cnn_format(spec) in ("NHWC", "NDHWC")

    def _window(self, spec: _Spec, rank: int) -> dict[str, Any]:
        """A convolution or pooling window's keys (DL4J stores 1D ones as (k, 1))."""
        mode = spec.text("convolutionMode", "Truncate")
        padding = {"Truncate": "valid", "Strict": "valid", "Same": "same", "Causal": "causal"}.get(mode)
        if padding is None or any(spec.integers("padding", [0], minimum=0)):
            raise spec.error(f"convolution mode {mode} with explicit padding {spec.get('padding')}: not supported")
        return {"strides": spec.integers("stride", [1] * rank)[:rank], "padding": padding}

    def convolution(self, spec: _Spec, shape: Shape) -> list:
        """ConvolutionLayer, Convolution3D: ``b``, then ``W`` [out, in, *kernel] 'c'; Convolution1DLayer:
        ``W`` [k, in, out], Keras's layout (DL4J 1.0.0-M1 and later run it as the conv1d op's YXIO)."""
        rank = _CONVOLUTION_RANKS[spec.cls]
        n_in, n_out = spec.integer("nin"), spec.integer("nout")
        kernel = spec.integers("kernelSize")[:rank]
        has_bias = spec.flag("hasBias", True)
        weights = {"bias": self.take(n_out, (n_out,))} if has_bias else {}
        if rank == 1:
            weights["kernel"] = self.take(n_out * n_in * kernel[0], (kernel[0], n_in, n_out))
        else:
            w = self.take(n_out * n_in * int(np.prod(kernel)), (n_out, n_in, *kernel))
            weights["kernel"] = w.transpose(*range(2, rank + 2), 1, 0)
        common = {"filters": n_out, "kernel_size": kernel, "dilation_rate": spec.integers("dilation", [1] * 3)[:rank],
                  "activation": _activation(spec), "use_bias": has_bias, **self._window(spec, rank)}
        if rank == 1:
            entry = (spec.name, conv.Conv1D(**common), weights)
            return _transposed(spec.name, [entry]) if self.rnn_format(spec) == "NCW" else [entry]
        fmt = "channels_last" if self.channels_last(spec) else "channels_first"
        return [(spec.name, (conv.Conv2D if rank == 2 else conv.Conv3D)(**common, data_format=fmt), weights)]

    def deconvolution(self, spec: _Spec, shape: Shape) -> list:
        """Deconvolution2D (``b``, ``W`` [in, out, kh, kw]) and Deconvolution3D (``b``, ``W`` [kd, kh, kw,
        out, in], Keras's own layout), 'c'."""
        rank = 3 if spec.cls == "Deconvolution3D" else 2
        n_in, n_out = spec.integer("nin"), spec.integer("nout")
        kernel = spec.integers("kernelSize")[:rank]
        has_bias = spec.flag("hasBias", True)
        weights = {"bias": self.take(n_out, (n_out,))} if has_bias else {}
        size = n_out * n_in * int(np.prod(kernel))
        weights["kernel"] = (self.take(size, (*kernel, n_out, n_in)) if rank == 3 else
                             self.take(size, (n_in, n_out, *kernel)).transpose(2, 3, 1, 0))
        fmt = "channels_last" if self.channels_last(spec) else "channels_first"
        config = (conv.Conv3DTranspose if rank == 3 else conv.Conv2DTranspose)(
            filters=n_out, kernel_size=kernel, dilation_rate=spec.integers("dilation", [1] * 3)[:rank],
            activation=_activation(spec), use_bias=has_bias, data_format=fmt, **self._window(spec, rank))
        return [(spec.name, config, weights)]

    def prelu(self, spec: _Spec, shape: Shape) -> list:
        """PReLULayer: ``W``, alpha in the input's shape with the shared axes of size 1, 'f'."""
        dims = spec.integers("inputShape")
        shared = spec.integers("sharedAxes") if spec.get("sharedAxes") else ()
        if any(not 1 <= a <= len(dims) for a in shared):
            raise spec.error(f"shared axes {list(shared)} outside the input's {len(dims)} axes", "sharedAxes")
        alpha_shape = tuple(1 if i + 1 in shared else d for i, d in enumerate(dims))
        alpha = self.take(int(np.prod(alpha_shape)), alpha_shape, "F")
        return [(spec.name, act.PReLU(shared_axes=tuple(shared)), {"alpha": alpha})]

    def repeat_vector(self, spec: _Spec, shape: Shape) -> list:
        entry = [(spec.name, core.RepeatVector(n=spec.integer("n")), {})]
        if spec.text("dataFormat", "NCW") == "NCW":
            return [(f"{spec.name}_nwc", core.RepeatVector(n=spec.integer("n")), {}),
                    (spec.name, core.Permute(dims=(2, 1)), {})]
        return entry

    def depthwise(self, spec: _Spec, shape: Shape) -> list:
        """SeparableConvolution2D (``b``, depthwise ``W`` [dm, in, kh, kw], pointwise ``pW`` [out, in*dm, 1, 1])
        and DepthwiseConvolution2D (``b``, ``W`` [kh, kw, in, dm], Keras's own layout), all 'c'."""
        n_in, n_out, dm = spec.integer("nin"), spec.integer("nout"), spec.integer("depthMultiplier", 1)
        kernel = spec.integers("kernelSize")[:2]
        has_bias = spec.flag("hasBias", True)
        separable = spec.cls == "SeparableConvolution2D"
        weights = {"bias": self.take(n_out, (n_out,))} if has_bias else {}
        if separable:
            weights["depthwise_kernel"] = self.take(dm * n_in * int(np.prod(kernel)), (dm, n_in, *kernel)).transpose(
                2, 3, 1, 0)
            weights["pointwise_kernel"] = self.take(n_out * n_in * dm, (n_out, n_in * dm, 1, 1)).transpose(2, 3, 1, 0)
        else:
            weights["depthwise_kernel"] = self.take(int(np.prod(kernel)) * n_in * dm, (*kernel, n_in, dm))
        common = {"kernel_size": kernel, "dilation_rate": spec.integers("dilation", [1, 1])[:2],
                  "depth_multiplier": dm, "activation": _activation(spec), "use_bias": has_bias,
                  "data_format": "channels_last" if self.channels_last(spec) else "channels_first",
                  **self._window(spec, 2)}
        config = conv.SeparableConv2D(filters=n_out, **common) if separable else conv.DepthwiseConv2D(**common)
        return [(spec.name, config, weights)]

    def subsampling(self, spec: _Spec, shape: Shape) -> list:
        rank = _POOLING_RANKS[spec.cls]
        kind = spec.text("poolingType", "MAX").upper()
        if kind not in ("MAX", "AVG"):
            raise spec.error(f"{kind} pooling: not supported")
        if kind == "AVG" and spec.flag("avgPoolIncludePadInDivisor", True) and spec.get("convolutionMode") == "Same":
            raise spec.error("average pooling counting padding in its divisor: not supported")
        args = {"pool_size": spec.integers("kernelSize")[:rank], **self._window(spec, rank)}
        config = _POOLINGS[rank, kind](**args, **({} if rank == 1 else {
            "data_format": "channels_last" if self.channels_last(spec) else "channels_first"}))
        entry = [(spec.name, config, {})]
        return _transposed(spec.name, entry) if rank == 1 and self.rnn_format(spec) == "NCW" else entry

    def global_pooling(self, spec: _Spec, shape: Shape) -> list:
        kind = spec.text("poolingType", "MAX").upper()
        if kind not in ("MAX", "AVG") or not spec.flag("collapseDimensions", True):
            raise spec.error(f"global {kind} pooling without collapsing dimensions: not supported")
        rank = len(shape) - 2
        # DL4J's defaults: the axes after the channels (NCW, NCHW, NCDHW)
        dims = list(spec.integers("poolingDimensions", [0], minimum=0)) if spec.get("poolingDimensions") else list(
            range(2, rank + 2))
        last = dims == list(range(1, rank + 1))
        if not last and dims != list(range(2, rank + 2)):
            raise spec.error(f"global pooling over dimensions {dims}: not supported")
        cls = _GLOBAL_POOLINGS.get((rank, kind))
        if cls is None:
            raise spec.error(f"global pooling of a rank-{rank + 2} input: not supported")
        return [(spec.name, cls(data_format="channels_last" if last else "channels_first"), {})]

    def batch_normalization(self, spec: _Spec, shape: Shape) -> list:
        n = spec.integer("nout") if spec.get("nout") is not None else spec.integer("nin")
        if spec.flag("lockGammaBeta", False):
            gamma = np.full(n, spec.number("gamma", 1.0), np.float32)
            beta = np.full(n, spec.number("beta", 0.0), np.float32)
        else:
            gamma, beta = self.take(n, (n,)), self.take(n, (n,))
        mean, var = self.take(n, (n,)), self.take(n, (n,))
        if spec.flag("useLogStd", False) and "var" not in spec.variables:
            var = (10.0 ** var) ** 2  # DL4J stored log10(std)
        axis = 3 if len(shape) == 4 and self.cnn_format(spec) == "NHWC" else 1
        config = normalization.BatchNormalization(axis=(axis,), epsilon=spec.number("eps", 1e-5),
                                                  momentum=spec.number("decay", 0.9))
        return [(spec.name, config, {"gamma": gamma, "beta": beta, "moving_mean": mean, "moving_variance": var})]

    def recurrent_cell(self, spec: _Spec, shape: Shape, return_sequences: bool,
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
        w = self.take(n_in * gates * n, (n_in, gates * n), "F")
        rw = self.take(n * (gates * n + peepholes), (n, gates * n + peepholes), "F")
        weights = {"kernel": w, "recurrent_kernel": rw[:, :gates * n], "bias": self.take(gates * n, (gates * n,))}
        common = {"units": n, "activation": _activation(spec), "return_sequences": return_sequences,
                  "go_backwards": go_backwards}
        if gates == 1:
            return recurrent.SimpleRNN(**common), weights
        for key in ("kernel", "recurrent_kernel", "bias"):
            blocks = np.split(weights[key], 4, axis=-1)
            weights[key] = np.concatenate([blocks[i] for i in _KERAS_FROM_DL4J_GATES], axis=-1)
        gate_activation = _activation(spec, "gateActivationFn")
        if not peepholes:
            return recurrent.LSTM(**common, recurrent_activation=gate_activation), weights
        forget, output, input_ = rw[:, gates * n:].T
        weights["peephole_kernel"] = np.stack([input_, forget, output])
        return recurrent.PeepholeLSTM(**common, recurrent_activation=gate_activation), weights

    def recurrent(self, spec: _Spec, shape: Shape, return_sequences: bool = True) -> list:
        config, weights = self.recurrent_cell(spec, shape, return_sequences)
        entry = [(spec.name, config, weights)]
        return _transposed(spec.name, entry, back=return_sequences) if self.rnn_format(spec) == "NCW" else entry

    def last_time_step(self, spec: _Spec, shape: Shape) -> list:
        inner = _spec(spec.get("underlying"), spec.name + "_underlying")
        inner.name = spec.name
        if inner.cls not in ("LSTM", "GravesLSTM", "recurrent.SimpleRnn"):
            raise spec.error(f"LastTimeStep over {inner.cls}: not supported")
        return self.recurrent(inner, shape, return_sequences=False)

    def time_distributed(self, spec: _Spec, shape: Shape) -> list:
        """A feed-forward layer at every time step."""
        inner = _spec(spec.get("underlying"), spec.name + "_underlying")
        ncw = self.rnn_format(spec) == "NCW"
        entries = self.layer(inner, (shape[0], shape[1 if ncw else 2]))
        if len(entries) != 1:
            raise spec.error(f"TimeDistributed over {inner.cls}: not supported")
        ((name, config, weights),) = entries
        if not isinstance(config, core.Dense):  # a Dense applies to the last axis of any rank already
            config, weights = wrappers.TimeDistributed(layer=Layer(name, config, _weights(weights))), {}
        entry = [(spec.name, config, weights)]
        return _transposed(spec.name, entry) if ncw else entry

    def bidirectional(self, spec: _Spec, shape: Shape) -> list:
        mode = spec.text("mode", "CONCAT")
        if mode not in _MERGE_MODES:
            raise spec.error(f"Bidirectional mode {mode}: not supported")
        fwd = _spec(spec.get("fwd"), "fwd")
        fmt = self.rnn_format(fwd) if "rnnDataFormat" in fwd.body else self.rnn_format(spec)
        return self._both_ways(spec, fwd, _spec(spec.get("bwd"), "bwd"), _MERGE_MODES[mode], fmt, shape)

    def graves_bidirectional(self, spec: _Spec, shape: Shape) -> list:
        """Two GravesLSTMs in one layer (forward parameters, then backward ones), outputs summed."""
        return self._both_ways(spec, spec, spec, "sum", self.rnn_format(spec), shape)

    def _both_ways(self, spec: _Spec, fwd: _Spec, bwd: _Spec, merge_mode: str, fmt: str, shape: Shape) -> list:
        f_config, f_weights = self.recurrent_cell(fwd, shape, True)
        b_config, b_weights = self.recurrent_cell(bwd, shape, True, go_backwards=True)
        config = wrappers.Bidirectional(
            forward=Layer(f"forward_{spec.name}", f_config, _weights(f_weights)),
            backward=Layer(f"backward_{spec.name}", b_config, _weights(b_weights)), merge_mode=merge_mode)
        entry = [(spec.name, config, {})]
        return _transposed(spec.name, entry) if fmt == "NCW" else entry

    def loss(self, spec: _Spec, shape: Shape) -> list:
        """LossLayer, RnnLossLayer, CnnLossLayer: no parameters, the activation over the features
        (the channel axis of an image or sequence in DL4J's channels-first layouts)."""
        activation = _activation(spec)
        channels_first = len(shape) > 2 and not (self.channels_last(spec) or self.rnn_format(spec) == "NWC")
        if activation == "softmax" and channels_first:
            return [(spec.name, act.Softmax(axis=1), {})]
        return [(spec.name, core.Activation(activation=activation), {})]

    def embedding(self, spec: _Spec, shape: Shape) -> list:
        n_in, n_out = spec.integer("nin"), spec.integer("nout")
        sequence = spec.cls == "EmbeddingSequenceLayer"
        if spec.flag("hasBias", not sequence):
            raise spec.error("an embedding with a bias: kconvert's IR embeddings have none")
        weights = {"embeddings": self.take(n_in * n_out, (n_in, n_out), "F")}
        entry = (spec.name, core.Embedding(input_dim=n_in, output_dim=n_out), weights)
        if not sequence:  # [batch, 1] indices -> [batch, nOut]
            return [entry, (f"{spec.name}_flat", core.Reshape(target_shape=(n_out,)), {})]
        if spec.text("outputFormat", "NCW") == "NCW":
            return [entry, (f"{spec.name}_ncw", core.Permute(dims=(2, 1)), {})]
        return [entry]

    def simple(self, spec: _Spec, shape: Shape) -> list:
        cls = spec.cls
        if cls == "ActivationLayer":
            return [(spec.name, _activation_layer(spec), {})]
        if cls == "DropoutLayer":
            return [(spec.name, _dropout(spec, shape), {})]
        fmt = "channels_last" if self.cnn_format(spec) == "NHWC" else "channels_first"
        if cls == "ZeroPaddingLayer":
            t, b, left, r = _four(spec, "padding")
            return [(spec.name, reshaping.ZeroPadding2D(padding=((t, b), (left, r)), data_format=fmt), {})]
        if cls == "convolutional.Cropping2D":
            t, b, left, r = _four(spec, "cropping")
            return [(spec.name, reshaping.Cropping2D(cropping=((t, b), (left, r)), data_format=fmt), {})]
        if cls in ("ZeroPadding3DLayer", "convolutional.Cropping3D"):  # NCDHW only
            amounts = spec.integers("padding" if cls == "ZeroPadding3DLayer" else "cropping", minimum=0)
            if len(amounts) != 6:
                raise spec.error(f"expected 6 amounts, got {list(amounts)}")
            pairs = (tuple(amounts[0:2]), tuple(amounts[2:4]), tuple(amounts[4:6]))
            config3d = (reshaping.ZeroPadding3D(padding=pairs, data_format="channels_first")
                        if cls == "ZeroPadding3DLayer" else
                        reshaping.Cropping3D(cropping=pairs, data_format="channels_first"))
            return [(spec.name, config3d, {})]
        if cls == "Upsampling3D":
            size = spec.integers("size", [2, 2, 2])
            size = size * 3 if len(size) == 1 else size[:3]
            fmt3d = "channels_last" if spec.get("dataFormat") == "NDHWC" else "channels_first"
            return [(spec.name, reshaping.UpSampling3D(size=size, data_format=fmt3d), {})]
        if cls == "Upsampling2D":
            size = spec.integers("size", [2, 2])
            size = size * 2 if len(size) == 1 else size[:2]
            return [(spec.name, reshaping.UpSampling2D(size=size, data_format=fmt), {})]
        pair = spec.integers("padding" if cls == "ZeroPadding1DLayer" else "cropping", minimum=0)
        if len(pair) != 2:
            raise spec.error(f"expected 2 amounts, got {list(pair)}")
        config = (reshaping.ZeroPadding1D(padding=(pair,)) if cls == "ZeroPadding1DLayer" else
                  reshaping.Cropping1D(cropping=(pair,)))
        entry = [(spec.name, config, {})]
        return _transposed(spec.name, entry) if self.rnn_format(spec) == "NCW" else entry

    # -- networks ------------------------------------------------------------------------------

    def input_shape(self, spec: _Spec, preprocessor: dict[str, Any] | None) -> Shape:
        """The shape a network input must have for its first layer (DL4J records none)."""
        if preprocessor is not None:
            shape = _preprocessor_input(preprocessor)
            if shape is not None:
                return shape
        cls = spec.cls
        if cls in ("recurrent.LastTimeStep",):
            return self.input_shape(_spec(spec.get("underlying"), spec.name), None)
        if cls == "recurrent.Bidirectional":
            inner = _spec(spec.get("fwd"), spec.name)
            fmt = self.rnn_format(inner) if "rnnDataFormat" in inner.body else self.rnn_format(spec)
            n_in = spec.integer("nin")
            return (None, None, n_in) if fmt == "NWC" else (None, n_in, None)
        if cls == "recurrent.TimeDistributed":
            size = _spec(spec.get("underlying"), spec.name).integer("nin")
            return (None, None, size) if self.rnn_format(spec) == "NWC" else (None, size, None)
        if cls in _SHAPE_KEEPING:
            return (None, None)  # a network of activations and dropout takes features of any size
        if spec.get("nin") is None:
            raise spec.error("the network's first layer does not say how many inputs it takes")
        n_in = spec.integer("nin")
        if cls in ("DenseLayer", "OutputLayer"):
            return (None, n_in)
        if cls == "BatchNormalization" and self.cnn_format(spec) != "NHWC":
            return (None, n_in)  # a first BatchNormalization is taken to read features, not NCHW images
        if cls in ("ConvolutionLayer", "BatchNormalization", "SeparableConvolution2D", "DepthwiseConvolution2D",
                   "Convolution3D", "Deconvolution2D", "Deconvolution3D"):
            spatial = (None,) * (3 if cls in ("Convolution3D", "Deconvolution3D") else 2)
            return (None, *spatial, n_in) if self.channels_last(spec) else (None, n_in, *spatial)
        if cls == "PReLULayer":
            return (None, *spec.integers("inputShape"))
        if cls == "misc.RepeatVector":
            return (None, n_in)
        if cls == "EmbeddingSequenceLayer":
            length = spec.integer("inputLength", -1, minimum=-1)
            return (None, length if length > 0 and not spec.flag("inferInputLength", False) else None)
        if cls == "EmbeddingLayer":
            return (None, 1)
        if cls in _RECURRENT_CELLS or cls in ("RnnOutputLayer", "Convolution1DLayer"):
            return (None, None, n_in) if self.rnn_format(spec) == "NWC" else (None, n_in, None)
        raise spec.error(f"a network starting with {cls}: its input shape cannot be derived")

    def preprocess(self, raw: dict[str, Any], name: str) -> list[tuple[str, LayerConfig, dict]]:
        """The IR layers doing what a preprocessor (in front of layer or vertex ``name``) does."""
        try:
            return self._preprocess(raw, name)
        except KConvertError as exc:
            raise exc.with_context(layer=name) from None

    def _preprocess(self, raw: dict[str, Any], name: str) -> list[tuple[str, LayerConfig, dict]]:
        cls, keys = _preprocessor(raw)
        if cls == "ComposableInputPreProcessor":
            steps = keys.get("inputPreProcessors", [])
            if not isinstance(steps, list):
                raise keys.error("expected a list of preprocessors", "inputPreProcessors")
            return [entry for i, step in enumerate(steps) for entry in self._preprocess(step, f"{name}_{i}")]
        if cls in ("CnnToFeedForwardPreProcessor", "KerasFlattenRnnPreprocessor", "Cnn3DToFeedForwardPreProcessor"):
            return [(f"{name}_flatten", core.Flatten(), {})]  # a C-order flatten of the layout DL4J holds
        if cls == "FeedForwardToCnnPreProcessor":
            h, w, c = keys.integer("inputHeight"), keys.integer("inputWidth"), keys.integer("numChannels")
            return [(f"{name}_to_cnn", core.Reshape(target_shape=(c, h, w)), {})]
        if cls == "ReshapePreprocessor":
            target = keys.integers("targetShape", minimum=-1)[1 if keys.flag("hasMiniBatchDimension", False) else 0:]
            return [(f"{name}_reshape", core.Reshape(target_shape=tuple(target)), {})]
        if cls == "PermutePreprocessor":
            dims = list(keys.integers("permutationIndices", minimum=0))
            return [(f"{name}_permute", core.Permute(dims=tuple(dims[1:] if dims[:1] == [0] else dims)), {})]
        raise IncompatibleKerasConfigurationException(f"input preprocessor {cls}: not supported", layer=name)

    def multilayer(self, document: dict[str, Any]) -> Model:
        confs = document.get("confs")
        if not isinstance(confs, list) or not confs:
            raise InputReadError("a MultiLayerConfiguration without layers (confs)", file=self.display)
        if not all(isinstance(conf, dict) for conf in confs):
            raise IncompatibleKerasConfigurationException("a layer configuration that is not an object", key="confs")
        specs = [_spec(conf.get("layer"), f"layer{i}") for i, conf in enumerate(confs)]
        preprocessors = _Keys(document).get("inputPreProcessors", {})
        if not isinstance(preprocessors, dict):
            raise IncompatibleKerasConfigurationException("expected an object", key="inputPreProcessors")
        chain = _Chain([TensorRef("input")])
        # layers that keep their input's shape declare no size: the first one that does decides
        first = next((i for i, spec in enumerate(specs) if spec.cls not in _SHAPE_KEEPING or str(i) in preprocessors),
                     0)
        current = chain.add(_input("input", self.input_shape(specs[first], preprocessors.get(str(first)))))
        for i, (spec, conf) in enumerate(zip(specs, confs)):
            spec.variables = _strings(conf, "variables")
            if str(i) in preprocessors:
                current = chain.extend(self.preprocess(preprocessors[str(i)], spec.name), current)
            current = chain.extend(self.layer(spec, chain.shape(current)), current)
        return Model("dl4j", chain.layers, chain.inputs, [current], structure="sequential")

    def graph(self, document: dict[str, Any]) -> Model:
        inputs, outputs = _strings(document, "networkInputs"), _strings(document, "networkOutputs")
        vertices = document.get("vertices")
        if not inputs or not outputs or not isinstance(vertices, dict):
            raise InputReadError("a ComputationGraphConfiguration without inputs, outputs or vertices",
                                 file=self.display)
        edges = _Keys(document).get("vertexInputs", {})
        if not isinstance(edges, dict):
            raise IncompatibleKerasConfigurationException("expected an object", key="vertexInputs")
        vertex_inputs = {str(k): _strings(edges, k) for k in edges}
        raw_vertices = {name: _vertex(v) for name, v in vertices.items()}
        order = _strings(document, "topologicalOrderStr") or _kahn(inputs, vertices, vertex_inputs)
        if sorted(order) != sorted([*inputs, *raw_vertices]):
            raise IncompatibleKerasConfigurationException(
                "the topological order does not list exactly the inputs and vertices", key="topologicalOrderStr")
        chain = _Chain([TensorRef(i) for i in inputs])
        produced: dict[str, TensorRef] = {}
        types = document.get("networkInputTypes")
        if isinstance(types, list) and len(types) == len(inputs) and all(types):
            for name, raw in zip(inputs, types):
                try:
                    produced[name] = chain.add(_input(name, _input_type_shape(raw)))
                except KConvertError as exc:
                    raise exc.with_context(layer=name, key="networkInputTypes") from None
        for name in inputs:
            if name in produced:
                continue
            consumer = next((v for v in order if name in vertex_inputs.get(v, [])), None)
            kind, body = raw_vertices.get(consumer, ("", {})) if consumer else ("", {})
            shape = _preprocessor_input(body.get("preProcessor")) if kind == "PreprocessorVertex" else None
            if kind == "LayerVertex":
                conf = body.get("layerConf")
                spec = _spec(conf.get("layer") if isinstance(conf, dict) else None, consumer)  # type: ignore[arg-type]
                shape = self.input_shape(spec, body.get("preProcessor"))
            if shape is None:
                raise IncompatibleKerasConfigurationException(
                    f"network input {name} feeds no layer or preprocessor declaring a size: its shape cannot be "
                    "derived", layer=name)
            produced[name] = chain.add(_input(name, shape))
        for name in order:
            if name in inputs:
                continue
            kind, body = raw_vertices[name]
            missing = [s for s in vertex_inputs.get(name, []) if s not in produced]
            if missing:
                raise IncompatibleKerasConfigurationException(
                    f"reads {missing}, which no earlier vertex produces", layer=name, key="vertexInputs")
            sources = [produced[s] for s in vertex_inputs.get(name, [])]
            if kind == "LayerVertex":
                conf = body.get("layerConf")
                if not isinstance(conf, dict):
                    raise IncompatibleKerasConfigurationException("a layer vertex without its layerConf", layer=name)
                spec = _spec(conf.get("layer"), name)
                spec.name = name
                spec.variables = _strings(conf, "variables")
                if len(sources) != 1:
                    raise spec.error(f"a layer vertex with {len(sources)} inputs")
                current = sources[0]
                if body.get("preProcessor"):
                    current = chain.extend(self.preprocess(body["preProcessor"], name), current)
                produced[name] = chain.extend(self.layer(spec, chain.shape(current)), current)
                continue
            op = body.get("op")
            if kind == "MergeVertex":
                config: LayerConfig = merge.Concatenate(axis=_Keys(body).integer("mergeAxis", 1, minimum=0))
            elif kind == "ElementWiseVertex" and isinstance(op, str) and op in _ELEMENTWISE:
                config = _ELEMENTWISE[op]()
            elif kind == "rnn.ReverseTimeSeriesVertex":  # NCW sequences reversed in time
                if body.get("maskArrayInputName"):
                    raise IncompatibleKerasConfigurationException("a time reversal following a mask", layer=name)
                config = ops.GetItem(items=(ops.Index("slice"), ops.Index("slice"), ops.Index("slice", step=-1)))
            elif kind == "PreprocessorVertex":
                ((_, config, _),) = self.preprocess(body.get("preProcessor") or {}, name)
            else:
                raise IncompatibleKerasConfigurationException(f"graph vertex {kind}: not supported", layer=name)
            produced[name] = chain.add(Layer(name, config, {}, [Call(sources)]))
        unknown = [o for o in outputs if o not in produced]
        if unknown:
            raise IncompatibleKerasConfigurationException(f"outputs {unknown} name no vertex", key="networkOutputs")
        return Model("dl4j", chain.layers, chain.inputs, [produced[o] for o in outputs])


def _strings(document: dict[str, Any], key: str) -> list[str]:
    """A list of names (absent: empty)."""
    value = document.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IncompatibleKerasConfigurationException(f"expected a list of names, got {value!r:.60}", key=key)
    return value


def _activation_layer(spec: _Spec) -> LayerConfig:
    """An ActivationLayer; DL4J's parameterized activations as the IR's activation layers."""
    name, keys = _activation_fn(spec.body.get("activationFn") or {"Identity": {}})

    def number(key: str, default: float) -> float:
        return _Keys(keys).number(key, default)
    if name == "ReLU" and keys:
        return act.ReLU(max_value=None if "max" not in keys else number("max", 0.0),
                        negative_slope=number("negativeSlope", 0.0), threshold=number("threshold", 0.0))
    if name == "LReLU":
        return act.LeakyReLU(negative_slope=number("alpha", 0.01))
    if name == "ELU":
        return act.ELU(alpha=number("alpha", 1.0))
    if name == "ThresholdedReLU":
        return act.ThresholdedReLU(theta=number("theta", 1.0))
    return core.Activation(activation=_activation(spec))


def _dropout(spec: _Spec, shape: Shape) -> LayerConfig:
    """A DropoutLayer's idropout (DL4J keeps ``p``); SpatialDropout drops whole maps along axis 1."""
    raw = spec.body.get("idropout")
    if raw is None:
        return noise.Dropout(rate=0.0)
    cls, body = _java_object(raw, "a dropout", DROPOUTS)
    rate = 1.0 - _Keys(body).number("p", 1.0)
    if cls == "SpatialDropout" and 3 <= len(shape) <= 5:
        spatial = (noise.SpatialDropout1D, noise.SpatialDropout2D, noise.SpatialDropout3D)[len(shape) - 3]
        return spatial(rate=rate, data_format="channels_first")
    if cls == "AlphaDropout":
        return noise.AlphaDropout(rate=rate)
    if cls == "GaussianDropout":
        return noise.GaussianDropout(rate=_Keys(body).number("rate"))
    if cls == "GaussianNoise":
        return noise.GaussianNoise(stddev=_Keys(body).number("stddev"))
    if cls not in ("Dropout", "SpatialDropout"):
        raise spec.error(f"dropout {cls}: not supported")
    return noise.Dropout(rate=rate)


def _input_type_shape(raw: Any) -> Shape:
    """A network input's shape from its InputType JSON (-1 or absent: unknown), in the array layout
    the InputType's format names."""
    cls, body = _java_object(raw, "an input type", "org.deeplearning4j.nn.conf.inputs.InputType$InputType")
    keys = _Keys(body)

    def dim(key: str) -> int | None:
        value = keys.integer(key, -1, minimum=-1)
        return None if value <= 0 else value
    if cls == "FeedForward":
        return (None, dim("size"))
    if cls == "Recurrent":
        if keys.text("format", "NCW") == "NWC":
            return (None, dim("timeSeriesLength"), dim("size"))
        return (None, dim("size"), dim("timeSeriesLength"))
    if cls == "Convolutional":
        h, w, c = dim("height"), dim("width"), dim("channels")
        return (None, h, w, c) if keys.text("format", "NCHW") == "NHWC" else (None, c, h, w)
    if cls == "Convolutional3D":
        d, h, w, c = dim("depth"), dim("height"), dim("width"), dim("channels")
        return (None, d, h, w, c) if keys.text("dataFormat", "NCDHW") == "NDHWC" else (None, c, d, h, w)
    raise IncompatibleKerasConfigurationException(f"input type {cls}: not supported")


def _four(spec: _Spec, key: str) -> tuple[int, ...]:
    """Top, bottom, left, right amounts."""
    values = spec.integers(key, minimum=0)
    if len(values) != 4:
        raise spec.error(f"expected 4 amounts, got {list(values)}", key)
    return values


def _input(name: str, shape: Shape) -> Layer:
    return Layer(name, core.InputLayer(batch_shape=shape), calls=[Call([])])


def _weights(arrays: dict[str, Any]) -> dict[str, Weight]:
    return {k: v if isinstance(v, Weight) else Weight.of(np.ascontiguousarray(v, np.float32), "dl4j")
            for k, v in arrays.items()}


def _transposed(name: str, entries: list, back: bool = True) -> list:
    """Entries working on (batch, time, features), between transposes from and to DL4J's NCW."""
    out = [(f"{name}_nwc", core.Permute(dims=(2, 1)), {}), *entries]
    return out + [(f"{name}_ncw", core.Permute(dims=(2, 1)), {})] if back else out


def _preprocessor(raw: Any) -> tuple[str, _Keys]:
    legacy = {"cnnToFeedForward": "CnnToFeedForwardPreProcessor", "feedForwardToCnn": "FeedForwardToCnnPreProcessor"}
    cls, body = _java_object(raw, "a preprocessor", PREPROCESSORS, legacy)
    return cls.removeprefix(KERAS_PREPROCESSORS), _Keys(body)


def _preprocessor_input(raw: Any) -> Shape | None:
    """The input shape a network's first preprocessor declares, if it declares one."""
    cls, keys = _preprocessor(raw)
    if cls == "ComposableInputPreProcessor":
        steps = keys.get("inputPreProcessors")
        return _preprocessor_input(steps[0]) if isinstance(steps, list) and steps else None
    if cls == "FeedForwardToCnnPreProcessor":
        return (None, keys.integer("inputHeight") * keys.integer("inputWidth") * keys.integer("numChannels"))
    if cls == "CnnToFeedForwardPreProcessor":
        h, w, c = keys.integer("inputHeight"), keys.integer("inputWidth"), keys.integer("numChannels")
        return (None, h, w, c) if keys.get("format") == "NHWC" else (None, c, h, w)
    if cls == "Cnn3DToFeedForwardPreProcessor":
        d, h, w = keys.integer("inputDepth"), keys.integer("inputHeight"), keys.integer("inputWidth")
        c = keys.integer("numChannels")
        ncdhw = keys.flag("isNCDHW", keys.flag("ncdhw", True))  # DL4J writes the second, reads the first
        return (None, c, d, h, w) if ncdhw else (None, d, h, w, c)
    if cls == "KerasFlattenRnnPreprocessor":
        length = keys.integer("tsLength", minimum=-_LIMITS.max_dimension)
        return (None, abs(length) or None, keys.integer("depth"))
    if cls == "ReshapePreprocessor":
        dims = keys.integers("inputShape", minimum=-1)[1 if keys.flag("hasMiniBatchDimension", False) else 0:]
        return (None, *(d if d > 0 else None for d in dims))
    if cls == "PermutePreprocessor":
        raise IncompatibleKerasConfigurationException(
            "a network starting with a permutation: its input shape cannot be derived")
    return None


def _vertex(raw: Any) -> tuple[str, dict[str, Any]]:
    return _java_object(raw, "a graph vertex", GRAPH)


def _kahn(inputs: list[str], vertices: dict[str, Any], vertex_inputs: dict[str, list[str]]) -> list[str]:
    """A topological order of a graph saved without one."""
    order, done = list(inputs), set(inputs)
    pending = [v for v in vertices if v not in done]
    while pending:
        ready = [v for v in pending if all(s in done for s in vertex_inputs.get(v, []))]
        if not ready:
            raise IncompatibleKerasConfigurationException("the graph has a cycle or a missing vertex input")
        for v in ready:
            order.append(v)
            done.add(v)
        pending = [v for v in pending if v not in done]
    return order


_LAYERS: dict[str, Callable[[_Builder, _Spec, Shape], list]] = {
    "DenseLayer": _Builder.dense, "OutputLayer": _Builder.dense, "RnnOutputLayer": _Builder.dense,
    "ConvolutionLayer": _Builder.convolution, "Convolution1DLayer": _Builder.convolution,
    "Convolution3D": _Builder.convolution, "SeparableConvolution2D": _Builder.depthwise,
    "DepthwiseConvolution2D": _Builder.depthwise, "SubsamplingLayer": _Builder.subsampling,
    "Subsampling1DLayer": _Builder.subsampling, "Subsampling3DLayer": _Builder.subsampling,
    "GlobalPoolingLayer": _Builder.global_pooling, "BatchNormalization": _Builder.batch_normalization,
    "LSTM": _Builder.recurrent, "recurrent.SimpleRnn": _Builder.recurrent, "GravesLSTM": _Builder.recurrent,
    "recurrent.LastTimeStep": _Builder.last_time_step, "recurrent.Bidirectional": _Builder.bidirectional,
    "LossLayer": _Builder.loss, "RnnLossLayer": _Builder.loss, "CnnLossLayer": _Builder.loss,
    "GravesBidirectionalLSTM": _Builder.graves_bidirectional, "recurrent.TimeDistributed": _Builder.time_distributed,
    "EmbeddingLayer": _Builder.embedding, "EmbeddingSequenceLayer": _Builder.embedding,
    "ActivationLayer": _Builder.simple, "DropoutLayer": _Builder.simple, "ZeroPaddingLayer": _Builder.simple,
    "convolutional.Cropping2D": _Builder.simple, "Upsampling2D": _Builder.simple,
    "ZeroPadding1DLayer": _Builder.simple, "convolutional.Cropping1D": _Builder.simple,
    "ZeroPadding3DLayer": _Builder.simple, "convolutional.Cropping3D": _Builder.simple, "Upsampling3D": _Builder.simple,
    "Deconvolution2D": _Builder.deconvolution, "Deconvolution3D": _Builder.deconvolution,
    "PReLULayer": _Builder.prelu, "misc.RepeatVector": _Builder.repeat_vector,
}
