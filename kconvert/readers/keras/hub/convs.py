"""The convolutional pieces KerasHub's image backbones share (ResNet, MobileNet, EfficientNet), as IR layers
that name where each one's weights were saved.

KerasHub's image blocks normalise with ``momentum=0.9, epsilon=1e-5``; its squeeze-and-excite
(``SqueezeAndExcite2D``) is the spatial mean (kept as 1x1), a 1x1 convolution down, an activation,
a 1x1 convolution back up, a gate activation, and the input times the gate.
"""

from __future__ import annotations

from dataclasses import dataclass

from kconvert.ir.graph import TensorRef
from kconvert.ir.layers.conv import Conv2D, DepthwiseConv2D
from kconvert.ir.layers.core import Activation
from kconvert.ir.layers.merge import Multiply
from kconvert.ir.layers.normalization import BatchNormalization
from kconvert.ir.layers.pooling import GlobalAveragePooling2D
from kconvert.ir.layers.reshaping import ZeroPadding2D
from kconvert.readers.keras.hub.graph import HubGraph, Saved


@dataclass(frozen=True)
class ConvNet:
    """Adds one image backbone's layers (all in ``data_format``) to ``g``; each layer with weights
    finds them at ``saved``, by default the top-level layer of its own name."""

    g: HubGraph
    data_format: str

    def conv(self, name: str, x: TensorRef, filters: int, kernel: int, stride: int = 1, padding: str = "valid", *,
             groups: int = 1, use_bias: bool = False, activation: str = "linear",
             saved: Saved | None = None) -> TensorRef:
        return self.g.add(name, Conv2D(filters=filters, kernel_size=(kernel, kernel), strides=(stride, stride),
                                       padding=padding, data_format=self.data_format, use_bias=use_bias,
                                       groups=groups, activation=activation),
                          x, saved=saved or Saved(name))

    def bn(self, name: str, x: TensorRef, saved: Saved | None = None, epsilon: float = 1e-5) -> TensorRef:
        axis = -1 if self.data_format == "channels_last" else 1
        return self.g.add(name, BatchNormalization(axis=(axis,), momentum=0.9, epsilon=epsilon), x,
                          saved=saved or Saved(name))

    def act(self, name: str, x: TensorRef, activation: str) -> TensorRef:
        return self.g.add(name, Activation(activation=activation), x)

    def relu(self, name: str, x: TensorRef) -> TensorRef:
        return self.act(name, x, "relu")

    def pad(self, name: str, x: TensorRef, amount: int) -> TensorRef:
        return self.g.add(name, ZeroPadding2D(padding=((amount, amount), (amount, amount)),
                                              data_format=self.data_format), x)

    def depthwise(self, name: str, x: TensorRef, kernel: int, stride: int = 1, padding: str = "valid", *,
                  saved: Saved | None = None) -> TensorRef:
        return self.g.add(name, DepthwiseConv2D(kernel_size=(kernel, kernel), strides=(stride, stride), padding=padding,
                                                data_format=self.data_format, use_bias=False),
                          x, saved=saved or Saved(name))

    def squeeze_excite(self, name: str, x: TensorRef, filters: int, bottleneck: int, reduce_at: Saved,
                       expand_at: Saved, squeeze: str = "relu", excite: str = "hard_sigmoid_relu6") -> TensorRef:
        """``x`` times its gate; the two convolutions' weights are at ``reduce_at`` and ``expand_at``."""
        mean = self.g.add(f"{name}_mean", GlobalAveragePooling2D(data_format=self.data_format, keepdims=True), x)
        down = self.conv(f"{name}_reduce", mean, bottleneck, 1, use_bias=True, activation=squeeze, saved=reduce_at)
        gate = self.conv(f"{name}_expand", down, filters, 1, use_bias=True, activation=excite, saved=expand_at)
        return self.g.add(name, Multiply(), x, gate)
