"""Deeplearning4j: the ND4J array encoding, configurations and model zips written from the IR and
read back, and the real DL4J files in ../shared/fixtures/dl4j.

Round trips (Keras -> DL4J zip -> reader -> runtime) must reproduce Keras's predictions at atol
1e-5: the reader inverts every layout the writer applies (dense kernels in 'f' order, OIHW
convolution kernels after the bias, LSTM gate blocks c, f, o, i), so a layout bug on either side
shows as a mismatch.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import kconvert
from kconvert.cli import EXIT_INCOMPATIBLE, EXIT_OK, main
from kconvert.errors import IncompatibleKerasConfigurationException, InputReadError
from kconvert.formats.dl4j import read_array, write_row_header
from kconvert.schemas import validate
from kconvert.verification.inputs import generate_inputs
from tests.conftest import FIXTURES, REALWORLD, SHARED_FIXTURES, require_shared
from tests.helpers import randomize_weights

ATOL = RTOL = 1e-5
KERAS1 = FIXTURES / "keras1"


def _nd4j(values: np.ndarray, dtype: str = "FLOAT", mode: str = "MIXED_DATA_TYPES") -> bytes:
    return write_row_header(values.size, dtype) + values.astype({"FLOAT": ">f4", "DOUBLE": ">f8"}[dtype]).tobytes()


# -- the ND4J array encoding ------------------------------------------------------------------------

def test_row_vector_round_trip() -> None:
    values = np.linspace(-1, 1, 41, dtype=np.float32)
    np.testing.assert_array_equal(read_array(_nd4j(values), "x").reshape(-1), values)
    np.testing.assert_array_equal(read_array(_nd4j(values, "DOUBLE"), "x").reshape(-1), values)


def test_legacy_javacpp_array_with_strides() -> None:
    """0.x files: int lengths, INT shape information; data is read through the strides."""
    def utf(s: str) -> bytes:
        return struct.pack(">H", len(s)) + s.encode()
    info = [2, 2, 3, 1, 2, 0, -1, 102]  # shape (2, 3) stored column-major
    data = np.arange(6, dtype=">f4")
    raw = (utf("JAVACPP") + struct.pack(">i", len(info)) + utf("INT") + np.asarray(info, ">i4").tobytes()
           + utf("JAVACPP") + struct.pack(">i", 6) + utf("FLOAT") + data.tobytes())
    np.testing.assert_array_equal(read_array(raw, "x"), np.arange(6).reshape(3, 2).T)


@pytest.mark.parametrize("damage,fragment", [
    (lambda b: b[:-3], "too short"),
    (lambda b: b + b"\0", "bytes after"),
    (lambda b: b[:2] + b"XXXXXXXXXXXXXXXX" + b[18:], "unknown ND4J buffer mode"),
    (lambda b: b[:5], "truncated"),
])
def test_broken_arrays_are_refused(damage: Any, fragment: str) -> None:
    with pytest.raises(InputReadError, match=fragment):
        read_array(damage(_nd4j(np.ones(4, np.float32))), "coefficients.bin")


# -- the real DL4J files ------------------------------------------------------------------------------

def _real_configs() -> list[Path]:
    root = SHARED_FIXTURES / "dl4j"
    return sorted(root.glob("**/*.json")) if root.exists() else []


def test_real_configurations_match_the_schemas() -> None:
    configs = _real_configs() or [require_shared(SHARED_FIXTURES / "dl4j")]
    for path in configs:
        document = json.loads(path.read_text())
        validate(document, "dl4j-computationgraph" if "vertices" in document else "dl4j-multilayer", str(path))
    assert len(configs) >= 5


def test_real_zips_load_and_run() -> None:
    root = require_shared(SHARED_FIXTURES / "dl4j")
    mlp = kconvert.load(root / "dl4j-integration-tests/MLPMoon/Model_RANDOM_INIT_UNTRAINED.zip")
    assert [layer.kind for layer in mlp.layers] == ["InputLayer", "Dense", "Dense"] and mlp.param_count() == 102
    (y,) = kconvert.run(mlp, [np.array([[0.5, -0.2], [1.0, 0.3]], np.float32)], device="cpu")
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)  # a softmax output layer
    old = kconvert.load(root / "regression_testing/080/080_ModelSerializer_Regression_MLP_1.zip")
    kernel = old.layer("layer0").weights["kernel"].numpy()
    np.testing.assert_array_equal(kernel, np.arange(1, 13, dtype=np.float32).reshape(3, 4, order="F"))  # linspace
    lenet = kconvert.load(root / "dl4j-integration-tests/LenetMnist/config.mlc.json")
    assert lenet.lacks_weights and lenet.param_count() == 431080
    with pytest.raises(IncompatibleKerasConfigurationException, match="peephole"):
        kconvert.load(root / "regression_testing/080/080_ModelSerializer_Regression_CG_LSTM_1.zip")


# -- Keras -> DL4J -> reader -> runtime ----------------------------------------------------------------

def _zoo(k: Any) -> list[tuple[str, Any, list[np.ndarray]]]:
    L = k.layers
    rng = np.random.default_rng(1)
    x = lambda *s: rng.normal(0, 1, (2, *s)).astype("float32")  # noqa: E731
    img = k.Input((12, 12, 3))
    h = L.Conv2D(6, 3, padding="same", activation="relu")(img)
    h = L.BatchNormalization()(h)
    h = L.MaxPooling2D()(h)
    h = L.ZeroPadding2D(((1, 0), (0, 1)))(h)
    h = L.Cropping2D(((0, 1), (1, 0)))(h)
    h = L.UpSampling2D(2)(h)
    h = L.Conv2D(4, 3, strides=2, activation="elu")(h)
    a = L.Dense(5, activation="tanh")(L.Flatten()(h))
    b = L.Dense(5, activation="sigmoid")(L.GlobalAveragePooling2D()(h))
    cnn = k.Model(img, L.Dense(3, activation="softmax")(L.Concatenate()([L.Add()([a, b]), L.Multiply()([a, b])])))
    seq = k.Input((7, 4))
    s = L.Conv1D(6, 3, padding="causal", activation="relu")(seq)
    s = L.LSTM(5, return_sequences=True)(s)
    s = L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="sum")(s)
    s = L.Bidirectional(L.LSTM(2, return_sequences=True))(s)
    t = L.LSTM(4)(s)
    rnn = k.Model(seq, L.Dense(2)(L.Dropout(0.3)(L.Activation("softsign")(t))))
    ids = k.Input((6,), dtype="int32")
    e = L.GlobalMaxPooling1D()(L.Embedding(11, 4)(ids))
    text = k.Model(ids, L.Dense(2, activation="softmax")(e))
    tokens = np.array([[1, 4, 9, 0, 2, 10], [3, 3, 5, 7, 0, 1]], "int32")
    return [("cnn", cnn, [x(12, 12, 3)]), ("rnn", rnn, [x(7, 4)]), ("text", text, [tokens])]


@pytest.mark.parametrize("flavour", ["keras", "tf_keras"])
def test_keras_models_round_trip(tmp_path: Path, flavour: str) -> None:
    k = pytest.importorskip(flavour)
    for name, model, xs in _zoo(k):
        randomize_weights(model, np.random.default_rng(4))
        source = tmp_path / f"{name}.{'keras' if flavour == 'keras' else 'h5'}"
        model.save(source)
        written = kconvert.convert(source, "dl4j", tmp_path / name)
        document = json.loads((tmp_path / name / "configuration.json").read_text())
        validate(document, "dl4j-computationgraph" if "vertices" in document else "dl4j-multilayer")
        back = kconvert.load(written.files[-1])
        want = model.predict(xs[0], verbose=0)
        (got,) = kconvert.run(back, xs, device="cpu")
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL, err_msg=name)
        assert np.ptp(want) > 1e-4


@pytest.mark.parametrize("name", ["dense", "batchnorm", "bidirectional", "branching_merge", "conv1d", "conv2d_tf",
                                  "lstm_per_gate", "simple_rnn"])
def test_keras1_models_round_trip(tmp_path: Path, name: str) -> None:
    source = kconvert.load(KERAS1 / f"{name}.h5")
    written = kconvert.write(source, "dl4j", tmp_path / "out")
    xs = generate_inputs(source, 2, 0)
    want = kconvert.run(source, xs, device="cpu")
    got = kconvert.run(kconvert.load(written.files[-1]), xs, device="cpu")
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL)


def test_layouts_in_the_zip(tmp_path: Path) -> None:
    """The flat parameter vector follows DL4J's layouts, checked against the Keras weights."""
    source = kconvert.load(KERAS1 / "lstm_per_gate.h5")
    kconvert.write(source, "dl4j", tmp_path / "out")
    with zipfile.ZipFile(tmp_path / "out" / "model.zip") as zf:
        assert zf.namelist() == ["configuration.json", "coefficients.bin"]
        flat = read_array(zf.read("coefficients.bin"), "coefficients.bin")
    assert flat.shape == (1, source.param_count())
    lstm = next(la for la in source.layers if la.kind == "LSTM")
    kernel = lstm.weights["kernel"].numpy()
    i, f, c, o = np.split(kernel, 4, axis=1)
    expected_w = np.concatenate([c, f, o, i], axis=1).ravel(order="F")
    np.testing.assert_array_equal(flat[0, :expected_w.size], expected_w)


