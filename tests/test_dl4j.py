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
from tests import helpers as ir
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
    graves = kconvert.load(root / "regression_testing/080/080_ModelSerializer_Regression_CG_LSTM_1.zip")
    assert graves.param_count() == 477
    # GravesLSTM 3->4: W (48), then RW [4, 19] in 'f' order whose last 3 columns are the forget, output and
    # input peepholes (linspace values 113..124), then b
    peepholes = graves.layer("0").weights["peephole_kernel"].numpy()
    np.testing.assert_array_equal(peepholes, np.arange(49, 125, dtype=np.float32).reshape(4, 19, order="F")[
        :, [18, 16, 17]].T)
    (y,) = kconvert.run(graves, [np.zeros((2, 3, 6), np.float32)], device="cpu")
    assert y.shape == (2, 5, 6)  # NCW, as DL4J returns it
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)


def _graves_reference(flat: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The 080 CG_LSTM network (GravesLSTM 3->4 tanh, GravesBidirectionalLSTM 4->4 softsign, RnnOutputLayer
    4->5 softmax) computed in numpy from DL4J's flat parameters, following DL4J's LSTMHelpers: gate blocks
    [block input, forget, output, input gate]; peepholes RW[:, 4n] (forget, previous cell), RW[:, 4n+1]
    (output, new cell), RW[:, 4n+2] (input gate, previous cell)."""
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    offset = 0

    def take(*shape: int) -> np.ndarray:
        nonlocal offset
        size = int(np.prod(shape))
        offset += size
        return flat[offset - size:offset].reshape(shape, order="F")

    def graves(seq: np.ndarray, n_in: int, n: int, act: Any, backwards: bool = False) -> np.ndarray:
        w, rw, b = take(n_in, 4 * n), take(n, 4 * n + 3), take(4 * n)
        h, c = np.zeros((seq.shape[0], n)), np.zeros((seq.shape[0], n))
        out = np.zeros((seq.shape[0], n, seq.shape[2]))
        steps = range(seq.shape[2])
        for t in reversed(steps) if backwards else steps:
            z = seq[:, :, t] @ w + h @ rw[:, :4 * n] + b
            f = sigmoid(z[:, n:2 * n] + c * rw[:, 4 * n])
            gate = sigmoid(z[:, 3 * n:] + c * rw[:, 4 * n + 2])
            c = f * c + gate * act(z[:, :n])
            h = sigmoid(z[:, 2 * n:3 * n] + c * rw[:, 4 * n + 1]) * act(c)
            out[:, :, t] = h
        return out

    h = graves(x, 3, 4, np.tanh)
    softsign = lambda v: v / (1 + np.abs(v))  # noqa: E731
    h = graves(h, 4, 4, softsign) + graves(h, 4, 4, softsign, backwards=True)
    w, b = take(4, 5), take(5)
    z = np.einsum("bnt,nk->bkt", h, w) + b[None, :, None]
    return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)


def test_graves_lstm_computes_what_dl4j_computes(tmp_path: Path) -> None:
    """The real 080 configuration with small random parameters (its own are linspace 1..477, which saturate
    every gate), run by the runtime and by a numpy transcription of DL4J's equations; then written back as a
    GravesLSTM and a Bidirectional over GravesLSTMs and read again."""
    root = require_shared(SHARED_FIXTURES / "dl4j")
    config = (root / "regression_testing/080/080_ModelSerializer_Regression_CG_LSTM_1_extracted/configuration.json")
    flat = np.random.default_rng(3).normal(0, 0.5, 477).astype(np.float32)
    source = tmp_path / "graves.zip"
    with zipfile.ZipFile(source, "w") as zf:
        zf.writestr("configuration.json", config.read_text())
        zf.writestr("coefficients.bin", _nd4j(flat))
    x = np.random.default_rng(4).normal(0, 1, (2, 3, 7)).astype(np.float32)
    (got,) = kconvert.run(kconvert.load(source), [x], device="cpu")
    want = _graves_reference(flat.astype(np.float64), x)
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)
    assert np.ptp(want) > 0.1

    # Keras's (batch, time, features) as DL4J's NWC, without the reader's transposes from NCW
    read = {la.name: la for la in kconvert.load(source).layers}
    nwc = ir.model([ir.input_layer("in", (None, None, 3)),
                    ir.layer("0", read["0"].config, ["in"], weights=read["0"].weights),
                    ir.layer("1", read["1"].config, ["0"]),
                    ir.layer("2", read["2"].config, ["1"], weights=read["2"].weights)], ["in"], ["2"])
    written = kconvert.write(nwc, "dl4j", tmp_path / "out")
    document = json.loads((tmp_path / "out" / "configuration.json").read_text())
    classes = [c["layer"]["@class"].rsplit(".", 2)[-2:] for c in document["confs"]]
    assert classes == [["layers", "GravesLSTM"], ["recurrent", "Bidirectional"], ["recurrent", "TimeDistributed"]]
    (again,) = kconvert.run(kconvert.load(written.files[-1]), [x.transpose(0, 2, 1)], device="cpu")
    np.testing.assert_allclose(again, want.transpose(0, 2, 1), atol=ATOL, rtol=RTOL)


def test_loss_layers_and_spatial_dropout_are_read(tmp_path: Path) -> None:
    """A CnnLossLayer applies its activation over the channels of DL4J's NCHW images; a SpatialDropout
    becomes the IR's spatial dropout (identity at inference)."""
    act = "org.nd4j.linalg.activations.impl."
    layers = [{"@class": "org.deeplearning4j.nn.conf.layers.ConvolutionLayer", "layerName": "conv", "nin": 2,
               "nout": 3, "kernelSize": [1, 1], "stride": [1, 1], "padding": [0, 0], "convolutionMode": "Same",
               "activationFn": {"@class": act + "ActivationIdentity"}},
              {"@class": "org.deeplearning4j.nn.conf.layers.DropoutLayer", "layerName": "drop",
               "idropout": {"@class": "org.deeplearning4j.nn.conf.dropout.SpatialDropout", "p": 0.75}},
              {"@class": "org.deeplearning4j.nn.conf.layers.CnnLossLayer", "layerName": "loss",
               "activationFn": {"@class": act + "ActivationSoftmax"}}]
    params = np.arange(9, dtype=np.float32) / 10  # b [3], then W [3, 2, 1, 1]
    source = tmp_path / "net.zip"
    with zipfile.ZipFile(source, "w") as zf:
        zf.writestr("configuration.json", json.dumps({"confs": [{"layer": la} for la in layers]}))
        zf.writestr("coefficients.bin", _nd4j(params))
    net = kconvert.load(source)
    assert [la.kind for la in net.layers] == ["InputLayer", "Conv2D", "SpatialDropout2D", "Softmax"]
    assert net.layer("drop").config.rate == pytest.approx(0.25)
    x = np.random.default_rng(0).normal(size=(2, 2, 4, 5)).astype(np.float32)
    (y,) = kconvert.run(net, [x], device="cpu")
    logits = np.einsum("oc,bchw->bohw", params[3:].reshape(3, 2), x) + params[:3, None, None]
    want = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(y, want, atol=ATOL, rtol=RTOL)


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
    # separable and depthwise convolutions (depth multiplier 2), Reshape/Permute/Flatten as preprocessors
    pic = k.Input((10, 10, 3))
    p = L.SeparableConv2D(5, 3, depth_multiplier=2, activation="relu")(pic)
    p = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(p)
    p = L.SpatialDropout2D(0.2)(L.ThresholdedReLU(0.1)(p) if hasattr(L, "ThresholdedReLU") else p)
    p = L.Reshape((8, 80))(p)
    p = L.Permute((2, 1))(p)
    p = L.Dense(3, activation="tanh")(p)  # per time step
    shapes = k.Model(pic, L.Dense(4)(L.Flatten()(p)))
    vol = k.Input((6, 6, 6, 2))
    v = L.Conv3D(4, 3, padding="same", activation="relu")(vol)
    v = L.MaxPooling3D(2)(v)
    v = L.Conv3D(3, 2, strides=1)(v)
    volume = k.Model(vol, L.Concatenate()([L.Flatten()(v), L.GlobalAveragePooling3D()(v)]))
    steps = k.Input((5, 3))
    t = L.TimeDistributed(L.Dense(4, activation="relu"))(steps)
    per_step = k.Model(steps, L.Reshape((5, 2, 2))(L.LSTM(4, return_sequences=True)(t)))
    return [("cnn", cnn, [x(12, 12, 3)]), ("rnn", rnn, [x(7, 4)]), ("text", text, [tokens]),
            ("shapes", shapes, [x(10, 10, 3)]), ("volume", volume, [x(6, 6, 6, 2)]), ("per_step", per_step, [x(5, 3)])]


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
                                  "lstm_per_gate", "simple_rnn", "pooling1d", "highway_maxout"])
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


@pytest.mark.parametrize("name,fragment", [("gru_per_gate", "GRU")])
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
    assert checked >= 100, (checked, refused)


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
