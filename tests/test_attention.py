"""MultiHeadAttention and EinsumDense, read from Keras 3 ``.keras`` and tf_keras ``.h5`` files,
run by kconvert's runtime and checked against what Keras itself predicts (atol 1e-5), then a
transformer text classifier written back for Keras and refused by TF.js and DL4J.

A masked tensor here feeds one MultiHeadAttention only: Keras clears the mask of the tensors an
attention layer is called on, so a second attention layer over the same tensor sees a mask or not
depending on which layer Keras runs first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException
from tests.helpers import randomize_weights

keras = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")

ATOL, RTOL = 1e-5, 1e-4
PACKAGES = {"keras": keras, "tf_keras": tf_keras}
VOCAB, T, BATCH = 30, 6, 4


def _ids(rng: np.random.Generator, padded: bool = True) -> np.ndarray:
    """Token ids with trailing padding (and one leading pad) so that masks matter."""
    ids = rng.integers(1, VOCAB, (BATCH, T))
    if padded:
        ids[0, 4:] = 0
        ids[1, 1:] = 0
        ids[2, 0] = 0
    return ids.astype("int32")


def check(package: str, build: Callable[[Any], Any], xs: list[np.ndarray], tmp_path: Path) -> Any:
    """Build with ``package``, randomize, save (.keras / .h5), load with kconvert and compare
    kconvert's runtime with Keras's predict; returns the loaded IR model."""
    k = PACKAGES[package]
    model = build(k)
    randomize_weights(model, np.random.default_rng(7))
    path = tmp_path / ("model.keras" if package == "keras" else "model.h5")
    model.save(path)
    expected = model.predict(xs, verbose=0)
    expected = expected if isinstance(expected, list) else [expected]
    ir = kconvert.load(path)
    got = kconvert.run(ir, xs, device="cpu")
    got = got if isinstance(got, list) else [got]
    for e, g in zip(expected, got):
        np.testing.assert_allclose(np.asarray(g), e, atol=ATOL, rtol=RTOL)
    return ir


def _mha_case(name: str) -> Callable[[Any], Any]:
    """A one-attention-layer model per case; inputs: ids, a (T', 6) value, a (T', 3) key, a mask."""
    def build(k: Any) -> Any:
        ids = k.Input((T,), name="ids")
        value = k.Input((5, 6), name="value")
        key = k.Input((5, 3), name="key")
        mask = k.Input((T, 5), name="mask")
        query = k.layers.Embedding(VOCAB, 8, mask_zero=name == "masked")(ids)
        layer = {
            "self": lambda: k.layers.MultiHeadAttention(2, 4),
            "masked": lambda: k.layers.MultiHeadAttention(3, 4, dropout=0.1),
            "causal": lambda: k.layers.MultiHeadAttention(2, 4),
            "cross": lambda: k.layers.MultiHeadAttention(2, 3, value_dim=5, output_shape=(7,)),
            "no_bias": lambda: k.layers.MultiHeadAttention(1, 4, use_bias=False, output_shape=(2, 3)),
        }[name]()
        if name in ("self", "masked"):
            out = layer(query, query)
        elif name == "causal":
            out = layer(query, query, use_causal_mask=True)
        else:
            out = layer(query, value, key=key, attention_mask=mask)
        return k.Model([ids, value, key, mask], out)
    return build


@pytest.mark.parametrize("package", ["keras", "tf_keras"])
@pytest.mark.parametrize("case", ["self", "masked", "causal", "cross", "no_bias"])
def test_multi_head_attention_matches_keras(package: str, case: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    xs = [_ids(rng), rng.normal(size=(BATCH, 5, 6)).astype("float32"),
          rng.normal(size=(BATCH, 5, 3)).astype("float32"), (rng.random((BATCH, T, 5)) > 0.3).astype("float32")]
    ir = check(package, _mha_case(case), xs, tmp_path)
    layer = next(layer for layer in ir.layers if layer.kind == "MultiHeadAttention")
    assert layer.config.zero_masked_rows == (case == "masked" and package == "keras")
    if case in ("causal", "cross"):  # key, attention_mask and use_causal_mask written back
        write_back(ir, xs, tmp_path)


def write_back(ir: Any, xs: list[np.ndarray], tmp_path: Path) -> None:
    """``ir`` written as a .keras archive (loaded by Keras 3 in safe mode) and a legacy .h5 file
    (loaded by tf_keras) predicts what kconvert's runtime computes."""
    expected = kconvert.run(ir, xs, device="cpu")
    expected = expected if isinstance(expected, list) else [expected]
    for fmt, load in (("keras", lambda p: keras.saving.load_model(p, compile=False, safe_mode=True)),
                      ("h5", lambda p: tf_keras.models.load_model(p, compile=False))):
        path = tmp_path / f"written.{fmt}"
        kconvert.write(ir, fmt, path)
        got = load(path).predict(xs, verbose=0)
        for e, g in zip(expected, got if isinstance(got, list) else [got]):
            np.testing.assert_allclose(g, e, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("package", ["keras", "tf_keras"])
def test_einsum_dense_matches_keras_and_is_written_back(package: str, tmp_path: Path) -> None:
    def build(k: Any) -> Any:
        x = k.Input((5, 6))
        return k.Model(x, [
            k.layers.EinsumDense("abc,cd->abd", output_shape=(None, 4), bias_axes="d")(x),
            k.layers.EinsumDense("...b,bc->...c", output_shape=3, bias_axes="c", activation="relu")(x),
            k.layers.EinsumDense("abc,cde->abde", output_shape=(None, 2, 3), bias_axes="de")(x),
            k.layers.EinsumDense("abc,bd->adc", output_shape=(7, 6))(x),
        ])
    xs = [np.random.default_rng(2).normal(size=(BATCH, 5, 6)).astype("float32")]
    write_back(check(package, build, xs, tmp_path), xs, tmp_path)


def test_refusals_name_the_key(tmp_path: Path) -> None:
    x = keras.Input((4, 3, 5))
    model = keras.Model(x, keras.layers.MultiHeadAttention(2, 4, attention_axes=(1, 2))(x, x))
    model.save(tmp_path / "axes.keras")
    with pytest.raises(IncompatibleKerasConfigurationException, match="attention_axes"):
        kconvert.load(tmp_path / "axes.keras")
    x = keras.Input((4, 3))
    model = keras.Model(x, keras.layers.EinsumDense("ab...,bc->ac...", output_shape=(4,))(x))
    model.save(tmp_path / "eq.keras")
    with pytest.raises(IncompatibleKerasConfigurationException, match="equation"):
        kconvert.load(tmp_path / "eq.keras")


def transformer(k: Any) -> Any:
    """A two-block transformer text classifier: token and position embeddings added, self
    attention and a feed-forward net with residuals and layer norms, mean pooling, softmax."""
    ids = k.Input((T,), dtype="int32", name="ids")
    positions = k.Input((T,), dtype="int32", name="positions")
    x = k.layers.Add()([k.layers.Embedding(VOCAB, 16, mask_zero=True)(ids), k.layers.Embedding(T, 16)(positions)])
    for _ in range(2):
        attended = k.layers.MultiHeadAttention(num_heads=2, key_dim=8)(x, x)
        x = k.layers.LayerNormalization(epsilon=1e-6)(k.layers.Add()([x, attended]))
        hidden = k.layers.Dense(32, activation="relu")(x)
        x = k.layers.LayerNormalization(epsilon=1e-6)(k.layers.Add()([x, k.layers.Dense(16)(hidden)]))
    pooled = k.layers.GlobalAveragePooling1D()(x)
    return k.Model([ids, positions], k.layers.Dense(3, activation="softmax")(pooled))


def _transformer_inputs(padded: bool) -> list[np.ndarray]:
    """Token and position ids.  Padding only where tf.keras runs the model: Keras 3.15 drops the
    mask of an Add with an unmasked input (tf.keras and kconvert AND the masks present), and its
    MultiHeadAttention clears the masks of the tensors it is called on, so Keras 3 runs this model
    unmasked and records its pooling's mask as None -- a Merge-layer difference outside these
    kinds."""
    rng = np.random.default_rng(3)
    return [_ids(rng, padded), np.tile(np.arange(T, dtype="int32"), (BATCH, 1))]


def _run(ir: Any, xs: list[np.ndarray]) -> np.ndarray:
    out = kconvert.run(ir, xs, device="cpu")
    return out[0] if isinstance(out, list) else out


@pytest.mark.slow
@pytest.mark.parametrize("package", ["keras", "tf_keras"])
def test_transformer_classifier(package: str, tmp_path: Path) -> None:
    padded = package == "tf_keras"
    ir = check(package, transformer, _transformer_inputs(padded), tmp_path)
    written = tmp_path / "written.keras"
    kconvert.write(ir, "keras", written)
    reloaded = keras.saving.load_model(written, compile=False, safe_mode=True)
    xs = _transformer_inputs(padded=False)
    np.testing.assert_allclose(reloaded.predict(xs, verbose=0), _run(ir, xs), atol=ATOL, rtol=RTOL)
    legacy = tmp_path / "written.h5"
    kconvert.write(ir, "h5", legacy)
    reloaded = tf_keras.models.load_model(legacy, compile=False)
    xs = _transformer_inputs(padded)
    np.testing.assert_allclose(reloaded.predict(xs, verbose=0), _run(ir, xs), atol=ATOL, rtol=RTOL)
    for target, out in (("tfjs", "web"), ("dl4j", "model.zip")):
        with pytest.raises(IncompatibleKerasConfigurationException) as info:
            kconvert.write(ir, target, tmp_path / out)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("target", ["tfjs", "dl4j"])
def test_tfjs_and_dl4j_refuse_naming_the_layer(target: str, tmp_path: Path) -> None:
    x = keras.Input((4, 6))
    model = keras.Model(x, keras.layers.MultiHeadAttention(2, 3, name="mha")(x, x))
    model.save(tmp_path / "m.keras")
    ir = kconvert.load(tmp_path / "m.keras")
    with pytest.raises(IncompatibleKerasConfigurationException, match="'mha'") as info:
        kconvert.write(ir, target, tmp_path / ("web" if target == "tfjs" else "model.zip"))
    assert "\n" not in str(info.value)
