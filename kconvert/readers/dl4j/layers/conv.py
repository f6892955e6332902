"""Converters for DL4J's convolution and pooling layers (NCHW unless a layer says NHWC)."""

from __future__ import annotations

import numpy as np

from kconvert.ir.layers import conv, pooling
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


def _data_format(spec: LayerSpec) -> str:
    return "channels_last" if spec.channels_last() else "channels_first"


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
        entry = (spec.name, conv.Conv1D(**common), weights)
        return transposed(spec.name, [entry]) if spec.rnn_format() == "NCW" else [entry]
    return [(spec.name, (conv.Conv2D if rank == 2 else conv.Conv3D)(**common, data_format=_data_format(spec)),
             weights)]


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
    return [(spec.name, config, weights)]


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
    rank = _POOLING_RANKS[spec.cls]
    kind = spec.text("poolingType", "MAX").upper()
    if kind not in ("MAX", "AVG"):
        raise spec.error(f"{kind} pooling: not supported")
    if kind == "AVG" and spec.flag("avgPoolIncludePadInDivisor", True) and spec.get("convolutionMode") == "Same":
        raise spec.error("average pooling counting padding in its divisor: not supported")
    args = {"pool_size": spec.integers("kernelSize")[:rank], **spec.window(rank)}
    config = _POOLINGS[rank, kind](**args, **({} if rank == 1 else {"data_format": _data_format(spec)}))
    entry: list[Entry] = [(spec.name, config, {})]
    return transposed(spec.name, entry) if rank == 1 and spec.rnn_format() == "NCW" else entry


@dl4j_layer("GlobalPoolingLayer")
def global_pooling(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    kind = spec.text("poolingType", "MAX").upper()
    if kind not in ("MAX", "AVG"):
        raise spec.error(f"global {kind} pooling: not supported")
    if not spec.flag("collapseDimensions", True):
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
