"""Kernels for activation layers, following Keras's exact sequence of operations."""

from __future__ import annotations

from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import Invocation, kernel


def keras_relu(x: tf.Tensor, negative_slope: float = 0.0, max_value: float | None = None,
               threshold: float = 0.0) -> tf.Tensor:
    """Keras's ``relu(x, negative_slope, max_value, threshold)``, step for step (edge cases included).

    Like Keras, a cap of exactly 6 without threshold is TensorFlow's fused ``relu6`` (the same
    values as relu then clip); other caps clip against scalars, never against full-size tensors
    of zeros and of the cap, which would cost two extra activations' worth of memory traffic.
    """
    if negative_slope != 0.0 and max_value is None and threshold == 0.0:
        return tf.nn.leaky_relu(x, alpha=negative_slope)
    negative = tf.nn.relu(-x + threshold) if negative_slope != 0.0 else None
    if threshold != 0.0:
        y = x * tf.cast(x > threshold, x.dtype)
    elif max_value == 6:
        y, max_value = tf.nn.relu6(x), None
    else:
        y = tf.nn.relu(x)
    if max_value is not None:
        y = tf.clip_by_value(y, tf.constant(0, x.dtype), tf.constant(max_value, x.dtype))
    if negative is not None:
        y = y - negative_slope * negative
    return y


@kernel("ReLU")
def relu(step: Invocation) -> list[tf.Tensor]:
    c = step.config
    return [keras_relu(step.x, c.negative_slope, c.max_value, c.threshold)]


@kernel("LeakyReLU")
def leaky_relu(step: Invocation) -> list[tf.Tensor]:
    return [tf.nn.leaky_relu(step.x, alpha=step.config.negative_slope)]


@kernel("ELU")
def elu(step: Invocation) -> list[tf.Tensor]:
    x = step.x
    return [tf.where(x > 0, x, step.config.alpha * (tf.exp(x) - 1.0))]


@kernel("ThresholdedReLU")
def thresholded_relu(step: Invocation) -> list[tf.Tensor]:
    return [step.x * tf.cast(step.x > step.config.theta, step.x.dtype)]


@kernel("Softmax")
def softmax(step: Invocation) -> list[tf.Tensor]:
    axis = step.config.axis
    if isinstance(axis, int):
        return [tf.nn.softmax(step.x, axis=axis)]
    return [tf.exp(step.x - tf.reduce_logsumexp(step.x, axis=list(axis), keepdims=True))]


@kernel("PReLU")
def prelu(step: Invocation) -> list[tf.Tensor]:
    return [tf.nn.relu(step.x) - step.w("alpha") * tf.nn.relu(-step.x)]


@kernel("ParametricSoftplus")
def parametric_softplus(step: Invocation) -> list[tf.Tensor]:
    return [tf.nn.softplus(step.w("beta") * step.x) * step.w("alpha")]


@kernel("SReLU")
def srelu(step: Invocation) -> list[tf.Tensor]:
    t_left, a_left = step.w("t_left"), step.w("a_left")
    t_right = t_left + tf.abs(step.w("t_right"))
    x = step.x
    left_and_center = t_left + keras_relu_tensor_slope(x - t_left, a_left, t_right - t_left)
    return [left_and_center + tf.nn.relu(x - t_right) * step.w("a_right")]


def keras_relu_tensor_slope(x: tf.Tensor, slope: tf.Tensor, max_value: tf.Tensor) -> tf.Tensor:
    """Keras 1 ``K.relu(x, alpha, max_value)`` with per-unit tensors for alpha and max_value."""
    return tf.minimum(tf.nn.relu(x), tf.maximum(max_value, 0.0)) - slope * tf.nn.relu(-x)
