"""Kernels for the image preprocessing layers Keras saves inside models."""

from __future__ import annotations

from kconvert.runtime.kernels.conv import from_channels_last, to_channels_last
from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import Invocation, kernel


@kernel("Resizing")
def resizing(step: Invocation) -> list[tf.Tensor]:
    c = step.config
    x = to_channels_last(step.x, c.data_format)
    top, left, rows, cols = c.crop_window(x.shape[1], x.shape[2])
    x = x[:, top:top + rows, left:left + cols, :]
    y = tf.image.resize(x, [c.height, c.width], method=c.interpolation, antialias=c.antialias)
    return [from_channels_last(tf.cast(y, step.x.dtype), c.data_format)]


@kernel("CenterCrop")
def center_crop(step: Invocation) -> list[tf.Tensor]:
    c = step.config
    x = to_channels_last(step.x, c.data_format)
    top, left = (x.shape[1] - c.height) // 2, (x.shape[2] - c.width) // 2
    return [from_channels_last(x[:, top:top + c.height, left:left + c.width, :], c.data_format)]
