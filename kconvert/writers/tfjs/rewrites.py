"""What tfjs-layers lacks, written as layers it has that compute the same function.

tfjs-layers 4.22 has the 2-D forms of padding, cropping, up-sampling and most convolutions, but
not their 1-D or 3-D forms, no causal padding, no ``keepdims`` in global pooling, and normalizes
or pools over the last axis only.  Each rule here is a rewrite of :mod:`kconvert.writers.lowering`
for one IR kind: it returns the layers replacing a layer (the last one keeps its name), or None
when TF.js runs the layer as it is.  Lowering runs in passes, so a rule may produce a layer another
rule rewrites (a causal ``Conv1D`` becomes a ``ZeroPadding1D``, which becomes a ``ZeroPadding2D``
between two ``Reshape`` layers).  The rewrites move, pad, copy or scale values: none approximates,
and each is noted in the report.  Where a rewrite needs sizes TF.js cannot infer (a ``Reshape``
may leave one axis unknown), it refuses naming the axis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.graph import Layer
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import activations as act
from kconvert.ir.layers import conv, core, merge, normalization, pooling, reshaping
from kconvert.ir.shapes import norm_axis, split_channels
from kconvert.ir.weights import Weight
from kconvert.registry import registrar
from kconvert.writers.lowering import Lowering, Rewrite, after, layer_inputs

REWRITES: dict[str, Rewrite] = {}
rewrite = registrar(REWRITES, "a TF.js rewrite")

Step = tuple[str, LayerConfig, dict[str, Weight], Callable[..., list[Any]]]


def _refuse(layer: Layer, reason: str, key: str | None = None) -> IncompatibleKerasConfigurationException:
    return layer.context_error(IncompatibleKerasConfigurationException(f"TF.js {reason}", key=key))  # type: ignore


def _sequence(layer: Layer, steps: list[tuple[str, LayerConfig, dict[str, Weight]]]) -> list[Step]:
    """Steps applied one after the other to the layer's input."""
    out: list[Step] = []
    for i, (suffix, config, weights) in enumerate(steps):
        out.append((suffix, config, weights, layer_inputs if i == 0 else after(out[-1][0])))
    return out


def _known(layer: Layer, dims: tuple[int | None, ...], what: str) -> tuple[int, ...]:
    if any(d is None for d in dims):
        raise _refuse(layer, f"needs a known {what} to write {layer.kind} through a Reshape (got {dims})")
    return dims  # type: ignore[return-value]


def _reshape(*dims: int | None) -> core.Reshape:
    """A Reshape to ``dims``; one unknown size (a sequence's length) becomes -1, which TF.js resolves."""
    if sum(d is None for d in dims) > 1:
        raise ValueError(f"two unknown sizes in {dims}")
    return core.Reshape(target_shape=tuple(-1 if d is None else d for d in dims))


