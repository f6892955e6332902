"""Shape inference and expected weight shapes of every IR layer kind, against Keras's formulas.

Every registered kind must appear in :data:`SHAPE_CASES` (or :data:`IDENTITY`), and every kind
with weights in :data:`WEIGHT_CASES`: adding a layer kind without a test fails this module.
"""

from __future__ import annotations

import itertools
import math
from typing import Callable, NamedTuple

import pytest

from kconvert.ir import LAYER_KINDS, Layer, LayerConfig, Model, Shape, ShapeError, layer_kind
from kconvert.ir.layers import activations as act
from kconvert.ir.layers import (
    applications,
    attention,
    augmentation,
    conv,
    core,
    einsum,
    encoding,
    merge,
    noise,
    normalization,
    ops,
    pooling,
    preprocessing,
    recurrent,
    reshaping,
    text,
)
from kconvert.ir.layers.model import NestedModel
from kconvert.ir.layers.wrappers import Bidirectional, TimeDistributed
from kconvert.ir.shapes import broadcast, conv_output_length, deconv_output_length
from tests.helpers import input_layer, layer, model


class Case(NamedTuple):
    id: str
    config: LayerConfig
    inputs: list[Shape]
    expected: list[Shape]


def sub(config: LayerConfig, name: str = "inner") -> Layer:
    """A wrapped layer (never called in a graph itself)."""
    return Layer(name, config)


def lstm(units: int = 8, **kw: bool) -> Layer:
    return sub(recurrent.LSTM(units=units, **kw), "lstm")


def tiny_model(shape: Shape = (None, 4), units: int = 3) -> Model:
    """Input(shape) -> Dense(units), for NestedModel."""
    return model([input_layer("ix", shape), layer("idense", core.Dense(units=units), ["ix"])], ["ix"], ["idense"],
                 name="tiny")


def keras_conv_length(n: int, k: int, padding: str, s: int, d: int = 1) -> int:
    """Keras's documented output length, written independently with real division."""
    if padding == "valid":
        return math.ceil((n - (k - 1) * d) / s)
    if padding in ("same", "causal"):
        return math.ceil(n / s)
    return math.ceil((n + (k - 1) * d) / s)  # full


B = None  # the unknown batch dimension, for readability

