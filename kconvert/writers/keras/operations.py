"""Functional operations (kconvert.ir.layers.ops) written as Keras 3 records them: graph nodes of
``keras.src.ops`` classes whose constants sit among the call's arguments.

Keras 3 loads these in ``safe_mode`` (its own classes); a Sequential cannot hold them, and the
tf.keras 2 dialect (legacy HDF5, TF.js) has no safe spelling for them (``TFOpLambda`` names a
TensorFlow function), so there they are refused, naming the layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from kconvert.formats.keras3 import OPERATION_PACKAGE
from kconvert.ir.graph import Layer

#: the placeholder for a tensor argument in :attr:`Operation.args`
TENSOR = "__tensor__"


@dataclass
class Operation:
    """One Keras 3 operation node: its class, constructor config and call arguments."""

    module: str
    class_name: str
    config: dict[str, Any] = field(default_factory=dict)
    args: list[Any] = field(default_factory=lambda: [TENSOR])


_NUMPY, _NN, _CORE = (f"{OPERATION_PACKAGE}.{name}" for name in ("numpy", "nn", "core"))
_BINARY = {"add": "Add", "subtract": "Subtract", "multiply": "Multiply", "divide": "TrueDivide",
           "maximum": "Maximum", "minimum": "Minimum", "power": "Power"}
_UNARY = {"relu": (_NN, "Relu"), "relu6": (_NN, "Relu6"), "sigmoid": (_NN, "Sigmoid"),
          "hard_sigmoid_relu6": (_NN, "HardSigmoid"), "hard_silu": (_NN, "HardSilu"), "silu": (_NN, "Silu"),
          "tanh": (_NUMPY, "Tanh"), "exp": (_NUMPY, "Exp"), "sqrt": (_NUMPY, "Sqrt"), "square": (_NUMPY, "Square"),
          "abs": (_NUMPY, "Absolute"), "negative": (_NUMPY, "Negative")}
_REDUCE = {"mean": "Mean", "sum": "Sum", "max": "Max", "min": "Min"}


def _binary(layer: Layer) -> Operation:
    c = layer.config
    args: list[Any] = [TENSOR, TENSOR] if c.constant is None else (
        [c.constant, TENSOR] if c.constant_first else [TENSOR, c.constant])
    return Operation(_NUMPY, _BINARY[c.op], args=args)


def _unary(layer: Layer) -> Operation:
    if layer.config.op == "cast":
        return Operation(_CORE, "Cast", {"dtype": "float32"})
    module, class_name = _UNARY[layer.config.op]
    return Operation(module, class_name)


def _reduce(layer: Layer) -> Operation:
    c = layer.config
    config: dict[str, Any] = {"axis": list(c.axis), "keepdims": c.keepdims}
    if c.op in ("max", "min"):
        config["initial"] = None
    return Operation(_NUMPY, _REDUCE[c.op], config)


def _item(item: Any) -> Any:
    if item.what == "index":
        return item.start
    if item.what == "slice":
        return {"class_name": "__slice__", "config": {"start": item.start, "stop": item.stop, "step": item.step}}
    return None if item.what == "newaxis" else {"class_name": "__ellipsis__", "config": {}}


OPERATIONS: dict[str, Callable[[Layer], Operation]] = {
    "BinaryOp": _binary,
    "UnaryOp": _unary,
    "Reduce": _reduce,
    "ExpandDims": lambda layer: Operation(_NUMPY, "ExpandDims", {"axis": list(layer.config.axis)}),
    "Squeeze": lambda layer: Operation(_NUMPY, "Squeeze", {"axis": list(layer.config.axis)}),
    "Cumsum": lambda layer: Operation(_NUMPY, "Cumsum", {"axis": layer.config.axis, "dtype": None}),
    "GetItem": lambda layer: Operation(_NUMPY, "GetItem", args=[TENSOR, [_item(i) for i in layer.config.items]]),
}


def operation_args(args: list[Any], tensors: list[Any]) -> list[Any]:
    """The call's arguments with each TENSOR placeholder replaced by the next tensor."""
    rest = iter(tensors)
    return [next(rest) if a == TENSOR else a for a in args]
