"""Local and global pooling."""

from __future__ import annotations

from typing import ClassVar, Literal

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape, conv_output_length, join_channels, require_rank, split_channels

DataFormat = Literal["channels_last", "channels_first"]


@layer_config
class _Pooling(LayerConfig):
    """Max or average over windows; ``strides`` defaults to ``pool_size``.

    Average pooling with ``same`` padding divides by the number of *valid* cells, as Keras does.
    """

    rank: ClassVar[int]
    pool_size: tuple[int, ...]
    strides: tuple[int, ...] = ()
    padding: Literal["valid", "same"] = "valid"
    data_format: DataFormat = "channels_last"

    def __post_init__(self) -> None:
        if not self.strides:
            object.__setattr__(self, "strides", tuple(self.pool_size))
        for name in ("pool_size", "strides"):
            value = getattr(self, name)
            if len(value) != self.rank or any(int(v) < 1 for v in value):
                raise ValueError(f"{name} must be {self.rank} positive integer(s), got {value}")
        if self.padding not in ("valid", "same"):
            raise ValueError(f"unsupported padding {self.padding!r}")

    def _planar(self, cls: type["_Pooling"]) -> "_Pooling":
        """This 1-D pooling as ``cls``, its 2-D kind, over a width of 1."""
        return cls(pool_size=(self.pool_size[0], 1), strides=(self.strides[0], 1), padding=self.padding)

    def output_shape(self, shape: Shape) -> Shape:
        require_rank(shape, self.rank + 2)
        channels, spatial = split_channels(shape, self.data_format)
        out = [conv_output_length(n, k, self.padding, s)
               for n, k, s in zip(spatial, self.pool_size, self.strides)]
        return join_channels(shape[0], channels, out, self.data_format)


@layer_kind
@layer_config
class MaxPooling1D(_Pooling):
    kind = "MaxPooling1D"
    reduction = "max"
    rank = 1

    def planar(self) -> LayerConfig:
        return self._planar(MaxPooling2D)


@layer_kind
@layer_config
class MaxPooling2D(_Pooling):
    kind = "MaxPooling2D"
    reduction = "max"
    rank = 2


@layer_kind
@layer_config
class MaxPooling3D(_Pooling):
    kind = "MaxPooling3D"
    reduction = "max"
    rank = 3


@layer_kind
@layer_config
class AveragePooling1D(_Pooling):
    kind = "AveragePooling1D"
    reduction = "average"
    rank = 1

    def planar(self) -> LayerConfig:
        return self._planar(AveragePooling2D)


@layer_kind
@layer_config
class AveragePooling2D(_Pooling):
    kind = "AveragePooling2D"
    reduction = "average"
    rank = 2


@layer_kind
@layer_config
class AveragePooling3D(_Pooling):
    kind = "AveragePooling3D"
    reduction = "average"
    rank = 3


@layer_config
class _GlobalPooling(LayerConfig):
    """Max or average over all spatial axes; ``keepdims`` keeps them as size-1 axes."""

    rank: ClassVar[int]
    data_format: DataFormat = "channels_last"
    keepdims: bool = False

    def output_shape(self, shape: Shape) -> Shape:
        require_rank(shape, self.rank + 2)
        channels, _ = split_channels(shape, self.data_format)
        if self.keepdims:
            return join_channels(shape[0], channels, (1,) * self.rank, self.data_format)
        return (shape[0], channels)


@layer_kind
@layer_config
class GlobalMaxPooling1D(_GlobalPooling):
    kind = "GlobalMaxPooling1D"
    reduction = "max"
    rank = 1


@layer_kind
@layer_config
class GlobalMaxPooling2D(_GlobalPooling):
    kind = "GlobalMaxPooling2D"
    reduction = "max"
    rank = 2


@layer_kind
@layer_config
class GlobalMaxPooling3D(_GlobalPooling):
    kind = "GlobalMaxPooling3D"
    reduction = "max"
    rank = 3


@layer_kind
@layer_config
class GlobalAveragePooling1D(_GlobalPooling):
    kind = "GlobalAveragePooling1D"
    reduction = "average"
    rank = 1


@layer_kind
@layer_config
class GlobalAveragePooling2D(_GlobalPooling):
    kind = "GlobalAveragePooling2D"
    reduction = "average"
    rank = 2


@layer_kind
@layer_config
class GlobalAveragePooling3D(_GlobalPooling):
    kind = "GlobalAveragePooling3D"
    reduction = "average"
    rank = 3