# (id, config, input shapes, expected output shapes); the numbers are worked out by hand from the
# Keras formulas: valid ceil((n - (k-1)d) / s), same ceil(n / s), full ceil((n + (k-1)d) / s);
# transposed without output_padding: valid n*s + max(k'-s, 0), same n*s, full n*s - (s + k' - 2);
# with output_padding: (n-1)*s + k' - 2*pad + output_padding, pad = k'//2 (same), 0 (valid), k'-1 (full).
SHAPE_CASES: list[Case] = [
    Case("input", core.InputLayer(batch_shape=(B, 3, 5)), [], [(B, 3, 5)]),
    # -- convolutions --------------------------------------------------------------------------
    Case("conv1d-valid", conv.Conv1D(filters=6, kernel_size=(3,)), [(B, 10, 2)], [(B, 8, 6)]),
    Case("conv1d-same-stride", conv.Conv1D(filters=6, kernel_size=(3,), strides=(2,), padding="same"),
         [(B, 11, 2)], [(B, 6, 6)]),
    Case("conv1d-causal-dilated", conv.Conv1D(filters=4, kernel_size=(3,), padding="causal", dilation_rate=(4,)),
         [(B, 9, 2)], [(B, 9, 4)]),
    Case("conv1d-full", conv.Conv1D(filters=4, kernel_size=(3,), padding="full", strides=(2,)),
         [(B, 9, 2)], [(B, 6, 4)]),
    Case("conv1d-valid-dilated-strided", conv.Conv1D(filters=4, kernel_size=(3,), dilation_rate=(2,), strides=(3,)),
         [(B, 20, 2)], [(B, 6, 4)]),  # ceil((20 - 4) / 3)
    Case("conv1d-unknown-length", conv.Conv1D(filters=4, kernel_size=(3,)), [(B, None, 2)], [(B, None, 4)]),
    Case("conv2d-valid-stride", conv.Conv2D(filters=8, kernel_size=(3, 3), strides=(2, 2)),
         [(B, 28, 28, 1)], [(B, 13, 13, 8)]),
    Case("conv2d-channels-first", conv.Conv2D(filters=8, kernel_size=(3, 5), data_format="channels_first"),
         [(B, 3, 32, 32)], [(B, 8, 30, 28)]),
    Case("conv2d-same-mixed", conv.Conv2D(filters=2, kernel_size=(3, 1), strides=(2, 3), padding="same"),
         [(B, 7, 10, 3)], [(B, 4, 4, 2)]),
    Case("conv2d-groups", conv.Conv2D(filters=8, kernel_size=(1, 1), groups=4), [(B, 5, 5, 4)], [(B, 5, 5, 8)]),
    Case("conv3d", conv.Conv3D(filters=2, kernel_size=(2, 3, 3), padding="valid"),
         [(B, 4, 6, 6, 1)], [(B, 3, 4, 4, 2)]),
    Case("conv1d-transpose-valid", conv.Conv1DTranspose(filters=3, kernel_size=(3,), strides=(2,)),
         [(B, 5, 2)], [(B, 11, 3)]),
    Case("conv1d-transpose-full", conv.Conv1DTranspose(filters=3, kernel_size=(3,), strides=(2,), padding="full"),
         [(B, 5, 2)], [(B, 7, 3)]),
    Case("conv2d-transpose-same", conv.Conv2DTranspose(filters=4, kernel_size=(3, 3), strides=(2, 2),
                                                       padding="same"), [(B, 5, 6, 2)], [(B, 10, 12, 4)]),
    Case("conv2d-transpose-valid-big-stride", conv.Conv2DTranspose(filters=4, kernel_size=(2, 2), strides=(3, 3)),
         [(B, 5, 5, 2)], [(B, 15, 15, 4)]),  # max(k - s, 0) = 0
    Case("conv2d-transpose-output-padding", conv.Conv2DTranspose(
        filters=4, kernel_size=(3, 3), strides=(2, 2), padding="same", output_padding=(1, 0)),
        [(B, 5, 5, 2)], [(B, 10, 9, 4)]),
    Case("conv2d-transpose-valid-output-padding", conv.Conv2DTranspose(
        filters=4, kernel_size=(3, 3), strides=(2, 2), output_padding=(1, 1), data_format="channels_first"),
        [(B, 2, 5, 5)], [(B, 4, 12, 12)]),
    Case("conv2d-transpose-dilated", conv.Conv2DTranspose(filters=1, kernel_size=(3, 3), dilation_rate=(2, 2)),
         [(B, 4, 4, 1)], [(B, 8, 8, 1)]),  # k' = 5: 4 + 5 - 1
    Case("conv3d-transpose", conv.Conv3DTranspose(filters=2, kernel_size=(2, 2, 2), strides=(2, 2, 2)),
         [(B, 3, 4, None, 1)], [(B, 6, 8, None, 2)]),
    Case("separable1d", conv.SeparableConv1D(filters=5, kernel_size=(3,), depth_multiplier=2),
         [(B, 10, 3)], [(B, 8, 5)]),
    Case("separable2d", conv.SeparableConv2D(filters=5, kernel_size=(3, 3), padding="same", strides=(2, 2)),
         [(B, 9, 9, 3)], [(B, 5, 5, 5)]),
    Case("depthwise1d", conv.DepthwiseConv1D(kernel_size=(3,), depth_multiplier=2), [(B, 10, 3)], [(B, 8, 6)]),
    Case("depthwise2d-channels-first", conv.DepthwiseConv2D(kernel_size=(3, 3), depth_multiplier=3,
                                                            data_format="channels_first"),
         [(B, 2, 6, 6)], [(B, 6, 4, 4)]),
    Case("depthwise2d-unknown-channels", conv.DepthwiseConv2D(kernel_size=(1, 1)), [(B, 4, 4, None)],
         [(B, 4, 4, None)]),
    Case("locally1d", conv.LocallyConnected1D(filters=4, kernel_size=(3,), strides=(2,)), [(B, 9, 2)], [(B, 4, 4)]),
    Case("locally2d", conv.LocallyConnected2D(filters=4, kernel_size=(3, 2)), [(B, 5, 6, 2)], [(B, 3, 5, 4)]),
    # -- pooling -------------------------------------------------------------------------------
    Case("maxpool1d", pooling.MaxPooling1D(pool_size=(2,)), [(B, 9, 3)], [(B, 4, 3)]),
    Case("maxpool2d-same", pooling.MaxPooling2D(pool_size=(2, 2), padding="same"), [(B, 7, 7, 3)], [(B, 4, 4, 3)]),
    Case("maxpool3d", pooling.MaxPooling3D(pool_size=(2, 2, 2), data_format="channels_first"),
         [(B, 3, 4, 5, 6)], [(B, 3, 2, 2, 3)]),
    Case("avgpool1d-stride1-same", pooling.AveragePooling1D(pool_size=(3,), strides=(1,), padding="same"),
         [(B, 9, 3)], [(B, 9, 3)]),
    Case("avgpool2d-strides", pooling.AveragePooling2D(pool_size=(3, 3), strides=(2, 1)), [(B, 9, 5, 1)],
         [(B, 4, 3, 1)]),
    Case("avgpool3d", pooling.AveragePooling3D(pool_size=(1, 2, 3)), [(B, 2, 4, 9, 1)], [(B, 2, 2, 3, 1)]),
    Case("gmaxpool1d", pooling.GlobalMaxPooling1D(), [(B, 9, 3)], [(B, 3)]),
    Case("gmaxpool2d-keepdims-cf", pooling.GlobalMaxPooling2D(keepdims=True, data_format="channels_first"),
         [(B, 3, 5, 5)], [(B, 3, 1, 1)]),
    Case("gmaxpool3d", pooling.GlobalMaxPooling3D(), [(B, 2, 2, 2, 7)], [(B, 7)]),
    Case("gavgpool1d-keepdims", pooling.GlobalAveragePooling1D(keepdims=True), [(B, 9, 3)], [(B, 1, 3)]),
    Case("gavgpool2d-cf", pooling.GlobalAveragePooling2D(data_format="channels_first"), [(B, 3, 5, 5)], [(B, 3)]),
    Case("gavgpool3d-keepdims", pooling.GlobalAveragePooling3D(keepdims=True), [(B, 2, 2, 2, 7)],
         [(B, 1, 1, 1, 7)]),
    # -- cropping, padding, up-sampling ----------------------------------------------------------
    Case("crop1d", reshaping.Cropping1D(cropping=((1, 2),)), [(B, 10, 3)], [(B, 7, 3)]),
    Case("crop2d", reshaping.Cropping2D(cropping=((1, 2), (3, 4))), [(B, 10, 12, 3)], [(B, 7, 5, 3)]),
    Case("crop2d-cf", reshaping.Cropping2D(cropping=((1, 1), (0, 2)), data_format="channels_first"),
         [(B, 3, 10, 12)], [(B, 3, 8, 10)]),
    Case("crop3d-unknown", reshaping.Cropping3D(cropping=((1, 1), (1, 1), (0, 0))), [(B, 4, None, 4, 1)],
         [(B, 2, None, 4, 1)]),
    Case("pad1d", reshaping.ZeroPadding1D(padding=((2, 1),)), [(B, 5, 3)], [(B, 8, 3)]),
    Case("pad2d-cf", reshaping.ZeroPadding2D(padding=((1, 1), (2, 0)), data_format="channels_first"),
         [(B, 3, 4, 4)], [(B, 3, 6, 6)]),
    Case("pad3d", reshaping.ZeroPadding3D(padding=((1, 0), (0, 1), (1, 1))), [(B, 2, 2, None, 1)],
         [(B, 3, 3, None, 1)]),
    Case("upsample1d", reshaping.UpSampling1D(size=(3,)), [(B, 5, 2)], [(B, 15, 2)]),
    Case("upsample2d-cf", reshaping.UpSampling2D(size=(2, 3), data_format="channels_first",
                                                 interpolation="bilinear"), [(B, 1, 4, 5)], [(B, 1, 8, 15)]),
    Case("upsample3d", reshaping.UpSampling3D(size=(2, 2, 2)), [(B, 1, 2, None, 4)], [(B, 2, 4, None, 4)]),
    # -- reshaping layers ----------------------------------------------------------------------
    Case("reshape", core.Reshape(target_shape=(3, 4)), [(B, 2, 6)], [(B, 3, 4)]),
    Case("reshape-minus-one", core.Reshape(target_shape=(3, -1)), [(B, 2, 6)], [(B, 3, 4)]),
    Case("reshape-minus-one-unknown", core.Reshape(target_shape=(-1, 3)), [(B, None, 6)], [(B, None, 3)]),
    Case("permute", core.Permute(dims=(2, 3, 1)), [(B, 2, 3, 4)], [(B, 3, 4, 2)]),
    Case("flatten", core.Flatten(), [(B, 2, 3, 4)], [(B, 24)]),
    Case("flatten-cf-unknown", core.Flatten(data_format="channels_first"), [(B, 3, None)], [(B, None)]),
    Case("repeat", core.RepeatVector(n=5), [(B, 3)], [(B, 5, 3)]),
    Case("embedding", core.Embedding(input_dim=100, output_dim=8), [(B, 12)], [(B, 12, 8)]),
    Case("dense-rank3", core.Dense(units=7), [(B, 5, 3)], [(B, 5, 7)]),
    Case("highway", core.Highway(), [(B, 6)], [(B, 6)]),
    Case("maxout", core.MaxoutDense(units=5, nb_feature=3), [(B, 6)], [(B, 5)]),
    Case("softmax-axes", act.Softmax(axis=(1, -1)), [(B, 3, 4)], [(B, 3, 4)]),
    Case("spatial-dropout1d", noise.SpatialDropout1D(rate=0.5), [(B, 7, 3)], [(B, 7, 3)]),
    Case("spatial-dropout3d", noise.SpatialDropout3D(rate=0.5, data_format="channels_first"),
         [(B, 2, 3, 4, 5)], [(B, 2, 3, 4, 5)]),
    # -- merging -------------------------------------------------------------------------------
    Case("add-broadcast", merge.Add(), [(B, 1, 4), (B, 3, 1)], [(B, 3, 4)]),
    Case("add-rank-broadcast", merge.Add(), [(B, 3, 4), (4,)], [(B, 3, 4)]),
    Case("add-unknown-vs-known", merge.Add(), [(B, None, 4), (B, 3, 4)], [(B, 3, 4)]),
    Case("add-unknown-vs-one", merge.Add(), [(B, None, 4), (B, 1, 4)], [(B, None, 4)]),
    Case("add-batch", merge.Add(), [(B, 4), (2, 4)], [(2, 4)]),
    Case("subtract", merge.Subtract(), [(B, 4), (B, 4)], [(B, 4)]),
    Case("multiply-three", merge.Multiply(), [(B, 4), (B, 1), (B, 4)], [(B, 4)]),
    Case("average", merge.Average(), [(B, 2, 4), (B, 2, 4)], [(B, 2, 4)]),
    Case("maximum", merge.Maximum(), [(B, 4), (B, 4)], [(B, 4)]),
    Case("minimum", merge.Minimum(), [(B, 4), (B, 4)], [(B, 4)]),
    Case("concat-last", merge.Concatenate(), [(B, 3, 4), (B, 3, 5)], [(B, 3, 9)]),
    Case("concat-axis1", merge.Concatenate(axis=1), [(B, 3, 4), (B, 2, 4), (B, None, 4)], [(B, None, 4)]),
    Case("concat-fill-unknown", merge.Concatenate(axis=1), [(B, 3, None), (B, 2, 4)], [(B, 5, 4)]),
    Case("dot-vectors", merge.Dot(axes=(1, 1)), [(B, 5), (B, 5)], [(B, 1)]),
    Case("dot-matrices", merge.Dot(axes=(2, 2)), [(B, 3, 4), (B, 5, 4)], [(B, 3, 5)]),
    Case("dot-mixed-axes", merge.Dot(axes=(1, -1), normalize=True), [(B, 4, 3), (B, 5, 4)], [(B, 3, 5)]),
    # -- recurrent -----------------------------------------------------------------------------
    Case("simple-rnn", recurrent.SimpleRNN(units=8), [(B, 10, 4)], [(B, 8)]),
    Case("simple-rnn-seq-state", recurrent.SimpleRNN(units=8, return_sequences=True, return_state=True),
         [(B, 10, 4)], [(B, 10, 8), (B, 8)]),
    Case("gru-state", recurrent.GRU(units=6, return_state=True), [(B, None, 4)], [(B, 6), (B, 6)]),
    Case("gru-initial-state", recurrent.GRU(units=6), [(B, 10, 4), (B, 6)], [(B, 6)]),
    Case("lstm-seq", recurrent.LSTM(units=8, return_sequences=True), [(B, 10, 4)], [(B, 10, 8)]),
    Case("lstm-states", recurrent.LSTM(units=8, return_state=True), [(B, 10, 4)], [(B, 8), (B, 8), (B, 8)]),
    Case("lstm-initial-states", recurrent.LSTM(units=8), [(B, 10, 4), (B, 8), (B, 8)], [(B, 8)]),
    Case("peephole-lstm", recurrent.PeepholeLSTM(units=8, return_state=True), [(B, 10, 4)],
         [(B, 8), (B, 8), (B, 8)]),
    Case("convlstm", recurrent.ConvLSTM2D(filters=6, kernel_size=(3, 3)), [(B, 5, 10, 10, 2)], [(B, 8, 8, 6)]),
    Case("convlstm-seq-states", recurrent.ConvLSTM2D(filters=6, kernel_size=(3, 3), return_sequences=True,
                                                     return_state=True),
         [(B, 5, 10, 10, 2)], [(B, 5, 8, 8, 6), (B, 8, 8, 6), (B, 8, 8, 6)]),
    Case("convlstm-cf-same-strided", recurrent.ConvLSTM2D(filters=6, kernel_size=(3, 3), padding="same",
                                                          strides=(2, 2), data_format="channels_first"),
         [(B, 5, 2, 10, 9)], [(B, 6, 5, 5)]),
    # -- wrappers ------------------------------------------------------------------------------
    Case("time-distributed-dense", TimeDistributed(layer=sub(core.Dense(units=4))), [(B, 7, 3)], [(B, 7, 4)]),
    Case("time-distributed-conv", TimeDistributed(layer=sub(conv.Conv2D(filters=2, kernel_size=(3, 3)))),
         [(B, 7, 8, 8, 1)], [(B, 7, 6, 6, 2)]),
    Case("bidirectional-concat", Bidirectional(forward=lstm(return_sequences=True),
                                               backward=lstm(return_sequences=True, go_backwards=True)),
         [(B, 10, 4)], [(B, 10, 16)]),
    Case("bidirectional-sum", Bidirectional(forward=lstm(), backward=lstm(go_backwards=True), merge_mode="sum"),
         [(B, 10, 4)], [(B, 8)]),
    Case("bidirectional-none", Bidirectional(forward=lstm(), backward=lstm(go_backwards=True), merge_mode=None),
         [(B, 10, 4)], [(B, 8), (B, 8)]),
    Case("bidirectional-states", Bidirectional(forward=lstm(return_state=True),
                                               backward=lstm(return_state=True, go_backwards=True)),
         [(B, 10, 4)], [(B, 16), (B, 8), (B, 8), (B, 8), (B, 8)]),
    Case("bidirectional-none-states", Bidirectional(
        forward=sub(recurrent.GRU(units=3, return_state=True)),
        backward=sub(recurrent.GRU(units=3, return_state=True, go_backwards=True)), merge_mode=None),
        [(B, 10, 4)], [(B, 3), (B, 3), (B, 3), (B, 3)]),
    Case("bidirectional-initial-states", Bidirectional(forward=lstm(), backward=lstm(go_backwards=True),
                                                       merge_mode="ave"),
         [(B, 10, 4), (B, 8), (B, 8), (B, 8), (B, 8)], [(B, 8)]),
    # -- attention -----------------------------------------------------------------------------
    Case("attention", attention.Attention(), [(B, 4, 8), (B, 6, 8)], [(B, 4, 8)]),
    Case("attention-key-scores", attention.Attention(return_attention_scores=True),
         [(B, 4, 8), (B, 6, 5), (B, 6, 8)], [(B, 4, 5), (B, 4, 6)]),
    Case("attention-rank2", attention.Attention(), [(B, 8), (B, 8)], [(B, 8)]),
    Case("attention-rank2-scores", attention.Attention(return_attention_scores=True), [(B, 8), (B, 8)],
         [(B, 8), (B, None)]),  # every sample attends over the whole batch
    Case("mha-self", attention.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=4), [(B, 5, 8), (B, 5, 8)],
         [(B, 5, 8)]),
    Case("mha-key-mask-output", attention.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=3, output_dims=(2, 7),
                                                              with_attention_mask=True),
         [(B, 5, 8), (B, 6, 4), (B, 6, 3), (B, 5, 6)], [(B, 5, 2, 7)]),
    Case("einsum-dense", einsum.EinsumDense(equation="abc,cd->abd", partial_output_shape=(None, 4)),
         [(B, 5, 6)], [(B, 5, 4)]),
    Case("einsum-dense-left-ellipsis", einsum.EinsumDense(equation="...b,bc->...c", partial_output_shape=(3,)),
         [(B, 5, 6)], [(B, 5, 3)]),
    # -- preprocessing and keras.applications helpers ------------------------------------------------
    Case("resizing", preprocessing.Resizing(height=5, width=7), [(B, 9, None, 3)], [(B, 5, 7, 3)]),
    Case("resizing-cf", preprocessing.Resizing(height=5, width=7, data_format="channels_first"), [(B, 3, 9, 9)],
         [(B, 3, 5, 7)]),
    Case("center-crop", preprocessing.CenterCrop(height=4, width=2), [(B, 9, 5, 3)], [(B, 4, 2, 3)]),
    Case("resizing-cropped", preprocessing.Resizing(height=5, width=7, crop_to_aspect_ratio=True), [(B, 9, 4, 3)],
         [(B, 5, 7, 3)]),
    Case("cumsum", ops.Cumsum(axis=1), [(B, 7)], [(B, 7)]),
    # a lookup's vocabulary is Keras's get_vocabulary(): its OOV (and mask) tokens included
    Case("string-lookup", text.StringLookup(vocabulary=("[UNK]", "a", "b")), [(B, 4)], [(B, 4)]),
    Case("string-lookup-inverted", text.StringLookup(vocabulary=("[UNK]", "a", "b"), invert=True), [(B, 4)],
         [(B, 4)]),
    Case("string-lookup-multi-hot", text.StringLookup(vocabulary=("[UNK]", "a", "b"), output_mode="multi_hot"),
         [(B, 4)], [(B, 3)]),
    Case("text-vectorization", text.TextVectorization(vocabulary=("", "[UNK]", "a"), output_sequence_length=5),
         [(B,)], [(B, 5)]),
    Case("text-vectorization-count", text.TextVectorization(vocabulary=("", "[UNK]", "a"), output_mode="count"),
         [(B, 1)], [(B, 3)]),
    Case("category-encoding-count", encoding.CategoryEncoding(num_tokens=6, output_mode="count"), [(B, 4)], [(B, 6)]),
    Case("category-encoding-one-hot", encoding.CategoryEncoding(num_tokens=6, output_mode="one_hot"), [(B, 1)],
         [(B, 6)]),
    Case("discretization-one-hot", encoding.Discretization(bin_boundaries=(0.0, 1.0), output_mode="one_hot"),
         [(B, 4)], [(B, 4, 3)]),
    Case("lookup-multi-hot", encoding.IntegerLookup(vocabulary=(3, 5), mask_token=0, output_mode="multi_hot"),
         [(B, 4)], [(B, 3)]),
    Case("hashing-one-hot", encoding.Hashing(num_bins=5, mask_value=0, output_mode="one_hot"), [(B, 1)], [(B, 5)]),
    Case("hashing-count", encoding.Hashing(num_bins=4, salt=(1, 2), output_mode="count"), [(B, 3)], [(B, 4)]),
    Case("custom-scale", applications.CustomScaleLayer(scale=0.2), [(B, 4, 3), (B, 1, 3)], [(B, 4, 3)]),
    Case("layer-scale", applications.LayerScale(projection_dim=3), [(B, 4, 3)], [(B, 4, 3)]),
    # -- functional operations -----------------------------------------------------------------
    Case("binary-constant", ops.BinaryOp(op="add", constant=2.0), [(B, 6, 4)], [(B, 6, 4)]),
    Case("binary-broadcast", ops.BinaryOp(op="multiply"), [(B, 6, 4), (B, 1, 4)], [(B, 6, 4)]),
    Case("reduce-keepdims", ops.Reduce(op="mean", axis=(-1,), keepdims=True), [(B, 6, 4)], [(B, 6, 1)]),
    Case("reduce", ops.Reduce(op="max", axis=(1, 2)), [(B, 6, 4)], [(B,)]),
    Case("expand-dims", ops.ExpandDims(axis=(1,)), [(B, 6, 4)], [(B, 1, 6, 4)]),
    Case("expand-dims-last", ops.ExpandDims(axis=(-1,)), [(B, 6)], [(B, 6, 1)]),
    Case("squeeze", ops.Squeeze(axis=(1,)), [(B, 1, 6)], [(B, 6)]),
    Case("get-item", ops.GetItem(items=(ops.Index("slice"), ops.Index("slice", 1, 3))), [(B, 6, 4)], [(B, 2, 4)]),
    Case("get-item-newaxis-ellipsis-step", ops.GetItem(items=(
        ops.Index("slice"), ops.Index("newaxis"), ops.Index("ellipsis"), ops.Index("slice", None, None, 2))),
        [(B, 6, 5)], [(B, 1, 6, 3)]),
    Case("get-item-index-reverse", ops.GetItem(items=(
        ops.Index("ellipsis"), ops.Index("slice", None, None, -2), ops.Index("index", -1))), [(B, 7, 4)], [(B, 4)]),
    # -- nested models -------------------------------------------------------------------------
    Case("nested", NestedModel(model=tiny_model()), [(B, 4)], [(B, 3)]),
    Case("nested-fills-unknown-input", NestedModel(model=tiny_model((None, None, 4), units=2)), [(B, 7, 4)],
         [(B, 7, 2)]),
    # Keras's allow_last_axis_squeeze: a last axis of 1 is added or dropped to match the declared rank
    Case("nested-adds-last-axis", NestedModel(model=tiny_model((None, 4, 1), units=2)), [(B, 4)], [(B, 4, 2)]),
    Case("nested-drops-last-axis", NestedModel(model=tiny_model((None, 4), units=2)), [(B, 4, 1)], [(B, 2)]),
]

