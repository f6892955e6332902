"""Converters for the image preprocessing layers Keras saves inside models."""

from __future__ import annotations

from kconvert.ir.layers import preprocessing
from kconvert.readers.keras.layer import KerasLayerConfig, keras_layer


@keras_layer("Resizing")
def resizing(cfg: KerasLayerConfig) -> preprocessing.Resizing:
    if cfg.boolean("pad_to_aspect_ratio", False):
        raise cfg.error("pad_to_aspect_ratio=True pads before resizing, which kconvert does not express",
                        "pad_to_aspect_ratio")
    cfg.mark_used("fill_mode", "fill_value")  # used only when padding to the aspect ratio
    return preprocessing.Resizing(height=cfg.integer("height"), width=cfg.integer("width"),
                                  interpolation=cfg.choice("interpolation", preprocessing.INTERPOLATIONS, "bilinear"),
                                  antialias=cfg.boolean("antialias", False), data_format=cfg.data_format(),
                                  crop_to_aspect_ratio=cfg.boolean("crop_to_aspect_ratio", False))


@keras_layer("CenterCrop")
def center_crop(cfg: KerasLayerConfig) -> preprocessing.CenterCrop:
    return preprocessing.CenterCrop(height=cfg.integer("height"), width=cfg.integer("width"),
                                    data_format=cfg.data_format())
