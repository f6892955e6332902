"""Converters for the data-augmentation layers Keras saves inside models (identity at inference)."""

from __future__ import annotations

from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import augmentation, preprocessing
from kconvert.readers.keras.layer import KerasLayerConfig, keras_layer


def _augmentation(cfg: KerasLayerConfig) -> LayerConfig:
    """Every setting shapes only the training-time randomness, which inference does not use."""
    cfg.mark_used(*cfg.raw)
    return augmentation.Augmentation(augmentation=cfg.class_name)


keras_layer(*(name for name in augmentation.AUGMENTATIONS if name != "RandomCrop"))(_augmentation)


@keras_layer("RandomCrop")
def random_crop(cfg: KerasLayerConfig) -> LayerConfig:
    """Keras 3's is the identity at inference; tf_keras's crops the central window of the target's
    aspect ratio and resizes it bilinearly (``smart_resize``), whatever the input's size."""
    if cfg.generation >= 3:
        return _augmentation(cfg)
    cfg.mark_used("seed")
    return preprocessing.Resizing(height=cfg.integer("height"), width=cfg.integer("width"),
                                  crop_to_aspect_ratio=True)
