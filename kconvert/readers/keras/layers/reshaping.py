"""Converters for cropping, zero-padding and up-sampling layers."""

from __future__ import annotations

from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import reshaping
from kconvert.readers.keras.layer import KerasLayerConfig, keras_layer


def _data_format(cfg: KerasLayerConfig, rank: int) -> str:
    return cfg.image_data_format() if rank > 1 or cfg.has("data_format") else "channels_last"


def _cropping(cfg: KerasLayerConfig, rank: int, cls: type, default: int) -> LayerConfig:
    pairs = cfg.pairs("cropping", rank, ((default, default),) * rank)
    return cls(cropping=pairs, data_format=_data_format(cfg, rank))


@keras_layer("Cropping1D")
def cropping_1d(cfg: KerasLayerConfig) -> LayerConfig:
    return _cropping(cfg, 1, reshaping.Cropping1D, 1)


@keras_layer("Cropping2D")
def cropping_2d(cfg: KerasLayerConfig) -> LayerConfig:
    return _cropping(cfg, 2, reshaping.Cropping2D, 0)


@keras_layer("Cropping3D")
def cropping_3d(cfg: KerasLayerConfig) -> LayerConfig:
    return _cropping(cfg, 3, reshaping.Cropping3D, 1)


def _padding(cfg: KerasLayerConfig, rank: int, cls: type) -> LayerConfig:
    value = cfg.get("padding", 1)
    if isinstance(value, dict):  # Keras 1: {"left_pad", "right_pad"} (1D) or also "top_pad", "bottom_pad" (2D)
        rows = [[value.get("top_pad", 0), value.get("bottom_pad", 0)]] if rank == 2 else []
        value = rows + [[value.get("left_pad", 0), value.get("right_pad", 0)]]
    elif rank == 2 and isinstance(value, (list, tuple)) and len(value) == 4:  # Keras 1.2 (top, bottom, left, right)
        value = [list(value[:2]), list(value[2:])]
    return cls(padding=cfg.to_pairs(value, "padding", rank), data_format=_data_format(cfg, rank))


@keras_layer("ZeroPadding1D")
def zero_padding_1d(cfg: KerasLayerConfig) -> LayerConfig:
    return _padding(cfg, 1, reshaping.ZeroPadding1D)


@keras_layer("ZeroPadding2D")
def zero_padding_2d(cfg: KerasLayerConfig) -> LayerConfig:
    return _padding(cfg, 2, reshaping.ZeroPadding2D)


@keras_layer("ZeroPadding3D")
def zero_padding_3d(cfg: KerasLayerConfig) -> LayerConfig:
    return _padding(cfg, 3, reshaping.ZeroPadding3D)


def _upsampling(cfg: KerasLayerConfig, rank: int, cls: type) -> LayerConfig:
    size = cfg.ints("size", rank, (2,) * rank, k1="length" if rank == 1 else None)
    interpolation = cfg.choice("interpolation", ("nearest", "bilinear"), "nearest") if rank == 2 else "nearest"
    return cls(size=size, data_format=_data_format(cfg, rank), interpolation=interpolation)


@keras_layer("UpSampling1D")
def upsampling_1d(cfg: KerasLayerConfig) -> LayerConfig:
    return _upsampling(cfg, 1, reshaping.UpSampling1D)


@keras_layer("UpSampling2D")
def upsampling_2d(cfg: KerasLayerConfig) -> LayerConfig:
    return _upsampling(cfg, 2, reshaping.UpSampling2D)


@keras_layer("UpSampling3D")
def upsampling_3d(cfg: KerasLayerConfig) -> LayerConfig:
    return _upsampling(cfg, 3, reshaping.UpSampling3D)
