"""Folding inference BatchNormalization into the convolution that feeds it.

At inference a BatchNormalization is a per-channel ``x * scale + offset`` with constant scale and
offset, so after a linear convolution it can be absorbed into that convolution's kernel and bias:
``conv(x, k) * s + o == conv(x, k * s) + (bias * s + o)``.  TensorFlow's graph optimiser does this
for Conv2D by itself (Keras's graphs get it too) but not for depthwise convolutions, where the
normalisation then costs two extra passes over every activation.  The results differ from the
unfolded ones only by rounding.

Only the runtime's forward pass folds: :meth:`Runtime.activations` reports every layer's own
output, so it evaluates the layers as they are.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import numpy as np

from kconvert.ir.graph import Layer, Model
from kconvert.ir.weights import Weight

Key = tuple[str, int]

#: convolutions with a per-output-channel kernel axis (last) and an optional per-channel bias
_CONV_KERNELS = {"Conv1D": "kernel", "Conv2D": "kernel", "Conv3D": "kernel",
                 "DepthwiseConv1D": "depthwise_kernel", "DepthwiseConv2D": "depthwise_kernel"}


@dataclasses.dataclass(frozen=True)
class Fold:
    """A BatchNormalization call replaced by its producer's call with folded weights."""

    conv: Key  # the convolution's call, which no longer runs on its own
    layer: Layer  # the convolution with the folded kernel and bias (same name, calls and config)


def batchnorm_folds(model: Model) -> dict[Key, Fold]:
    """The folds possible in ``model``'s own graph, by the BatchNormalization call they replace.

    A fold needs a linear convolution whose output goes to that normalisation only, normalised
    over the convolution's channel axis.
    """
    by_name = {layer.name: layer for layer in model.layers}
    uses = Counter((r.layer, r.node, r.index) for layer in model.layers for call in layer.calls for r in call.refs())
    uses.update((r.layer, r.node, r.index) for r in model.outputs)
    folds: dict[Key, Fold] = {}
    for bn in model.layers:
        if bn.kind != "BatchNormalization":
            continue
        for node, call in enumerate(bn.calls):
            if len(call.inputs) != 1 or call.kwargs.get("mask") is not None:  # a mask would pass through
                continue
            ref = call.inputs[0]
            conv = by_name[ref.layer]
            if (conv.kind in _CONV_KERNELS and conv.config.activation == "linear"
                    and uses[(ref.layer, ref.node, ref.index)] == 1 and _channel_axis(conv, bn)):
                folds[(bn.name, node)] = Fold((ref.layer, ref.node), _folded(conv, bn))
    return folds


def _channel_axis(conv: Layer, bn: Layer) -> bool:
    """Whether ``bn`` normalises over exactly ``conv``'s output channel axis."""
    rank = conv.config.rank + 2
    channels = 1 if conv.config.data_format == "channels_first" else rank - 1
    return len(bn.config.axis) == 1 and bn.config.axis[0] % rank == channels


def _folded(conv: Layer, bn: Layer) -> Layer:
    """``conv`` with ``bn``'s scale in its kernel and ``bn``'s offset in its bias (float64 arithmetic)."""
    def param(name: str, default: float) -> np.ndarray:
        return bn.weights[name].numpy().astype(np.float64) if name in bn.weights else np.asarray(default)

    scale = param("gamma", 1.0) / np.sqrt(param("moving_variance", 1.0) + bn.config.epsilon)
    offset = param("beta", 0.0) - param("moving_mean", 0.0) * scale
    kernel_name = _CONV_KERNELS[conv.kind]
    kernel = conv.weights[kernel_name].numpy().astype(np.float64)
    # a depthwise kernel's last two axes (channel, multiplier) enumerate the output channels
    kernel = kernel * scale.reshape(kernel.shape[-2:] if kernel_name == "depthwise_kernel" else kernel.shape[-1:])
    bias = conv.weights["bias"].numpy().astype(np.float64) * scale if "bias" in conv.weights else 0.0
    weights = {kernel_name: Weight.of(kernel, f"{conv.name} folded with {bn.name}"),
               "bias": Weight.of(bias + offset, f"{conv.name} folded with {bn.name}")}
    return dataclasses.replace(conv, config=dataclasses.replace(conv.config, use_bias=True), weights=weights)