def _mul(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a * b


# -- channels_first layers TF.js runs only channels-last --------------------------------------------------

def _between_permutes(low: Lowering, layer: Layer, taken: set[str], config: LayerConfig, rank: int,
                      back: bool = True) -> list[Layer]:
    """``config`` (channels-last) between Permutes moving the channels of a rank-``rank`` input
    last and, when ``back``, first again."""
    spatial = rank - 2
    steps = [("channels_last_input", core.Permute(dims=(*range(2, spatial + 2), 1)), {}),
             ("channels_last", config, layer.weights)]
    if back:
        steps.append(("channels_first", core.Permute(dims=(spatial + 1, *range(1, spatial + 1))), {}))
    low.note(layer, f"channels_first {layer.kind} written channels-last between Permute layers (TF.js runs it "
             "channels-last only)")
    return low.chain(layer, _sequence(layer, steps), taken)


def _channels_first(low: Lowering, layer: Layer, taken: set[str], back: bool = True) -> list[Layer] | None:
    if getattr(layer.config, "data_format", "channels_last") != "channels_first":
        return None
    rank = len(low.call_shapes(layer)[0])
    return _between_permutes(low, layer, taken, replace(layer.config, data_format="channels_last"), rank, back)


# -- convolutions -------------------------------------------------------------------------------------

@rewrite("Conv1D", "SeparableConv1D", "DepthwiseConv1D", "Conv1DTranspose")
def conv_1d(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer] | None:
    c = layer.config
    if c.data_format == "channels_first":
        return _channels_first(low, layer, taken)
    if c.padding == "causal":
        left = c.dilation_rate[0] * (c.kernel_size[0] - 1)
        low.note(layer, f"causal {layer.kind} written as {left} zero step(s) of left padding, then a valid "
                 "convolution (what causal padding is)")
        return low.chain(layer, _sequence(layer, [
            ("causal_padding", reshaping.ZeroPadding1D(padding=((left, 0),)), {}),
            ("valid", replace(c, padding="valid"), layer.weights)]), taken)
    if layer.kind == "Conv1D":
        return None
    return _as_2d_convolution(low, layer, taken)


@rewrite("Conv2D")
def conv_2d(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer] | None:
    """A convolution with one group per input channel (ConvNeXt's) is a DepthwiseConv2D: group ``c``
    computes output channels ``c * m ... c * m + m - 1``, as depth multiplier ``m`` numbers them."""
    c = layer.config
    if c.groups == 1:
        return None
    (shape,) = low.call_shapes(layer)
    channels = shape[1 if c.data_format == "channels_first" else -1]
    if c.groups != channels:
        raise _refuse(layer, f"has no grouped convolutions; only one group per input channel ({channels}) is written, "
                      f"as a DepthwiseConv2D, and this layer has {c.groups}", key="groups")
    multiplier = c.filters // c.groups
    kernel = layer.weights["kernel"]
    weights = {"depthwise_kernel": kernel.reshape((*kernel.shape[:2], channels, multiplier)),
               **({"bias": layer.weights["bias"]} if c.use_bias else {})}
    config = conv.DepthwiseConv2D(kernel_size=c.kernel_size, strides=c.strides, padding=c.padding,
                                  data_format=c.data_format, dilation_rate=c.dilation_rate,
                                  depth_multiplier=multiplier, activation=c.activation, use_bias=c.use_bias)
    low.note(layer, f"Conv2D with {c.groups} groups (one per input channel) written as a DepthwiseConv2D with "
             f"depth_multiplier {multiplier}")
    return [replace(layer, config=config, weights=weights, weight_settings={})]


#: 1-D convolutions TF.js lacks -> their 2-D form, and the weights gaining a width axis of 1
_CONV_2D: dict[str, tuple[type[LayerConfig], tuple[str, ...]]] = {
    "SeparableConv1D": (conv.SeparableConv2D, ("depthwise_kernel", "pointwise_kernel")),
    "DepthwiseConv1D": (conv.DepthwiseConv2D, ("depthwise_kernel",)),
    "Conv1DTranspose": (conv.Conv2DTranspose, ("kernel",)),
}


def _as_2d_convolution(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer]:
    """A (steps, channels) convolution as its 2-D form over (steps, 1, channels)."""
    c = layer.config
    ((steps, channels),) = [s[1:] for s in low.call_shapes(layer)]
    _known(layer, (channels,), "number of channels")
    ((out_steps, out_channels),) = [s[1:] for s in low.output_shapes(layer)]
    cls, kernels = _CONV_2D[layer.kind]
    fields = {f: getattr(c, f) for f in ("activation", "use_bias", "padding") if hasattr(c, f)}
    for f in ("filters", "depth_multiplier", "output_padding"):
        if hasattr(c, f):
            fields[f] = getattr(c, f)
    if fields.get("output_padding") is not None:
        fields["output_padding"] = (*fields["output_padding"], 0)
    config = cls(kernel_size=(c.kernel_size[0], 1), strides=(c.strides[0], 1),
                 dilation_rate=(c.dilation_rate[0], 1), **fields)
    weights = {name: w.reshape((w.shape[0], 1, *w.shape[1:])) if name in kernels else w
               for name, w in layer.weights.items()}
    low.note(layer, f"{layer.kind} written as {cls.kind} over (steps, 1, channels) between Reshape layers "
             f"(TF.js has no {layer.kind})")
    return low.chain(layer, _sequence(layer, [
        ("as_2d", _reshape(steps, 1, channels), {}),
        ("2d", config, weights),
        ("as_1d", _reshape(out_steps, out_channels), {})]), taken)


# -- padding, cropping and up-sampling in 1 and 3 dimensions --------------------------------------------

@rewrite("ZeroPadding1D", "Cropping1D", "UpSampling1D")
def spatial_1d(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer]:
    """Through the 2-D layer over (steps, 1, channels)."""
    ((steps, channels),) = [s[1:] for s in low.call_shapes(layer)]
    _known(layer, (channels,), "number of channels")
    ((out_steps, _),) = [s[1:] for s in low.output_shapes(layer)]
    low.note(layer, f"{layer.kind} written as its 2-D form over (steps, 1, channels) between Reshape layers "
             f"(TF.js has no {layer.kind})")
    return low.chain(layer, _sequence(layer, [
        ("as_2d", _reshape(steps, 1, channels), {}),
        ("2d", _spatial_2d(layer.config, (0, None)), {}),
        ("as_1d", _reshape(out_steps, channels), {})]), taken)


@rewrite("ZeroPadding3D", "Cropping3D", "UpSampling3D")
def spatial_3d(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer] | None:
    """(d, h, w, c) as (d, h, w * c) for the first two axes, then as (d * h, w, c) for the third."""
    if layer.config.data_format == "channels_first":
        return _channels_first(low, layer, taken)
    ((d, h, w, channels),) = [s[1:] for s in low.call_shapes(layer)]
    _known(layer, (h, w, channels), "height, width and number of channels")
    ((d2, h2, w2, _),) = [s[1:] for s in low.output_shapes(layer)]
    low.note(layer, f"{layer.kind} written as two 2-D {layer.kind[:-2]}2D layers between Reshape layers "
             f"(TF.js has no {layer.kind})")
    return low.chain(layer, _sequence(layer, [
        ("depth_height", _reshape(d, h, w * channels), {}),  # type: ignore[operator]
        ("2d_depth_height", _spatial_2d(layer.config, (0, 1)), {}),
        ("width", _reshape(_mul(d2, h2), w, channels), {}),
        ("2d_width", _spatial_2d(layer.config, (None, 2)), {}),
        ("as_3d", _reshape(d2, h2, w2, channels), {})]), taken)


def _spatial_2d(config: LayerConfig, placed: tuple[int | None, int | None]) -> LayerConfig:
    """The 2-D layer doing ``config``'s work on its spatial axes ``placed[0]`` and ``placed[1]``
    (None: a 2-D axis left alone)."""
    def pairs(values: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        return tuple((0, 0) if i is None else values[i] for i in placed)

    if isinstance(config, reshaping.ZeroPadding1D | reshaping.ZeroPadding3D):
        return reshaping.ZeroPadding2D(padding=pairs(config.padding))
    if isinstance(config, reshaping.Cropping1D | reshaping.Cropping3D):
        return reshaping.Cropping2D(cropping=pairs(config.cropping))
    return reshaping.UpSampling2D(size=tuple(1 if i is None else config.size[i] for i in placed))


# -- pooling ----------------------------------------------------------------------------------------------

@rewrite("MaxPooling1D", "AveragePooling1D")
def pooling_1d(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer] | None:
    return _channels_first(low, layer, taken)


@rewrite("GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
         "GlobalAveragePooling3D", "GlobalMaxPooling3D")
def global_pooling(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer] | None:
    c = layer.config
    (shape,) = low.call_shapes(layer)
    if c.keepdims:
        channels, spatial = split_channels(shape, c.data_format)
        _known(layer, (channels,), "number of channels")
        kept = (channels, *(1 for _ in spatial)) if c.data_format == "channels_first" else \
            (*(1 for _ in spatial), channels)
        low.note(layer, f"{layer.kind} with keepdims written as {layer.kind} and a Reshape to {kept} (TF.js "
                 "ignores keepdims)")
        return low.chain(layer, _sequence(layer, [("pooled", replace(c, keepdims=False), {}),
                                                  ("kept", core.Reshape(target_shape=kept), {})]), taken)
    if c.data_format == "channels_first" and c.rank != 2:
        return _between_permutes(low, layer, taken, replace(c, data_format="channels_last"), len(shape), back=False)
    if c.rank == 3:
        (d, h, w, channels) = shape[1:]
        _known(layer, (h, w, channels), "height, width and number of channels")
        one_d = (pooling.GlobalAveragePooling1D if "Average" in layer.kind else pooling.GlobalMaxPooling1D)()
        low.note(layer, f"{layer.kind} written as a Reshape to (cells, channels) and {one_d.kind} (TF.js has no "
                 f"{layer.kind})")
        return low.chain(layer, _sequence(layer, [("cells", _reshape(_mul(d, _mul(h, w)), channels), {}),
                                                  ("pooled", one_d, {})]), taken)
    return None


# -- normalization ---------------------------------------------------------------------------------------

def _axis_last(low: Lowering, layer: Layer, taken: set[str], axes: tuple[int, ...], what: str,
               config: Callable[[], LayerConfig]) -> list[Layer] | None:
    """``layer`` over one non-last ``axis``, as ``config()`` over the last axis between Permute layers."""
    (shape,) = low.call_shapes(layer)
    rank = len(shape)
    if len(axes) != 1:
        raise _refuse(layer, f"{what} over one axis only; this layer {what} over {list(axes)}", key="axis")
    axis = norm_axis(axes[0], rank)
    if axis == rank - 1:
        return None
    to_last = (*(a for a in range(1, rank) if a != axis), axis)
    back = tuple(int(i) + 1 for i in np.argsort(to_last))
    low.note(layer, f"{layer.kind} over axis {axis} written over the last axis between Permute layers (TF.js "
             f"{what} over the last axis only)")
    return low.chain(layer, _sequence(layer, [
        ("axis_last", core.Permute(dims=to_last), {}),
        ("last_axis", config(), layer.weights),
        ("axis_back", core.Permute(dims=back), {})]), taken)


@rewrite("Softmax")
def softmax(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer] | None:
    axis = layer.config.axis
    return _axis_last(low, layer, taken, axis if isinstance(axis, tuple) else (axis,), "normalizes",
                      lambda: act.Softmax(axis=-1))


@rewrite("BatchNormalization")
def batch_normalization(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer] | None:
    c = layer.config
    moved = _axis_last(low, layer, taken, c.axis, "normalizes", lambda: replace(c, axis=(-1,)))
    if moved is not None:
        return moved
    (shape,) = low.call_shapes(layer)
    rank = len(shape)
    if rank > 4:
        inner = shape[2:-1]
        _known(layer, tuple(inner), "size of the inner axes")
        low.note(layer, f"batch normalization of a rank-{rank} input written over a rank-4 view of it between "
                 "Reshape layers (TF.js normalizes inputs of rank 4 at most)")
        return low.chain(layer, _sequence(layer, [
            ("rank_4", _reshape(shape[1], int(np.prod(inner)), shape[-1]), {}),
            ("normalized", c, layer.weights),
            ("shaped", _reshape(*shape[1:]), {})]), taken)
    return None


def _affine(low: Lowering, layer: Layer, taken: set[str], scale: np.ndarray, offset: np.ndarray,
            what: str) -> list[Layer]:
    """``x * scale + offset`` per channel of the last axis, as an inference BatchNormalization with
    zero mean, unit variance and no epsilon (which computes exactly that)."""
    channels = scale.shape[0]
    weights = {"gamma": Weight.of(scale.astype(np.float32), what), "beta": Weight.of(offset.astype(np.float32), what),
               "moving_mean": Weight.of(np.zeros(channels, np.float32), what),
               "moving_variance": Weight.of(np.ones(channels, np.float32), what)}
    low.note(layer, f"{layer.kind} written as a BatchNormalization computing {what} (TF.js has no {layer.kind})")
    return [replace(layer, config=normalization.BatchNormalization(epsilon=0.0), weights=weights,
                    weight_settings={})]


@rewrite("Normalization")
def normalization_layer(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer]:
    """(x - mean) / max(sqrt(variance), 1e-7), or with invert mean + x * that, per last-axis feature."""
    c = layer.config
    (shape,) = low.call_shapes(layer)
    kept = c.kept_shape(shape)
    if c.mean is not None:
        mean, variance = (np.asarray(v, np.float64).reshape(-1) for v in (c.mean, c.variance))
    else:
        mean, variance = (layer.weights[k].numpy().astype(np.float64).reshape(-1) for k in ("mean", "variance"))
    channels = shape[-1]
    axes = tuple(sorted(norm_axis(a, len(shape)) for a in c.axis))
    if axes == ():
        std = max(float(np.sqrt(variance[0])), 1e-7)
        scale, offset = (std, float(mean[0])) if c.invert else (1 / std, -float(mean[0]) / std)
        low.note(layer, "Normalization of every value by one mean and variance written as a Rescaling (TF.js has "
                 "no Normalization)")
        return [replace(layer, config=core.Rescaling(scale=scale, offset=offset), weights={})]
    if axes != (len(shape) - 1,) or channels is None:
        raise _refuse(layer, f"writes Normalization per feature of the last axis only (axes {list(c.axis)}, "
                      f"kept shape {kept})", key="axis")
    mean, variance = (np.broadcast_to(v, (channels,)) for v in (mean, variance))
    std = np.maximum(np.sqrt(variance), 1e-7)
    if c.invert:
        return _affine(low, layer, taken, std, mean, "mean + x * std")
    return _affine(low, layer, taken, 1 / std, -mean / std, "(x - mean) / std")


@rewrite("LayerScale")
def layer_scale(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer]:
    gamma = layer.weights["gamma"].numpy().astype(np.float64)
    return _affine(low, layer, taken, gamma, np.zeros_like(gamma), "x * gamma")


@rewrite("Identity", "StochasticDepth")
def identity(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer]:
    low.note(layer, f"{layer.kind} (the identity at inference) written as a linear Activation")
    return [replace(layer, config=core.Activation(activation="linear"))]


@rewrite("CustomScaleLayer")
def custom_scale(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer]:
    low.note(layer, f"CustomScaleLayer written as a Rescaling({layer.config.scale:.6g}) of its second input and an Add")
    return low.chain(layer, [
        ("scaled", core.Rescaling(scale=layer.config.scale), {}, lambda ref, call: [call.inputs[1]]),
        ("sum", merge.Add(), {}, lambda ref, call: [call.inputs[0], ref("scaled")])], taken)


@rewrite("Subtract")
def subtract(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer]:
    low.note(layer, "Subtract written as an Add of the first input and the negated second (TF.js has no Subtract)")
    return low.chain(layer, [
        ("negated", core.Rescaling(scale=-1.0), {}, lambda ref, call: [call.inputs[1]]),
        ("sum", merge.Add(), {}, lambda ref, call: [call.inputs[0], ref("negated")])], taken)


# -- activations -----------------------------------------------------------------------------------------

@rewrite("ELU")
def elu(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer] | None:
    """relu(x) + alpha * elu(min(x, 0)): x itself above zero, alpha * (exp(x) - 1) below."""
    alpha = layer.config.alpha
    if alpha == 1.0:
        return None
    low.note(layer, f"ELU(alpha={alpha:.6g}) written as relu(x) + {alpha:.6g} * elu(min(x, 0)) (TF.js's ELU has "
             "alpha 1 only)")
    return low.chain(layer, [
        ("positive", act.ReLU(), {}, layer_inputs),
        ("negated", core.Rescaling(scale=-1.0), {}, layer_inputs),
        ("magnitude", act.ReLU(), {}, after("negated")),
        ("negative", core.Rescaling(scale=-1.0), {}, after("magnitude")),
        ("elu", core.Activation(activation="elu"), {}, after("negative")),
        ("scaled", core.Rescaling(scale=alpha), {}, after("elu")),
        ("sum", merge.Add(), {}, after("positive", "scaled"))], taken)


@rewrite("ReLU")
def relu(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer] | None:
    """x from the threshold up (capped at max_value), negative_slope * (x - threshold) below it."""
    c = layer.config
    if c.threshold == 0 and (c.negative_slope == 0 or c.max_value is None):
        return None  # TF.js's ReLU (max_value) or LeakyReLU
    if c.threshold < 0 or (c.max_value is not None and c.max_value <= c.threshold):
        raise _refuse(layer, "writes ReLU with a threshold only when 0 <= threshold < max_value", key="threshold")
    if c.threshold:
        steps: list[Step] = [("above", act.ThresholdedReLU(theta=c.threshold), {}, layer_inputs)]
        if c.max_value is not None:
            steps.append(("capped", act.ReLU(max_value=c.max_value), {}, after("above")))
    else:
        steps = [("above", act.ReLU(max_value=c.max_value), {}, layer_inputs)]
    if c.negative_slope:
        steps += [("shifted", core.Rescaling(scale=-1.0, offset=c.threshold), {}, layer_inputs),
                  ("below", act.ReLU(), {}, after("shifted")),
                  ("below_scaled", core.Rescaling(scale=-c.negative_slope), {}, after("below")),
                  ("sum", merge.Add(), {}, after(steps[-1][0], "below_scaled"))]
    low.note(layer, f"ReLU(max_value={c.max_value}, negative_slope={c.negative_slope:.6g}, threshold="
             f"{c.threshold:.6g}) written as ThresholdedReLU/ReLU, Rescaling and Add layers (TF.js's ReLU reads "
             "max_value only; at x == threshold exactly the result is 0, not threshold)" if c.threshold else
             f"ReLU(max_value={c.max_value}, negative_slope={c.negative_slope:.6g}) written as ReLU, Rescaling "
             "and Add layers (TF.js's ReLU reads max_value only)")
    return low.chain(layer, steps, taken)


# -- attention --------------------------------------------------------------------------------------------

@rewrite("Attention")
def attention(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer]:
    """softmax(scale * query . key^T) . value, as Dot, Rescaling, Activation and Dot layers."""
    c = layer.config
    for flag, key in ((c.score_mode != "dot", "score_mode"), (c.causal, "use_causal_mask"),
                      (c.return_attention_scores, "return_attention_scores")):
        if flag:
            raise _refuse(layer, f"has no Attention layer, and writes dot-product attention only without {key}",
                          key=key)
    if any(len(s) != 3 for s in low.call_shapes(layer)):
        raise _refuse(layer, "writes Attention over (batch, steps, features) inputs only")
    if any(call.kwargs.get("mask") is not None for call in layer.calls):
        raise _refuse(layer, "writes Attention without masks only", key="mask")
    scale = float(layer.weights["scale"].numpy()) if c.use_scale else None
    steps: list[Step] = [("scores", merge.Dot(axes=(2, 2)), {},
                          lambda ref, call: [call.inputs[0], call.inputs[-1]])]  # the key, else the value
    if scale is not None:
        steps.append(("scaled", core.Rescaling(scale=scale), {}, after("scores")))
    steps += [("weights", core.Activation(activation="softmax"), {}, after(steps[-1][0])),
              ("attended", merge.Dot(axes=(2, 1)), {}, lambda ref, call: [ref("weights"), call.inputs[1]])]
    low.note(layer, "Attention written as Dot, " + ("Rescaling, " if scale is not None else "") +
             "softmax Activation and Dot layers (TF.js has no Attention layer)")
    return low.chain(layer, steps, taken)


# -- functional operations (keras.ops / tf.* nodes) -----------------------------------------------------

#: two-tensor operations -> the merge layer computing them
_MERGES: dict[str, Callable[[], LayerConfig]] = {
    "add": merge.Add, "subtract": merge.Subtract, "multiply": merge.Multiply, "maximum": merge.Maximum,
    "minimum": merge.Minimum}
#: unary operations TF.js computes as an Activation of the same IR name
_ACTIVATION_OPS = ("sigmoid", "tanh", "relu6", "hard_sigmoid_relu6", "hard_silu", "silu")


@rewrite("BinaryOp")
def binary_op(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer]:
    c = layer.config
    if c.constant is None:
        if c.op not in _MERGES:
            raise _refuse(layer, f"has no layer computing {c.op} of two tensors", key="op")
        config = _MERGES[c.op]()
        low.note(layer, f"operation {c.op} of two tensors written as a {config.kind} layer")
        return [replace(layer, config=config)]
    k = float(c.constant)
    affine = {"add": (1.0, k), "multiply": (k, 0.0), "subtract": (-1.0, k) if c.constant_first else (1.0, -k)}
    if c.op in affine:
        scale, offset = affine[c.op]
        low.note(layer, f"operation {c.op} with the constant {k:.6g} written as Rescaling(scale={scale:.6g}, "
                 f"offset={offset:.6g})")
        return [replace(layer, config=core.Rescaling(scale=scale, offset=offset))]
    if c.op in ("maximum", "minimum") and k == 0.0:
        low.note(layer, f"operation {c.op}(x, 0) written as ReLU layers")
        if c.op == "maximum":
            return [replace(layer, config=act.ReLU())]
        return low.chain(layer, _sequence(layer, [("negated", core.Rescaling(scale=-1.0), {}),
                                                  ("positive", act.ReLU(), {}),
                                                  ("negative", core.Rescaling(scale=-1.0), {})]), taken)
    if c.op == "power" and k == 2.0 and not c.constant_first:
        return _square(low, layer, taken)
    raise _refuse(layer, f"has no layer computing {c.op} with the constant {k:.6g} exactly", key="op")


def _square(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer]:
    low.note(layer, "x ** 2 written as a Multiply of x by itself")
    return [replace(layer, config=merge.Multiply(), calls=[replace(call, inputs=[call.inputs[0]] * 2)
                                                           for call in layer.calls])]


@rewrite("UnaryOp")
def unary_op(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer]:
    op = layer.config.op
    if op in _ACTIVATION_OPS or op == "relu":
        low.note(layer, f"operation {op} written as an Activation layer")
        return [replace(layer, config=core.Activation(activation=op))]
    if op == "negative":
        low.note(layer, "operation negative written as Rescaling(scale=-1)")
        return [replace(layer, config=core.Rescaling(scale=-1.0))]
    if op == "square":
        return _square(low, layer, taken)
    if op == "abs":
        low.note(layer, "operation abs written as relu(x) + relu(-x)")
        return low.chain(layer, [
            ("positive", act.ReLU(), {}, layer_inputs),
            ("negated", core.Rescaling(scale=-1.0), {}, layer_inputs),
            ("negative", act.ReLU(), {}, after("negated")),
            ("sum", merge.Add(), {}, after("positive", "negative"))], taken)
    raise _refuse(layer, f"has no layer computing {op}", key="op")


@rewrite("Add", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot")
def repeated_inputs(low: Lowering, layer: Layer, taken: set[str]) -> list[Layer] | None:
    """tfjs frees a tensor once per consumer it counts, and counts a layer given the same tensor twice
    once: with another consumer, the tensor is freed before the merge reads it.  A Rescaling(1)
    copy (x * 1 + 0, the same values) gives the merge two tensors."""
    if not any(len(set(call.inputs)) < len(call.inputs) for call in layer.calls):
        return None
    low.note(layer, f"{layer.kind} given the same tensor twice reads a Rescaling(1) copy of it (tfjs would free "
             "the tensor before the merge reads it)")

    def inputs(ref: Callable[[str], Any], call: Any) -> list[Any]:
        return [ref("copy") if r in call.inputs[:i] else r for i, r in enumerate(call.inputs)]
    copied = lambda ref, call: [next(r for i, r in enumerate(call.inputs) if r in call.inputs[:i])]  # noqa: E731
    return low.chain(layer, [("copy", core.Rescaling(scale=1.0), {}, copied),
                             ("merged", layer.config, layer.weights, inputs)], taken)
