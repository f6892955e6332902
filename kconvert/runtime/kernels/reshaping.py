"""Kernels for cropping, zero-padding and up-sampling."""

from __future__ import annotations

from kconvert.runtime.kernels.conv import from_channels_last, to_channels_last
from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import Invocation, kernel


@kernel("Cropping1D", "Cropping2D", "Cropping3D")
def cropping(step: Invocation) -> list[tf.Tensor]:
    c = step.config
    x = to_channels_last(step.x, c.data_format)
    slices = [slice(None)] + [slice(a, -b if b else None) for a, b in c.cropping]  # sizes may be unknown
    return [from_channels_last(x[tuple(slices)], c.data_format)]


@kernel("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")
def zero_padding(step: Invocation) -> list[tf.Tensor]:
    c = step.config
    x = to_channels_last(step.x, c.data_format)
    return [from_channels_last(tf.pad(x, [[0, 0], *[list(p) for p in c.padding], [0, 0]]), c.data_format)]


@kernel("UpSampling1D", "UpSampling2D", "UpSampling3D")
def upsampling(step: Invocation) -> list[tf.Tensor]:
    c = step.config
    x = to_channels_last(step.x, c.data_format)
    if c.interpolation == "bilinear":
        size = [n * s for n, s in zip(x.shape[1:-1], c.size)]
        y = tf.cast(tf.image.resize(x, size, method="bilinear"), x.dtype)
    else:
        y = x
        for axis, times in enumerate(c.size, start=1):
            y = tf.repeat(y, times, axis=axis)
    return [from_channels_last(y, c.data_format)]
