"""Kernels for the functional operations Keras records in graphs (kconvert.ir.layers.ops)."""

from __future__ import annotations

from typing import Any, Callable

from kconvert.runtime.activations import activation
from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import Invocation, kernel

_BINARY: dict[str, Callable[[tf.Tensor, tf.Tensor], tf.Tensor]] = {
    "add": tf.add, "subtract": tf.subtract, "multiply": tf.multiply, "divide": tf.math.truediv,
    "maximum": tf.maximum, "minimum": tf.minimum, "power": tf.pow,
}
_UNARY: dict[str, Callable[[tf.Tensor], tf.Tensor]] = {
    "relu": activation("relu"), "relu6": activation("relu6"), "sigmoid": activation("sigmoid"),
    "hard_sigmoid_relu6": activation("hard_sigmoid_relu6"), "hard_silu": activation("hard_silu"),
    "silu": activation("silu"), "tanh": tf.tanh, "exp": tf.exp, "sqrt": tf.sqrt, "square": tf.square,
    "abs": tf.abs, "negative": tf.negative, "cast": tf.identity,  # inputs arrive in the compute dtype
}
_REDUCE: dict[str, Callable[..., tf.Tensor]] = {
    "mean": tf.reduce_mean, "sum": tf.reduce_sum, "max": tf.reduce_max, "min": tf.reduce_min,
}


@kernel("BinaryOp")
def binary_op(step: Invocation) -> list[tf.Tensor]:
    c = step.config
    fn = _BINARY[c.op]
    if c.constant is None:
        return [fn(step.inputs[0], step.inputs[1])]
    constant = tf.constant(c.constant, step.x.dtype)
    return [fn(constant, step.x) if c.constant_first else fn(step.x, constant)]


@kernel("UnaryOp")
def unary_op(step: Invocation) -> list[tf.Tensor]:
    return [_UNARY[step.config.op](step.x)]


@kernel("Reduce")
def reduce_op(step: Invocation) -> list[tf.Tensor]:
    return [_REDUCE[step.config.op](step.x, axis=list(step.config.axis), keepdims=step.config.keepdims)]


@kernel("ExpandDims")
def expand_dims(step: Invocation) -> list[tf.Tensor]:
    x = step.x
    rank = x.shape.rank + len(step.config.axis)
    for axis in sorted(a % rank for a in step.config.axis):
        x = tf.expand_dims(x, axis)
    return [x]


@kernel("Squeeze")
def squeeze(step: Invocation) -> list[tf.Tensor]:
    return [tf.squeeze(step.x, axis=list(step.config.axis))]


@kernel("Cumsum")
def cumsum(step: Invocation) -> list[tf.Tensor]:
    return [tf.cumsum(step.x, axis=step.config.axis)]


@kernel("GetItem")
def get_item(step: Invocation) -> list[tf.Tensor]:
    key: list[Any] = []
    for item in step.config.items:
        if item.what == "index":
            key.append(item.start)
        elif item.what == "slice":
            key.append(slice(item.start, item.stop, item.step))
        else:
            key.append(tf.newaxis if item.what == "newaxis" else Ellipsis)
    return [step.x[tuple(key)]]
