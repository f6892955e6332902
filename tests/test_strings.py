"""Models that start with string preprocessing (StringLookup, TextVectorization): their state read
from the .keras archive, written as the numeric model plus text-preprocessing.json, applied by a
JavaScript app to raw strings in Node, and verified through Keras's own preprocessing."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.schemas import validate
from tests.conftest import ROOT, require_tfjs

keras = pytest.importorskip("keras")
SENTENCES = ["The cat sat.", "a DOG ran fast, fast!", "unknown words here", "cat"]


@pytest.fixture(scope="module")
def text_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A TextVectorization (adapted: its vocabulary in the archive's assets) before an Embedding."""
    tv = keras.layers.TextVectorization(max_tokens=20, output_sequence_length=6, name="tv")
    tv.adapt(["the cat sat", "the dog ran fast", "A cat, a dog!"])
    text = keras.Input((1,), dtype="string", name="text")
    x = keras.layers.Embedding(20, 4, name="emb")(tv(text))
    y = keras.layers.Dense(2, name="out")(keras.layers.GlobalAveragePooling1D()(x))
    model = keras.Model(text, y)
    path = tmp_path_factory.mktemp("strings") / "tv.keras"
    model.save(path)
    return path, model


def test_text_vectorization_state_is_read_from_the_assets(text_model: tuple[Path, Any]) -> None:
    path, source = text_model
    with kconvert.load(path) as model:
        c = model.layer("tv").config
        assert list(c.vocabulary) == source.get_layer("tv").get_vocabulary()
        assert (c.standardize, c.split, c.output_sequence_length, c.mask_token) == (
            "lower_and_strip_punctuation", "whitespace", 6, "")
        with pytest.raises(IncompatibleKerasConfigurationException, match="inputs_from=\\['tv'\\]"):
            kconvert.run(model, np.array([["the cat"]]))


def test_string_lookup_vocabulary_in_the_config(tmp_path: Path) -> None:
    tokens = keras.Input((3,), dtype="string", name="tokens")
    lookup = keras.layers.StringLookup(vocabulary=["a", "b", "c"], mask_token="[M]", name="lookup")
    model = keras.Model(tokens, keras.layers.Embedding(5, 2, name="emb")(lookup(tokens)))
    model.save(tmp_path / "sl.keras")
    with kconvert.load(tmp_path / "sl.keras") as ir:
        assert list(ir.layer("lookup").config.vocabulary) == lookup.get_vocabulary()  # mask, OOV, then terms
        written = kconvert.write(ir, "onnx", tmp_path / "sl.onnx")
    state = json.loads((tmp_path / "sl.onnx.text-preprocessing.json").read_text())
    validate(state, "text-preprocessing")
    assert tmp_path / "sl.onnx.text-preprocessing.json" in written.files
    strings = np.array([["a", "zz", "c"], ["[M]", "b", "a"]])
    ids = np.array([[state["steps"][0]["vocabulary"].index(t) if t in state["steps"][0]["vocabulary"] else 1
                     for t in row] for row in strings])
    np.testing.assert_array_equal(ids, np.asarray(lookup(strings)))
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "sl.onnx"), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: ids.astype(np.int64)}
    import tensorflow as tf

    np.testing.assert_allclose(session.run(None, feed)[0], model.predict(tf.constant(strings), verbose=0),
                               atol=1e-4, rtol=1e-3)


def test_tfjs_app_applies_the_state_to_raw_strings(text_model: tuple[Path, Any], tmp_path: Path) -> None:
    """The JSON applied in JavaScript to raw strings, fed to the written TF.js model: Keras's predictions."""
    require_tfjs()
    from kconvert.verification import tfjs_install

    import tensorflow as tf

    path, source = text_model
    out = tmp_path / "tfjs"
    kconvert.convert(path, "tfjs", out)
    validate(json.loads((out / "text-preprocessing.json").read_text()), "text-preprocessing")
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps([{"model": str(out), "strings": SENTENCES}]))
    harness = tfjs_install.harness()
    assert harness is not None
    done = subprocess.run(["node", str(ROOT / "tests" / "js" / "text_preprocessing.js"), str(jobs)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "NODE_PATH": str(harness / "node_modules")})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)[0]
    strings = tf.constant([[s] for s in SENTENCES])
    np.testing.assert_array_equal(result["ids"], np.asarray(source.get_layer("tv")(strings)))
    np.testing.assert_allclose(result["outputs"], source.predict(strings, verbose=0), atol=1e-4, rtol=1e-3)


def test_verify_goes_through_keras_preprocessing(text_model: tuple[Path, Any], tmp_path: Path) -> None:
    path, _ = text_model
    kconvert.convert(path, "keras", tmp_path / "numeric.keras")
    report = kconvert.verify(str(path), targets=(str(tmp_path / "numeric.keras"),), atol=1e-4, rtol=1e-3)
    assert report.passed, report.to_dict()
    assert "preprocessing (tv) of generated strings" in report.inputs
    assert any("takes strings" in note for note in report.notes)
