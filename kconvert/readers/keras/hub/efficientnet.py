"""KerasHub's EfficientNet backbone (``EfficientNetBackbone``, v1 and v2 by its arguments), rebuilt
as KerasHub 0.32's ``efficientnet_backbone.py`` builds it: a stem, the stacks (each block's
filters rounded by the width coefficient, its repeats by the depth coefficient), a 1x1 top.

A stack's ``stackwise_block_types`` entry picks its block: ``v1`` (EfficientNet's MBConv made of
top-level layers named ``block<stack><letter>_<part>``), ``unfused`` (``MBConvBlock``), ``fused``
(``FusedMBConvBlock``) or ``cba`` (``CBABlock``), the last three single saved layers whose parts
(``conv1``, ``bn1``, ``depthwise``...) hold the weights.  Squeeze-and-excite gates with a sigmoid
after the block's activation.  Dropout and stochastic depth change nothing at inference.
KerasHub 0.32 does not save ``num_features`` (the top's width): its default 1280 is read, as
KerasHub's own loading reads it (a model built with another width does not reload in KerasHub).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kconvert.ir.graph import TensorRef
from kconvert.ir.layers.merge import Add
from kconvert.readers.keras.hub import hub_model
from kconvert.readers.keras.hub.convs import ConvNet
from kconvert.readers.keras.hub.graph import HubGraph, Saved
from kconvert.readers.keras.layer import KerasLayerConfig

BLOCK_TYPES = ("v1", "unfused", "fused", "cba")
_PER_STACK = ("stackwise_kernel_sizes", "stackwise_num_repeats", "stackwise_input_filters",
              "stackwise_output_filters", "stackwise_expansion_ratios", "stackwise_squeeze_and_excite_ratios",
              "stackwise_strides", "stackwise_block_types", "stackwise_width_coefficients",
              "stackwise_depth_coefficients")


@dataclass(frozen=True)
class _Net(ConvNet):
    """The settings every block of one backbone shares."""

    activation: str
    projection_activation: str
    epsilon: float
    depth_divisor: int
    min_depth: int
    cap_decrease: bool

    def round_filters(self, filters: float, width: float) -> int:
        """KerasHub's ``round_filters``."""
        filters *= width
        rounded = max(self.min_depth, int(filters + self.depth_divisor / 2) // self.depth_divisor * self.depth_divisor)
        return int(rounded + self.depth_divisor if self.cap_decrease and rounded < 0.9 * filters else rounded)

    def norm_act(self, name: str, x: TensorRef, saved: Saved, activation: str | None = None) -> TensorRef:
        x = self.bn(f"{name}_bn", x, saved, self.epsilon)
        return self.act(f"{name}_activation", x, activation or self.activation) if activation != "linear" else x

    def se(self, name: str, x: TensorRef, filters: int, filters_in: int, ratio: float, reduce_at: Saved,
           expand_at: Saved) -> TensorRef:
        if not 0 < ratio <= 1:
            return x
        return self.squeeze_excite(name, x, filters, max(1, int(filters_in * ratio)), reduce_at, expand_at,
                                   self.activation, "sigmoid")

    def block(self, name: str, x: TensorRef, kind: str, filters_in: int, filters_out: int, kernel: int, stride: int,
              expand: float, se_ratio: float, nores: bool) -> TensorRef:
        """One block of ``kind`` (see the module's docstring), saved as ``name``."""
        filters, at, pad = int(filters_in * expand), Saved(name), kernel // 2
        if kind == "v1":
            y = x
            if expand != 1:
                y = self.norm_act(f"{name}expand", self.conv(f"{name}expand_conv", y, filters, 1),
                                  Saved(f"{name}expand_bn"))
            y = self.depthwise(f"{name}dwconv", self.pad(f"{name}dwconv_pad", y, pad), kernel, stride)
            y = self.norm_act(f"{name}dwconv", y, Saved(f"{name}dwconv_bn"))
            y = self.se(f"{name}se", y, filters, filters_in, se_ratio, Saved(f"{name}se_reduce"),
                        Saved(f"{name}se_expand"))
            y = self.norm_act(f"{name}project", self.conv(f"{name}project_conv", y, filters_out, 1,
                                                          saved=Saved(f"{name}project")),
                              Saved(f"{name}project_bn"), self.projection_activation)
            nores = False
        elif kind == "unfused":
            y = x
            if expand != 1:
                y = self.norm_act(f"{name}expand", self.conv(f"{name}expand_conv", y, filters, 1, saved=at.at("conv1")),
                                  at.at("bn1"))
            y = self.depthwise(f"{name}dwconv", y, kernel, stride, "same", saved=at.at("depthwise"))
            y = self.norm_act(f"{name}dwconv", y, at.at("bn2"))
            y = self.se(f"{name}se", y, filters, filters_in, se_ratio, at.at("se_conv1"), at.at("se_conv2"))
            projection = 1 if expand != 1 else kernel
            y = self.pad(f"{name}project_pad", y, projection // 2)
            y = self.norm_act(f"{name}project", self.conv(f"{name}project_conv", y, filters_out, projection,
                                                          saved=at.at("output_conv")), at.at("bn3"), "linear")
        elif kind == "fused":
            y = self.conv(f"{name}expand_conv", self.pad(f"{name}expand_pad", x, pad), filters, kernel, stride,
                          saved=at.at("conv1"))
            y = self.norm_act(f"{name}expand", y, at.at("bn1"))
            y = self.se(f"{name}se", y, filters, filters_in, se_ratio, at.at("se_conv1"), at.at("se_conv2"))
            y = self.norm_act(f"{name}project", self.conv(f"{name}project_conv", y, filters_out, 1,
                                                          saved=at.at("output_conv")), at.at("bn2"),
                              self.projection_activation if expand == 1 else "linear")
        else:  # cba
            y = self.conv(f"{name}conv", self.pad(f"{name}pad", x, pad), filters_out, kernel, stride,
                          saved=at.at("conv1"))
            y = self.norm_act(name, y, at.at("bn1"))
        if stride == 1 and filters_in == filters_out and not nores:
            y = self.g.add(f"{name}add", Add(), y, x)
        return y


def _stacks(cfg: KerasLayerConfig) -> list[dict[str, Any]]:
    """Each stack's arguments by the ``stackwise_*`` key's name."""
    lists = {key: cfg.get(key) for key in _PER_STACK}
    count = len(lists["stackwise_kernel_sizes"]) if isinstance(lists["stackwise_kernel_sizes"], list) else 0
    lists["stackwise_force_input_filters"] = cfg.get("stackwise_force_input_filters", [0] * count)
    lists["stackwise_nores_option"] = cfg.get("stackwise_nores_option", [False] * count)
    for key, value in lists.items():
        if not isinstance(value, list) or len(value) < count or not count:
            raise cfg.error(f"{key} must hold an entry per stack", key)
    for kind in lists["stackwise_block_types"][:count]:
        if kind not in BLOCK_TYPES:
            raise cfg.error(f"unknown block type {kind!r} (KerasHub's are {', '.join(BLOCK_TYPES)})",
                            "stackwise_block_types")
    return [{key[len("stackwise_"):]: value[i] for key, value in lists.items()} for i in range(count)]


@hub_model("EfficientNetBackbone")
def efficientnet(cfg: KerasLayerConfig, g: HubGraph) -> list[TensorRef]:
    """Output: the top activation's feature map."""
    if cfg.data_format() != "channels_last":
        raise cfg.error("KerasHub's EfficientNet normalises axis 3 whatever its data format: only channels_last "
                        "computes what its convolutions mean", "data_format")
    divisor = cfg.integer("depth_divisor", 8)
    net = _Net(g, "channels_last", cfg.activation("activation", "silu"),
               cfg.activation("projection_activation", "linear"), cfg.number("batch_norm_epsilon", 1e-5), divisor,
               divisor if cfg.boolean("use_depth_divisor_as_min_depth", False) else cfg.integer("min_depth", 8),
               cfg.boolean("cap_round_filter_decrease", False))
    cfg.mark_used("batch_norm_momentum", "min_depth")
    stacks = _stacks(cfg)
    x = g.input("images", cfg.shape("input_shape", (None, None, 3), batch=False), "float32")
    if cfg.boolean("include_stem_padding", True):
        x = net.pad("stem_conv_pad", x, 1)
    x = net.conv("stem_conv", x, net.round_filters(stacks[0]["input_filters"], stacks[0]["width_coefficients"]), 3,
                 2, cfg.choice("stem_conv_padding", ("valid", "same"), "valid"))
    x = net.norm_act("stem", x, Saved("stem_bn"))
    for i, stack in enumerate(stacks):
        width = stack["width_coefficients"]
        filters_in = net.round_filters(stack["input_filters"], width)
        filters_out = net.round_filters(stack["output_filters"], width)
        stride = stack["strides"]
        for j in range(int(math.ceil(stack["depth_coefficients"] * stack["num_repeats"]))):
            if j > 0:
                stride, filters_in = 1, filters_out
            if stack["force_input_filters"] > 0:
                filters_in = net.round_filters(stack["force_input_filters"], width)
            x = net.block(f"block{i + 1}{chr(j + 97)}_", x, stack["block_types"], filters_in, filters_out,
                          stack["kernel_sizes"], stride, stack["expansion_ratios"],
                          stack["squeeze_and_excite_ratios"], bool(stack["nores_option"]))
    top = net.round_filters(cfg.integer("num_features", 1280), stacks[-1]["width_coefficients"])
    return [net.norm_act("top", net.conv("top_conv", x, top, 1), Saved("top_bn"))]
