"""Converters for DL4J's convolution and pooling layers (NCHW unless a layer says NHWC)."""

from __future__ import annotations

import numpy as np

from kconvert.errors import KConvertError
from kconvert.ir.layers import conv, core, ops, pooling, reshaping
from kconvert.ir.shapes import Shape
from kconvert.readers.dl4j.activations import activation
from kconvert.readers.dl4j.layer import Entry, Parameters, dl4j_layer, first_layer_input, sequence_shape, transposed
from kconvert.readers.dl4j.spec import LayerSpec

_CONVOLUTION_RANKS = {"Convolution1DLayer": 1, "ConvolutionLayer": 2, "Convolution3D": 3}
_POOLING_RANKS = {"Subsampling1DLayer": 1, "SubsamplingLayer": 2, "Subsampling3DLayer": 3}
_POOLINGS = {(1, "MAX"): pooling.MaxPooling1D, (1, "AVG"): pooling.AveragePooling1D,
             (2, "MAX"): pooling.MaxPooling2D, (2, "AVG"): pooling.AveragePooling2D,
             (3, "MAX"): pooling.MaxPooling3D, (3, "AVG"): pooling.AveragePooling3D}
_GLOBAL_POOLINGS = {(1, "MAX"): pooling.GlobalMaxPooling1D, (1, "AVG"): pooling.GlobalAveragePooling1D,
                    (2, "MAX"): pooling.GlobalMaxPooling2D, (2, "AVG"): pooling.GlobalAveragePooling2D,
                    (3, "MAX"): pooling.GlobalMaxPooling3D, (3, "AVG"): pooling.GlobalAveragePooling3D}
#: a global pooling type -> the reduction over the pooled axes (PNORM: a sum of |x|^p, then its p-th root)
_REDUCTIONS = {"MAX": "max", "AVG": "mean", "SUM": "sum", "PNORM": "sum"}
_ZERO_PADDINGS = {1: reshaping.ZeroPadding1D, 2: reshaping.ZeroPadding2D, 3: reshaping.ZeroPadding3D}


def _data_format(spec: LayerSpec) -> str:
    return "channels_last" if spec.channels_last() else "channels_first"


def _padded(spec: LayerSpec, rank: int, entry: Entry) -> list[Entry]:
    """``entry`` (a valid window) after the zeros a Truncate or Strict window pads its input with."""
    amounts = spec.explicit_padding(rank)
    if amounts is None:
        return [entry]
    fmt = {} if rank == 1 else {"data_format": _data_format(spec)}
    return [(f"{spec.name}_padding", _ZERO_PADDINGS[rank](padding=amounts, **fmt), {}), entry]


def _pnorm(spec: LayerSpec, name: str, summed: list[Entry]) -> list[Entry]:
    """(sum of |x|^p)^(1/p): ``summed`` sums what it is given over the windows or axes pooled."""
    p = float(spec.integer("pnorm", 2))
    return [(f"{name}_abs", ops.UnaryOp(op="abs"), {}), (f"{name}_power", ops.BinaryOp(op="power", constant=p), {}),
            *summed, (name, ops.BinaryOp(op="power", constant=1.0 / p), {})]


