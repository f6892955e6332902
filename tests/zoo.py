"""A zoo of small Keras models, built with Keras 3 or tf_keras (passed in as ``k``), that every
writer's tests convert: together they cover the layer kinds, call patterns and masks people use.

Each builder returns the model (weights still to be randomized) and inputs for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Builder = Callable[[Any], tuple[Any, list[np.ndarray]]]
ZOO: dict[str, Builder] = {}


def zoo(fn: Builder) -> Builder:
    ZOO[fn.__name__] = fn
    return fn


def _x(*shape: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 1, (2, *shape)).astype("float32")


@zoo
def mlp(k: Any) -> tuple[Any, list[np.ndarray]]:
    x = k.Input((8,), name="features")
    h = k.layers.Dense(16, activation="relu")(x)
    h = k.layers.BatchNormalization()(h)
    h = k.layers.Dropout(0.5)(h)
    return k.Model(x, k.layers.Dense(4, activation="softmax")(h)), [_x(8)]


@zoo
def cnn(k: Any) -> tuple[Any, list[np.ndarray]]:
    L = k.layers
    x = k.Input((16, 16, 3))
    h = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    h = L.MaxPooling2D()(h)
    h = L.SeparableConv2D(8, 3, depth_multiplier=2, padding="same")(h)
    h = L.DepthwiseConv2D(3, strides=2, depth_multiplier=2, padding="same")(h)
    h = L.BatchNormalization()(h)
    h = L.AveragePooling2D(pool_size=3, strides=1, padding="same")(h)
    h = L.Conv2DTranspose(6, 3, strides=2, padding="same", activation="elu")(h)
    h = L.ZeroPadding2D(((1, 0), (2, 1)))(h)
    h = L.Cropping2D(((0, 1), (1, 1)))(h)
    h = L.UpSampling2D((2, 1))(h)
    h = L.Conv2D(4, (4, 2), strides=2, dilation_rate=1, padding="valid", activation="selu")(h)
    h = L.GlobalAveragePooling2D()(h)
    return k.Model(x, L.Dense(3, activation="softmax")(h)), [_x(16, 16, 3)]


@zoo
def cnn_1d_3d(k: Any) -> tuple[Any, list[np.ndarray]]:
    L = k.layers
    seq, vol = k.Input((12, 4)), k.Input((6, 6, 6, 2))
    a = L.Conv1D(6, 3, padding="same", dilation_rate=2, activation="relu")(seq)
    a = L.MaxPooling1D(2)(a)
    a = L.AveragePooling1D(2, padding="same")(a)
    a = L.GlobalMaxPooling1D()(a)
    b = L.Conv3D(4, 3, padding="same", activation="relu")(vol)
    b = L.MaxPooling3D(2)(b)
    b = L.Conv3DTranspose(3, 2, strides=2)(b)
    b = L.AveragePooling3D(2)(b)
    b = L.Flatten()(b)
    out = L.Concatenate()([a, L.Dense(6)(b)])
    return k.Model([seq, vol], L.Dense(2)(out)), [_x(12, 4), _x(6, 6, 6, 2, seed=2)]


@zoo
def lstm(k: Any) -> tuple[Any, list[np.ndarray]]:
    L = k.layers
    x = k.Input((7, 5))
    h = L.LSTM(8, return_sequences=True)(x)
    h = L.LSTM(6, go_backwards=True, recurrent_activation="hard_sigmoid" if k.__name__ == "tf_keras" else
               "sigmoid")(h)
    return k.Model(x, L.Dense(2)(h)), [_x(7, 5)]


@zoo
def bidirectional_gru(k: Any) -> tuple[Any, list[np.ndarray]]:
    L = k.layers
    x = k.Input((6, 4))
    h = L.Bidirectional(L.GRU(5, reset_after=False, return_sequences=True))(x)
    h = L.Bidirectional(L.GRU(3, reset_after=False), merge_mode="sum")(h)
    return k.Model(x, L.Dense(2, activation="tanh")(h)), [_x(6, 4)]


@zoo
def multi_io(k: Any) -> tuple[Any, list[np.ndarray]]:
    """Two inputs, a layer shared between them, a nested Sequential, two outputs."""
    L = k.layers
    a, b = k.Input((10,), name="in_a"), k.Input((10,), name="in_b")
    shared = L.Dense(8, activation="relu", name="shared")
    tower = k.Sequential([k.Input((8,)), L.Dense(6, activation="tanh"), L.Dense(4)], name="tower")
    ha, hb = shared(a), shared(b)
    merged = L.Concatenate()([L.Add()([ha, hb]), L.Multiply()([ha, hb]), L.Maximum()([ha, hb]),
                              L.Average()([ha, hb]), L.Minimum()([ha, hb])])
    cls = L.Dense(3, activation="softmax", name="out_cls")(merged)
    reg = L.Dense(1, name="out_reg")(L.Dot(axes=1, normalize=True)([tower(ha), tower(hb)]))
    return k.Model([a, b], [cls, reg]), [_x(10), _x(10, seed=2)]


@zoo
def masked_text(k: Any) -> tuple[Any, list[np.ndarray]]:
    """Padded token ids: Embedding(mask_zero) -> LSTM, the masked pattern TF.js runs as Keras does."""
    L = k.layers
    ids = k.Input((7,), dtype="int32")
    h = L.Embedding(20, 8, mask_zero=True)(ids)
    h = L.Dense(8, activation="relu")(h)
    h = L.LSTM(6, return_sequences=True)(h)
    h = L.GRU(4, reset_after=False)(h)
    tokens = np.array([[3, 7, 1, 9, 0, 0, 0], [5, 2, 0, 0, 0, 0, 0]], "int32")
    return k.Model(ids, L.Dense(3, activation="softmax")(h)), [tokens]


@zoo
def sequence_tools(k: Any) -> tuple[Any, list[np.ndarray]]:
    L = k.layers
    x = k.Input((6, 4))
    h = L.TimeDistributed(L.Dense(5, activation="softsign"))(x)
    h = L.SimpleRNN(4, return_sequences=True, activation="relu")(h)
    h = L.LayerNormalization()(h)
    h = L.Permute((2, 1))(h)
    h = L.Reshape((-1, 3))(h)
    h = L.GlobalAveragePooling1D()(h)
    h = L.RepeatVector(2)(h)
    h = L.Flatten()(h)
    return k.Model(x, L.Dense(2)(h)), [_x(6, 4)]


@zoo
def activations(k: Any) -> tuple[Any, list[np.ndarray]]:
    L = k.layers
    x = k.Input((6,))
    names = ["relu", "relu6", "elu", "selu", "sigmoid", "tanh", "softplus", "softsign", "swish", "mish",
             "softmax", "log_softmax", "linear"]
    if k.__name__ == "tf_keras":
        names.append("hard_sigmoid")  # Keras 3 changed its formula; TF.js has the Keras 2 one
    outs = [L.Dense(3, activation=name)(x) for name in names]
    outs += [L.ReLU(max_value=1.5)(x), L.ReLU(negative_slope=0.2)(x), L.LeakyReLU(0.1)(x), L.PReLU()(x),
             L.ELU()(x), L.Softmax()(x), L.Activation("tanh")(x)]
    if hasattr(L, "ThresholdedReLU"):
        outs.append(L.ThresholdedReLU(0.3)(x))
    return k.Model(x, L.Concatenate()(outs)), [_x(6)]


@zoo
def gelu(k: Any) -> tuple[Any, list[np.ndarray]]:
    """The erf GELU, apart: Deeplearning4j has no activation computing it (its GELUs are approximations)."""
    x = k.Input((6,))
    return k.Model(x, k.layers.Dense(3, activation="gelu")(x)), [_x(6)]


@zoo
def spatial_dropout_and_noise(k: Any) -> tuple[Any, list[np.ndarray]]:
    L = k.layers
    x = k.Input((8, 8, 3))
    h = L.SpatialDropout2D(0.3)(x)
    h = L.GaussianNoise(0.5)(h)
    h = L.GaussianDropout(0.2)(h)
    h = L.Rescaling(0.5, offset=0.25)(h)
    h = L.Conv2D(4, 3)(h)
    h = L.GlobalMaxPooling2D()(h)
    return k.Model(x, L.AlphaDropout(0.1)(h)), [_x(8, 8, 3)]
