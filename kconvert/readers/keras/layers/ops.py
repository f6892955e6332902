"""Converters for tensor operations recorded in functional graphs: Keras 3 ``keras.ops`` nodes
(``Add``, ``GetItem``, ``Mean``... with constants among the call's arguments) and tf.keras 2's
``TFOpLambda``/``SlicingOpLambda`` (a ``tf.*`` function name and its call keyword arguments).

Both are read onto the same IR kinds (:mod:`kconvert.ir.layers.ops`, and Reshape, Permute and
Concatenate where the batch axis is kept).  Everything is an explicit allowlist: a function name
is only looked up in the tables below, never imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import core, merge, ops
from kconvert.readers.keras.layer import Converted, KerasLayerConfig, keras_layer
from kconvert.readers.keras.model import is_constant_entry, is_tensor_entry, node_entries


class _Tensor:
    """Marks a tensor argument among a call's constants."""

    def __repr__(self) -> str:
        return "<tensor>"


TENSOR = _Tensor()


@dataclass
class OpCall:
    """The one call of an operation: its positional and keyword arguments, tensors as TENSOR,
    slices as ``slice``, ``...`` as Ellipsis."""

    args: list[Any]
    kwargs: dict[str, Any] = field(default_factory=dict)


def _single_node(cfg: KerasLayerConfig) -> Any:
    nodes = cfg.node.get("inbound_nodes")
    if not isinstance(nodes, list) or len(nodes) != 1:
        raise cfg.error("an operation must be called exactly once (Keras records one node per call)",
                        "inbound_nodes")
    return nodes[0]


def _keras3_value(cfg: KerasLayerConfig, value: Any) -> Any:
    if isinstance(value, dict):
        name = value.get("class_name")
        if name == "__keras_tensor__":
            return TENSOR
        config = value.get("config") if isinstance(value.get("config"), dict) else {}
        if name == "__slice__":
            return slice(*(_slice_bound(cfg, config.get(k)) for k in ("start", "stop", "step")))
        if name == "__ellipsis__":
            return Ellipsis
        raise cfg.error(f"unsupported call argument of class {name!r}", "inbound_nodes")
    if isinstance(value, list):
        return [_keras3_value(cfg, v) for v in value]
    return value


def _slice_bound(cfg: KerasLayerConfig, value: Any) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise cfg.error(f"a slice bound must be an integer or None, got {value!r}", "inbound_nodes")


def keras3_call(cfg: KerasLayerConfig) -> OpCall:
    """A Keras 3 node ``{"args": [...], "kwargs": {...}}``."""
    node = _single_node(cfg)
    if not isinstance(node, dict) or not isinstance(node.get("args", []), list) \
            or not isinstance(node.get("kwargs") or {}, dict):
        raise cfg.error("expected a Keras 3 call {'args', 'kwargs'}", "inbound_nodes")
    return OpCall([_keras3_value(cfg, a) for a in node.get("args") or []],
                  {k: _keras3_value(cfg, v) for k, v in (node.get("kwargs") or {}).items()})


def _tf_value(cfg: KerasLayerConfig, value: Any) -> Any:
    if is_tensor_entry(value):
        return TENSOR
    if isinstance(value, dict):
        if value.get("class_name") == "__ellipsis__":
            return Ellipsis
        if set(value) == {"start", "stop", "step"}:
            return slice(*(_slice_bound(cfg, value[k]) for k in ("start", "stop", "step")))
        raise cfg.error(f"unsupported call argument {value!r}", "inbound_nodes")
    if isinstance(value, list):
        return [_tf_value(cfg, v) for v in value]
    return value


def tf_call(cfg: KerasLayerConfig) -> OpCall:
    """A tf.keras 2 node ``[[layer, node, tensor, kwargs], ...]``: one entry per tensor of the first
    argument (``["_CONSTANT_VALUE", -1, value, kwargs]`` for a constant), keyword arguments in each."""
    node = _single_node(cfg)
    if not isinstance(node, list) or not node:
        raise cfg.error("expected a tf.keras call [[layer, node, tensor, kwargs], ...]", "inbound_nodes")
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for entry in node_entries(node):
        if not isinstance(entry, list) or len(entry) < 3:
            raise cfg.error(f"malformed call entry {entry!r}", "inbound_nodes")
        args.append(entry[2] if is_constant_entry(entry) else TENSOR)
        if len(entry) > 3 and isinstance(entry[3], dict):
            kwargs.update({k: _tf_value(cfg, v) for k, v in entry[3].items()})
    return OpCall(args, kwargs)