def test_training_configuration_follows_the_flag(tmp_path: Path) -> None:
    source = kconvert.load(KERAS1 / "dense.h5")  # compiled with SGD and categorical cross-entropy
    loose = kconvert.write(source, "dl4j", tmp_path / "loose")
    assert any("not carried" in n.message for n in loose.report.notes)
    layers = [c["layer"] for c in json.loads((tmp_path / "loose" / "configuration.json").read_text())["confs"]]
    assert all(la["@class"].endswith("DenseLayer") for la in layers)
    kconvert.write(source, "dl4j", tmp_path / "strict", enforce_training_config=True)
    layers = [c["layer"] for c in json.loads((tmp_path / "strict" / "configuration.json").read_text())["confs"]]
    assert layers[-1]["@class"].endswith("OutputLayer") and layers[-1]["lossFn"]["@class"].endswith("LossMCXENT")
    assert layers[0]["iupdater"]["@class"].endswith(("Sgd", "Nesterovs"))


@pytest.mark.parametrize("name,fragment", [("gru_per_gate", "GRU"), ("pooling1d", "over a (batch, time, features)"),
                                           ("highway_maxout", "Rescaling")])
def test_refusals_name_the_layer(tmp_path: Path, name: str, fragment: str) -> None:
    source = kconvert.load(KERAS1 / f"{name}.h5")
    with pytest.raises(IncompatibleKerasConfigurationException, match=re.escape(fragment)) as info:
        kconvert.write(source, "dl4j", tmp_path / "out")
    assert info.value.layer and not (tmp_path / "out").exists()


