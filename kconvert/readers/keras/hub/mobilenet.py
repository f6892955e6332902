"""KerasHub's MobileNet backbone (``MobileNetBackbone``, v1 to v3 by its arguments), rebuilt as
KerasHub 0.32's ``mobilenet_backbone.py`` builds it: a strided stem, one depthwise block
(``block_0_0``), the stacks of inverted residual blocks (``block_<stack>_<i>``), and a 1x1
hard-swish head block.

Its depthwise convolutions are Conv2D layers with one group per channel; its squeeze-and-excite
gates with Keras 3's ``hard_sigmoid`` (relu6-based).  Each block is one saved layer whose parts
(``conv1``, ``batch_normalization1``, ``se_layer``...) hold the weights.  KerasHub follows
``keras.config.image_data_format()``, which it does not save: channels_last is read.
``output_num_filters`` and ``output_activation`` change nothing in KerasHub 0.32.
"""

from __future__ import annotations

from typing import Any

from kconvert.errors import KConvertError
from kconvert.ir.graph import TensorRef
from kconvert.ir.layers.merge import Add
from kconvert.readers.keras import values
from kconvert.readers.keras.hub import hub_model
from kconvert.readers.keras.hub.convs import ConvNet
from kconvert.readers.keras.hub.graph import HubGraph, Saved
from kconvert.readers.keras.layer import KerasLayerConfig

_PER_BLOCK = ("stackwise_expansion", "stackwise_num_filters", "stackwise_kernel_size", "stackwise_num_strides",
              "stackwise_se_ratio", "stackwise_activation", "stackwise_padding")


def adjust_channels(x: float, divisor: int = 8) -> int:
    """KerasHub's ``adjust_channels``: the nearest multiple of ``divisor``, not 10% below ``x``."""
    new_x = max(divisor, int(x + divisor / 2) // divisor * divisor)
    return new_x + divisor if new_x < 0.9 * x else new_x


def _activation(value: Any, key: str) -> str:
    try:
        return values.activation(value, 3)
    except KConvertError as exc:
        raise exc.with_context(key=key) from None


def _blocks(cfg: KerasLayerConfig) -> list[list[dict[str, Any]]]:
    """Each stack's blocks, each block's arguments by the ``stackwise_*`` key's name."""
    counts = cfg.get("stackwise_num_blocks")
    grids = {key: cfg.get(key) for key in _PER_BLOCK}
    if not isinstance(counts, list) or not all(isinstance(n, int) and n >= 0 for n in counts):
        raise cfg.error("stackwise_num_blocks must be a list of block counts", "stackwise_num_blocks")
    for key, grid in grids.items():
        if not isinstance(grid, list) or len(grid) < len(counts) or \
                any(not isinstance(row, list) or len(row) < n for row, n in zip(grid, counts)):
            raise cfg.error(f"{key} must hold a list per stack with an entry per block", key)
    return [[{key[len("stackwise_"):]: grids[key][s][b] for key in _PER_BLOCK} for b in range(n)]
            for s, n in enumerate(counts)]


def _inverted_residual(net: ConvNet, name: str, x: TensorRef, infilters: int, block: dict[str, Any],
                       activation: str) -> tuple[TensorRef, int]:
    """KerasHub's InvertedResidualBlock: 1x1 expansion, padded depthwise convolution, optional
    squeeze-and-excite, 1x1 projection; the input added when the shape is kept."""
    at = Saved(name)
    expanded, filters = adjust_channels(block["expansion"]), adjust_channels(block["num_filters"])
    kernel, stride, padding = int(block["kernel_size"]), int(block["num_strides"]), int(block["padding"])
    y = net.conv(f"{name}_conv1", x, expanded, 1, saved=at.at("conv1"))
    y = net.act(f"{name}_act1", net.bn(f"{name}_bn1", y, at.at("batch_normalization1")), activation)
    y = net.conv(f"{name}_conv2", net.pad(f"{name}_pad", y, padding), expanded, kernel, stride, groups=expanded,
                 saved=at.at("conv2"))
    y = net.act(f"{name}_act2", net.bn(f"{name}_bn2", y, at.at("batch_normalization2")), activation)
    if block["se_ratio"]:
        y = net.squeeze_excite(f"{name}_se", y, expanded, adjust_channels(expanded * block["se_ratio"]),
                               at.at("squeeze_excite", "conv_reduce"), at.at("squeeze_excite", "conv_expand"))
    y = net.bn(f"{name}_bn3", net.conv(f"{name}_conv3", y, filters, 1, saved=at.at("conv3")),
               at.at("batch_normalization3"))
    if stride == 1 and infilters == filters:
        y = net.g.add(f"{name}_residual", Add(), x, y)
    return y, filters


@hub_model("MobileNetBackbone")
def mobilenet(cfg: KerasLayerConfig, g: HubGraph) -> list[TensorRef]:
    """Output: the head block's feature map."""
    net = ConvNet(g, "channels_last")
    cfg.mark_used("output_num_filters", "output_activation")
    stacks = _blocks(cfg)
    x = g.input("images", cfg.shape("image_shape", (None, None, 3), batch=False), "float32")
    channels = adjust_channels(cfg.integer("input_num_filters", 16))
    x = net.conv("input_conv", net.pad("input_pad", x, 1), channels, 3, 2)
    x = net.act("input_activation", net.bn("input_batch_norm", x),
                cfg.activation("input_activation", "hard_silu"))
    # block_0_0: KerasHub's DepthwiseConvBlock (always a 3x3 window padded by 1)
    at, name = Saved("block_0_0"), "block_0_0"
    y = net.conv(f"{name}_conv1", net.pad(f"{name}_pad", x, 1), channels, 3, cfg.integer("depthwise_stride"),
                 groups=channels, saved=at.at("conv1"))
    y = net.relu(f"{name}_relu", net.bn(f"{name}_bn1", y, at.at("batch_normalization1")))
    ratio = cfg.get("squeeze_and_excite", None)
    if ratio:
        if not isinstance(ratio, (int, float)):
            raise cfg.error(f"squeeze_and_excite must be a ratio, got {ratio!r}", "squeeze_and_excite")
        y = net.squeeze_excite(f"{name}_se", y, channels, adjust_channels(channels * ratio),
                               at.at("se_layer", "conv_reduce"), at.at("se_layer", "conv_expand"))
    depthwise_filters = cfg.integer("depthwise_filters")
    y = net.bn(f"{name}_bn2", net.conv(f"{name}_conv2", y, depthwise_filters, 1, saved=at.at("conv2")),
               at.at("batch_normalization2"))
    if cfg.boolean("depthwise_residual"):
        y = g.add(f"{name}_residual", Add(), x, y)
    x, channels = y, depthwise_filters
    for s, stack in enumerate(stacks, 1):
        for b, block in enumerate(stack):
            key = f"stackwise_activation[{s - 1}][{b}]"
            x, channels = _inverted_residual(net, f"block_{s}_{b}", x, channels, block,
                                             _activation(block["activation"], key))
    # the head: KerasHub's ConvBnActBlock, always hard-swish
    name = f"block_{len(stacks) + 1}_0"
    x = net.conv(f"{name}_conv", x, adjust_channels(cfg.integer("last_layer_filter")), 1, saved=Saved(name, ("conv",)))
    x = net.bn(f"{name}_bn", x, Saved(name, ("batch_normalization",)))
    return [net.act(f"{name}_activation", x, "hard_silu")]
