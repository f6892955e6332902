"""TensorFlow implementations of the IR's activation functions (kconvert.ir.values.ACTIVATIONS)."""

from __future__ import annotations

import math
from typing import Callable

from kconvert.runtime.quiet_start import tf


def _hard_sigmoid_relu6(x: tf.Tensor) -> tf.Tensor:
    return tf.nn.relu6(x + 3.0) / 6.0


def _selu(x: tf.Tensor) -> tf.Tensor:
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return scale * tf.where(x > 0, x, alpha * (tf.exp(x) - 1.0))


def _rational_tanh(y: tf.Tensor) -> tf.Tensor:
    return tf.sign(y) * (1.0 - 1.0 / (1.0 + tf.abs(y) + y * y + 1.41645 * y ** 4))


ACTIVATION_FNS: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "linear": lambda x: x,
    "relu": tf.nn.relu,
    "relu6": tf.nn.relu6,
    "leaky_relu": lambda x: tf.where(x > 0, x, 0.2 * x),
    "elu": lambda x: tf.where(x > 0, x, tf.exp(x) - 1.0),
    "selu": _selu,
    "sigmoid": tf.sigmoid,
    "hard_sigmoid": lambda x: tf.clip_by_value(0.2 * x + 0.5, 0.0, 1.0),
    "hard_sigmoid_relu6": _hard_sigmoid_relu6,
    "hard_silu": lambda x: x * _hard_sigmoid_relu6(x),
    "tanh": tf.tanh,
    "softmax": lambda x: tf.nn.softmax(x, axis=-1),
    "log_softmax": lambda x: tf.nn.log_softmax(x, axis=-1),
    "softplus": tf.nn.softplus,
    "softsign": tf.nn.softsign,
    "exponential": tf.exp,
    "silu": lambda x: x * tf.sigmoid(x),
    "gelu": lambda x: 0.5 * x * (1.0 + tf.math.erf(x / math.sqrt(2.0))),
    "gelu_tanh": lambda x: 0.5 * x * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3))),
    "gelu_sigmoid": lambda x: x * tf.sigmoid(1.702 * x),
    "dl4j_precise_gelu": lambda x: 0.5 * x * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + (0.044715 * x) ** 3))),
    "mish": lambda x: x * tf.tanh(tf.nn.softplus(x)),
    "log_sigmoid": lambda x: -tf.nn.softplus(-x),
    "hard_tanh": lambda x: tf.clip_by_value(x, -1.0, 1.0),
    "tanh_shrink": lambda x: x - tf.tanh(x),
    "cube": lambda x: x * x * x,
    "rectified_tanh": lambda x: tf.nn.relu(tf.tanh(x)),
    "dl4j_rational_tanh": lambda x: 1.7159 * _rational_tanh(2.0 / 3.0 * x),
}


def activation(name: str) -> Callable[[tf.Tensor], tf.Tensor]:
    return ACTIVATION_FNS[name]
