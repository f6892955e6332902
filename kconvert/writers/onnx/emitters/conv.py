"""Convolutions and pooling, run channels-first as ONNX defines them.

Keras's ``same`` padding puts the odd pixel at the end (ONNX's SAME_UPPER); it is written as explicit
pads where the input size is known and as ``auto_pad`` where it is not.  ``causal`` pads the start
only.  Average pooling divides by the number of input values in each window (``count_include_pad=0``),
as Keras does at the padded edges.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import TensorProto

from kconvert.ir.weights import Weight
from kconvert.writers.onnx.emit import Emit, emits
from kconvert.writers.onnx.graph import Value, channels_first, identity


def spatial_sizes(em: Emit) -> tuple[int | None, ...]:
    shape, c = em.shapes[0], em.config
    return tuple(shape[2:]) if c.data_format == "channels_first" else tuple(shape[1:-1])


def padding(em: Emit, window: tuple[int, ...], strides: tuple[int, ...], dilations: tuple[int, ...],
            sizes: tuple[int | None, ...] | None = None, mode: str | None = None) -> dict[str, Any]:
    """The pads (or auto_pad) of Keras's ``padding`` (``mode``, default the layer's) for a window
    over ``sizes`` (default: the input's spatial sizes)."""
    mode = mode or em.config.padding
    spans = [(k - 1) * d + 1 for k, d in zip(window, dilations)]
    if mode == "valid":
        return {"pads": [0] * (2 * len(window))}
    if mode == "causal":
        return {"pads": [s - 1 for s in spans] + [0] * len(spans)}
    sizes = sizes if sizes is not None else spatial_sizes(em)
    if any(n is None for n in sizes) and any(s != 1 for s in strides):
        return {"auto_pad": "SAME_UPPER"}
    totals = [max(span - s, 0) if s == 1 else max((-(-n // s) - 1) * s + span - n, 0)  # type: ignore[operator]
              for n, s, span in zip(sizes, strides, spans)]
    return {"pads": [t // 2 for t in totals] + [t - t // 2 for t in totals]}


def out_layout(em: Emit) -> tuple[int, ...]:
    """The layout a window layer's output has: channels-first (as ONNX computes it)."""
    rank = len(em.outputs[0])
    return identity(rank) if em.config.data_format == "channels_first" else channels_first(rank)


def onnx_kernel(kernel: Weight) -> Weight:
    """(spatial..., in, out) -> (out, in, spatial...)."""
    r = len(kernel.shape) - 2
    return kernel.transpose((r + 1, r, *range(r)))


def windowed(em: Emit, op: str, inputs: list[str], window: tuple[int, ...], **attributes: Any) -> str:
    c = em.config
    return em.op(op, inputs, kernel_shape=list(window), strides=list(c.strides),
                 **padding(em, window, c.strides, getattr(c, "dilation_rate", (1,) * len(window))), **attributes)


def depthwise_kernel(kernel: Weight) -> Weight:
    """(spatial..., in, multiplier) -> (in * multiplier, 1, spatial...): output channel c * m + j."""
    *spatial, channels, multiplier = kernel.shape
    r = len(spatial)
    flat = kernel.reshape((*spatial, channels * multiplier)).transpose((r, *range(r)))
    return flat.reshape((channels * multiplier, 1, *spatial))


@emits("Conv1D", "Conv2D", "Conv3D")
def conv(em: Emit) -> list[Value]:
    c, w = em.config, em.weights()
    x = em.spatial_input()
    inputs = [x.name, em.weight("kernel", onnx_kernel(w["kernel"]))]
    if c.use_bias:
        inputs.append(em.weight("bias", w["bias"]))
    y = windowed(em, "Conv", inputs, c.kernel_size, dilations=list(c.dilation_rate), group=c.groups)
    return [em.activation(Value(y, x.perm), c.activation)]


@emits("DepthwiseConv1D", "DepthwiseConv2D")
def depthwise(em: Emit) -> list[Value]:
    c, w = em.config, em.weights()
    x = em.spatial_input()
    kernel = w["depthwise_kernel"]
    inputs = [x.name, em.weight("kernel", depthwise_kernel(kernel))]
    if c.use_bias:
        inputs.append(em.weight("bias", w["bias"]))
    y = windowed(em, "Conv", inputs, c.kernel_size, dilations=list(c.dilation_rate), group=kernel.shape[-2])
    return [em.activation(Value(y, x.perm), c.activation)]


@emits("SeparableConv1D", "SeparableConv2D")
def separable(em: Emit) -> list[Value]:
    """A depthwise convolution, then a pointwise one with the bias."""
    c, w = em.config, em.weights()
    x = em.spatial_input()
    kernel = w["depthwise_kernel"]
    depthwise_out = windowed(em, "Conv", [x.name, em.weight("depthwise_kernel", depthwise_kernel(kernel))],
                             c.kernel_size, dilations=list(c.dilation_rate), group=kernel.shape[-2])
    inputs = [depthwise_out, em.weight("pointwise_kernel", onnx_kernel(w["pointwise_kernel"]))]
    if c.use_bias:
        inputs.append(em.weight("bias", w["bias"]))
    y = em.op("Conv", inputs, kernel_shape=[1] * c.rank)
    return [em.activation(Value(y, x.perm), c.activation)]


def transpose_crop(padding: str, span: int, stride: int, output_padding: int | None) -> int:
    """How much of the full transposed convolution (``stride * (in - 1) + span`` long) Keras's output
    leaves out: TensorFlow's padding of the convolution it is the gradient of, ``2 * (span // 2) -
    output_padding`` (same) or ``-output_padding`` (valid) with an ``output_padding``, else ``span -
    stride`` (same) or ``min(span - stride, 0)`` (valid) -- whatever the input's length.  Negative:
    the output runs that far past the full one (zeros the kernel never reached)."""
    if output_padding is None:
        return span - stride if padding == "same" else min(span - stride, 0)
    return (2 * (span // 2) if padding == "same" else 0) - output_padding


@emits("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def conv_transpose(em: Emit) -> list[Value]:
    """ONNX's output is ``s (in - 1) + span + output_padding - pads``: TensorFlow crops the full
    output as its forward convolution pads (the odd value at the end), and an output longer than
    the full one is ONNX's ``output_padding``."""
    c, w = em.config, em.weights()
    x = em.spatial_input()
    kernel = w["kernel"]  # (spatial..., out, in) -> (in, out, spatial...)
    r = c.rank
    inputs = [x.name, em.weight("kernel", kernel.transpose((r + 1, r, *range(r))))]
    if c.use_bias:
        inputs.append(em.weight("bias", w["bias"]))
    spans = [(k - 1) * d + 1 for k, d in zip(c.kernel_size, c.dilation_rate)]
    extra = c.output_padding or (None,) * r
    crops = [transpose_crop(c.padding, span, s, p) for span, s, p in zip(spans, c.strides, extra)]
    begins = [max(t, 0) // 2 for t in crops]
    y = em.op("ConvTranspose", inputs, kernel_shape=list(c.kernel_size), strides=list(c.strides),
              dilations=list(c.dilation_rate), pads=begins + [max(t, 0) - b for t, b in zip(crops, begins)],
              output_padding=[max(-t, 0) for t in crops])
    return [em.activation(Value(y, x.perm), c.activation)]


@emits("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D")
def pooling(em: Emit) -> list[Value]:
    c = em.config
    x = em.spatial_input()
    if c.reduction == "max":
        y = windowed(em, "MaxPool", [x.name], c.pool_size)
    else:
        y = windowed(em, "AveragePool", [x.name], c.pool_size, count_include_pad=0)
    return [Value(y, x.perm)]


@emits("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D", "GlobalAveragePooling1D",
       "GlobalAveragePooling2D", "GlobalAveragePooling3D")
def global_pooling(em: Emit) -> list[Value]:
    """A reduction over the spatial axes, wherever the input's layout has them: (batch, channels) out,
    or with ``keepdims`` the input's rank and layout with spatial sizes 1."""
    c, x = em.config, em.values[0]
    if em.mask(0) is not None and c.reduction != "max" and x.rank == 3:
        return [_masked_mean(em)]
    channel = 1 if c.data_format == "channels_first" else x.rank - 1
    spatial = sorted(x.axis(a) for a in range(1, x.rank) if a != channel)
    op = "ReduceMax" if c.reduction == "max" else "ReduceMean"
    y = em.graph.reduce(op, x.name, spatial, em.base, keepdims=c.keepdims)
    return [Value(y, x.perm if c.keepdims else (0, 1))]


def _masked_mean(em: Emit) -> Value:
    """Keras's 1-D average over the steps its mask keeps: ``sum(x * mask) / sum(mask)``."""
    c = em.config
    perm = (0, 2, 1) if c.data_format == "channels_first" else (0, 1, 2)  # (batch, steps, channels) either way
    x = em.input(0, perm)
    weights = em.op("Unsqueeze", [em.op("Cast", [em.mask(0).name], to=TensorProto.FLOAT),
                                  em.const([2], np.int64)])
    total = em.graph.reduce("ReduceSum", em.op("Mul", [x.name, weights]), [1], em.base, keepdims=c.keepdims)
    count = em.graph.reduce("ReduceSum", weights, [1], em.base, keepdims=c.keepdims)
    return Value(em.op("Div", [total, count]), perm if c.keepdims else (0, 1))


@emits("LocallyConnected1D", "LocallyConnected2D")
def locally_connected(em: Emit) -> list[Value]:
    """Every output position's window gathered (one Gather per spatial axis, with the indices
    ``position * stride + offset``), laid out (positions, batch, window) in the axis order the kernel
    flattens it in, and multiplied by that position's kernel in one batched MatMul."""
    c, w = em.config, em.weights()
    x = em.input(0)  # the source's layout: the window is flattened in it
    rank = c.rank
    first = c.data_format == "channels_first"
    labels: list[tuple[str, int]] = [("batch", 0), ("channels", 0)] if first else [("batch", 0)]
    labels += [("spatial", d) for d in range(rank)] + ([] if first else [("channels", 0)])
    sizes = em.known(spatial_sizes(em), "spatial input size")
    outs = [(n - k) // s + 1 for n, k, s in zip(sizes, c.kernel_size, c.strides)]
    y = x.name
    for d in range(rank):
        axis = labels.index(("spatial", d))
        indices = np.arange(outs[d])[:, None] * c.strides[d] + np.arange(c.kernel_size[d])[None, :]
        y = em.op("Gather", [y, em.const(indices, np.int64)], axis=axis)
        labels[axis:axis + 1] = [("out", d), ("window", d)]
    window = [label for label in labels if label[0] in ("window", "channels")]
    order = [("out", d) for d in range(rank)] + [("batch", 0)] + window
    y = em.op("Transpose", [y], perm=[labels.index(label) for label in order])
    kernel = w["kernel"]  # (positions, window, filters)
    positions, width, filters = kernel.shape
    y = em.op("Reshape", [y, em.const([positions, -1, width], np.int64)])
    y = em.op("MatMul", [y, em.weight("kernel", kernel)])
    if c.use_bias:  # (out..., filters); channels_first Keras reads its bytes as (filters, out...)
        bias = w["bias"].reshape((filters, positions)).transpose((1, 0)) if first else \
            w["bias"].reshape((positions, filters))
        y = em.op("Add", [y, em.weight("bias", bias.reshape((positions, 1, filters)))])
    y = em.op("Reshape", [y, em.const([*outs, -1, filters], np.int64)])
    perm = (*range(2, rank + 2), 0, 1) if first else (*range(1, rank + 1), 0, rank + 1)
    return [em.activation(Value(y, perm), c.activation)]
