"""BatchNormalization and LayerNormalization."""

from __future__ import annotations

import numpy as np

from kconvert.ir.weights import Weight
from kconvert.writers.onnx.emit import Emit, emits
from kconvert.writers.onnx.emitters.core import along
from kconvert.writers.onnx.graph import Value


@emits("BatchNormalization")
def batch_normalization(em: Emit) -> list[Value]:
    """ONNX's BatchNormalization where the feature axis is the tensor's second (channels-first images,
    (batch, features) vectors); elsewhere the same ``x * scale + shift`` per feature as Mul and Add,
    ``scale = gamma / sqrt(variance + epsilon)`` as Keras computes it, so no Transpose is needed."""
    c, x = em.config, em.values[0]
    if len(c.axis) != 1:
        raise em.refuse(f"writes BatchNormalization over one feature axis, not {list(c.axis)}", key="axis")
    w = em.weights()
    n = w["moving_mean"].shape[0]
    gamma = w.get("gamma") or Weight.filled((n,), 1.0, np.float32, "BatchNormalization without scale")
    beta = w.get("beta") or Weight.filled((n,), 0.0, np.float32, "BatchNormalization without center")
    if x.axis(c.axis[0]) == 1:
        inputs = [em.weight(k, v) for k, v in (("gamma", gamma), ("beta", beta), ("moving_mean", w["moving_mean"]),
                                               ("moving_variance", w["moving_variance"]))]
        return [Value(em.op("BatchNormalization", [x.name, *inputs], epsilon=c.epsilon), x.perm)]
    mean, variance = (w[k].numpy().astype(np.float64) for k in ("moving_mean", "moving_variance"))
    scale = gamma.numpy().astype(np.float64) / np.sqrt(variance + c.epsilon)
    shift = beta.numpy().astype(np.float64) - mean * scale
    y = em.op("Add", [em.op("Mul", [x.name, along(em, x, scale, c.axis[0])]), along(em, x, shift, c.axis[0])])
    return [Value(y, x.perm)]


@emits("LayerNormalization")
def layer_normalization(em: Emit) -> list[Value]:
    """Over the trailing axes of the source layout: ONNX's LayerNormalization (opset 17), before it
    the mean and variance as reductions."""
    c = em.config
    x = em.input(0)
    axes = sorted(a % x.rank for a in c.axis)
    if axes != list(range(axes[0], x.rank)):
        raise em.refuse(f"writes LayerNormalization over trailing axes only, not {list(c.axis)}", key="axis")
    w = em.weights()
    normalized = em.known(tuple(em.shapes[0][a] for a in axes), "size of the normalized axes")
    gamma = (w["gamma"] if c.scale else Weight.filled(normalized, 1.0, np.float32, "no scale")).reshape(normalized)
    beta = (w["beta"] if c.center and not c.rms_scaling else  # (rms_scaling: Keras makes no beta)
            Weight.filled(normalized, 0.0, np.float32, "no center")).reshape(normalized)
    if em.opset >= 17 and not c.rms_scaling:
        scale, bias = em.weight("gamma", gamma), em.weight("beta", beta)
        return [Value(em.op("LayerNormalization", [x.name, scale, bias], axis=axes[0], epsilon=c.epsilon), x.perm)]
    mean = em.graph.reduce("ReduceMean", x.name, axes, em.base, keepdims=True)
    centred = em.op("Sub", [x.name, mean])
    variance = em.graph.reduce("ReduceMean", em.op("Mul", [centred, centred]), axes, em.base, keepdims=True)
    std = em.op("Sqrt", [em.op("Add", [variance, em.const(c.epsilon)])])
    if c.rms_scaling:  # Keras's: the input, not centred, over the standard deviation; scaled, not shifted
        return [Value(em.op("Mul", [em.op("Div", [x.name, std]), em.weight("gamma", gamma)]), x.perm)]
    scaled = em.op("Mul", [em.op("Div", [centred, std]), em.weight("gamma", gamma)])
    y = em.op("Add", [scaled, em.weight("beta", beta)])
    return [Value(y, x.perm)]


@emits("GroupNormalization")
def group_normalization(em: Emit) -> list[Value]:
    """The channels split into (groups, channels per group) by a Reshape, as Keras does; each group
    standardised over its channels and every other non-batch axis; scaled and shifted per channel."""
    c = em.config
    x = em.input(0)
    axis = c.axis % x.rank
    channels = em.known((em.shapes[0][axis],), "channel count")[0]
    split = em.const([c.groups, channels // c.groups], np.int64)
    grouped = em.op("Reshape", [x.name, em.op("Concat", [em.sizes(x.name, 0, axis), split, em.sizes(x.name, axis + 1)],
                                                  axis=0)])
    axes = [i for i in range(1, x.rank + 1) if i != axis]
    mean = em.graph.reduce("ReduceMean", grouped, axes, em.base, keepdims=True)
    centred = em.op("Sub", [grouped, mean])
    variance = em.graph.reduce("ReduceMean", em.op("Mul", [centred, centred]), axes, em.base, keepdims=True)
    y = em.op("Div", [centred, em.op("Sqrt", [em.op("Add", [variance, em.const(c.epsilon)])])])
    shape = [1] * (x.rank + 1)
    shape[axis], shape[axis + 1] = c.groups, channels // c.groups
    w = em.weights()
    if c.scale:
        y = em.op("Mul", [y, em.weight("gamma", w["gamma"].reshape(tuple(shape)))])
    if c.center:
        y = em.op("Add", [y, em.weight("beta", w["beta"].reshape(tuple(shape)))])
    return [Value(em.op("Reshape", [y, em.op("Shape", [x.name])]), x.perm)]


@emits("UnitNormalization")
def unit_normalization(em: Emit) -> list[Value]:
    """``x / sqrt(max(sum(x^2), floor))`` over the mapped axes, in whatever layout ``x`` has."""
    c, x = em.config, em.values[0]
    axes = sorted(x.axis(a) for a in c.axis)
    squares = em.graph.reduce("ReduceSum", em.op("Mul", [x.name, x.name]), axes, em.base, keepdims=True)
    norm = em.op("Sqrt", [em.op("Max", [squares, em.const(c.floor)])])
    return [Value(em.op("Div", [x.name, norm]), x.perm)]
