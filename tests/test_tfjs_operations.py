"""Functional operations (keras.ops / tf.* nodes) in TF.js: stock layers where they compute the
same (global pooling for a mean or maximum over steps or pixels, Reshape for expand_dims/squeeze),
else the companion module's classes (maximum with a constant, sqrt, exp, quotients, powers, sums,
subscripts...).  Models from Keras 3 and tf_keras, run in the real @tensorflow/tfjs in Node and
compared with Keras's own predictions; without the module they are refused naming the layer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.verification.tfjs_runner import run_tfjs_many
from tests.conftest import require_tfjs
from tests.helpers import assert_tfjs_run_matches, randomize_weights

ATOL, RTOL = 1e-4, 1e-3
keras = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")
tf = pytest.importorskip("tensorflow")

Build = Callable[[np.random.Generator], tuple[Any, list[np.ndarray]]]


@pytest.fixture(scope="module", autouse=True)
def tfjs() -> None:
    require_tfjs()


def _pairs(rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.normal(0, 1, (4, 8)).astype("float32") for _ in range(2)]


def siamese_distance(rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    """The Keras siamese tutorial's euclidean distance: sqrt(maximum(sum(square(a - b)), 1e-7));
    one pair is identical, so the floor decides its distance."""
    ops = keras.ops
    a, b = keras.Input((8,), name="a"), keras.Input((8,), name="b")
    tower = keras.Sequential([keras.layers.Dense(6, activation="tanh")])
    fa, fb = tower(a), tower(b)
    squared = ops.sum(ops.square(fa - fb), axis=1, keepdims=True)
    distance = ops.sqrt(ops.maximum(squared, 1e-7))
    out = keras.layers.Dense(1, activation="sigmoid")(keras.layers.BatchNormalization()(distance))
    xs = _pairs(rng)
    xs[1][0] = xs[0][0]
    return keras.Model([a, b], out), xs


def keras3_ops(rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    ops = keras.ops
    x = keras.Input((6, 4), name="x")
    d = keras.layers.Dense(4)(x)
    p = ops.exp(d)  # positive
    outputs = [
        ops.sqrt(p), ops.exp(d), d / 3.0, 2.0 / p, ops.divide(d, p), ops.power(p, 1.5), ops.power(2.0, d),
        ops.maximum(d, 0.25), ops.minimum(d, -0.5), ops.minimum(0.5, d), ops.maximum(d, p),
        ops.sum(d, axis=1), ops.sum(d, axis=-1, keepdims=True), ops.max(d, axis=[1, 2]),
        ops.min(d, axis=2, keepdims=True), ops.mean(d, axis=1), ops.max(d, axis=1, keepdims=True),
        ops.mean(d, axis=-1), ops.squeeze(ops.expand_dims(d, 1), 1), ops.expand_dims(d, -1),
        d[:, 1:3], d[:, None, ..., ::2], d[..., -1], d[:, ::-2, 1:], d[:, -1], d[:, 2:-1, None, 3],
        ops.cumsum(d, axis=1), ops.cast(x, "float32") * 2.0,
    ]
    return keras.Model(x, outputs), [rng.normal(0, 1, (3, 6, 4)).astype("float32")]


def keras3_images(rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    """Reductions over the pixels of an image (global pooling in TF.js) and over its channels."""
    ops = keras.ops
    x = keras.Input((5, 5, 3), name="image")
    c = keras.layers.Conv2D(4, 3)(x)
    outputs = [ops.mean(c, axis=(1, 2)), ops.max(c, axis=[2, 1], keepdims=True), ops.sum(c, axis=-1),
               ops.mean(c, axis=[1, 2, 3])]
    return keras.Model(x, outputs), [rng.normal(0, 1, (2, 5, 5, 3)).astype("float32")]


def unknown_length(rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    """Sequences of unknown length: expand_dims and squeeze cannot be a Reshape (two sizes unknown)."""
    ops = keras.ops
    x = keras.Input((None, 3), name="steps")
    d = keras.layers.Dense(2)(x)
    y = ops.squeeze(ops.expand_dims(d, 2), 2)
    return keras.Model(x, [ops.expand_dims(d, 1), y * 2.0, d[:, ::2]]), [rng.normal(0, 1, (2, 7, 3)).astype("float32")]


def tf_keras_ops(rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    """tf.* calls recorded by tf.keras 2 (TFOpLambda / SlicingOpLambda)."""
    x = tf_keras.Input((6, 4), name="x")
    d = tf_keras.layers.Dense(4)(x)
    outputs = [
        tf.math.sqrt(tf.math.maximum(tf.reduce_sum(tf.square(d), axis=1, keepdims=True), 1e-7)),
        tf.math.minimum(d, 0.3), tf.math.exp(d), tf.reduce_sum(d, -1), tf.math.reduce_max(d, axis=1),
        d[..., 0], d[:, tf.newaxis, ..., ::2], tf.expand_dims(d, 1), tf.reduce_mean(d, axis=[1]), d / 2.0,
    ]
    return tf_keras.Model(x, outputs), [rng.normal(0, 1, (3, 6, 4)).astype("float32")]


def masked_attention_with_dropout(rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    """Keras 3's MultiHeadAttention with dropout zeroes the weights of masked keys, so a query row
    with no key left attends to nothing (KerasHub's backbones take this path)."""
    x, mask = keras.Input((5, 4), name="x"), keras.Input((5, 5), name="mask")
    y = keras.layers.MultiHeadAttention(2, 3, dropout=0.1)(x, x, attention_mask=mask)
    keep = (rng.uniform(size=(2, 5, 5)) > 0.4).astype("float32")
    keep[:, 2, :] = 0  # no key left for query 2
    return keras.Model([x, mask], y), [rng.normal(0, 1, (2, 5, 4)).astype("float32"), keep]


MODELS: dict[str, Build] = {"masked-attention-dropout": masked_attention_with_dropout,"siamese-distance": siamese_distance, "keras3-ops": keras3_ops,
                            "keras3-images": keras3_images, "unknown-length": unknown_length,
                            "tf_keras-ops": tf_keras_ops}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list, list]]:
    tmp = tmp_path_factory.mktemp("operations")
    rng = np.random.default_rng(5)
    out = {}
    for name, build in MODELS.items():
        model, xs = build(rng)
        randomize_weights(model, rng)
        path = tmp / (f"{name}.h5" if name.startswith("tf_keras") else f"{name}.keras")
        model.save(path)
        ys = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        out[name] = (path, xs, ys if isinstance(ys, list) else [ys])
    return out