#: kinds whose output shape is their input shape, whatever it is
IDENTITY: list[LayerConfig] = [
    core.Activation(activation="relu"), core.Masking(), core.ActivityRegularization(l1=0.1), core.Rescaling(),
    ops.NotEqual(value=0.0), ops.UnaryOp(op="hard_silu"), augmentation.Augmentation(augmentation="RandomFlip"),
    encoding.Discretization(bin_boundaries=(0.0,)), encoding.IntegerLookup(vocabulary=(4, 2), mask_token=0),
    act.ReLU(max_value=6.0), act.LeakyReLU(), act.ELU(), act.ThresholdedReLU(), act.Softmax(), act.PReLU(),
    act.ParametricSoftplus(), act.SReLU(), noise.Dropout(rate=0.5), noise.GaussianNoise(stddev=0.1),
    noise.GaussianDropout(rate=0.1), noise.AlphaDropout(rate=0.1), noise.SpatialDropout2D(rate=0.1),
    normalization.BatchNormalization(), normalization.LayerNormalization(axis=(1, 2, 3)),
    normalization.Normalization(), normalization.GroupNormalization(groups=1), normalization.UnitNormalization(),
    core.Identity(), applications.StochasticDepth(rate=0.1),
]

#: (id, config, input shapes, expected weights in canonical order)
WEIGHT_CASES: list[tuple[str, LayerConfig, list[Shape], dict[str, Shape]]] = [
    ("dense", core.Dense(units=5), [(B, 3)], {"kernel": (3, 5), "bias": (5,)}),
    ("dense-no-bias-rank3", core.Dense(units=5, use_bias=False), [(B, 7, 3)], {"kernel": (3, 5)}),
    ("highway", core.Highway(), [(B, 4)], {"kernel": (4, 4), "carry_kernel": (4, 4), "bias": (4,),
                                           "carry_bias": (4,)}),
    ("maxout", core.MaxoutDense(units=5, nb_feature=3), [(B, 6)], {"kernel": (3, 6, 5), "bias": (3, 5)}),
    ("embedding", core.Embedding(input_dim=100, output_dim=8), [(B, None)], {"embeddings": (100, 8)}),
    ("conv1d", conv.Conv1D(filters=6, kernel_size=(3,)), [(B, 10, 2)], {"kernel": (3, 2, 6), "bias": (6,)}),
    ("conv2d", conv.Conv2D(filters=8, kernel_size=(3, 5)), [(B, 9, 9, 4)], {"kernel": (3, 5, 4, 8), "bias": (8,)}),
    ("conv2d-groups-cf", conv.Conv2D(filters=8, kernel_size=(3, 3), groups=2, data_format="channels_first",
                                     use_bias=False), [(B, 4, 9, 9)], {"kernel": (3, 3, 2, 8)}),
    ("conv3d", conv.Conv3D(filters=2, kernel_size=(1, 2, 3)), [(B, 4, 4, 4, 3)],
     {"kernel": (1, 2, 3, 3, 2), "bias": (2,)}),
    ("conv1d-transpose", conv.Conv1DTranspose(filters=3, kernel_size=(4,)), [(B, 5, 2)],
     {"kernel": (4, 3, 2), "bias": (3,)}),
    ("conv2d-transpose", conv.Conv2DTranspose(filters=6, kernel_size=(3, 2)), [(B, 5, 5, 4)],
     {"kernel": (3, 2, 6, 4), "bias": (6,)}),
    ("conv3d-transpose-cf", conv.Conv3DTranspose(filters=6, kernel_size=(1, 2, 3), data_format="channels_first"),
     [(B, 4, 3, 3, 3)], {"kernel": (1, 2, 3, 6, 4), "bias": (6,)}),
    ("separable1d", conv.SeparableConv1D(filters=7, kernel_size=(3,), depth_multiplier=2), [(B, 10, 3)],
     {"depthwise_kernel": (3, 3, 2), "pointwise_kernel": (1, 6, 7), "bias": (7,)}),
    ("separable2d", conv.SeparableConv2D(filters=7, kernel_size=(3, 3), depth_multiplier=2), [(B, 9, 9, 3)],
     {"depthwise_kernel": (3, 3, 3, 2), "pointwise_kernel": (1, 1, 6, 7), "bias": (7,)}),
    ("depthwise1d", conv.DepthwiseConv1D(kernel_size=(3,), depth_multiplier=4), [(B, 10, 3)],
     {"depthwise_kernel": (3, 3, 4), "bias": (12,)}),
    ("depthwise2d", conv.DepthwiseConv2D(kernel_size=(3, 3), depth_multiplier=2), [(B, 9, 9, 5)],
     {"depthwise_kernel": (3, 3, 5, 2), "bias": (10,)}),
    ("locally1d", conv.LocallyConnected1D(filters=4, kernel_size=(3,), strides=(2,)), [(B, 9, 2)],
     {"kernel": (4, 6, 4), "bias": (4, 4)}),
    ("locally2d", conv.LocallyConnected2D(filters=4, kernel_size=(3, 2)), [(B, 5, 6, 2)],
     {"kernel": (15, 12, 4), "bias": (3, 5, 4)}),
    ("locally2d-cf", conv.LocallyConnected2D(filters=4, kernel_size=(3, 2), data_format="channels_first",
                                             use_bias=False), [(B, 2, 5, 6)], {"kernel": (15, 12, 4)}),
    ("simple-rnn", recurrent.SimpleRNN(units=8), [(B, 10, 4)],
     {"kernel": (4, 8), "recurrent_kernel": (8, 8), "bias": (8,)}),
    ("gru", recurrent.GRU(units=5), [(B, 10, 4)], {"kernel": (4, 15), "recurrent_kernel": (5, 15), "bias": (15,)}),
    ("gru-reset-after", recurrent.GRU(units=5, reset_after=True), [(B, 10, 4)],
     {"kernel": (4, 15), "recurrent_kernel": (5, 15), "bias": (2, 15)}),
    ("lstm-no-bias", recurrent.LSTM(units=3, use_bias=False), [(B, 10, 4)],
     {"kernel": (4, 12), "recurrent_kernel": (3, 12)}),
    ("peephole-lstm", recurrent.PeepholeLSTM(units=3), [(B, 10, 4)],
     {"kernel": (4, 12), "recurrent_kernel": (3, 12), "bias": (12,), "peephole_kernel": (3, 3)}),
    ("convlstm", recurrent.ConvLSTM2D(filters=6, kernel_size=(3, 3)), [(B, 5, 10, 10, 2)],
     {"kernel": (3, 3, 2, 24), "recurrent_kernel": (3, 3, 6, 24), "bias": (24,)}),
    ("convlstm-cf", recurrent.ConvLSTM2D(filters=6, kernel_size=(1, 3), data_format="channels_first"),
     [(B, 5, 2, 10, 10)], {"kernel": (1, 3, 2, 24), "recurrent_kernel": (1, 3, 6, 24), "bias": (24,)}),
    ("batchnorm", normalization.BatchNormalization(), [(B, 5, 3)],
     {"gamma": (3,), "beta": (3,), "moving_mean": (3,), "moving_variance": (3,)}),
    ("batchnorm-no-scale-center-cf", normalization.BatchNormalization(axis=(1,), scale=False, center=False),
     [(B, 3, 5, 5)], {"moving_mean": (3,), "moving_variance": (3,)}),
    ("layernorm-axes", normalization.LayerNormalization(axis=(-2, -1)), [(B, 4, 3)],
     {"gamma": (4, 3), "beta": (4, 3)}),
    ("layernorm-rms", normalization.LayerNormalization(rms_scaling=True, scale=False), [(B, 6)], {"gamma": (6,)}),
    ("prelu", act.PReLU(), [(B, 4, 5)], {"alpha": (4, 5)}),
    ("prelu-shared", act.PReLU(shared_axes=(1, 2)), [(B, None, None, 3)], {"alpha": (1, 1, 3)}),
    ("parametric-softplus", act.ParametricSoftplus(shared_axes=(1,)), [(B, 4, 5)],
     {"alpha": (1, 5), "beta": (1, 5)}),
    ("srelu", act.SReLU(), [(B, 5)], {"t_left": (5,), "a_left": (5,), "t_right": (5,), "a_right": (5,)}),
    ("attention-scale-concat", attention.Attention(use_scale=True, score_mode="concat"), [(B, 4, 8), (B, 6, 8)],
     {"scale": (), "concat_score_weight": ()}),
    ("attention-plain", attention.Attention(), [(B, 4, 8), (B, 6, 8)], {}),
    ("mha-key", attention.MultiHeadAttention(num_heads=2, key_dim=4, value_dim=3), [(B, 5, 8), (B, 6, 5), (B, 6, 7)],
     {"query_kernel": (8, 2, 4), "query_bias": (2, 4), "key_kernel": (7, 2, 4), "key_bias": (2, 4),
      "value_kernel": (5, 2, 3), "value_bias": (2, 3), "output_kernel": (2, 3, 8), "output_bias": (8,)}),
    ("normalization-adapted", normalization.Normalization(axis=(1, -1)), [(B, 4, 2, 3)],
     {"mean": (4, 3), "variance": (4, 3), "count": ()}),
    ("normalization-constant", normalization.Normalization(mean=1.0, variance=2.0), [(B, 3)], {}),
    ("group-norm", normalization.GroupNormalization(groups=2, axis=1, center=False), [(B, 4, 5)], {"gamma": (4,)}),
    ("layer-scale", applications.LayerScale(projection_dim=5), [(B, 2, 5)], {"gamma": (5,)}),
    ("einsum-dense-bias", einsum.EinsumDense(equation="abc,cde->abde", partial_output_shape=(None, 2, 3),
                                             bias_axes="d"), [(B, 5, 6)], {"kernel": (6, 2, 3), "bias": (2, 1)}),
]


