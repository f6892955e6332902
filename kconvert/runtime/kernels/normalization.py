"""Kernels for normalisation layers (inference mode: moving statistics)."""

from __future__ import annotations

from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import Invocation, kernel


def normalize(x: tf.Tensor, mean: tf.Tensor, variance: tf.Tensor, beta: tf.Tensor | None,
              gamma: tf.Tensor | None, epsilon: float) -> tf.Tensor:
    """``gamma * (x - mean) / sqrt(variance + epsilon) + beta``, in the order Keras computes it.

    Written out rather than through tf.nn.batch_normalization, which graph rewrites may fuse into
    a kernel that accepts only per-channel parameters.
    """
    inv = tf.math.rsqrt(variance + epsilon)
    if gamma is not None:
        inv = inv * gamma
    offset = -mean * inv
    if beta is not None:
        offset = offset + beta
    return x * inv + offset


def _param_shape(rank: int, axes: tuple[int, ...], x: tf.Tensor) -> list[int]:
    """The broadcast shape of a per-feature parameter over the normalised axes."""
    norm = {a % rank for a in axes}
    return [x.shape[i] if i in norm else 1 for i in range(rank)]


@kernel("BatchNormalization")
def batch_normalization(step: Invocation) -> list[tf.Tensor]:
    x, c = step.x, step.config
    shape = _param_shape(x.shape.rank, c.axis, x)

    def param(name: str) -> tf.Tensor | None:
        return tf.reshape(step.w(name), shape) if step.has(name) else None

    return [normalize(x, param("moving_mean"), param("moving_variance"), param("beta"), param("gamma"), c.epsilon)]


@kernel("LayerNormalization")
def layer_normalization(step: Invocation) -> list[tf.Tensor]:
    x, c = step.x, step.config
    axes = [a % x.shape.rank for a in c.axis]
    shape = _param_shape(x.shape.rank, c.axis, x)
    gamma = tf.reshape(step.w("gamma"), shape) if step.has("gamma") else None
    mean, variance = tf.nn.moments(x, axes=axes, keepdims=True)
    if c.rms_scaling:  # scaled by the variance, not centred (see the IR kind)
        y = x * tf.math.rsqrt(variance + c.epsilon)
        return [y * gamma if gamma is not None else y]
    beta = tf.reshape(step.w("beta"), shape) if step.has("beta") else None
    return [normalize(x, mean, variance, beta, gamma, c.epsilon)]


#: Keras's backend epsilon, the floor of a Normalization layer's standard deviation
KERAS_EPSILON = 1e-7


@kernel("Normalization")
def normalization(step: Invocation) -> list[tf.Tensor]:
    x, c = step.x, step.config
    rank = x.shape.rank
    kept = sorted(a % rank for a in c.axis)
    shape = [x.shape[i] if i in kept else 1 for i in range(rank)]

    def statistic(name: str) -> tf.Tensor:
        value = step.w(name) if getattr(c, name) is None else tf.constant(getattr(c, name), step.dtype)
        return tf.reshape(value, shape if value.shape.num_elements() != 1 else [])

    mean = statistic("mean")
    std = tf.maximum(tf.sqrt(statistic("variance")), tf.cast(KERAS_EPSILON, step.dtype))
    return [mean + x * std if c.invert else (x - mean) / std]


@kernel("GroupNormalization")
def group_normalization(step: Invocation) -> list[tf.Tensor]:
    """Channels split into (groups, channels per group) at ``axis``, as Keras reshapes them."""
    x, c = step.x, step.config
    rank = x.shape.rank
    axis = c.axis % rank
    channels = x.shape[axis]
    dynamic = tf.shape(x)
    grouped_shape = [dynamic[i] for i in range(axis)] + [c.groups, channels // c.groups] + [
        dynamic[i] for i in range(axis + 1, rank)]
    grouped = tf.reshape(x, tf.stack(grouped_shape))
    reduce = [i for i in range(1, rank + 1) if i != axis]
    mean, variance = tf.nn.moments(grouped, axes=reduce, keepdims=True)
    shape = [1] * (rank + 1)
    shape[axis], shape[axis + 1] = c.groups, channels // c.groups
    gamma = tf.reshape(step.w("gamma"), shape) if step.has("gamma") else None
    beta = tf.reshape(step.w("beta"), shape) if step.has("beta") else None
    out = normalize(grouped, mean, variance, beta, gamma, c.epsilon)
    return [tf.reshape(out, dynamic)]


@kernel("UnitNormalization")
def unit_normalization(step: Invocation) -> list[tf.Tensor]:
    x, c = step.x, step.config
    squares = tf.reduce_sum(tf.square(x), axis=list(c.axis), keepdims=True)
    return [x * tf.math.rsqrt(tf.maximum(squares, tf.cast(c.floor, x.dtype)))]