@pytest.fixture(scope="module")
def runs(saved: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("operations-tfjs")
    jobs = []
    for name, (path, xs, _) in saved.items():
        kconvert.convert(path, "tfjs", tmp / name, companion=True)
        jobs.append((tmp / name, xs, []))
    return {name: (run, tmp / name) for name, run in zip(saved, run_tfjs_many(jobs))}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_operations_match_keras_in_tfjs(saved: dict, runs: dict, name: str) -> None:
    run, _ = runs[name]
    assert_tfjs_run_matches(run, saved[name][2], ATOL, RTOL, min_range=0.0)


def _classes(folder: Path) -> list[str]:
    document = json.loads((folder / "model.json").read_text())
    return [layer["class_name"] for layer in document["modelTopology"]["model_config"]["config"]["layers"]]


def test_stock_layers_where_they_compute_the_same(runs: dict) -> None:
    classes = _classes(runs["keras3-images"][1])
    assert {"GlobalAveragePooling2D", "GlobalMaxPooling2D", "KConvertReduce"} <= set(classes)
    sequences = _classes(runs["keras3-ops"][1])
    assert {"GlobalAveragePooling1D", "GlobalMaxPooling1D", "Reshape"} <= set(sequences)
    assert "KConvertExpandDims" not in sequences and "KConvertSqueeze" not in sequences
    assert {"KConvertExpandDims", "KConvertSqueeze"} <= set(_classes(runs["unknown-length"][1]))


def test_without_the_module_they_are_refused_naming_the_layer(saved: dict, tmp_path: Path) -> None:
    with pytest.raises(IncompatibleKerasConfigurationException) as err:
        kconvert.convert(saved["siamese-distance"][0], "tfjs", tmp_path / "out")
    text = str(err.value)
    assert "layer '" in text and "stock TF.js has no layer computing the operation" in text
    assert "--tfjs-companion" in text and "\n" not in text
    assert not (tmp_path / "out").exists()