def test_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    source = str(KERAS1 / "bidirectional.h5")
    result = runner.invoke(main, [source, "--to", "dl4j", str(tmp_path / "out"), "--verify"])
    assert result.exit_code == EXIT_OK and "PASSED  target" in result.output, result.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["configuration.json", "model.zip"]
    result = runner.invoke(main, [source, "--to", "dl4j", str(tmp_path / "cfg"), "--config-only"])
    assert result.exit_code == EXIT_OK
    assert [p.name for p in (tmp_path / "cfg").iterdir()] == ["configuration.json"]
    refused = runner.invoke(main, [str(KERAS1 / "gru_per_gate.h5"), "--to", "dl4j", str(tmp_path / "gru")])
    assert refused.exit_code == EXIT_INCOMPATIBLE and not (tmp_path / "gru").exists()


@pytest.mark.slow
def test_realworld_files_round_trip(tmp_path: Path) -> None:
    """Every real-world Keras model DL4J can express goes Keras -> DL4J zip -> reader -> runtime and
    computes what the source computes; the others are refused with a reason naming the layer."""
    realworld = require_shared(REALWORLD)
    checked, refused = 0, {}
    for path in sorted(p for p in realworld.glob("**/*.h*5") if "inputs_and_outputs" not in p.name):
        try:
            model = kconvert.load(path)
        except kconvert.KConvertError:
            continue
        name = str(path.relative_to(realworld))
        try:
            written = kconvert.write(model, "dl4j", tmp_path / name.replace("/", "__"))
        except IncompatibleKerasConfigurationException as exc:
            assert exc.layer or "output" in exc.reason, (name, exc.reason)
            refused[name] = exc.reason
            continue
        xs = generate_inputs(model, 2, 0)
        want = kconvert.run(model, xs, device="cpu")
        got = kconvert.run(kconvert.load(written.files[-1]), xs, device="cpu")
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, atol=ATOL, rtol=RTOL, err_msg=name)
        checked += 1
    assert checked >= 40, (checked, refused)


def test_classical_momentum_is_not_swapped_for_nesterov(tmp_path: Path) -> None:
    """Deeplearning4j's own Keras import turns SGD(momentum) into Nesterovs silently; kconvert says so."""
    tf_keras = pytest.importorskip("tf_keras")
    model = tf_keras.Sequential([tf_keras.layers.Input((3,)), tf_keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=tf_keras.optimizers.SGD(learning_rate=0.1, momentum=0.9), loss="categorical_crossentropy")
    model.save(tmp_path / "m.h5")
    with pytest.raises(kconvert.UnsupportedKerasConfigurationException, match="Nesterov momentum only"):
        kconvert.convert(tmp_path / "m.h5", "dl4j", tmp_path / "strict", enforce_training_config=True)
    assert not (tmp_path / "strict").exists()
    loose = kconvert.convert(tmp_path / "m.h5", "dl4j", tmp_path / "loose")
    assert any(n.severity == "warning" and "not carried" in n.message for n in loose.report.notes)
