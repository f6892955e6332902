"""Kernels for convolutions.

TensorFlow's CPU kernels only take channels-last activations, so channels-first layers transpose
around the operation.  Keras padding modes beyond TensorFlow's (``causal``, Keras 1 ``full``)
become explicit zero padding followed by a 'valid' convolution.
"""

from __future__ import annotations

from typing import Any, Callable

from kconvert.ir.shapes import deconv_output_length
from kconvert.runtime.activations import activation
from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import Invocation, kernel


def to_channels_last(x: tf.Tensor, data_format: str) -> tf.Tensor:
    if data_format == "channels_first":
        return tf.transpose(x, [0, *range(2, x.shape.rank), 1])
    return x


def from_channels_last(x: tf.Tensor, data_format: str) -> tf.Tensor:
    if data_format == "channels_first":
        return tf.transpose(x, [0, x.shape.rank - 1, *range(1, x.shape.rank - 1)])
    return x


def explicit_padding(x: tf.Tensor, c: Any) -> tuple[tf.Tensor, str]:
    """Pad channels-last ``x`` for paddings TensorFlow lacks; returns (x, TF padding string)."""
    spans = [(k - 1) * d for k, d in zip(c.kernel_size, c.dilation_rate)]
    if c.padding == "causal":
        return tf.pad(x, [[0, 0], [spans[0], 0], [0, 0]]), "VALID"
    if c.padding == "full":
        return tf.pad(x, [[0, 0], *[[s, s] for s in spans], [0, 0]]), "VALID"
    return x, c.padding.upper()


def finish(step: Invocation, y: tf.Tensor, bias: str = "bias") -> tf.Tensor:
    """Add the bias and the activation to a channels-last result and restore the data format."""
    c = step.config
    if c.use_bias:
        y = tf.nn.bias_add(y, step.w(bias))
    return from_channels_last(activation(c.activation)(y), c.data_format)


def _grouped(fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor], x: tf.Tensor, k: tf.Tensor, groups: int) -> tf.Tensor:
    if groups == 1:
        return fn(x, k)
    xs = tf.split(x, groups, axis=-1)
    ks = tf.split(k, groups, axis=-1)
    return tf.concat([fn(a, b) for a, b in zip(xs, ks)], axis=-1)


@kernel("Conv1D", "Conv2D", "Conv3D")
def conv(step: Invocation) -> list[tf.Tensor]:
    c = step.config
    x, padding = explicit_padding(to_channels_last(step.x, c.data_format), c)
    strides = c.strides
    if c.runs_at_stride_one:  # a stride with a dilation (DL4J's): TensorFlow takes neither with the other
        x, padding, strides = _for_stride_one(x, padding, c.kernel_size, c.strides, c.dilation_rate)
    y = _grouped(lambda a, k: tf.nn.convolution(a, k, strides=strides, padding=padding,
                                                 dilations=c.dilation_rate), x, step.w("kernel"), c.groups)
    return [finish(step, _every(y, c.strides) if c.runs_at_stride_one else y)]


@kernel("Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose")
def conv_transpose(step: Invocation) -> list[tf.Tensor]:
    c = step.config
    x = to_channels_last(step.x, c.data_format)
    pads = c.output_padding or (None,) * c.rank
    # sizes the model does not know (a DL4J network need not record them) are the input's, at run time
    sizes = [tf.shape(x)[i + 1] if n is None else n for i, n in enumerate(x.shape[1:-1])]
    spatial = [deconv_output_length(n, k, c.padding, s, p, d) for n, k, s, p, d in
               zip(sizes, c.kernel_size, c.strides, pads, c.dilation_rate)]
    out_shape = tf.stack([tf.shape(x)[0], *spatial, c.filters])
    y = tf.nn.conv_transpose(x, step.w("kernel"), out_shape, strides=c.strides, padding=c.padding.upper(),
                             dilations=c.dilation_rate)
    known = [n if isinstance(n, int) else None for n in spatial]
    return [finish(step, tf.ensure_shape(y, [None, *known, c.filters]))]


