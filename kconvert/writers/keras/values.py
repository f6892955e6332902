"""IR values (activations, initializers, regularizers, constraints) in Keras's serialized form."""

from __future__ import annotations

from typing import Any

from kconvert.ir.values import Constraint, Initializer, Regularizer

#: IR activation -> its tf.keras 2 name; IR activations missing here have no tf.keras 2 spelling
KERAS2_ACTIVATIONS = {
    "linear": "linear", "relu": "relu", "relu6": "relu6", "elu": "elu", "selu": "selu", "sigmoid": "sigmoid",
    "hard_sigmoid": "hard_sigmoid", "tanh": "tanh", "softmax": "softmax", "log_softmax": "log_softmax",
    "softplus": "softplus", "softsign": "softsign", "exponential": "exponential", "silu": "swish",
    "gelu": "gelu", "mish": "mish",
}


def initializer(value: Initializer) -> dict[str, Any]:
    return {"class_name": value.name, "config": dict(value.config)}


def regularizer(value: Regularizer) -> dict[str, Any]:
    return {"class_name": value.name, "config": dict(value.config)}


def constraint(value: Constraint) -> dict[str, Any]:
    return {"class_name": value.name, "config": dict(value.config)}


#: the Keras argument prefix of each canonical weight name (kernel_initializer, recurrent_regularizer...)
WEIGHT_PREFIXES = {"recurrent_kernel": "recurrent", "depthwise_kernel": "depthwise", "pointwise_kernel": "pointwise"}
