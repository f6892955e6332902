"""Image preprocessing layers Keras saves inside models (Rescaling and Normalization live with the
core and normalisation layers)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape, ShapeError, join_channels, require_rank, split_channels

DataFormat = Literal["channels_last", "channels_first"]
#: tf.image.resize's methods, which Keras's Resizing names alike
INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic")


@layer_config
class _ImageSize(LayerConfig):
    height: int
    width: int
    data_format: DataFormat = "channels_last"

    def _image(self, shape: Shape) -> tuple[int | None, tuple[int | None, ...]]:
        require_rank(shape, 4)
        return split_channels(shape, self.data_format)

    def output_shape(self, shape: Shape) -> Shape:
        channels, _ = self._image(shape)
        return join_channels(shape[0], channels, (self.height, self.width), self.data_format)


@layer_kind
@layer_config
class Resizing(_ImageSize):
    """Images resized to ``height`` x ``width`` with tf.image.resize's ``interpolation``; with
    ``crop_to_aspect_ratio``, first cropped to their largest central window of the target's aspect
    ratio (:meth:`crop_window`), as Keras's Resizing and tf_keras's RandomCrop at inference do."""

    kind = "Resizing"
    interpolation: str = "bilinear"
    antialias: bool = False
    crop_to_aspect_ratio: bool = False

    def crop_window(self, rows: int, cols: int) -> tuple[int, int, int, int]:
        """(top, left, height, width) of the window cropped from a ``rows`` x ``cols`` image (Keras's
        float32 arithmetic, truncated; the whole image without ``crop_to_aspect_ratio``)."""
        if not self.crop_to_aspect_ratio:
            return 0, 0, rows, cols
        f32 = np.float32
        height = max(min(rows, int(f32(cols * self.height) / f32(self.width))), 1)
        width = max(min(cols, int(f32(rows * self.width) / f32(self.height))), 1)
        return int(f32(rows - height) / f32(2)), int(f32(cols - width) / f32(2)), height, width

    def __post_init__(self) -> None:
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"unsupported interpolation {self.interpolation!r}")


@layer_kind
@layer_config
class CenterCrop(_ImageSize):
    """The central ``height`` x ``width`` window of images at least that large (the top-left corner
    at half the excess, rounded down)."""

    kind = "CenterCrop"

    def output_shape(self, shape: Shape) -> Shape:
        _, (rows, cols) = self._image(shape)
        if rows is None or cols is None or rows < self.height or cols < self.width:
            raise ShapeError(f"crops {self.height}x{self.width} from images of known size at least that large, "
                             f"got {rows}x{cols} (Keras resizes smaller images instead)")
        return super().output_shape(shape)
