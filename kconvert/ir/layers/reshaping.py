"""Cropping, zero-padding and up-sampling along spatial axes."""

from __future__ import annotations

from typing import ClassVar, Literal

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape, ShapeError, join_channels, require_rank, split_channels

DataFormat = Literal["channels_last", "channels_first"]
Pairs = tuple[tuple[int, int], ...]


@layer_config
class _Spatial(LayerConfig):
    """A layer acting on ``rank`` spatial axes; 1-D layers are always channels-last (steps, features)."""

    rank: ClassVar[int]
    data_format: DataFormat = "channels_last"

    def _apply(self, shape: Shape, per_axis) -> Shape:  # type: ignore[no-untyped-def]
        require_rank(shape, self.rank + 2)
        channels, spatial = split_channels(shape, self.data_format)
        out = [per_axis(i, n) for i, n in enumerate(spatial)]
        return join_channels(shape[0], channels, out, self.data_format)

    def _check_pairs(self, name: str, pairs: Pairs) -> None:
        if len(pairs) != self.rank or any(len(p) != 2 or min(p) < 0 for p in pairs):
            raise ValueError(f"{name} must be {self.rank} pair(s) of non-negative integers, got {pairs}")


@layer_config
class _Cropping(_Spatial):
    """Remove ``cropping[i] = (before, after)`` cells from spatial axis ``i``."""

    cropping: Pairs

    def __post_init__(self) -> None:
        self._check_pairs("cropping", self.cropping)

    def output_shape(self, shape: Shape) -> Shape:
        def crop(i: int, n: int | None) -> int | None:
            if n is None:
                return None
            left = n - sum(self.cropping[i])
            if left <= 0:
                raise ShapeError(f"cropping {self.cropping[i]} removes all {n} cells of spatial axis {i}")
            return left
        return self._apply(shape, crop)


@layer_kind
@layer_config
class Cropping1D(_Cropping):
    kind = "Cropping1D"
    rank = 1

    def planar(self) -> LayerConfig:
        return Cropping2D(cropping=(tuple(self.cropping[0]), (0, 0)))


@layer_kind
@layer_config
class Cropping2D(_Cropping):
    kind = "Cropping2D"
    rank = 2


@layer_kind
@layer_config
class Cropping3D(_Cropping):
    kind = "Cropping3D"
    rank = 3


@layer_config
class _ZeroPadding(_Spatial):
    """Add ``padding[i] = (before, after)`` zero cells to spatial axis ``i``."""

    padding: Pairs

    def __post_init__(self) -> None:
        self._check_pairs("padding", self.padding)

    def output_shape(self, shape: Shape) -> Shape:
        return self._apply(shape, lambda i, n: None if n is None else n + sum(self.padding[i]))


@layer_kind
@layer_config
class ZeroPadding1D(_ZeroPadding):
    kind = "ZeroPadding1D"
    rank = 1

    def planar(self) -> LayerConfig:
        return ZeroPadding2D(padding=(tuple(self.padding[0]), (0, 0)))


@layer_kind
@layer_config
class ZeroPadding2D(_ZeroPadding):
    kind = "ZeroPadding2D"
    rank = 2


@layer_kind
@layer_config
class ZeroPadding3D(_ZeroPadding):
    kind = "ZeroPadding3D"
    rank = 3


@layer_config
class _UpSampling(_Spatial):
    """Repeat every cell ``size[i]`` times along spatial axis ``i`` (or resize, see interpolation)."""

    size: tuple[int, ...]
    interpolation: str = "nearest"

    def __post_init__(self) -> None:
        if len(self.size) != self.rank or min(self.size) < 1:
            raise ValueError(f"size must be {self.rank} positive integer(s), got {self.size}")
        if self.interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"unsupported interpolation {self.interpolation!r}")

    def output_shape(self, shape: Shape) -> Shape:
        return self._apply(shape, lambda i, n: None if n is None else n * self.size[i])


@layer_kind
@layer_config
class UpSampling1D(_UpSampling):
    kind = "UpSampling1D"
    rank = 1

    def planar(self) -> LayerConfig:
        return UpSampling2D(size=(self.size[0], 1), interpolation=self.interpolation)


@layer_kind
@layer_config
class UpSampling2D(_UpSampling):
    kind = "UpSampling2D"
    rank = 2


@layer_kind
@layer_config
class UpSampling3D(_UpSampling):
    kind = "UpSampling3D"
    rank = 3
