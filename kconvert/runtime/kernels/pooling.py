"""Kernels for local and global pooling."""

from __future__ import annotations

from kconvert.runtime.kernels.conv import from_channels_last, to_channels_last
from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import Invocation, kernel


@kernel("MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D", "AveragePooling3D")
def pooling(step: Invocation) -> list[tf.Tensor]:
    """TensorFlow's 'SAME' average pooling divides by the valid cells only, as Keras does.  Like
    Keras, ``max_pool``/``avg_pool``, not ``tf.nn.pool``: it refuses strides larger than the window
    (``MaxPooling2D(1, strides=2)`` in ResNet50V2)."""
    c = step.config
    x = to_channels_last(step.x, c.data_format)
    pool = tf.nn.max_pool if c.reduction == "max" else tf.nn.avg_pool
    y = pool(x, ksize=list(c.pool_size), strides=list(c.strides), padding=c.padding.upper())
    return [from_channels_last(y, c.data_format)]


@kernel("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
        "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D")
def global_pooling(step: Invocation) -> list[tf.Tensor]:
    """Over all spatial axes; a 1-D average honours the timestep mask as Keras does."""
    c = step.config
    x = to_channels_last(step.x, c.data_format)
    axes = list(range(1, x.shape.rank - 1))
    if c.reduction == "max":
        y = tf.reduce_max(x, axis=axes, keepdims=c.keepdims)
    elif step.mask is not None and x.shape.rank == 3:
        weights = tf.cast(step.mask, x.dtype)[..., None]
        y = tf.reduce_sum(x * weights, axis=1, keepdims=c.keepdims) / tf.reduce_sum(
            weights, axis=1, keepdims=c.keepdims)
    else:
        y = tf.reduce_mean(x, axis=axes, keepdims=c.keepdims)
    return [from_channels_last(y, c.data_format) if c.keepdims else y]
