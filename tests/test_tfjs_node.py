"""Converted models loaded by the real @tensorflow/tfjs (Node, pure-JavaScript CPU backend) compute
what Keras computes.

Models are built with Keras 3 and with tf_keras (the Keras 2 TF.js was made for), given random
weights, saved, converted, and run by TF.js; the real-world corpus is converted file by file.
Every model of a module runs in one Node process.  Without Node or the harness's packages these
tests skip (they fail under CI=true, where ./dev.sh installs them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import kconvert
from kconvert.cli import main
from kconvert.schemas import validate
from kconvert.verification.inputs import generate_inputs
from kconvert.verification.keras_reference import run_many
from kconvert.verification.tfjs_runner import check_model_json, run_tfjs_many, unavailable_reason
from tests.conftest import REALWORLD, ROOT, in_ci, require_shared
from tests.helpers import randomize_weights

ATOL = 1e-4  # the bar for TF.js against Keras
RTOL = 1e-4


@pytest.fixture(scope="module", autouse=True)
def tfjs() -> None:
    reason = unavailable_reason()
    if reason:
        if in_ci():
            pytest.fail(f"{reason} -- required under CI=true", pytrace=False)
        pytest.skip(reason)


# -- a zoo built with Keras ----------------------------------------------------------------------------

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
    names = ["relu", "relu6", "elu", "selu", "sigmoid", "tanh", "softplus", "softsign", "swish", "gelu", "mish",
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


def _keras(flavour: str) -> Any:
    return pytest.importorskip("tf_keras" if flavour == "tf_keras" else "keras")


@pytest.fixture(scope="module")
def zoo_results(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    """Build, save and convert every zoo model with both Kerases; run them all in one Node process."""
    tmp = tmp_path_factory.mktemp("tfjs-zoo")
    rng = np.random.default_rng(3)
    jobs, keys, expected = [], [], []
    for flavour in ("keras", "tf_keras"):
        k = _keras(flavour)
        for name, build in ZOO.items():
            model, xs = build(k)
            randomize_weights(model, rng)
            source = tmp / f"{flavour}-{name}.{'h5' if flavour == 'tf_keras' else 'keras'}"
            model.save(source)
            out = tmp / f"{flavour}-{name}-tfjs"
            kconvert.convert(source, "tfjs", out)
            check_model_json(out / "model.json")
            ys = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
            jobs.append((out, xs, []))
            keys.append((flavour, name))
            expected.append(ys if isinstance(ys, list) else [ys])
    runs = run_tfjs_many(jobs)
    return {key: (run, want) for key, run, want in zip(keys, runs, expected)}


@pytest.mark.parametrize("flavour", ["keras", "tf_keras"])
@pytest.mark.parametrize("name", sorted(ZOO))
def test_zoo_matches_keras_in_tfjs(zoo_results: dict, flavour: str, name: str) -> None:
    run, expected = zoo_results[(flavour, name)]
    assert run.error is None, run.error
    assert run.implementation == "@tensorflow/tfjs 4.22.0"
    assert len(run.outputs) == len(expected)
    for got, want in zip(run.outputs, expected):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)
        assert np.ptp(want) > 1e-4, "degenerate reference"


@pytest.mark.slow
@pytest.mark.parametrize("app,shape", [("MobileNetV2", (96, 96, 3)), ("ResNet50", (64, 64, 3))])
def test_keras_applications_in_tfjs(tmp_path: Path, app: str, shape: tuple[int, ...]) -> None:
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(7)
    model = getattr(keras.applications, app)(weights=None, input_shape=shape, classes=10)
    randomize_weights(model, rng)
    model.save(tmp_path / f"{app}.keras")
    written = kconvert.convert(tmp_path / f"{app}.keras", "tfjs", tmp_path / "tfjs")
    assert len(written.files) > 2  # several 4 MiB shards
    x = rng.normal(0, 1, (2, *shape)).astype("float32")
    (run,) = run_tfjs_many([(tmp_path / "tfjs", [x], [])])
    assert run.error is None, run.error
    want = model.predict(x, verbose=0)
    np.testing.assert_allclose(run.outputs[0], want, atol=ATOL, rtol=RTOL)
    assert np.ptp(want) > 1e-3


def test_quantized_weights_stay_within_their_step(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    model, xs = ZOO["mlp"](keras)
    randomize_weights(model, np.random.default_rng(5))
    model.save(tmp_path / "mlp.keras")
    want = model.predict(xs[0], verbose=0)
    errors = {}
    jobs = []
    for dtype in ("uint8", "uint16", "float16"):
        kconvert.convert(tmp_path / "mlp.keras", "tfjs", tmp_path / dtype, quantize=dtype)
        jobs.append((tmp_path / dtype, xs, []))
    for dtype, run in zip(("uint8", "uint16", "float16"), run_tfjs_many(jobs)):
        assert run.error is None, run.error
        errors[dtype] = float(np.abs(run.outputs[0] - want).max())
    assert errors["uint16"] < errors["uint8"] < 0.05 and errors["float16"] < 5e-3
    sizes = {d: sum(f.stat().st_size for f in (tmp_path / d).glob("*.bin")) for d in ("uint8", "uint16", "float16")}
    assert sizes["uint16"] == sizes["float16"] == 2 * sizes["uint8"]


# -- the real-world corpus --------------------------------------------------------------------------

#: why TF.js cannot express some real-world files (each refusal must be one of these)
REFUSAL_REASONS = ("cannot run causal padding", "ELU supports only alpha=1", "ReLU reads only max_value",
                   "has no LocallyConnected2D", "has no Cropping3D", "has no Attention")


def _stored_predictions(io: Path) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
    with h5py.File(io, "r") as f:
        if "predictions" not in f:
            return None
        return ([f["inputs"][n][()] for n in f["inputs"]], [f["predictions"][n][()] for n in f["predictions"]])


@pytest.mark.slow
def test_realworld_files_in_tfjs(tmp_path: Path) -> None:
    """Every real-world model kconvert reads is converted or refused for a known TF.js limitation;
    each converted one runs in TF.js and matches the stored Keras predictions, tf_keras, or (Keras 1
    files without stored predictions) kconvert's runtime, which test_verify proves against both."""
    realworld = require_shared(REALWORLD)
    files = sorted(p for p in realworld.glob("**/*.h*5") if "inputs_and_outputs" not in p.name)
    jobs, cases, refusals = [], [], {}
    for path in files:
        try:
            model = kconvert.load(path)
        except kconvert.KConvertError:
            continue  # weights-only files and refused models: covered by test_realworld
        name = str(path.relative_to(realworld))
        out = tmp_path / name.replace("/", "__")
        try:
            kconvert.write(model, "tfjs", out)
        except kconvert.IncompatibleKerasConfigurationException as exc:
            refusals[name] = exc.reason
            continue
        check_model_json(out / "model.json")
        io = path.with_name(path.name.replace("_model.h5", "_inputs_and_outputs.h5"))
        stored = _stored_predictions(io) if io != path and io.exists() else None
        xs = stored[0] if stored else generate_inputs(model, 2, 0)
        jobs.append((out, xs, []))
        cases.append((name, model, path, xs, stored[1] if stored else None))
    unexplained = {n: r for n, r in refusals.items() if not any(known in r for known in REFUSAL_REASONS)}
    assert not unexplained
    runs = run_tfjs_many(jobs)
    keras_jobs = [(model, str(path), xs) for _, model, path, xs, stored in cases if stored is None]
    keras_runs = iter(run_many(keras_jobs))
    by_reference = {"stored predictions": 0, "tf_keras": 0, "kconvert runtime": 0}
    for (name, model, _, xs, stored), run in zip(cases, runs):
        assert run.error is None, (name, run.error)
        if stored is not None:
            reference, want = "stored predictions", stored
        else:
            keras_run = next(keras_runs)
            if keras_run.outputs:
                reference, want = "tf_keras", keras_run.outputs
            else:
                reference, want = "kconvert runtime", kconvert.run(model, xs, device="cpu")
        for got, expected in zip(run.outputs, want):
            np.testing.assert_allclose(got, np.asarray(expected).reshape(got.shape), atol=ATOL, rtol=RTOL,
                                       err_msg=f"{name} against {reference}")
        by_reference[reference] += 1
    keras1 = sum(1 for _, model, *_ in cases if model.provenance.keras_major == 1)
    assert len(cases) >= 100 and keras1 >= 20, (len(cases), keras1, by_reference)
    assert by_reference["stored predictions"] >= 20 and by_reference["tf_keras"] >= 50, by_reference


# -- the command line ------------------------------------------------------------------------------------

def test_convert_command_verifies_in_tfjs(tmp_path: Path) -> None:
    source = ROOT / "tests" / "fixtures" / "generated" / "tfkeras" / "convlstm.h5"
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(main, [str(source), "--to", "tfjs", str(tmp_path / "web"), "--verify", "--report",
                                       str(report_path)])
    assert result.exit_code == 0, result.output
    assert "PASSED  target" in result.stdout
    report = json.loads(report_path.read_text())
    validate(report, "convert-report")
    validate(report["verification"], "verify-report")
    (target,) = [c for c in report["verification"]["checks"] if c["name"] == "target"]
    assert target["status"] == "passed" and "@tensorflow/tfjs 4.22.0" in target["reference"]