# -- shared builders ------------------------------------------------------------------------------

def _number(cfg: KerasLayerConfig, value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise cfg.error(f"{what} must be a tensor or a scalar number, got {value!r}", "inbound_nodes")
    try:
        return float(value)
    except OverflowError:  # an integer past the largest float
        raise cfg.error(f"{what} {value} is beyond the range of a float", "inbound_nodes") from None


def binary(cfg: KerasLayerConfig, op: str, x: Any, y: Any) -> ops.BinaryOp:
    if x is TENSOR and y is TENSOR:
        return ops.BinaryOp(op=op)
    if x is TENSOR:
        return ops.BinaryOp(op=op, constant=_number(cfg, y, "the second operand"))
    if y is TENSOR:
        return ops.BinaryOp(op=op, constant=_number(cfg, x, "the first operand"), constant_first=True)
    raise cfg.error("the operation has no tensor operand", "inbound_nodes")


def _axes(cfg: KerasLayerConfig, value: Any, what: str) -> tuple[int, ...]:
    values = value if isinstance(value, (list, tuple)) else [value]
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise cfg.error(f"{what} must be an integer or a list of integers, got {value!r} (an operation over "
                        "every axis, the batch included, is refused)", "axis")
    return tuple(values)


def reshape(cfg: KerasLayerConfig, shape: Any, key: str) -> core.Reshape:
    """A reshape that keeps the batch axis (``-1`` or ``None`` first) is the Reshape layer."""
    if not isinstance(shape, (list, tuple)) or not shape or shape[0] not in (-1, None) \
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape[1:]) or -1 in shape[1:]:
        raise cfg.error(f"only a reshape that keeps the batch axis first (-1, d1, d2...) is read, got {shape!r}", key)
    cfg.note("rewritten", "reshape operation read as a Reshape layer")
    return core.Reshape(target_shape=tuple(shape[1:]))


def transpose(cfg: KerasLayerConfig, axes: Any, key: str) -> core.Permute:
    """A transpose that keeps the batch axis first is the Permute layer."""
    if not isinstance(axes, (list, tuple)) or not axes or axes[0] != 0 \
            or sorted(axes) != list(range(len(axes))):
        raise cfg.error(f"only a transpose that keeps the batch axis first is read, got axes {axes!r}", key)
    cfg.note("rewritten", "transpose operation read as a Permute layer")
    return core.Permute(dims=tuple(axes[1:]))


def concatenate(cfg: KerasLayerConfig, axis: Any) -> merge.Concatenate:
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise cfg.error(f"axis must be an integer, got {axis!r}", "axis")
    cfg.note("rewritten", "concatenate operation read as a Concatenate layer")
    return merge.Concatenate(axis=axis)


def get_item(cfg: KerasLayerConfig, key: Any) -> ops.GetItem:
    items = key if isinstance(key, (list, tuple)) else [key]
    out = []
    for item in items:
        if item is None:
            out.append(ops.Index("newaxis"))
        elif item is Ellipsis:
            out.append(ops.Index("ellipsis"))
        elif isinstance(item, slice):
            out.append(ops.Index("slice", item.start, item.stop, item.step))
        elif isinstance(item, int) and not isinstance(item, bool):
            out.append(ops.Index("index", item))
        else:
            raise cfg.error(f"unsupported subscript item {item!r} (integers, slices, None and ... are read)",
                            "inbound_nodes")
    return ops.GetItem(items=tuple(out))


def _cast(cfg: KerasLayerConfig, dtype: Any, key: str) -> ops.UnaryOp:
    if dtype not in ("float16", "float32", "float64", "bfloat16"):
        raise cfg.error(f"only casts to a float type are read, got dtype {dtype!r}", key)
    return ops.UnaryOp(op="cast")


# -- Keras 3 operations ---------------------------------------------------------------------------

_K3_BINARY = {"Add": "add", "Subtract": "subtract", "Multiply": "multiply", "Divide": "divide",
              "TrueDivide": "divide", "Maximum": "maximum", "Minimum": "minimum", "Power": "power"}
