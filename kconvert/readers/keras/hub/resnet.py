"""KerasHub's ResNet backbone (``ResNetBackbone``, v1 and v2, its four block types), rebuilt
layer by layer as KerasHub 0.32's ``resnet_backbone.py`` builds its functional graph, under the
same layer names (so each layer's weights are found under its own name).

With ``use_pre_activation`` (ResNetV2) KerasHub pads with ``-inf`` before its 3x3 stride-2 max
pooling; that is exactly a 3x3 stride-1 ``same`` max pooling (which pads one ``-inf`` cell each side)
read at every second cell (a 1x1 stride-2 pooling).
"""

from __future__ import annotations

from dataclasses import dataclass

from kconvert.ir.graph import TensorRef
from kconvert.ir.layers.merge import Add
from kconvert.ir.layers.pooling import AveragePooling2D, MaxPooling2D
from kconvert.readers.keras.hub import hub_model
from kconvert.readers.keras.hub.convs import ConvNet
from kconvert.readers.keras.hub.graph import HubGraph
from kconvert.readers.keras.layer import KerasLayerConfig

BLOCK_TYPES = ("basic_block", "bottleneck_block", "basic_block_vd", "bottleneck_block_vd")


@dataclass(frozen=True)
class _Net(ConvNet):
    """The settings every layer of one backbone shares."""

    pre_activation: bool

    def max_pool(self, name: str, x: TensorRef, size: int, stride: int, padding: str = "valid") -> TensorRef:
        return self.g.add(name, MaxPooling2D(pool_size=(size, size), strides=(stride, stride), padding=padding,
                                             data_format=self.data_format), x)

    def block(self, name: str, x: TensorRef, filters: int, stride: int, shortcut_conv: bool,
              block_type: str) -> TensorRef:
        """One residual block (KerasHub's ``apply_<block_type>``), kernel size 3."""
        bottleneck, vd = block_type.startswith("bottleneck"), block_type.endswith("_vd")
        out_filters = 4 * filters if bottleneck else filters
        preact = None
        if self.pre_activation:
            preact = self.relu(f"{name}_pre_activation_relu", self.bn(f"{name}_pre_activation_bn", x))
        shortcut = x
        if shortcut_conv:
            if preact is not None:
                shortcut = preact
            elif vd and stride > 1:
                shortcut = self.g.add(f"{name}_0_pool", AveragePooling2D(
                    pool_size=(2, 2), strides=(stride, stride), padding="same", data_format=self.data_format), x)
            shortcut = self.conv(f"{name}_0_conv", shortcut, out_filters, 1, 1 if vd else stride)
            if not self.pre_activation:
                shortcut = self.bn(f"{name}_0_bn", shortcut)
        x = preact if preact is not None else x
        # (filters, kernel, stride) of each conv; the strided one is zero-padded explicitly
        convs = ([(filters, 1, 1), (filters, 3, stride), (out_filters, 1, 1)] if bottleneck
                 else [(filters, 3, stride), (filters, 3, 1)])
        for i, (width, kernel, step) in enumerate(convs, 1):
            if step > 1:
                x = self.pad(f"{name}_{i}_pad", x, (kernel - 1) // 2)
            x = self.conv(f"{name}_{i}_conv", x, width, kernel, step, "valid" if step > 1 or kernel == 1 else "same")
            if i < len(convs):
                x = self.relu(f"{name}_{i}_relu", self.bn(f"{name}_{i}_bn", x))
        if self.pre_activation:
            return self.g.add(f"{name}_out", Add(), shortcut, x)
        x = self.bn(f"{name}_{len(convs)}_bn", x)
        return self.relu(f"{name}_out", self.g.add(f"{name}_add", Add(), shortcut, x))


@hub_model("ResNetBackbone")
def resnet(cfg: KerasLayerConfig, g: HubGraph) -> list[TensorRef]:
    """Output: the last stack's feature map (the pyramid's levels are not outputs of the model)."""
    net = _Net(g, cfg.data_format(), cfg.boolean("use_pre_activation", False))
    block_type = cfg.choice("block_type", BLOCK_TYPES)
    stem_filters, stem_kernels = cfg.get("input_conv_filters"), cfg.get("input_conv_kernel_sizes")
    stacks = [cfg.get(k) for k in ("stackwise_num_filters", "stackwise_num_blocks", "stackwise_num_strides")]
    if not isinstance(stem_filters, list) or not isinstance(stem_kernels, list) or \
            len(stem_filters) != len(stem_kernels) or not stem_filters:
        raise cfg.error("input_conv_filters and input_conv_kernel_sizes must be lists of one length",
                        "input_conv_filters")
    if not all(isinstance(s, list) and len(s) == len(stacks[0]) for s in stacks):
        raise cfg.error("the stackwise_* arguments must be lists of one length", "stackwise_num_filters")
    x = g.input("images", cfg.shape("image_shape", (None, None, 3), batch=False), "float32")
    x = net.pad("conv1_pad", x, (stem_kernels[0] - 1) // 2)
    x = net.conv("conv1_conv", x, stem_filters[0], stem_kernels[0], 2)
    for i in range(1, len(stem_filters)):
        x = net.relu(f"conv{i}_relu", net.bn(f"conv{i}_bn", x))
        x = net.conv(f"conv{i + 1}_conv", x, stem_filters[i], stem_kernels[i], padding="same")
    if net.pre_activation:
        x = net.max_pool("pool1_window", x, 3, 1, "same")  # KerasHub's -inf padding, then stride 2
        x = net.max_pool("pool1_pool", x, 1, 2)
    else:
        n = len(stem_filters)
        x = net.relu(f"conv{n}_relu", net.bn(f"conv{n}_bn", x))
        x = net.max_pool("pool1_pool", net.pad("pool1_pad", x, 1), 3, 2)
    for s, (filters, blocks, stride) in enumerate(zip(*stacks)):
        for b in range(blocks):
            x = net.block(f"stack{s}_block{b}", x, filters, stride if b == 0 else 1,
                          b == 0 and (block_type != "basic_block" or s > 0), block_type)
    if net.pre_activation:
        x = net.relu("post_relu", net.bn("post_bn", x))
    return [x]