def has_weights(kind: type[LayerConfig]) -> bool:
    return kind.weight_shapes is not LayerConfig.weight_shapes


# -- coverage of the registry ----------------------------------------------------------------------

def test_every_registered_kind_has_a_shape_test() -> None:
    covered = {c.config.kind for c in SHAPE_CASES} | {c.kind for c in IDENTITY}
    assert sorted(set(LAYER_KINDS) - covered) == []


def test_every_kind_with_weights_has_a_weight_shape_test() -> None:
    covered = {config.kind for _, config, _, _ in WEIGHT_CASES}
    assert sorted(k for k, cls in LAYER_KINDS.items() if has_weights(cls) and k not in covered) == []


def test_the_registry_refuses_duplicate_and_nameless_kinds() -> None:
    with pytest.raises(TypeError, match="already registered"):
        layer_kind(type("Dense2", (core.Dense,), {"kind": "Dense"}))
    with pytest.raises(TypeError, match="no kind"):
        layer_kind(type("Nameless", (LayerConfig,), {}))
    assert LAYER_KINDS["Dense"] is core.Dense


# -- output shapes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("case", SHAPE_CASES, ids=lambda c: c.id)
def test_output_shapes(case: Case) -> None:
    case.config.check_arity(len(case.inputs))
    assert case.config.output_shapes(case.inputs) == case.expected