_K3_UNARY = {"Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "HardSigmoid": "hard_sigmoid_relu6",
             "HardSilu": "hard_silu", "HardSwish": "hard_silu", "Silu": "silu", "Swish": "silu", "Tanh": "tanh",
             "Exp": "exp", "Sqrt": "sqrt", "Square": "square", "Absolute": "abs", "Abs": "abs",
             "Negative": "negative"}
_K3_REDUCE = {"Mean": "mean", "Sum": "sum", "Max": "max", "Min": "min"}


def _tensor_args(cfg: KerasLayerConfig, call: OpCall, count: int) -> None:
    if len(call.args) != count or call.args[0] is not TENSOR or call.kwargs:
        raise cfg.error(f"expected a call on {count} argument(s), the first a tensor, got {call.args!r} "
                        f"{call.kwargs or ''}", "inbound_nodes")


@keras_layer(*_K3_BINARY, operation=True)
def keras3_binary(cfg: KerasLayerConfig) -> LayerConfig:
    call = keras3_call(cfg)
    if len(call.args) != 2 or call.kwargs:
        raise cfg.error(f"expected a call on two arguments, got {call.args!r}", "inbound_nodes")
    return binary(cfg, _K3_BINARY[cfg.class_name], *call.args)


@keras_layer(*_K3_UNARY, operation=True)
def keras3_unary(cfg: KerasLayerConfig) -> LayerConfig:
    _tensor_args(cfg, keras3_call(cfg), 1)
    return ops.UnaryOp(op=_K3_UNARY[cfg.class_name])


@keras_layer("Cast", operation=True)
def keras3_cast(cfg: KerasLayerConfig) -> LayerConfig:
    _tensor_args(cfg, keras3_call(cfg), 1)
    return _cast(cfg, cfg.get("dtype"), "dtype")


@keras_layer(*_K3_REDUCE, operation=True)
def keras3_reduce(cfg: KerasLayerConfig) -> LayerConfig:
    _tensor_args(cfg, keras3_call(cfg), 1)
    if cfg.get("initial", None) is not None:
        raise cfg.error("an initial value of a reduction is not read", "initial")
    return ops.Reduce(op=_K3_REDUCE[cfg.class_name], axis=_axes(cfg, cfg.get("axis", None), "axis"),
                      keepdims=cfg.boolean("keepdims", False))


@keras_layer("ExpandDims", "Squeeze", operation=True)
def keras3_axes(cfg: KerasLayerConfig) -> LayerConfig:
    _tensor_args(cfg, keras3_call(cfg), 1)
    axis = _axes(cfg, cfg.get("axis", None), "axis")
    return ops.ExpandDims(axis=axis) if cfg.class_name == "ExpandDims" else ops.Squeeze(axis=axis)


@keras_layer("Reshape", operation=True)
def keras3_reshape(cfg: KerasLayerConfig) -> LayerConfig:
    _tensor_args(cfg, keras3_call(cfg), 1)
    key = "newshape" if cfg.has("newshape") else "new_shape"
    return reshape(cfg, cfg.get(key), key)


@keras_layer("Transpose", operation=True)
def keras3_transpose(cfg: KerasLayerConfig) -> LayerConfig:
    _tensor_args(cfg, keras3_call(cfg), 1)
    return transpose(cfg, cfg.get("axes", None), "axes")


@keras_layer("Concatenate", operation=True)
def keras3_concatenate(cfg: KerasLayerConfig) -> LayerConfig:
    call = keras3_call(cfg)
    if len(call.args) != 1 or not isinstance(call.args[0], list) or not all(a is TENSOR for a in call.args[0]) \
            or call.kwargs:
        raise cfg.error("expected a call on one list of tensors", "inbound_nodes")
    return concatenate(cfg, cfg.get("axis", 0))


@keras_layer("Cumsum", operation=True)
def keras3_cumsum(cfg: KerasLayerConfig) -> LayerConfig:
    _tensor_args(cfg, keras3_call(cfg), 1)
    axis = cfg.get("axis", None)
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise cfg.error(f"a running sum over one axis is read, not axis={axis!r} (the flattened tensor)", "axis")
    if cfg.get("dtype", None) is not None:
        cfg.note("ignored-key", "the running sum is computed in the compute dtype", "dtype")
    return ops.Cumsum(axis=axis)


@keras_layer("GetItem", operation=True)
def keras3_get_item(cfg: KerasLayerConfig) -> LayerConfig:
    call = keras3_call(cfg)
    if len(call.args) != 2 or call.args[0] is not TENSOR or call.kwargs:
        raise cfg.error("expected a call x[key]", "inbound_nodes")
    return get_item(cfg, call.args[1])