@dl4j_layer(*_CONVOLUTION_RANKS)
def convolution(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """ConvolutionLayer, Convolution3D: ``b``, then ``W`` [out, in, *kernel] 'c'; Convolution1DLayer:
    ``W`` [k, in, out], Keras's layout (DL4J 1.0.0-M1 and later run it as the conv1d op's YXIO)."""
    rank = _CONVOLUTION_RANKS[spec.cls]
    n_in, n_out = spec.integer("nin"), spec.integer("nout")
    kernel = spec.integers("kernelSize")[:rank]
    has_bias = spec.flag("hasBias", True)
    weights = {"bias": params.take(n_out, (n_out,))} if has_bias else {}
    if rank == 1:
        weights["kernel"] = params.take(n_out * n_in * kernel[0], (kernel[0], n_in, n_out))
    else:
        w = params.take(n_out * n_in * int(np.prod(kernel)), (n_out, n_in, *kernel))
        weights["kernel"] = w.transpose(*range(2, rank + 2), 1, 0)
    common = {"filters": n_out, "kernel_size": kernel, "dilation_rate": spec.integers("dilation", [1] * 3)[:rank],
              "activation": activation(spec), "use_bias": has_bias, **spec.window(rank)}
    if rank == 1:
        entries = _padded(spec, 1, (spec.name, conv.Conv1D(**common), weights))
        return transposed(spec.name, entries) if spec.rnn_format() == "NCW" else entries
    return _padded(spec, rank, (spec.name, (conv.Conv2D if rank == 2 else conv.Conv3D)(
        **common, data_format=_data_format(spec)), weights))


@dl4j_layer("Deconvolution2D", "Deconvolution3D")
def deconvolution(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """Deconvolution2D (``b``, ``W`` [in, out, kh, kw]) and Deconvolution3D (``b``, ``W`` [kd, kh, kw,
    out, in], Keras's own layout), 'c'."""
    rank = 3 if spec.cls == "Deconvolution3D" else 2
    n_in, n_out = spec.integer("nin"), spec.integer("nout")
    kernel = spec.integers("kernelSize")[:rank]
    has_bias = spec.flag("hasBias", True)
    weights = {"bias": params.take(n_out, (n_out,))} if has_bias else {}
    size = n_out * n_in * int(np.prod(kernel))
    weights["kernel"] = (params.take(size, (*kernel, n_out, n_in)) if rank == 3 else
                         params.take(size, (n_in, n_out, *kernel)).transpose(2, 3, 1, 0))
    fmt = _data_format(spec)
    if spec.explicit_padding(rank):
        raise spec.error("a transposed convolution cropping its output by explicit padding: not supported")
    config = (conv.Conv3DTranspose if rank == 3 else conv.Conv2DTranspose)(
        filters=n_out, kernel_size=kernel, dilation_rate=spec.integers("dilation", [1] * 3)[:rank],
        activation=activation(spec), use_bias=has_bias, data_format=fmt, **spec.window(rank))
    return [(spec.name, config, weights)]


@dl4j_layer("SeparableConvolution2D", "DepthwiseConvolution2D")
def depthwise(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """SeparableConvolution2D (``b``, depthwise ``W`` [dm, in, kh, kw], pointwise ``pW`` [out, in*dm, 1, 1])
    and DepthwiseConvolution2D (``b``, ``W`` [kh, kw, in, dm], Keras's own layout), all 'c'."""
    n_in, n_out, dm = spec.integer("nin"), spec.integer("nout"), spec.integer("depthMultiplier", 1)
    kernel = spec.integers("kernelSize")[:2]
    has_bias = spec.flag("hasBias", True)
    separable = spec.cls == "SeparableConvolution2D"
    weights = {"bias": params.take(n_out, (n_out,))} if has_bias else {}
    if separable:
        weights["depthwise_kernel"] = params.take(dm * n_in * int(np.prod(kernel)), (dm, n_in, *kernel)).transpose(
            2, 3, 1, 0)
        weights["pointwise_kernel"] = params.take(n_out * n_in * dm, (n_out, n_in * dm, 1, 1)).transpose(2, 3, 1, 0)
    else:
        weights["depthwise_kernel"] = params.take(int(np.prod(kernel)) * n_in * dm, (*kernel, n_in, dm))
    common = {"kernel_size": kernel, "dilation_rate": spec.integers("dilation", [1, 1])[:2],
              "depth_multiplier": dm, "activation": activation(spec), "use_bias": has_bias,
              "data_format": _data_format(spec), **spec.window(2)}
    config = conv.SeparableConv2D(filters=n_out, **common) if separable else conv.DepthwiseConv2D(**common)
    return _padded(spec, 2, (spec.name, config, weights))


@first_layer_input("ConvolutionLayer", "SeparableConvolution2D", "DepthwiseConvolution2D", "Deconvolution2D")
def image_input(spec: LayerSpec) -> Shape:
    n_in = spec.declared_inputs()
    return (None, None, None, n_in) if spec.channels_last() else (None, n_in, None, None)


@first_layer_input("Convolution3D", "Deconvolution3D")
def volume_input(spec: LayerSpec) -> Shape:
    n_in = spec.declared_inputs()
    return (None, None, None, None, n_in) if spec.channels_last() else (None, n_in, None, None, None)


@first_layer_input("Convolution1DLayer")
def sequence_input(spec: LayerSpec) -> Shape:
    n_in = spec.declared_inputs()
    return sequence_shape(spec.rnn_format(), n_in)


@dl4j_layer(*_POOLING_RANKS)
def subsampling(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """MAX and AVG as the pooling kinds; PNORM, (sum over the window of |x|^p)^(1/p), as the window's average of
    |x|^p times its size where each window holds that many cells (Truncate, Strict: explicit padding's zeros
    included; Same: :func:`_same_padded`)."""
    rank = _POOLING_RANKS[spec.cls]
    kind = spec.text("poolingType", "MAX").upper()
    if kind not in ("MAX", "AVG", "PNORM"):
        raise spec.error(f"{kind} pooling: not supported")
    padded = spec.explicit_padding(rank) is not None
    if kind == "AVG" and spec.flag("avgPoolIncludePadInDivisor", True) and spec.get("convolutionMode") == "Same":
        raise spec.error("average pooling counting padding in its divisor: not supported")
    if padded and kind == "AVG" and not spec.flag("avgPoolIncludePadInDivisor", True):
        raise spec.error("average pooling with explicit padding left out of its divisor: not supported")
    if padded and kind == "MAX":
        raise spec.error("max pooling with explicit padding (DL4J leaves the padding out of the maximum): "
                         "not supported")
    pool_size = spec.integers("kernelSize")[:rank]
    args = {"pool_size": pool_size, **spec.window(rank)}
    fmt = {} if rank == 1 else {"data_format": _data_format(spec)}
    config = _POOLINGS[rank, "AVG" if kind == "PNORM" else kind](**args, **fmt)
    entries = _padded(spec, rank, (spec.name, config, {}))
    if kind == "PNORM":
        if args["padding"] == "same":
            config = _POOLINGS[rank, "AVG"](**{**args, "padding": "valid"}, **fmt)
            entries = [_same_padded(spec, shape, rank, pool_size, args["strides"]), (spec.name, config, {})]
        window = [(f"{spec.name}_window_mean", config, {}),
                  (f"{spec.name}_window_sum", core.Rescaling(scale=float(np.prod(pool_size))), {})]
        entries = _pnorm(spec, spec.name, entries[:-1] + window)
    return transposed(spec.name, entries) if rank == 1 and spec.rnn_format() == "NCW" else entries


def _same_padded(spec: LayerSpec, shape: Shape, rank: int, pool_size: list[int], strides: list[int]) -> Entry:
    """The zeros a Same-mode PNORM window pads its input with: DL4J pads as TF does (half before, the odd cell
    after) and sums |x|^p over the window's cells inside the input, which is that sum with the padding's zeros
    counted (|0|^p = 0); so Same-mode PNORM is this padding, then valid PNORM.  An average pooling in Same mode
    would divide by the cells inside instead."""
    if rank == 1:
        spatial = shape[2:] if spec.rnn_format() == "NCW" else shape[1:2]
    else:
        spatial = shape[1:3] if spec.channels_last() else shape[2:]
    if any(n is None for n in spatial):
        raise spec.error("PNORM pooling in convolution mode Same of an input whose size is unknown (its padding "
                         "follows from it): give the network's input shape (--input-shape / input_shapes)")
    dilation = spec.integers("dilation", [1, 1])[:rank]
    amounts = []
    for n, k, s, d in zip(spatial, pool_size, strides, dilation):
        total = max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        amounts.append((total // 2, total - total // 2))
    fmt = {} if rank == 1 else {"data_format": _data_format(spec)}
    return f"{spec.name}_padding", _ZERO_PADDINGS[rank](padding=tuple(amounts), **fmt), {}


@dl4j_layer("GlobalPoolingLayer")
def global_pooling(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """MAX and AVG (collapsed) as the global pooling kinds; SUM and PNORM, and any type keeping the pooled axes
    (``collapseDimensions`` false: DL4J keeps them as 1), as reductions over them."""
    kind = spec.text("poolingType", "MAX").upper()
    if kind not in _REDUCTIONS:
        raise spec.error(f"global {kind} pooling: not supported")
    rank = len(shape) - 2
    # DL4J's defaults: the axes after the channels (NCW, NCHW, NCDHW)
    dims = list(spec.integers("poolingDimensions", [0], minimum=0)) if spec.get("poolingDimensions") else list(
        range(2, rank + 2))
    last = dims == list(range(1, rank + 1))
    if not last and dims != list(range(2, rank + 2)):
        raise spec.error(f"global pooling over dimensions {dims}: not supported")
    collapse = spec.flag("collapseDimensions", True)
    cls = _GLOBAL_POOLINGS.get((rank, kind))
    if collapse and cls is not None:
        return [(spec.name, cls(data_format="channels_last" if last else "channels_first"), {})]
    if rank < 1:
        raise spec.error(f"global pooling of a rank-{rank + 2} input: not supported")
    reduce = ops.Reduce(op=_REDUCTIONS[kind], axis=tuple(dims), keepdims=not collapse)
    if kind == "PNORM":
        return _pnorm(spec, spec.name, [(f"{spec.name}_sum", reduce, {})])
    return [(spec.name, reduce, {})]


@dl4j_layer("LocalResponseNormalization")
def local_response_normalization(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """x * (k + alpha * sum of x^2 over the channels within n // 2 either side)^-beta (DL4J's own loop, NCHW): the
    windowed sum of squares is a 1x1 convolution with a band of ones (times alpha, plus k as its bias)."""
    if spec.cnn_format() != "NCHW":
        raise spec.error(f"a local response normalization of {spec.cnn_format()} images: not supported")
    channels = shape[1] if len(shape) == 4 else None
    if channels is None:
        raise spec.error("a local response normalization of an input whose channels are unknown: not supported")
    half = int(spec.number("n", 5.0)) // 2
    index = np.arange(channels)
    band = (np.abs(index[:, None] - index[None, :]) <= half).astype(np.float32) * np.float32(spec.number("alpha", 1e-4))
    window = conv.Conv2D(filters=channels, kernel_size=(1, 1), data_format="channels_first")
    bias = np.full(channels, spec.number("k", 2.0), np.float32)
    return [(f"{spec.name}_square", ops.UnaryOp(op="square"), {}),
            (f"{spec.name}_window", window, {"kernel": band.reshape(1, 1, channels, channels), "bias": bias}),
            (f"{spec.name}_scale", ops.BinaryOp(op="power", constant=-spec.number("beta", 0.75)), {}),
            (spec.name, ops.BinaryOp(op="multiply"), {}, ("", f"{spec.name}_scale"))]


@dl4j_layer("SpaceToDepthLayer")
def space_to_depth(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    """Each block x block patch of pixels into the channels, block row then block column then channel (as
    TensorFlow's space_to_depth), by reshaping and permuting: the input's height and width must be known."""
    block = spec.integer("blockSize")
    nhwc = spec.text("dataFormat", "NHWC") == "NHWC"  # DL4J's default for this layer, unlike the others
    c, h, w = (shape[3], shape[1], shape[2]) if nhwc else (shape[1], shape[2], shape[3])
    if h is None or w is None or c is None:
        raise spec.error("a space-to-depth of an input of unknown height or width: give its shape (--input-shape)")
    if h % block or w % block:
        raise spec.error(f"a space-to-depth by {block} of a {h} x {w} input: not a whole number of blocks")
    hb, wb = h // block, w // block
    if nhwc:
        split, dims, merged = (hb, block, wb, block, c), (1, 3, 2, 4, 5), (hb, wb, block * block * c)
    else:
        split, dims, merged = (c, hb, block, wb, block), (3, 5, 1, 2, 4), (block * block * c, hb, wb)
    return [(f"{spec.name}_blocks", core.Reshape(target_shape=split), {}),
            (f"{spec.name}_permute", core.Permute(dims=dims), {}),
            (spec.name, core.Reshape(target_shape=merged), {})]


def _batch_moving(spec: LayerSpec) -> KConvertError:
    return spec.error("SpaceToBatchLayer moves image blocks into the batch axis, and kconvert's models compute "
                      "each sample on its own: not supported")


@dl4j_layer("SpaceToBatchLayer")
def space_to_batch(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    raise _batch_moving(spec)


@first_layer_input("SpaceToBatchLayer")
def space_to_batch_input(spec: LayerSpec) -> Shape:
    raise _batch_moving(spec)