def _for_stride_one(x: tf.Tensor, padding: str, kernel_size: tuple[int, ...], strides: tuple[int, ...],
                    dilations: tuple[int, ...]) -> tuple[tf.Tensor, str, tuple[int, ...]]:
    """A window TensorFlow's kernel cannot stride (:attr:`runs_at_stride_one`) made one it runs at
    stride 1 (:func:`_every` then keeps its positions): channels-last ``x`` padded as 'same' pads it
    for the real strides (``ceil(n / s)`` positions per axis, the smaller half before), a 'valid'
    padding, unit strides."""
    if padding == "SAME":
        pads = [[0, 0]]
        for axis, (k, s, d) in enumerate(zip(kernel_size, strides, dilations), 1):
            n = tf.shape(x)[axis]
            total = tf.maximum((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
            pads.append([total // 2, total - total // 2])
        x = tf.pad(x, [*pads, [0, 0]])
    return x, "VALID", (1,) * len(strides)


def _every(y: tf.Tensor, strides: tuple[int, ...]) -> tf.Tensor:
    """Every stride-th position of channels-last ``y`` along each spatial axis."""
    return y[(slice(None), *(slice(None, None, s) for s in strides))]


def _depthwise(x: tf.Tensor, kernel_: tf.Tensor, c: Any) -> tf.Tensor:
    """Depthwise convolution of channels-last ``x``.

    A 1-D layer runs as 2-D over a height of 1 with its stride on both axes, as Keras runs it (over
    a height of 1 the row stride changes nothing).  Strides TensorFlow's CPU kernel lacks
    (``runs_at_stride_one``: DL4J's, or a layer Keras ran on a GPU) run at stride 1.
    """
    kernel_size, dilations = tuple(c.kernel_size), tuple(c.dilation_rate)
    strides = tuple(c.strides)
    if c.rank == 1:
        x, kernel_ = x[:, None], kernel_[None]
        kernel_size, strides, dilations = (1, *kernel_size), (strides[0], *strides), (1, *dilations)
    padding, run_strides = c.padding.upper(), strides
    if c.runs_at_stride_one:
        x, padding, run_strides = _for_stride_one(x, padding, kernel_size, strides, dilations)
    y = tf.nn.depthwise_conv2d(x, kernel_, strides=[1, *run_strides, 1], padding=padding, dilations=dilations)
    if c.runs_at_stride_one:
        y = _every(y, strides)
    return y[:, 0] if c.rank == 1 else y


@kernel("DepthwiseConv1D", "DepthwiseConv2D")
def depthwise_conv(step: Invocation) -> list[tf.Tensor]:
    c = step.config
    y = _depthwise(to_channels_last(step.x, c.data_format), step.w("depthwise_kernel"), c)
    return [finish(step, y)]


@kernel("SeparableConv1D", "SeparableConv2D")
def separable_conv(step: Invocation) -> list[tf.Tensor]:
    c = step.config
    y = _depthwise(to_channels_last(step.x, c.data_format), step.w("depthwise_kernel"), c)
    y = tf.nn.convolution(y, step.w("pointwise_kernel"), padding="VALID")
    return [finish(step, y)]


@kernel("LocallyConnected1D", "LocallyConnected2D")
def locally_connected(step: Invocation) -> list[tf.Tensor]:
    """Keras implementation 1: every output position has its own kernel over its window, which is
    flattened in the activations' axis order; a channels-first bias is laid out by reshaping."""
    c = step.config
    x = step.x
    channels_first = c.data_format == "channels_first"
    spatial_axes = list(range(2, x.shape.rank)) if channels_first else list(range(1, x.shape.rank - 1))
    out_spatial = c.output_shape(tuple(x.shape))
    out_spatial = [out_spatial[i] for i in spatial_axes]
    windows = []
    for index in _positions(out_spatial):
        slices = [slice(None)] * x.shape.rank
        for axis, i, k, s in zip(spatial_axes, index, c.kernel_size, c.strides):
            slices[axis] = slice(i * s, i * s + k)
        windows.append(tf.reshape(x[tuple(slices)], [tf.shape(x)[0], -1]))
    patches = tf.stack(windows)  # (positions, batch, window)
    y = tf.matmul(patches, step.w("kernel"))  # (positions, batch, filters)
    y = tf.reshape(y, [*out_spatial, -1, c.filters])
    rank = len(out_spatial)
    y = tf.transpose(y, [rank, *range(rank), rank + 1])  # (batch, *spatial, filters)
    if c.use_bias:
        bias = step.w("bias")
        if channels_first:
            y = from_channels_last(y, "channels_first") + tf.reshape(bias, [1, c.filters, *out_spatial])
            return [activation(c.activation)(y)]
        y = y + bias
    return [from_channels_last(activation(c.activation)(y), c.data_format)]


def _positions(sizes: list[int]) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = [()]
    for n in sizes:
        out = [p + (i,) for p in out for i in range(n)]
    return out
