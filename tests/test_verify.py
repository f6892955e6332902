"""Verification: the runtime against stored predictions, the installed Keras, and targets.

The real-world proof: every file of ../shared/fixtures/keras-realworld/ with stored predictions
matches them at atol 1e-5 (Deeplearning4j's tolerance for the same files), and every Keras 2
file the installed tf_keras can load agrees with it, which exercises the readers' weight
conversions on files written by others.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

import kconvert
from kconvert.cli import EXIT_CHECK_FAILED, EXIT_OK, main
from kconvert.verification import Check, verify
from kconvert.verification.inputs import generate_inputs
from kconvert.verification.keras_reference import KerasFile, run_files, run_many
from tests.conftest import GENERATED, REALWORLD, ROOT, layout_keras_runs

SCHEMA = json.loads((ROOT / "schemas" / "verify-report.schema.json").read_text())
ATOL = 1e-5

# -- stored predictions -----------------------------------------------------------------------------

EXPECTED_IO = sorted(p.relative_to(REALWORLD) for p in REALWORLD.glob("**/*_inputs_and_outputs.h5")) \
    if REALWORLD.exists() else []
#: files whose "expected I/O" holds no predictions, only the labels the model was trained on
LABELS_ONLY = {"dl4j-test-resources/examples/simple_lstm/simple_lstm_tf_keras_2_inputs_and_outputs.h5"}


@pytest.mark.parametrize("io", [p for p in EXPECTED_IO if str(p) not in LABELS_ONLY] or [None], ids=str)
def test_realworld_predictions_match(realworld: Path, io: Path | None) -> None:
    if io is None:
        pytest.fail("no expected-I/O files found in the real-world corpus")
    model = realworld / str(io).replace("_inputs_and_outputs.h5", "_model.h5")
    report = verify(str(model), inputs=str(realworld / io), atol=ATOL, rtol=0.0, keras="never")
    (check,) = report.checks
    assert check.name == "expected" and check.status == "passed", check.to_dict()
    assert report.passed
    with h5py.File(realworld / io, "r") as f:
        if "activations" in f:  # per-layer values, when the file has them, agree too
            model_ir = kconvert.load(model)
            _, acts = kconvert.run(model_ir, [f["inputs"][n][()] for n in f["inputs"]], activations=True)
            for layer, want in f["activations"].items():
                np.testing.assert_allclose(acts[layer][0], want[()], atol=ATOL, err_msg=layer)


def test_known_gap_labels_are_not_predictions(realworld: Path) -> None:
    """simple_lstm_tf_keras_2's file stores training labels only (no 'predictions' group): there is
    nothing to verify against, and verify says so rather than comparing with the labels."""
    io = realworld / next(iter(LABELS_ONLY))
    with h5py.File(io, "r") as f:
        assert "predictions" not in f and "outputs" in f
    report = verify(str(io).replace("_inputs_and_outputs.h5", "_model.h5"), inputs=str(io), keras="never")
    assert report.compared == 0 and not report.passed
    assert any("training labels" in note for note in report.notes)


def test_keras1_cnn_text_fixture(realworld: Path) -> None:
    """cnn_tf_model.h5 (Keras 1.1.2): the expected input is stored channels-first, as DL4J reads it."""
    folder = realworld / "dl4j-test-resources-2019/keras/simple"
    x = np.loadtxt(folder / "cnn_tf_input.txt").reshape(1, 3, 8, 8).transpose(0, 2, 3, 1)
    out = kconvert.run(kconvert.load(folder / "cnn_tf_model.h5"), x)[0]
    np.testing.assert_allclose(out[0], np.loadtxt(folder / "cnn_tf_output.txt"), atol=ATOL)


# -- the installed Keras as the reference ------------------------------------------------------------

#: Keras 2 files no installed Keras reads, with the reason it fails
KERAS_CANNOT_LOAD = {
    "dl4j-test-resources/weights/simpleconv2d.hdf5": "a Sequential channels_first model tf_keras cannot rebuild",
}


def _keras2_files(realworld: Path) -> list[Path]:
    files = sorted(p for p in realworld.glob("**/*.h*5") if "inputs_and_outputs" not in p.name
                   and not p.name.endswith("_weights.h5") and "weights_only" not in p.name)
    return [p for p in files if (h5py.File(p, "r").attrs.get("keras_version") or b"1")[:1] in (b"2", "2")]


@pytest.mark.slow
def test_realworld_keras2_files_agree_with_tf_keras(realworld: Path, tmp_path: Path) -> None:
    """One tf_keras subprocess runs them all; each must pass or be skipped for a stated reason.  A
    channels_first file this CPU's TensorFlow cannot run is compared through its channels_last rewrite."""
    pytest.importorskip("tf_keras")
    jobs, names = [], []
    for path in _keras2_files(realworld):
        try:
            model = kconvert.load(path)
        except kconvert.KConvertError:
            continue  # Lambda and TensorFlow-op files: refused by design, tested elsewhere
        jobs.append((model, str(path), generate_inputs(model)))
        names.append(str(path.relative_to(realworld)))
    runs = run_many(jobs)
    for i, ((model, _, xs), run) in enumerate(zip(jobs, runs)):
        if run.skipped and "--layout channels_last" in run.skipped:
            layout = layout_keras_runs(model, names[i])
            assert layout, f"{names[i]}: {run.skipped}, though this CPU runs channels_first convolutions"
            rewritten = kconvert.write(model, "h5", tmp_path / f"{i}.h5", layout=layout).path
            (runs[i],) = run_files([KerasFile(str(rewritten), "tf_keras", xs)])
    passed, skipped = [], {}
    for name, (model, _, xs), run in zip(names, jobs, runs):
        if run.skipped:
            skipped[name] = run.skipped
            continue
        assert run.error is None, (name, run.error)
        ours = kconvert.run(model, xs, device="cpu")
        for mine, theirs in zip(ours, run.outputs):
            np.testing.assert_allclose(mine, theirs, atol=ATOL, rtol=1e-4, err_msg=name)
        passed.append(name)
    allowed = ("trained with Theano", *KERAS_CANNOT_LOAD.values())
    unexplained = {n: r for n, r in skipped.items() if n not in KERAS_CANNOT_LOAD and not r.startswith(allowed)}
    assert not unexplained
    assert len(passed) >= 80, f"only {len(passed)} files compared"


