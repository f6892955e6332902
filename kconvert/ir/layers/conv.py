"""Convolutions: regular, transposed, separable, depthwise and locally connected.

Kernel layouts are Keras 2 TensorFlow ones (spatial axes first, then input, then output
channels) whatever the data format of the activations; ``data_format`` only says where the
channel axis of the *activations* is.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Sequence

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import (
    Shape,
    ShapeError,
    conv_output_length,
    deconv_output_length,
    join_channels,
    require_rank,
    split_channels,
)

DataFormat = Literal["channels_last", "channels_first"]
PADDINGS = ("valid", "same", "causal", "full")


@layer_config
class _Windowed(LayerConfig):
    """Shared fields of layers that slide a window over ``rank`` spatial axes.

    ``strides`` and ``dilation_rate`` default to ones; an empty tuple is filled in.
    """

    rank: ClassVar[int]
    #: the strides TensorFlow's CPU kernel for this kind takes: "any", "undilated" (a stride over 1 only
    #: without a dilation over 1) or "equal" (a depthwise window's: equal ones only, and undilated)
    tf_strides: ClassVar[str] = "any"
    kernel_size: tuple[int, ...]
    strides: tuple[int, ...] = ()
    padding: str = "valid"
    data_format: DataFormat = "channels_last"
    dilation_rate: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("strides", "dilation_rate"):
            if not getattr(self, name):
                object.__setattr__(self, name, (1,) * self.rank)
        for name in ("kernel_size", "strides", "dilation_rate"):
            value = getattr(self, name)
            if len(value) != self.rank or any(int(v) < 1 for v in value):
                raise ValueError(f"{name} must be {self.rank} positive integer(s), got {value}")
        if self.padding not in PADDINGS or (self.padding == "causal" and self.rank != 1):
            raise ValueError(f"unsupported padding {self.padding!r}")

    def _planar(self, cls: type["_Windowed"]) -> "_Windowed":
        """This 1-D layer as ``cls``, its 2-D kind, over a width of 1."""
        widened: dict[str, object] = {"kernel_size": (self.kernel_size[0], 1), "strides": (self.strides[0], 1),
                                      "dilation_rate": (self.dilation_rate[0], 1)}
        output_padding = getattr(self, "output_padding", None)
        if output_padding is not None:
            widened["output_padding"] = (output_padding[0], 0)
        return cls(**{**self.attributes(), **widened})

    def _split(self, shape: Shape) -> tuple[int | None, tuple[int | None, ...]]:
        require_rank(shape, self.rank + 2)
        return split_channels(shape, self.data_format)

    def spatial_output(self, spatial: tuple[int | None, ...]) -> list[int | None]:
        return [conv_output_length(n, k, self.padding, s, d)
                for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate)]

    def intermediate_shapes(self, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> list[Shape]:
        """Beyond the outputs, with a dilation over 1: the input padded by the window's span and
        rounded up to a multiple of the dilation, which is how TensorFlow runs a dilated window
        (space to batch): a huge dilation makes it huge whatever the output's size.  A window run at
        stride 1 (:attr:`runs_at_stride_one`): its stride-1 result too."""
        made = list(outputs)
        channels, spatial = split_channels(inputs[0], self.data_format)
        if any(d != 1 for d in self.dilation_rate):
            padded = [None if n is None else -(-(n + (k - 1) * d) // d) * d
                      for n, k, d in zip(spatial, self.kernel_size, self.dilation_rate)]
            made.append(join_channels(inputs[0][0], channels, padded, self.data_format))
        if self.runs_at_stride_one:
            at_one = [conv_output_length(n, k, self.padding, 1, d)
                      for n, k, d in zip(spatial, self.kernel_size, self.dilation_rate)]
            multiplier = getattr(self, "depth_multiplier", None)
            maps = getattr(self, "filters") if multiplier is None else None if channels is None else channels * multiplier
            made.append(join_channels(inputs[0][0], maps, at_one, self.data_format))
        return made

    @property
    def runs_at_stride_one(self) -> bool:
        """Whether TensorFlow's CPU kernel lacks these strides (:attr:`tf_strides`; DL4J has them),
        so that the runtime runs the window at stride 1, keeping every stride-th position (for a
        depthwise window's result: before a separable one's pointwise step)."""
        dilated_stride = max(self.strides) > 1 and max(self.dilation_rate) > 1
        if self.tf_strides == "equal":
            return dilated_stride or len(set(self.strides)) > 1
        return self.tf_strides == "undilated" and dilated_stride

    @staticmethod
    def _known_channels(channels: int | None) -> int:
        if channels is None:
            raise ShapeError("the channel dimension of the input must be known")
        return channels


@layer_config
class _Filtered(_Windowed):
    """A windowed layer producing ``filters`` channels at each position its window visits."""

    filters: int
    activation: str = "linear"
    use_bias: bool = True

    def output_shape(self, shape: Shape) -> Shape:
        _, spatial = self._split(shape)
        return join_channels(shape[0], self.filters, self.spatial_output(spatial), self.data_format)


@layer_config
class _Conv(_Filtered):
    linear_weights = ("kernel", "bias")
    tf_strides = "undilated"
    groups: int = 1

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        channels = self._known_channels(self._split(inputs[0])[0])
        if channels % self.groups or self.filters % self.groups:
            raise ShapeError(f"{channels} input channels and {self.filters} filters are not "
                             f"divisible into {self.groups} groups")
        out: dict[str, Shape] = {"kernel": (*self.kernel_size, channels // self.groups, self.filters)}
        if self.use_bias:
            out["bias"] = (self.filters,)
        return out


@layer_kind
@layer_config
class Conv1D(_Conv):
    kind = "Conv1D"
    rank = 1


@layer_kind
@layer_config
class Conv2D(_Conv):
    kind = "Conv2D"
    rank = 2


@layer_kind
@layer_config
class Conv3D(_Conv):
    kind = "Conv3D"
    rank = 3


@layer_config
class _ConvTranspose(_Filtered):
    """Transposed convolution; kernel is (spatial..., filters, input channels)."""

    linear_weights = ("kernel", "bias")
    output_padding: tuple[int, ...] | None = None

    def output_shape(self, shape: Shape) -> Shape:
        _, spatial = self._split(shape)
        pads = self.output_padding or (None,) * self.rank
        out = [deconv_output_length(n, k, self.padding, s, p, d)
               for n, k, s, p, d in zip(spatial, self.kernel_size, self.strides, pads, self.dilation_rate)]
        return join_channels(shape[0], self.filters, out, self.data_format)

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        channels = self._known_channels(self._split(inputs[0])[0])
        out: dict[str, Shape] = {"kernel": (*self.kernel_size, self.filters, channels)}
        if self.use_bias:
            out["bias"] = (self.filters,)
        return out


@layer_kind
@layer_config
class Conv1DTranspose(_ConvTranspose):
    kind = "Conv1DTranspose"
    rank = 1

    def planar(self) -> LayerConfig:
        return self._planar(Conv2DTranspose)


@layer_kind
@layer_config
class Conv2DTranspose(_ConvTranspose):
    kind = "Conv2DTranspose"
    rank = 2


@layer_kind
@layer_config
class Conv3DTranspose(_ConvTranspose):
    kind = "Conv3DTranspose"
    rank = 3


@layer_config
class _SeparableConv(_Filtered):
    """Depthwise convolution (``depth_multiplier`` maps per channel) then a 1x1 pointwise one."""

    linear_weights = ("pointwise_kernel", "bias")
    tf_strides = "equal"
    depth_multiplier: int = 1

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        channels = self._known_channels(self._split(inputs[0])[0])
        out: dict[str, Shape] = {
            "depthwise_kernel": (*self.kernel_size, channels, self.depth_multiplier),
            "pointwise_kernel": (*(1,) * self.rank, channels * self.depth_multiplier, self.filters),
        }
        if self.use_bias:
            out["bias"] = (self.filters,)
        return out


@layer_kind
@layer_config
class SeparableConv1D(_SeparableConv):
    kind = "SeparableConv1D"
    rank = 1

    def planar(self) -> LayerConfig:
        return self._planar(SeparableConv2D)


@layer_kind
@layer_config
class SeparableConv2D(_SeparableConv):
    kind = "SeparableConv2D"
    rank = 2


@layer_config
class _DepthwiseConv(_Windowed):
    """Per-channel convolution producing ``depth_multiplier`` maps per input channel."""

    linear_weights = ("depthwise_kernel", "bias")
    tf_strides = "equal"
    depth_multiplier: int = 1
    activation: str = "linear"
    use_bias: bool = True

    def output_shape(self, shape: Shape) -> Shape:
        channels, spatial = self._split(shape)
        out_channels = None if channels is None else channels * self.depth_multiplier
        return join_channels(shape[0], out_channels, self.spatial_output(spatial), self.data_format)

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        channels = self._known_channels(self._split(inputs[0])[0])
        out: dict[str, Shape] = {"depthwise_kernel": (*self.kernel_size, channels, self.depth_multiplier)}
        if self.use_bias:
            out["bias"] = (channels * self.depth_multiplier,)
        return out


@layer_kind
@layer_config
class DepthwiseConv1D(_DepthwiseConv):
    kind = "DepthwiseConv1D"
    rank = 1

    def planar(self) -> LayerConfig:
        return self._planar(DepthwiseConv2D)


@layer_kind
@layer_config
class DepthwiseConv2D(_DepthwiseConv):
    kind = "DepthwiseConv2D"
    rank = 2


@layer_config
class LocallyConnected(_Filtered):
    """A convolution whose kernel is not shared across positions (Keras implementation 1 layout).

    kernel: (output positions, window size * input channels, filters), where each window is
    flattened in the activations' own axis order (spatial then channels for ``channels_last``,
    channels then spatial for ``channels_first``); bias: (output spatial..., filters).
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.padding != "valid" or any(d != 1 for d in self.dilation_rate):
            raise ValueError("locally connected layers support only padding='valid' without dilation")

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        channels, spatial = self._split(inputs[0])
        channels = self._known_channels(channels)
        out_spatial = self.spatial_output(spatial)
        if any(n is None for n in out_spatial):
            raise ShapeError("locally connected layers need known spatial input dimensions")
        positions = 1
        window = 1
        for n, k in zip(out_spatial, self.kernel_size):
            positions *= n  # type: ignore[operator]
            window *= k
        out: dict[str, Shape] = {"kernel": (positions, window * channels, self.filters)}
        if self.use_bias:
            out["bias"] = (*out_spatial, self.filters)
        return out


@layer_kind
@layer_config
class LocallyConnected1D(LocallyConnected):
    kind = "LocallyConnected1D"
    rank = 1


@layer_kind
@layer_config
class LocallyConnected2D(LocallyConnected):
    kind = "LocallyConnected2D"
    rank = 2
