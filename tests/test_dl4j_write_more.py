"""Keras models the Deeplearning4j writer refused before, each written to DL4J and run in the real
Deeplearning4j 1.0.0-M2.1 against Keras (atol 1e-4), and read back by kconvert:

* a sub-model called twice (a siamese tower) and a layer called twice: one copy per call holding the
  same weights (exact for inference);
* ``keras.ops`` arithmetic with constants (``x + 3``, ``x * 0.5``, ``1 - x``), as MobileNetV3's hard
  sigmoid does: a Rescaling, written as an epsilon-0 BatchNormalization; MobileNetV3Small itself;
* a mean over the last axis (``keras.ops.mean``) of a sequence and of an image: a one-unit Dense / 1x1
  convolution with weights 1 / n;
* a Concatenate over the channels of channels-first images (what DL4J's own MergeVertex does on NCHW):
  a MergeVertex with ``mergeAxis`` 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException
from tests.helpers import randomize_weights

keras = pytest.importorskip("keras")


def _models() -> dict[str, tuple[Any, list[np.ndarray]]]:
    L, ops = keras.layers, keras.ops
    rng = np.random.default_rng(3)
    x = lambda *s: rng.normal(0, 1, (2, *s)).astype("float32")  # noqa: E731
    out: dict[str, tuple[Any, list[np.ndarray]]] = {}

    tower_in = keras.Input((6,))
    tower = keras.Model(tower_in, L.Dense(4, activation="tanh")(L.Dense(5)(tower_in)), name="tower")
    left, right = keras.Input((6,)), keras.Input((6,))
    out["siamese"] = keras.Model([left, right], L.Subtract()([tower(left), tower(right)])), [x(6), x(6)]

    shared, flat = L.Dense(4), keras.Input((4,))
    out["shared_layer"] = keras.Model(flat, L.Add()([shared(flat), shared(L.Dense(4)(flat))])), [x(4)]

    image = keras.Input((7, 7, 3))
    c = L.Conv2D(4, 3)(image)
    h = L.ReLU(6.0)(c + 3.0) * (1.0 / 6.0)  # MobileNetV3's hard sigmoid
    out["constant_ops"] = keras.Model(image, L.Flatten()(L.Multiply()([c, h]) - 2.0 + (1.0 - c))), [x(7, 7, 3)]

    steps = keras.Input((5, 6))
    s = L.Dense(4)(steps)
    out["mean_last_axis"] = keras.Model(steps, L.Concatenate()([ops.mean(s, axis=-1), ops.sum(s, axis=2)])), \
        [x(5, 6)]

    pic = keras.Input((6, 6, 3))
    m = ops.mean(L.Conv2D(5, 3)(pic), axis=-1, keepdims=True)
    out["mean_channels"] = keras.Model(pic, L.Flatten()(L.Conv2D(2, 1)(m))), [x(6, 6, 3)]

    nchw = keras.Input((2, 6, 6))
    a = L.Conv2D(3, 3, padding="same", data_format="channels_first")(nchw)
    b = L.Conv2D(2, 1, data_format="channels_first")(nchw)
    merged = L.Concatenate(axis=1)([a, b])
    pooled = L.GlobalMaxPooling2D(data_format="channels_first")(L.Conv2D(2, 1, data_format="channels_first")(merged))
    out["concat_channels_first"] = keras.Model(nchw, pooled), [x(2, 6, 6)]

    # its first blocks: the stem's hard swish, squeeze-and-excite with hard sigmoids (constant ops), depthwise
    # convolutions (further on, with random weights, the output no longer depends on the input)
    mobilenet = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, include_top=False)
    out["mobilenet_v3_small_blocks"] = keras.Model(mobilenet.input, mobilenet.get_layer("expanded_conv_2_add").output), \
        [rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")]
    return out


def _expected(model: Any, xs: list[np.ndarray], saved: Path) -> np.ndarray:
    """Keras's predictions; kconvert's runtime's (proven against Keras elsewhere) where this CPU's
    TensorFlow cannot run channels_first convolutions."""
    from tests.conftest import keras_runs_channels_first

    if "channels_first" in saved.stem and not keras_runs_channels_first():
        return kconvert.run(kconvert.load(saved), xs, device="cpu")[0]
    return np.asarray(model.predict(xs[0] if len(xs) == 1 else xs, verbose=0))


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[np.ndarray], np.ndarray]]:
    tmp = tmp_path_factory.mktemp("dl4j-more")
    out = {}
    for name, (model, xs) in _models().items():
        randomize_weights(model, np.random.default_rng(4))
        model.save(tmp / f"{name}.keras")
        result = kconvert.convert(tmp / f"{name}.keras", "dl4j", tmp / name)
        out[name] = (Path(result.files[-1]), xs, _expected(model, xs, tmp / f"{name}.keras"))
    return out


@pytest.mark.parametrize("name", list(_models()))
def test_read_back_computes_keras(written: dict[str, Any], name: str) -> None:
    path, xs, want = written[name]
    (got,) = kconvert.run(kconvert.load(path), xs, device="cpu")
    np.testing.assert_allclose(got.reshape(want.shape), want, atol=1e-4, rtol=1e-4, err_msg=name)
    assert np.ptp(want) > 1e-3 and np.ptp(want[0] - want[1]) > 1e-3  # the output depends on the input


def test_in_real_dl4j(written: dict[str, Any]) -> None:
    """Every model above, restored and run by the real Deeplearning4j, computes what Keras predicts."""
    from kconvert.verification.dl4j_runner import IMPLEMENTATION, run_dl4j_many
    from tests.conftest import require_dl4j

    require_dl4j()
    names = list(written)
    runs = run_dl4j_many([(written[n][0], written[n][1], []) for n in names])
    for name, run in zip(names, runs):
        want = written[name][2]
        assert run.error is None and run.implementation == IMPLEMENTATION, (name, run.error)
        np.testing.assert_allclose(run.outputs[0].reshape(want.shape), want, atol=1e-4, rtol=1e-4, err_msg=name)


def test_shared_layer_copies_are_reported(written: dict[str, Any], tmp_path: Path) -> None:
    flat = keras.Input((4,))
    shared = keras.layers.Dense(3, name="shared")
    keras.Model(flat, keras.layers.Add()([shared(flat), shared(flat * 2.0)])).save(tmp_path / "m.keras")
    result = kconvert.convert(tmp_path / "m.keras", "dl4j", tmp_path / "out")
    assert any("called 2 times" in str(note) for note in result.report.notes), result.report.notes


def test_mean_of_flat_features_without_keepdims_refused(tmp_path: Path) -> None:
    flat = keras.Input((4,))
    keras.Model(flat, keras.ops.mean(keras.layers.Dense(3)(flat), axis=-1)).save(tmp_path / "m.keras")
    with pytest.raises(IncompatibleKerasConfigurationException, match="keepdims") as info:
        kconvert.convert(tmp_path / "m.keras", "dl4j", tmp_path / "out")
    assert info.value.layer and not (tmp_path / "out").exists()