@pytest.mark.slow
def test_verify_with_keras_on_generated_models() -> None:
    report = verify(str(GENERATED / "keras3" / "functional.keras"))
    (check,) = [c for c in report.checks if c.name == "keras"]
    assert check.status == "passed" and check.reference.startswith("Keras 3"), check.to_dict()
    report = verify(str(GENERATED / "tfkeras" / "rnn.h5"))
    (check,) = [c for c in report.checks if c.name == "keras"]
    assert check.status == "passed" and check.reference.startswith(("tf_keras", "Keras 3")), check.to_dict()


# -- divergence, targets, the command --------------------------------------------------------------

def _expected_io(tmp_path: Path, source: Path) -> Path:
    """A DL4J-convention expected-I/O file made from the runtime's outputs of the original model."""
    model = kconvert.load(source)
    xs = generate_inputs(model, seed=11)
    outputs, acts = kconvert.run(model, xs, activations=True)
    io = tmp_path / "io.h5"
    with h5py.File(io, "w") as f:
        f.attrs["inputs"] = json.dumps({"inputs": [r.layer for r in model.inputs]})
        for ref, x in zip(model.inputs, xs):
            f.create_dataset(f"inputs/{ref.layer}", data=x)
        for ref, y in zip(model.outputs, outputs):
            f.create_dataset(f"predictions/{ref.layer}", data=y)
        for name, values in acts.items():
            if "[" not in name:
                f.create_dataset(f"activations/{name}", data=values[0])
    return io


def test_first_diverging_layer_is_named(tmp_path: Path) -> None:
    source = GENERATED / "tfkeras" / "mlp.h5"
    io = _expected_io(tmp_path, source)
    broken = tmp_path / "mlp_broken.h5"
    shutil.copy(source, broken)
    with h5py.File(broken, "r+") as f:
        kernel = f["model_weights/no_bias/no_bias/kernel:0"]
        kernel[0, 0] = kernel[0, 0] + 1.0
    report = verify(str(broken), inputs=str(io), keras="never")
    (check,) = report.checks
    assert check.status == "failed" and not report.passed
    assert check.first_divergence["layer"] == "no_bias"
    assert verify(str(source), inputs=str(io), keras="never").passed


def test_targets(tmp_path: Path) -> None:
    same = verify(str(GENERATED / "keras3" / "mlp.h5"), targets=(str(GENERATED / "keras3" / "mlp.keras"),),
                  keras="never")
    assert [c.status for c in same.checks] == ["passed"] and same.passed
    changed = tmp_path / "mlp_changed.h5"
    shutil.copy(GENERATED / "keras3" / "mlp.h5", changed)
    with h5py.File(changed, "r+") as f:
        f["model_weights/probs/mlp/probs/bias"][0] += 1.0
    other = verify(str(GENERATED / "keras3" / "mlp.h5"), targets=(str(changed),), keras="never")
    assert [c.status for c in other.checks] == ["failed"]
    missing = verify(str(GENERATED / "keras3" / "mlp.h5"), targets=(str(tmp_path / "nope"),), keras="never")
    assert missing.checks[0].status == "error" and not missing.passed


def test_verify_command_report_and_exit_codes(tmp_path: Path) -> None:
    source = GENERATED / "keras3" / "cnn1d.h5"
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["verify", str(source), "--target", str(GENERATED / "keras3" / "cnn1d.keras"),
                                       "--report", str(report_path)])
    assert result.exit_code == EXIT_OK, result.output
    assert "PASSED" in result.stdout
    report = json.loads(report_path.read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    assert report["passed"] and {c["name"] for c in report["checks"]} == {"keras", "target"}
    lonely = CliRunner().invoke(main, ["verify", str(GENERATED / "keras3" / "cnn1d.json"), "--weights",
                                       str(GENERATED / "keras3" / "cnn1d.weights.h5"), "--no-keras"])
    assert lonely.exit_code == EXIT_CHECK_FAILED and "nothing to compare against" in lonely.stdout


def test_mismatch_exits_1_and_reports_the_numbers(tmp_path: Path) -> None:
    model = kconvert.load(GENERATED / "keras3" / "mlp.h5")
    xs = generate_inputs(model)
    wrong = kconvert.run(model, xs)[0] + 0.5
    np.savez(tmp_path / "io.npz", x0=xs[0], y0=wrong)
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["verify", str(GENERATED / "keras3" / "mlp.h5"), "--inputs",
                                       str(tmp_path / "io.npz"), "--no-keras", "--report", str(report_path)])
    assert result.exit_code == EXIT_CHECK_FAILED and "FAILED" in result.stdout
    report = json.loads(report_path.read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(report)
    (comparison,) = report["checks"][0]["comparisons"]
    assert comparison["max_abs_error"] == pytest.approx(0.5, abs=1e-6) and comparison["mismatched"] == wrong.size


def test_check_statuses_serialize() -> None:
    check = Check("keras", "the installed Keras", "skipped", reason="Keras 1 file")
    assert check.to_dict()["status"] == "skipped" and check.to_dict()["comparisons"] == []