# -- tf.keras 2 TFOpLambda / SlicingOpLambda -------------------------------------------------------

TfBuilder = Callable[[KerasLayerConfig, OpCall], LayerConfig]


def _tf_binary(op: str) -> TfBuilder:
    def build(cfg: KerasLayerConfig, call: OpCall) -> LayerConfig:
        if len(call.args) != 1 or "y" not in call.kwargs:
            raise cfg.error("expected a call f(x, y=...)", "inbound_nodes")
        return binary(cfg, op, call.args[0], call.kwargs["y"])
    return build


def _tf_unary(op: str) -> TfBuilder:
    def build(cfg: KerasLayerConfig, call: OpCall) -> LayerConfig:
        if call.args != [TENSOR]:
            raise cfg.error("expected a call on one tensor", "inbound_nodes")
        return ops.UnaryOp(op=op)
    return build


def _tf_reduce(op: str) -> TfBuilder:
    def build(cfg: KerasLayerConfig, call: OpCall) -> LayerConfig:
        return ops.Reduce(op=op, axis=_axes(cfg, call.kwargs.get("axis"), "axis"),
                          keepdims=bool(call.kwargs.get("keepdims") or False))
    return build


def _tf_squeeze(cfg: KerasLayerConfig, call: OpCall) -> LayerConfig:
    axis = call.kwargs.get("axis")
    return ops.Squeeze(axis=_axes(cfg, axis if axis is not None else call.kwargs.get("squeeze_dims"), "axis"))


def _tf_transpose(cfg: KerasLayerConfig, call: OpCall) -> LayerConfig:
    if call.kwargs.get("conjugate"):
        raise cfg.error("a conjugate transpose is not read", "conjugate")
    return transpose(cfg, call.kwargs.get("perm"), "perm")


def _tf_concat(cfg: KerasLayerConfig, call: OpCall) -> LayerConfig:
    if not all(a is TENSOR for a in call.args):
        raise cfg.error("expected a concatenation of tensors", "inbound_nodes")
    return concatenate(cfg, call.kwargs.get("axis"))


#: tf.* function (as TFOpLambda records it, without "tf.") -> builder, and the keyword arguments it reads
TF_FUNCTIONS: dict[str, tuple[TfBuilder, tuple[str, ...]]] = {
    **{name: (_tf_binary(op), ("y",)) for name, op in {
        "__operators__.add": "add", "math.add": "add", "math.subtract": "subtract", "math.multiply": "multiply",
        "math.truediv": "divide", "math.divide": "divide", "math.maximum": "maximum", "math.minimum": "minimum",
        "math.pow": "power"}.items()},
    **{name: (_tf_unary(op), ()) for name, op in {
        "nn.relu": "relu", "nn.relu6": "relu6", "math.sigmoid": "sigmoid", "nn.sigmoid": "sigmoid",
        "nn.silu": "silu", "nn.swish": "silu", "math.tanh": "tanh", "nn.tanh": "tanh", "math.exp": "exp",
        "math.sqrt": "sqrt", "math.square": "square", "math.abs": "abs", "math.negative": "negative"}.items()},
    **{name: (_tf_reduce(op), ("axis", "keepdims")) for name, op in {
        "math.reduce_mean": "mean", "math.reduce_sum": "sum", "math.reduce_max": "max",
        "math.reduce_min": "min"}.items()},
    "cast": (lambda cfg, call: _cast(cfg, call.kwargs.get("dtype"), "dtype"), ("dtype",)),
    "expand_dims": (lambda cfg, call: ops.ExpandDims(axis=_axes(cfg, call.kwargs.get("axis"), "axis")), ("axis",)),
    "squeeze": (_tf_squeeze, ("axis",)),
    "compat.v1.squeeze": (_tf_squeeze, ("axis", "squeeze_dims")),
    "reshape": (lambda cfg, call: reshape(cfg, call.kwargs.get("shape"), "shape"), ("shape",)),
    "transpose": (_tf_transpose, ("perm", "conjugate")),
    "compat.v1.transpose": (_tf_transpose, ("perm", "conjugate")),
    "concat": (_tf_concat, ("axis",)),
}
#: SlicingOpLambda functions
TF_SLICING: dict[str, tuple[TfBuilder, tuple[str, ...]]] = {
    "__operators__.getitem": (lambda cfg, call: get_item(cfg, call.kwargs.get("slice_spec")), ("slice_spec",)),
}


