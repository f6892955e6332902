"""Dense, activation layers, the identities of inference, Flatten/Reshape/Permute, RepeatVector,
Embedding, Rescaling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnx import TensorProto

from kconvert.ir.layer import kinds_where
from kconvert.writers.onnx.emit import Emit, emits
from kconvert.writers.onnx.graph import Value, identity


def along(em: Emit, x: Value, vector: Sequence[float] | np.ndarray, source_axis: int) -> str:
    """A constant of ``vector`` shaped to broadcast along source axis ``source_axis`` of ``x``."""
    shape = [1] * x.rank
    shape[x.axis(source_axis)] = len(vector)
    return em.const(np.asarray(vector, np.float32).reshape(shape))


@emits("Dense")
def dense(em: Emit) -> list[Value]:
    """x @ kernel + bias over the last axis, in any layout that keeps the last axis last."""
    c, w = em.config, em.weights()
    x = em.values[0]
    if x.perm[-1] != x.rank - 1:
        x = em.input(0)
    kernel = em.weight("kernel", w["kernel"])
    if x.rank == 2:
        inputs = [x.name, kernel] + ([em.weight("bias", w["bias"])] if c.use_bias else [])
        y = em.op("Gemm", inputs)
    else:
        y = em.op("MatMul", [x.name, kernel])
        if c.use_bias:
            y = em.op("Add", [y, em.weight("bias", w["bias"])])
    return [em.activation(Value(y, x.perm), c.activation)]


@emits("Activation")
def activation(em: Emit) -> list[Value]:
    return [em.activation(em.values[0], em.config.activation)]


@emits(*kinds_where(lambda c: c.training_only))
def inference_identity(em: Emit) -> list[Value]:
    """Dropout, noise and activity regularization compute the identity at inference."""
    return [em.values[0]]


@emits("ReLU")
def relu(em: Emit) -> list[Value]:
    """Keras's relu: ``x if x > threshold else 0``, clipped at ``max_value``, minus
    ``negative_slope * relu(threshold - x)``."""
    c, x = em.config, em.values[0]
    if c.threshold:
        y = em.op("Where", [em.op("Greater", [x.name, em.const(c.threshold)]), x.name, em.const(0.0)])
    else:
        y = em.op("Relu", [x.name])
    if c.max_value is not None:
        y = em.op("Clip", [y, em.const(0.0), em.const(c.max_value)])
    if c.negative_slope:
        below = em.op("Relu", [em.op("Sub", [em.const(c.threshold), x.name])])
        y = em.op("Sub", [y, em.op("Mul", [below, em.const(c.negative_slope)])])
    return [Value(y, x.perm)]


@emits("LeakyReLU")
def leaky_relu(em: Emit) -> list[Value]:
    x = em.values[0]
    return [Value(em.op("LeakyRelu", [x.name], alpha=em.config.negative_slope), x.perm)]


@emits("ELU")
def elu(em: Emit) -> list[Value]:
    x = em.values[0]
    return [Value(em.op("Elu", [x.name], alpha=em.config.alpha), x.perm)]


@emits("ThresholdedReLU")
def thresholded_relu(em: Emit) -> list[Value]:
    x = em.values[0]
    return [Value(em.op("ThresholdedRelu", [x.name], alpha=em.config.theta), x.perm)]


@emits("PReLU")
def prelu(em: Emit) -> list[Value]:
    """max(x, 0) + alpha * min(x, 0), alpha (of the input's shape without its batch) laid out as x is."""
    x = em.values[0]
    alpha = em.weights()["alpha"].transpose([p - 1 for p in x.perm[1:]])
    return [Value(em.op("PRelu", [x.name, em.weight("alpha", alpha)]), x.perm)]


@emits("Softmax")
def softmax(em: Emit) -> list[Value]:
    x, axis = em.values[0], em.config.axis
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if len(axes) == 1:
        return [Value(em.op("Softmax", [x.name], axis=x.axis(axes[0])), x.perm)]
    # over several axes: exp(x - max) / sum, both over those axes (ONNX's Softmax takes one)
    where = sorted(x.axis(a) for a in axes)
    shifted = em.op("Exp", [em.op("Sub", [x.name, em.graph.reduce("ReduceMax", x.name, where, em.base, True)])])
    return [Value(em.op("Div", [shifted, em.graph.reduce("ReduceSum", shifted, where, em.base, True)]), x.perm)]


@emits("Rescaling")
def rescaling(em: Emit) -> list[Value]:
    """x * scale + offset; a per-channel scale or offset runs along the last axis."""
    c, x = em.config, em.values[0]

    def constant(value: float | tuple[float, ...]) -> str:
        return em.const(value) if isinstance(value, (int, float)) else along(em, x, value, -1)
    y = em.op("Mul", [x.name, constant(c.scale)])
    if c.offset != 0.0:
        y = em.op("Add", [y, constant(c.offset)])
    return [Value(y, x.perm)]


@emits("Flatten")
def flatten(em: Emit) -> list[Value]:
    """Flattened in the source's order (channels_first: as Keras does, channels moved last first)."""
    rank = em.values[0].rank
    perm = (0, *range(2, rank), 1) if em.config.data_format == "channels_first" and rank > 2 else identity(rank)
    return [Value(em.op("Flatten", [em.input(0, perm).name], axis=1), (0, 1))]


@emits("Reshape")
def reshape(em: Emit) -> list[Value]:
    shape = em.const([0, *em.config.target_shape], np.int64)  # 0: the batch, as it is
    return [Value(em.op("Reshape", [em.input(0).name, shape]), identity(len(em.outputs[0])))]


@emits("Permute")
def permute(em: Emit) -> list[Value]:
    """No node: the same tensor, its axes read in the new order."""
    return [em.values[0].permuted((0, *em.config.dims))]


@emits("RepeatVector")
def repeat_vector(em: Emit) -> list[Value]:
    x = em.input(0)
    expanded = em.op("Unsqueeze", [x.name, em.const([1], np.int64)])
    return [Value(em.op("Tile", [expanded, em.const([1, em.config.n, 1], np.int64)]), (0, 1, 2))]


@emits("Embedding")
def embedding(em: Emit) -> list[Value]:
    """The rows of the table at the (truncated) indices; with ``mask_zero`` the mask ``ids != 0``."""
    x = em.input(0)
    indices = em.op("Cast", [x.name], to=TensorProto.INT64)
    if em.config.mask_zero:
        em.out_masks = [Value(em.op("Not", [em.op("Equal", [indices, em.const(0, np.int64)])]), x.perm)]
    table = em.weight("embeddings", em.weights()["embeddings"])
    return [Value(em.op("Gather", [table, indices], axis=0), identity(x.rank + 1))]


@emits("Masking")
def masking(em: Emit) -> list[Value]:
    """The mask ``any(x != mask_value)`` over the last axis, and ``x`` zeroed at masked steps."""
    x = em.input(0)
    differs = em.op("Not", [em.op("Equal", [x.name, em.const(em.config.mask_value)])])
    counted = em.graph.reduce("ReduceMax", em.op("Cast", [differs], to=TensorProto.FLOAT), [x.rank - 1],
                              em.base, keepdims=True)
    em.out_masks = [Value(em.op("Cast", [em.op("Squeeze", [counted, em.const([x.rank - 1], np.int64)])],
                                 to=TensorProto.BOOL), identity(x.rank - 1))]
    return [Value(em.op("Mul", [x.name, counted]), x.perm)]


@emits("NotEqual")
def not_equal(em: Emit) -> list[Value]:
    """``x != value``, a boolean tensor (Keras 3 records a mask so)."""
    x = em.values[0]
    as_float = em.op("Cast", [x.name], to=TensorProto.FLOAT)
    return [Value(em.op("Not", [em.op("Equal", [as_float, em.const(em.config.value)])]), x.perm)]