@pytest.mark.parametrize("config", IDENTITY, ids=lambda c: c.kind)
@pytest.mark.parametrize("shape", [(B, 3, 4, 5), (2, 6, 6, 1)])
def test_identity_kinds_keep_the_shape(config: LayerConfig, shape: Shape) -> None:
    assert config.output_shapes([shape]) == [shape]


@pytest.mark.parametrize("padding", ["valid", "same", "causal", "full"])
def test_conv1d_lengths_follow_the_keras_formula(padding: str) -> None:
    for n, k, s, d in itertools.product(range(1, 13), range(1, 5), range(1, 4), range(1, 4)):
        want = keras_conv_length(n, k, padding, s, d)
        layer_cfg = conv.Conv1D(filters=1, kernel_size=(k,), strides=(s,), padding=padding, dilation_rate=(d,))
        if want <= 0:
            with pytest.raises(ShapeError, match="does not fit"):
                layer_cfg.output_shape((B, n, 1))
        else:
            assert layer_cfg.output_shape((B, n, 1)) == (B, want, 1), (n, k, s, d)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_pooling_lengths_follow_the_keras_formula(padding: str) -> None:
    for n, p, s in itertools.product(range(1, 13), range(1, 5), range(1, 4)):
        want = keras_conv_length(n, p, padding, s)
        if want > 0:
            got = pooling.MaxPooling1D(pool_size=(p,), strides=(s,), padding=padding).output_shape((B, n, 2))
            assert got == (B, want, 2), (n, p, s)