def _tf_operation(cfg: KerasLayerConfig, table: dict[str, tuple[TfBuilder, tuple[str, ...]]]) -> Converted:
    function = cfg.get("function")
    if not isinstance(function, str) or function not in table:
        raise cfg.error(f"unsupported TensorFlow operation: the TensorFlow function 'tf.{function}' has no "
                        "kconvert equivalent (kconvert reads only the tf.* calls 'kconvert formats' lists and "
                        "never runs a function a file names)", "function")
    build, read = table[function]
    call = tf_call(cfg)
    unread = {k: v for k, v in call.kwargs.items() if k not in read and k != "name" and v is not None}
    if unread:
        key = next(iter(unread))
        raise cfg.error(f"argument {key}={unread[key]!r} of tf.{function} is not read", key)
    config = build(cfg, call)
    return Converted(config, call_kwargs=tuple(call.kwargs), tensor_kwargs=("y",))


@keras_layer("TFOpLambda")
def tf_op_lambda(cfg: KerasLayerConfig) -> Converted:
    """A ``tf.*`` call in a tf.keras 2 functional model; read when its function is allowlisted."""
    return _tf_operation(cfg, TF_FUNCTIONS)


@keras_layer("SlicingOpLambda")
def slicing_op_lambda(cfg: KerasLayerConfig) -> Converted:
    """``x[...]`` in a tf.keras 2 functional model."""
    return _tf_operation(cfg, TF_SLICING)


# -- TensorFlow 2.1-2.3 TensorFlowOpLayer (a graph NodeDef) -----------------------------------------

def _attr(cfg: KerasLayerConfig, node_def: dict[str, Any], name: str) -> Any:
    """A NodeDef attribute's value (protobuf JSON: ``{"b": true}``, ``{"type": "DT_FLOAT"}``,
    ``{"list": {"i": ["1"]}}`` with 64-bit integers as strings)."""
    value = (node_def.get("attr") or {}).get(name)
    if not isinstance(value, dict):
        return None
    if "list" in value:
        ints = (value.get("list") or {}).get("i") or []
        try:
            return [int(i) for i in ints]
        except (TypeError, ValueError):
            raise cfg.error(f"attribute {name} must list integers, got {ints!r}", "node_def") from None
    return next(iter(value.values()), None)


def _node_binary(op: str) -> Callable[[KerasLayerConfig, list[Any], dict[str, Any]], LayerConfig]:
    def build(cfg: KerasLayerConfig, operands: list[Any], node_def: dict[str, Any]) -> LayerConfig:
        if len(operands) != 2:
            raise cfg.error(f"expected two inputs, got {len(operands)}", "node_def")
        return binary(cfg, op, *operands)
    return build


def _node_unary(op: str) -> Callable[[KerasLayerConfig, list[Any], dict[str, Any]], LayerConfig]:
    def build(cfg: KerasLayerConfig, operands: list[Any], node_def: dict[str, Any]) -> LayerConfig:
        if operands != [TENSOR]:
            raise cfg.error("expected one tensor input", "node_def")
        return ops.UnaryOp(op=op)
    return build


def _node_second(cfg: KerasLayerConfig, operands: list[Any]) -> Any:
    """The constant second input (axes, a shape, a permutation) of a node on one tensor."""
    if len(operands) != 2 or operands[0] is not TENSOR or operands[1] is TENSOR:
        raise cfg.error("expected a tensor and a constant second input", "node_def")
    return operands[1]


def _node_reduce(op: str) -> Callable[[KerasLayerConfig, list[Any], dict[str, Any]], LayerConfig]:
    def build(cfg: KerasLayerConfig, operands: list[Any], node_def: dict[str, Any]) -> LayerConfig:
        return ops.Reduce(op=op, axis=_axes(cfg, _node_second(cfg, operands), "reduction_indices"),
                          keepdims=bool(_attr(cfg, node_def, "keep_dims")))
    return build


def _node_concat(cfg: KerasLayerConfig, operands: list[Any], node_def: dict[str, Any]) -> LayerConfig:
    if len(operands) < 3 or not all(o is TENSOR for o in operands[:-1]) or operands[-1] is TENSOR:
        raise cfg.error("expected tensors and a constant axis", "node_def")
    return concatenate(cfg, operands[-1])


