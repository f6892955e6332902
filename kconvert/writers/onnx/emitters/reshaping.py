"""ZeroPadding, Cropping and UpSampling over the spatial axes, wherever the input's layout has them
(bilinear upsampling channels-first, as ONNX Runtime's Resize computes it)."""

from __future__ import annotations

import numpy as np

from kconvert.writers.onnx.emit import Emit, emits
from kconvert.writers.onnx.graph import Value

_END = np.iinfo(np.int64).max


def spatial_axes(em: Emit, x: Value) -> list[int]:
    """Where the source's spatial axes are in ``x``."""
    first = 2 if em.config.data_format == "channels_first" else 1
    return [x.axis(first + i) for i in range(em.config.rank)]


@emits("ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D")
def zero_padding(em: Emit) -> list[Value]:
    x = em.values[0]
    begins, ends = [0] * x.rank, [0] * x.rank
    for axis, (before, after) in zip(spatial_axes(em, x), em.config.padding):
        begins[axis], ends[axis] = before, after
    return [Value(em.op("Pad", [x.name, em.const(begins + ends, np.int64)]), x.perm)]


@emits("Cropping1D", "Cropping2D", "Cropping3D")
def cropping(em: Emit) -> list[Value]:
    x = em.values[0]
    axes = spatial_axes(em, x)
    starts = [before for before, _ in em.config.cropping]
    ends = [-after if after else _END for _, after in em.config.cropping]
    inputs = [x.name, em.const(starts, np.int64), em.const(ends, np.int64), em.const(axes, np.int64)]
    return [Value(em.op("Slice", inputs), x.perm)]


@emits("UpSampling1D", "UpSampling2D", "UpSampling3D")
def upsampling(em: Emit) -> list[Value]:
    """Each value repeated ``size`` times (nearest, exact at integer scales), or bilinear with half-pixel
    centres (tf.image.resize)."""
    c = em.config
    if c.interpolation not in ("nearest", "bilinear"):
        raise em.refuse(f"does not write {c.interpolation} upsampling", key="interpolation")
    x = em.values[0] if c.interpolation == "nearest" else em.spatial_input()
    scales = [1.0] * x.rank
    for axis, size in zip(spatial_axes(em, x), c.size):
        scales[axis] = float(size)
    modes = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"} \
        if c.interpolation == "nearest" else {"mode": "linear", "coordinate_transformation_mode": "half_pixel"}
    return [Value(em.op("Resize", [x.name, "", em.const(scales)], **modes), x.perm)]


def _image_axes(em: Emit, x: Value) -> list[int]:
    """Where an image layer's (rows, cols) are in ``x``."""
    first = 2 if em.config.data_format == "channels_first" else 1
    return [x.axis(first), x.axis(first + 1)]


@emits("CenterCrop")
def center_crop(em: Emit) -> list[Value]:
    c, x = em.config, em.values[0]
    first = 2 if c.data_format == "channels_first" else 1
    rows, cols = em.shapes[0][first:first + 2]
    top, left = (rows - c.height) // 2, (cols - c.width) // 2  # (known: the IR checks it)
    inputs = [x.name, em.const([top, left], np.int64), em.const([top + c.height, left + c.width], np.int64),
              em.const(_image_axes(em, x), np.int64)]
    return [Value(em.op("Slice", inputs), x.perm)]


#: tf.image.resize methods -> ONNX Resize modes computing them (nearest: tf's ``floor((x + 0.5) / s)``
#: is half_pixel's ``(x + 0.5) / s - 0.5`` rounded half up)
_RESIZE = {"bilinear": {"mode": "linear", "coordinate_transformation_mode": "half_pixel"},
           "nearest": {"mode": "nearest", "coordinate_transformation_mode": "half_pixel",
                       "nearest_mode": "round_prefer_ceil"}}


@emits("Resizing")
def resizing(em: Emit) -> list[Value]:
    """ONNX's Resize to the output sizes, channels-first (batch and channels read from the tensor)."""
    c = em.config
    if c.interpolation not in _RESIZE or c.antialias:
        raise em.refuse(f"writes Resizing with bilinear or nearest interpolation and no antialias, not "
                        f"{c.interpolation!r}{' with antialias' if c.antialias else ''}", key="interpolation")
    if c.crop_to_aspect_ratio:  # Keras's crop window is float32 arithmetic on the input's sizes: not written yet
        raise em.refuse("writes Resizing without crop_to_aspect_ratio", key="crop_to_aspect_ratio")
    x = em.spatial_input()
    sizes = em.op("Concat", [em.sizes(x.name, 0, 2), em.const([c.height, c.width], np.int64)], axis=0)
    return [Value(em.op("Resize", [x.name, "", "", sizes], **_RESIZE[c.interpolation]), x.perm)]
