"""Layers of today's Keras that models carry: group and unit normalization, and the image
preprocessing layers Keras saves inside models (Resizing, CenterCrop) -- read from Keras 3 and
tf_keras files, run as Keras predicts, and written back for both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException
from tests.helpers import randomize_weights

keras = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")


def build(k: Any) -> Any:
    L = k.layers
    inp = k.Input((9, 11, 4))
    x = L.Resizing(12, 10)(inp)
    x = L.Resizing(7, 8, interpolation="nearest")(x)
    x = L.CenterCrop(5, 6)(x)
    x = L.Conv2D(6, 1)(x)
    x = L.GroupNormalization(groups=3, epsilon=1e-3)(x)
    x = L.GroupNormalization(groups=2, axis=-1, center=False)(x)
    x = L.UnitNormalization(axis=-1)(x)
    x = L.UnitNormalization(axis=[1, 2])(x)
    return k.Model(inp, x)


@pytest.mark.parametrize("package", ["keras", "tf_keras"])
def test_read_run_and_written(tmp_path: Path, package: str) -> None:
    k = keras if package == "keras" else tf_keras
    model = build(k)
    randomize_weights(model, np.random.default_rng(0))
    source_path = tmp_path / ("source.keras" if package == "keras" else "source.h5")
    model.save(source_path)
    x = np.random.default_rng(1).normal(size=(2, 9, 11, 4)).astype("float32")
    want = model.predict(x, verbose=0)
    source = kconvert.load(source_path)
    assert {la.kind for la in source.layers} >= {"Resizing", "CenterCrop", "GroupNormalization", "UnitNormalization"}
    np.testing.assert_allclose(kconvert.run(source, x, device="cpu")[0], want, atol=1e-5, rtol=1e-5)
    keras3 = kconvert.write(source, "keras", tmp_path / "out.keras").path
    np.testing.assert_allclose(keras.saving.load_model(keras3, safe_mode=True).predict(x, verbose=0), want,
                               atol=1e-5, rtol=1e-5)
    legacy = kconvert.write(source, "h5", tmp_path / "out.h5").path
    for loader in (tf_keras.models.load_model, keras.models.load_model):
        np.testing.assert_allclose(loader(legacy, compile=False).predict(x, verbose=0), want, atol=1e-5, rtol=1e-5)


def test_what_is_not_expressed_is_refused(tmp_path: Path) -> None:
    inp = keras.Input((9, 11, 4))
    keras.Model(inp, keras.layers.Resizing(6, 6, pad_to_aspect_ratio=True)(inp)).save(tmp_path / "pad.keras")
    with pytest.raises(IncompatibleKerasConfigurationException, match="pad_to_aspect_ratio=True pads"):
        kconvert.load(tmp_path / "pad.keras")
    keras.Model(inp, keras.layers.CenterCrop(12, 6)(inp)).save(tmp_path / "small.keras")
    with pytest.raises(IncompatibleKerasConfigurationException, match="Keras resizes smaller images instead"):
        kconvert.load(tmp_path / "small.keras")
