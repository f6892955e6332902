"""Converters for DL4J's padding, cropping and upsampling layers (no parameters)."""

from __future__ import annotations

from kconvert.ir.layers import reshaping
from kconvert.ir.shapes import Shape
from kconvert.readers.dl4j.layer import Entry, Parameters, dl4j_layer, transposed
from kconvert.readers.dl4j.spec import LayerSpec


#: layers that keep their input's channels and declare no size: a network starting with them takes the
#: channels of the first layer after them that declares its input
CHANNEL_KEEPING = ("ZeroPaddingLayer", "convolutional.Cropping2D", "ZeroPadding3DLayer", "convolutional.Cropping3D",
                   "Upsampling2D", "Upsampling3D", "ZeroPadding1DLayer", "convolutional.Cropping1D",
                   "SubsamplingLayer", "Subsampling1DLayer", "Subsampling3DLayer")


def _image_format(spec: LayerSpec) -> str:
    return "channels_last" if spec.cnn_format() == "NHWC" else "channels_first"


def _amounts(spec: LayerSpec, key: str, count: int) -> tuple[int, ...]:
    values = spec.integers(key, minimum=0)
    if len(values) != count:
        raise spec.error(f"expected {count} amounts, got {list(values)}", key)
    return values


@dl4j_layer("ZeroPaddingLayer")
def zero_padding_2d(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    fmt = _image_format(spec)
    t, b, left, r = _amounts(spec, "padding", 4)
    return [(spec.name, reshaping.ZeroPadding2D(padding=((t, b), (left, r)), data_format=fmt), {})]


@dl4j_layer("convolutional.Cropping2D")
def cropping_2d(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    fmt = _image_format(spec)
    t, b, left, r = _amounts(spec, "cropping", 4)
    return [(spec.name, reshaping.Cropping2D(cropping=((t, b), (left, r)), data_format=fmt), {})]


def _pairs(spec: LayerSpec, key: str) -> tuple[tuple[int, int], ...]:
    """Three (before, after) amounts, NCDHW only."""
    amounts = _amounts(spec, key, 6)
    return ((amounts[0], amounts[1]), (amounts[2], amounts[3]), (amounts[4], amounts[5]))


@dl4j_layer("ZeroPadding3DLayer")
def zero_padding_3d(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    return [(spec.name, reshaping.ZeroPadding3D(padding=_pairs(spec, "padding"), data_format="channels_first"), {})]


@dl4j_layer("convolutional.Cropping3D")
def cropping_3d(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    return [(spec.name, reshaping.Cropping3D(cropping=_pairs(spec, "cropping"), data_format="channels_first"), {})]


@dl4j_layer("Upsampling2D")
def upsampling_2d(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    fmt = _image_format(spec)
    size = spec.integers("size", [2, 2])
    size = size * 2 if len(size) == 1 else size[:2]
    return [(spec.name, reshaping.UpSampling2D(size=size, data_format=fmt), {})]


@dl4j_layer("Upsampling3D")
def upsampling_3d(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    size = spec.integers("size", [2, 2, 2])
    size = size * 3 if len(size) == 1 else size[:3]
    fmt = "channels_last" if spec.get("dataFormat") == "NDHWC" else "channels_first"
    return [(spec.name, reshaping.UpSampling3D(size=size, data_format=fmt), {})]


def _sequence(spec: LayerSpec, entry: Entry) -> list[Entry]:
    return transposed(spec.name, [entry]) if spec.rnn_format() == "NCW" else [entry]


@dl4j_layer("ZeroPadding1DLayer")
def zero_padding_1d(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    pair = _amounts(spec, "padding", 2)
    return _sequence(spec, (spec.name, reshaping.ZeroPadding1D(padding=(pair,)), {}))


@dl4j_layer("convolutional.Cropping1D")
def cropping_1d(spec: LayerSpec, shape: Shape, params: Parameters) -> list[Entry]:
    pair = _amounts(spec, "cropping", 2)
    return _sequence(spec, (spec.name, reshaping.Cropping1D(cropping=(pair,)), {}))