@pytest.mark.parametrize("padding", ["valid", "same", "full"])
def test_a_convolution_undoes_the_length_change_of_its_transposed_twin(padding: str) -> None:
    for n, k, s, d in itertools.product(range(1, 10), range(1, 5), range(1, 4), range(1, 3)):
        up = deconv_output_length(n, k, padding, s, None, d)
        if up is not None and up > 0:
            assert conv_output_length(up, k, padding, s, d) == n, (n, k, s, d)


def test_unknown_lengths_stay_unknown() -> None:
    assert conv_output_length(None, 3, "valid", 2) is None
    assert deconv_output_length(None, 3, "same", 2, 1) is None


@pytest.mark.parametrize("config,inputs,message", [
    (core.Reshape(target_shape=(-1, -1)), [(B, 6)], "more than one -1"),
    (core.Reshape(target_shape=(5, -1)), [(B, 12)], "cannot reshape"),
    (core.Reshape(target_shape=(0, -1)), [(B, 12)], "cannot reshape"),
    (core.Reshape(target_shape=(5,)), [(B, 3, 4)], "12 values"),
    (core.Permute(dims=(1, 1)), [(B, 3, 4)], "not a permutation"),
    (core.Permute(dims=(1, 2, 3)), [(B, 3, 4)], "not a permutation"),
    (core.Flatten(), [(B,)], "rank >= 2"),
    (core.RepeatVector(n=2), [(B, 3, 4)], "rank-2"),
    (core.Dense(units=2), [(B,)], "rank >= 2"),
    (act.Softmax(axis=3), [(B, 3, 4)], "out of range"),
    (conv.Conv2D(filters=1, kernel_size=(3, 3)), [(B, 9, 9)], "rank-4"),
    (conv.Conv2D(filters=1, kernel_size=(5, 5)), [(B, 4, 9, 1)], "does not fit"),
    (pooling.MaxPooling2D(pool_size=(2, 2)), [(B, 9, 1)], "rank-4"),
    (pooling.GlobalAveragePooling1D(), [(B, 9, 9, 1)], "rank-3"),
    (noise.SpatialDropout1D(rate=0.1), [(B, 9, 9, 1)], "rank-3"),
    (reshaping.Cropping1D(cropping=((3, 2),)), [(B, 5, 1)], "removes all 5"),
    (merge.Add(), [(B, 3), (B, 4)], "cannot broadcast"),
    (merge.Concatenate(), [(B, 3, 4), (B, 3)], "different ranks"),
    (merge.Concatenate(axis=1), [(B, 3, 4), (B, 3, 5)], "differ on axis 2"),
    (merge.Concatenate(axis=0), [(B, 3), (B, 3)], "batch axis"),
    (merge.Concatenate(axis=3), [(B, 3), (B, 3)], "out of range"),
    (merge.Dot(axes=(1, 1)), [(B, 3), (B, 4)], "differ"),
    (merge.Dot(axes=(0, 1)), [(B, 3), (B, 3)], "batch axis"),
    (recurrent.LSTM(units=2), [(B, 4)], "rank-3"),
    (recurrent.LSTM(units=2), [(B, 5, 4), (B, 2)], "2 initial state"),
    (recurrent.GRU(units=2), [(B, 5, 4), (B, 2), (B, 2)], "1 initial state"),
    (recurrent.ConvLSTM2D(filters=2, kernel_size=(3, 3)), [(B, 5, 9, 1)], "rank-5"),
    (TimeDistributed(layer=sub(core.Dense(units=2))), [(B, 4)], "rank >= 3"),
    (TimeDistributed(layer=sub(recurrent.LSTM(units=2, return_state=True))), [(B, 3, 5, 4)],
     "exactly one output"),
    (Bidirectional(forward=lstm(units=4), backward=lstm(units=3, go_backwards=True), merge_mode="sum"),
     [(B, 5, 4)], "equal forward and backward"),
    (Bidirectional(forward=lstm(), backward=lstm(go_backwards=True)), [(B, 5, 4), (B, 8)], "pairs"),
    (attention.Attention(), [(B, 4, 8), (B, 6, 8), (B, 5, 8)], "same number of timesteps"),
    (attention.Attention(), [(B, 8), (B, 6, 8)], "rank-2"),
    (attention.Attention(), [(B, 2, 4, 8), (B, 2, 4, 8)], "rank-3"),
    (NestedModel(model=tiny_model()), [(B, 5)], "expects its input 'ix' to be \\(None, 4\\), got \\(None, 5\\)"),
    (NestedModel(model=tiny_model()), [(B, 5, 3, 4)], "expects its input"),
    (NestedModel(model=tiny_model((None, None, 4), units=2)), [(B, 4)], "expects its input"),
    (preprocessing.CenterCrop(height=4, width=6), [(B, 9, 5, 3)], "resizes smaller images"),
    (preprocessing.CenterCrop(height=4, width=2), [(B, None, 5, 3)], "known size"),
    (normalization.GroupNormalization(groups=4), [(B, 5, 6)], "into 4 groups"),
    (normalization.Normalization(mean=(1.0, 2.0), variance=(1.0, 2.0)), [(B, 5, 3)], "2 mean values for the 3"),
    (applications.LayerScale(projection_dim=4), [(B, 5, 3)], "not projection_dim=4"),
    (ops.BinaryOp(op="add", constant=1.0), [(B, 4), (B, 4)], "takes 1 input"),
    (ops.Reduce(op="sum", axis=(0,)), [(B, 4)], "batch axis"),
    (ops.Squeeze(axis=(1,)), [(B, 3, 4)], "cannot squeeze"),
    (ops.GetItem(items=(ops.Index("index", 0),)), [(B, 4)], "batch axis whole"),
    (ops.GetItem(items=(ops.Index("newaxis"),)), [(B, 4)], "batch axis whole"),
    (ops.GetItem(items=(ops.Index("slice"), ops.Index("index", 5))), [(B, 4)], "out of range"),
])
def test_shape_errors(config: LayerConfig, inputs: list[Shape], message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        config.output_shapes(inputs)


@pytest.mark.parametrize("config,count,message", [
    (merge.Add(), 1, "at least 2"),
    (merge.Subtract(), 3, "2 to 2|takes 2"),
    (merge.Dot(axes=(1, 1)), 3, "takes 2"),
    (core.Dense(units=1), 2, "takes 1"),
    (core.InputLayer(batch_shape=(B, 1)), 1, "takes 0"),
    (attention.Attention(), 4, "2 to 3"),
    (NestedModel(model=tiny_model()), 2, "takes 1 input"),
])
def test_arity(config: LayerConfig, count: int, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        config.check_arity(count)


def test_broadcast_is_symmetric_and_numpy_like() -> None:
    shapes = [(B, 1, 4), (3, 1), (B, 5, 1, 1)]
    assert broadcast(shapes) == broadcast(list(reversed(shapes))) == (B, 5, 3, 4)


# -- weights ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("case_id,config,inputs,expected", WEIGHT_CASES, ids=[c[0] for c in WEIGHT_CASES])
def test_weight_shapes(case_id: str, config: LayerConfig, inputs: list[Shape], expected: dict[str, Shape]) -> None:
    got = config.weight_shapes(inputs)
    assert got == expected
    assert list(got) == list(expected), "canonical weight order"


@pytest.mark.parametrize("config,inputs,message", [
    (conv.Conv2D(filters=8, kernel_size=(3, 3)), [(B, 9, 9, None)], "channel dimension"),
    (conv.Conv2D(filters=8, kernel_size=(3, 3), groups=3), [(B, 9, 9, 6)], "groups"),
    (conv.LocallyConnected1D(filters=2, kernel_size=(3,)), [(B, None, 2)], "known spatial"),
    (normalization.BatchNormalization(), [(B, 4, None)], "must be known"),
    (normalization.BatchNormalization(axis=(0,)), [(8, 4)], "batch axis"),
    (act.PReLU(), [(B, None, 3)], "fully known"),
    (act.PReLU(shared_axes=(3,)), [(B, 4, 3)], "out of range"),
])
def test_weight_shape_errors(config: LayerConfig, inputs: list[Shape], message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        config.weight_shapes(inputs)


def test_wrappers_give_their_sublayers_the_per_step_and_per_direction_inputs() -> None:
    dense = sub(core.Dense(units=4))
    assert TimeDistributed(layer=dense).sublayer_inputs([(B, 7, 3)]) == [(dense, [(B, 3)])]
    fw, bw = lstm(), lstm(go_backwards=True)
    bi = Bidirectional(forward=fw, backward=bw)
    states = [(B, 8), (B, 9), (B, 10), (B, 11)]
    assert bi.sublayer_inputs([(B, 5, 4), *states]) == [(fw, [(B, 5, 4), (B, 8), (B, 9)]),
                                                        (bw, [(B, 5, 4), (B, 10), (B, 11)])]
    assert bi.weight_shapes([(B, 5, 4)]) == {}  # the sublayers own the weights


# -- attribute validation --------------------------------------------------------------------------

@pytest.mark.parametrize("build", [
    pytest.param(lambda: conv.Conv2D(filters=1, kernel_size=(3,)), id="kernel-size-length"),
    pytest.param(lambda: conv.Conv2D(filters=1, kernel_size=(3, 0)), id="kernel-size-zero"),
    pytest.param(lambda: conv.Conv1D(filters=1, kernel_size=(3,), strides=(1, 1)), id="strides-length"),
    pytest.param(lambda: conv.Conv1D(filters=1, kernel_size=(3,), dilation_rate=(0,)), id="dilation-zero"),
    pytest.param(lambda: conv.Conv2D(filters=1, kernel_size=(3, 3), padding="causal"), id="causal-2d"),
    pytest.param(lambda: conv.Conv3DTranspose(filters=1, kernel_size=(3, 3, 3), padding="causal"), id="causal-3d"),
    pytest.param(lambda: conv.Conv1D(filters=1, kernel_size=(3,), padding="reflect"), id="unknown-padding"),
    pytest.param(lambda: conv.LocallyConnected1D(filters=1, kernel_size=(3,), padding="same"), id="locally-same"),
    pytest.param(lambda: conv.LocallyConnected2D(filters=1, kernel_size=(3, 3), dilation_rate=(2, 1)),
                 id="locally-dilated"),
    pytest.param(lambda: pooling.MaxPooling2D(pool_size=(2,)), id="pool-size-length"),
    pytest.param(lambda: pooling.MaxPooling1D(pool_size=(2,), padding="causal"), id="pool-causal"),
    pytest.param(lambda: pooling.AveragePooling1D(pool_size=(2,), strides=(0,)), id="pool-stride-zero"),
    pytest.param(lambda: reshaping.Cropping1D(cropping=((-1, 2),)), id="negative-cropping"),
    pytest.param(lambda: reshaping.Cropping2D(cropping=((1, 2),)), id="cropping-count"),
    pytest.param(lambda: reshaping.Cropping3D(cropping=((1, 2), (1, 2), (1,))), id="cropping-not-a-pair"),
    pytest.param(lambda: reshaping.ZeroPadding2D(padding=((0, -1), (0, 0))), id="negative-padding"),
    pytest.param(lambda: reshaping.UpSampling2D(size=(2, 0)), id="upsampling-zero"),
    pytest.param(lambda: reshaping.UpSampling1D(size=(2,), interpolation="bicubic"), id="interpolation"),
])
def test_invalid_attributes_raise_value_error(build: Callable[[], LayerConfig]) -> None:
    with pytest.raises(ValueError):
        build()


def test_default_strides_and_dilation_are_filled_in() -> None:
    c = conv.Conv2D(filters=1, kernel_size=(3, 5))
    assert (c.strides, c.dilation_rate) == ((1, 1), (1, 1))
    assert pooling.MaxPooling2D(pool_size=(2, 3)).strides == (2, 3)
    assert conv.Conv1D(filters=1, kernel_size=(3,), padding="causal").padding == "causal"


def test_a_window_run_at_stride_one_counts_its_stride_one_result() -> None:
    """Strides TensorFlow's CPU kernels lack run at stride 1 (runtime/kernels/conv.py): the
    footprint bound counts that larger result; strides it has add nothing."""
    uneven = conv.DepthwiseConv2D(kernel_size=(3, 2), strides=(1, 2), padding="same", depth_multiplier=2)
    assert uneven.runs_at_stride_one
    assert uneven.intermediate_shapes([(B, 9, 8, 3)], [(B, 9, 4, 6)]) == [(B, 9, 4, 6), (B, 9, 8, 6)]
    separable = conv.SeparableConv2D(filters=4, kernel_size=(2, 2), strides=(2, 1))
    assert separable.intermediate_shapes([(B, 5, 6, 3)], [(B, 2, 5, 4)]) == [(B, 2, 5, 4), (B, 4, 5, 3)]
    for even in (conv.DepthwiseConv1D(kernel_size=(3,), strides=(2,)), conv.DepthwiseConv2D(kernel_size=(3, 3),
                                                                                             strides=(2, 2))):
        assert not even.runs_at_stride_one
    assert not conv.Conv2D(filters=2, kernel_size=(3, 3), strides=(1, 2)).runs_at_stride_one
    dilated = conv.Conv2D(filters=4, kernel_size=(1, 2), strides=(2, 1), dilation_rate=(1, 2), padding="same")
    assert dilated.runs_at_stride_one
    assert dilated.intermediate_shapes([(B, 5, 6, 2)], [(B, 3, 6, 4)])[-1] == (B, 5, 6, 4)
