"""Regularisation layers that act only in training; identity at inference."""

from __future__ import annotations

from typing import ClassVar, Literal

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape, require_rank


class _TrainingNoise(LayerConfig):
    training_only = True
    passes_mask = True

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@layer_kind
@layer_config
class Dropout(_TrainingNoise):
    kind = "Dropout"
    rate: float
    noise_shape: tuple[int | None, ...] | None = None
    seed: int | None = None


@layer_config
class _SpatialDropout(_TrainingNoise):
    """Drops whole feature maps (channels) instead of single values."""

    rank: ClassVar[int]
    rate: float
    data_format: Literal["channels_last", "channels_first"] = "channels_last"
    seed: int | None = None

    def output_shape(self, shape: Shape) -> Shape:
        require_rank(shape, self.rank + 2)
        return shape


@layer_kind
@layer_config
class SpatialDropout1D(_SpatialDropout):
    kind = "SpatialDropout1D"
    rank = 1


@layer_kind
@layer_config
class SpatialDropout2D(_SpatialDropout):
    kind = "SpatialDropout2D"
    rank = 2


@layer_kind
@layer_config
class SpatialDropout3D(_SpatialDropout):
    kind = "SpatialDropout3D"
    rank = 3


@layer_kind
@layer_config
class GaussianNoise(_TrainingNoise):
    kind = "GaussianNoise"
    elementwise = True
    stddev: float
    seed: int | None = None


@layer_kind
@layer_config
class GaussianDropout(_TrainingNoise):
    kind = "GaussianDropout"
    elementwise = True
    rate: float
    seed: int | None = None


@layer_kind
@layer_config
class AlphaDropout(_TrainingNoise):
    kind = "AlphaDropout"
    rate: float
    noise_shape: tuple[int | None, ...] | None = None
    seed: int | None = None
