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
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import kconvert
from kconvert.cli import main
from kconvert.schemas import validate
from kconvert.verification.inputs import generate_inputs
from kconvert.verification.keras_reference import run_many
from kconvert.verification.tfjs_runner import check_model_json, run_tfjs_many
from tests.conftest import REALWORLD, ROOT, require_shared, require_tfjs
from tests.helpers import assert_tfjs_run_matches, randomize_weights, stored_predictions
from tests.zoo import ZOO

ATOL = 1e-4  # the bar for TF.js against Keras
RTOL = 1e-4


@pytest.fixture(scope="module", autouse=True)
def tfjs() -> None:
    require_tfjs()


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
    assert_tfjs_run_matches(run, expected, ATOL, RTOL)


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


# -- rewrites into stock tfjs-layers ------------------------------------------------------------------

def _sequential(k: Any, shape: tuple[int | None, ...], *layers: Any) -> Any:
    x = inp = k.Input(shape)
    for layer in layers:
        x = layer(x)
    return k.Model(inp, x)


def _attention(k: Any) -> Any:
    query, value = k.Input((4, 6)), k.Input((5, 6))
    return k.Model([query, value], k.layers.Attention(use_scale=True)([query, value]))


def _operations(k: Any) -> Any:
    """keras.ops calls Keras 3 records as graph nodes: with constants, on two tensors, and unary."""
    ops = k.ops
    a, b = k.Input((5,)), k.Input((5,))
    x = k.layers.Dense(5)(a)
    terms = [x + 3.0, 2.0 * x, 1.0 - x, x - 0.5, ops.maximum(x, 0.0), ops.minimum(x, 0.0), x ** 2, ops.abs(x),
             ops.negative(x), ops.sigmoid(x), ops.hard_silu(x), ops.relu6(x * 4.0), x - b, ops.maximum(x, b),
             ops.minimum(x, b), x * b]
    return k.Model([a, b], k.layers.Concatenate()(terms))


#: models holding what tfjs-layers lacks, each rewritten into layers it has: (builder, input shapes)
REWRITE_MODELS: dict[str, tuple[Any, list[tuple[int, ...]]]] = {
    "causal-conv1d": (lambda k: _sequential(k, (9, 4), k.layers.Conv1D(5, 3, padding="causal", dilation_rate=2,
                                                                        activation="relu")), [(9, 4)]),
    "causal-conv1d-any-length": (lambda k: _sequential(k, (None, 4), k.layers.Conv1D(5, 3, padding="causal")),
                                 [(7, 4)]),
    "channels-first-1d": (lambda k: _sequential(
        k, (4, 9), k.layers.Conv1D(5, 3, data_format="channels_first"),
        k.layers.MaxPooling1D(2, data_format="channels_first"),
        k.layers.GlobalAveragePooling1D(data_format="channels_first")), [(4, 9)]),
    "padding-1d": (lambda k: _sequential(k, (9, 4), k.layers.ZeroPadding1D((2, 1)), k.layers.Cropping1D((1, 3)),
                                         k.layers.UpSampling1D(2)), [(9, 4)]),
    "keepdims": (lambda k: _sequential(k, (6, 6, 3), k.layers.Conv2D(4, 3),
                                       k.layers.GlobalAveragePooling2D(keepdims=True), k.layers.Conv2D(2, 1),
                                       k.layers.Flatten()), [(6, 6, 3)]),
    "volumes": (lambda k: _sequential(
        k, (5, 6, 7, 2), k.layers.ZeroPadding3D(((1, 2), (0, 1), (2, 0))),
        k.layers.Cropping3D(((1, 0), (2, 1), (0, 3))), k.layers.UpSampling3D((2, 1, 3)),
        k.layers.BatchNormalization(), k.layers.GlobalMaxPooling3D()),
        [(5, 6, 7, 2)]),
    "volumes-channels-first": (lambda k: _sequential(
        k, (2, 5, 6, 7), k.layers.GlobalAveragePooling3D(data_format="channels_first", keepdims=True),
        k.layers.Flatten()), [(2, 5, 6, 7)]),
    "normalization-axis-1": (lambda k: _sequential(k, (5, 6), k.layers.BatchNormalization(axis=1),
                                                   k.layers.Softmax(axis=1)), [(5, 6)]),
    "keras3-hard-sigmoid": (lambda k: _sequential(k, (8,), k.layers.Dense(6, activation="hard_sigmoid"),
                                                  k.layers.Dense(5, activation="hard_silu"),
                                                  k.layers.Activation("hard_sigmoid")), [(8,)]),
    "elu-alpha": (lambda k: _sequential(k, (8,), k.layers.Dense(6), k.layers.ELU(alpha=0.7)), [(8,)]),
    "relu-threshold-slope-cap": (lambda k: _sequential(
        k, (8,), k.layers.Dense(6), k.layers.ReLU(max_value=1.4, negative_slope=0.2, threshold=0.2)), [(8,)]),
    "convolutions-1d": (lambda k: _sequential(
        k, (9, 4), k.layers.SeparableConv1D(5, 3, depth_multiplier=2, padding="same"),
        k.layers.DepthwiseConv1D(3, strides=2), k.layers.Conv1DTranspose(3, 3, strides=2)), [(9, 4)]),
    "attention": (_attention, [(4, 6), (5, 6)]),
    "operations": (_operations, [(5,), (5,)]),
    "one-group-per-channel": (lambda k: _sequential(k, (7, 7, 3), k.layers.Conv2D(6, 3, groups=3, padding="same")),
                              [(7, 7, 3)]),
}


def test_rewrites_match_keras_in_tfjs(tmp_path: Path) -> None:
    """Each rewrite, written from a Keras 3 model and run in the real tfjs, computes what Keras does."""
    from tests.conftest import keras_runs_channels_first

    keras = _keras("keras")
    rng = np.random.default_rng(11)
    jobs, expected = [], []
    for name, (build, shapes) in REWRITE_MODELS.items():
        model = build(keras)
        randomize_weights(model, rng)
        xs = [rng.normal(0, 1, (2, *s)).astype("float32") for s in shapes]
        model.save(tmp_path / f"{name}.keras")
        written = kconvert.convert(tmp_path / f"{name}.keras", "tfjs", tmp_path / name)
        assert written.report.by_category("rewritten"), name
        if "channels-first" in name and not keras_runs_channels_first():
            want = kconvert.run(kconvert.load(tmp_path / f"{name}.keras"), xs, device="cpu")[0]
        else:
            want = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
        jobs.append((tmp_path / name, xs, []))
        expected.append((name, want))
    for (name, want), run in zip(expected, run_tfjs_many(jobs)):
        assert run.error is None, (name, run.error)
        np.testing.assert_allclose(run.outputs[0], want, atol=ATOL, rtol=RTOL, err_msg=name)
        assert np.ptp(want) > 1e-3, f"{name}: degenerate reference"


# -- the real-world corpus --------------------------------------------------------------------------

#: why TF.js cannot express some real-world files (each refusal must be one of these)
REFUSAL_REASONS = ("has no LocallyConnected2D", "writes Attention over (batch, steps, features) inputs only")


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
        stored = stored_predictions(path)
        xs = stored[0] if stored else generate_inputs(model, 2, 0)
        jobs.append((out, xs, []))
        cases.append((name, model, path, xs, stored[1] if stored else None))
    unexplained = {n: r for n, r in refusals.items() if not any(known in r for known in REFUSAL_REASONS)}
    assert not unexplained
    assert len(cases) >= 0.95 * (len(cases) + len(refusals)), refusals  # the bar
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