def _node_cast(cfg: KerasLayerConfig, operands: list[Any], node_def: dict[str, Any]) -> LayerConfig:
    dtype = _attr(cfg, node_def, "DstT")
    return _cast(cfg, dtype[3:].lower() if isinstance(dtype, str) and dtype.startswith("DT_") else dtype, "node_def")


NodeBuilder = Callable[[KerasLayerConfig, list[Any], dict[str, Any]], LayerConfig]
#: TensorFlow graph op (NodeDef ``op``) -> builder from its inputs (TENSOR or a constant) and NodeDef
TF_NODE_OPS: dict[str, NodeBuilder] = {
    **{name: _node_binary(op) for name, op in {
        "AddV2": "add", "Add": "add", "Sub": "subtract", "Mul": "multiply", "RealDiv": "divide",
        "Maximum": "maximum", "Minimum": "minimum", "Pow": "power"}.items()},
    **{name: _node_unary(op) for name, op in {
        "Relu": "relu", "Relu6": "relu6", "Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp", "Sqrt": "sqrt",
        "Square": "square", "Abs": "abs", "Neg": "negative"}.items()},
    **{name: _node_reduce(op) for name, op in {"Mean": "mean", "Sum": "sum", "Max": "max", "Min": "min"}.items()},
    "Reshape": lambda cfg, operands, nd: reshape(cfg, _node_second(cfg, operands), "node_def"),
    "Transpose": lambda cfg, operands, nd: transpose(cfg, _node_second(cfg, operands), "node_def"),
    "ExpandDims": lambda cfg, operands, nd: ops.ExpandDims(axis=_axes(cfg, _node_second(cfg, operands), "dim")),
    "Squeeze": lambda cfg, operands, nd: ops.Squeeze(axis=_axes(cfg, _attr(cfg, nd, "squeeze_dims"),
                                                                "squeeze_dims")),
    "ConcatV2": _node_concat,
    "Cast": _node_cast,
}


@keras_layer("TensorFlowOpLayer")
def tensorflow_op_layer(cfg: KerasLayerConfig) -> LayerConfig:
    """TensorFlow 2.1-2.3's record of a ``tf.*`` call: a graph NodeDef whose non-constant inputs are
    the layer's call inputs, in order, and whose ``constants`` fill the other input positions."""
    node_def = cfg.get("node_def")
    if not isinstance(node_def, dict):
        raise cfg.error("expected a NodeDef object", "node_def")
    op = node_def.get("op")
    if not isinstance(op, str) or op not in TF_NODE_OPS:
        raise cfg.error(f"unsupported TensorFlow operation {op!r} (a raw TensorFlow graph operation; kconvert "
                        "reads only the operations 'kconvert formats' lists)", "node_def")
    inputs = node_def.get("input") or []
    constants = cfg.get("constants", None) or {}
    if not isinstance(inputs, list) or not isinstance(constants, dict):
        raise cfg.error("malformed NodeDef inputs or constants", "node_def")
    operands = [constants[str(i)] if str(i) in constants else TENSOR for i in range(len(inputs))]
    return TF_NODE_OPS[op](cfg, operands, node_def)


def operation_spellings() -> dict[str, list[str]]:
    """IR kind -> the operation spellings read into it (``ops.Add`` for Keras 3's, ``TFOpLambda``
    for tf.keras 2's), for the coverage matrix."""
    out: dict[str, list[str]] = {}
    k3 = {**{n: "BinaryOp" for n in _K3_BINARY}, **{n: "UnaryOp" for n in _K3_UNARY}, "Cast": "UnaryOp",
          **{n: "Reduce" for n in _K3_REDUCE}, "ExpandDims": "ExpandDims", "Squeeze": "Squeeze",
          "GetItem": "GetItem", "Reshape": "Reshape", "Transpose": "Permute", "Concatenate": "Concatenate",
          "NotEqual": "NotEqual", "Cumsum": "Cumsum"}
    for name, kind in k3.items():
        out.setdefault(kind, []).append(f"ops.{name}")
    for kind in ("BinaryOp", "UnaryOp", "Reduce", "ExpandDims", "Squeeze", "Reshape", "Permute", "Concatenate"):
        out[kind] += ["TFOpLambda", "TensorFlowOpLayer"]
    out["GetItem"].append("SlicingOpLambda")
    return out
