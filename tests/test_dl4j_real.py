"""DL4J exports loaded by the real Deeplearning4j (1.0.0-M2.1, on the JVM) compute what their
sources compute, and real DL4J zips compute in kconvert's runtime what they compute in DL4J.

The zoo is built with Keras 3 and tf_keras, given random weights, saved, converted and compared
with Keras's predictions; the Keras 1 fixtures with kconvert's runtime on the source (which
test_keras1 proves); the real-world corpus with its stored predictions, tf_keras, or kconvert's
runtime.  Every model of a test runs in one JVM.  Without Java or the harness these tests skip
(they fail under CI=true, where ./dev.sh builds it).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import kconvert
from kconvert.cli import EXIT_OK, main
from kconvert.errors import IncompatibleKerasConfigurationException, KConvertError
from kconvert.schemas import validate
from kconvert.verification.dl4j_runner import IMPLEMENTATION, run_dl4j_many
from kconvert.verification.inputs import generate_inputs
from kconvert.verification.keras_reference import run_many
from tests.conftest import FIXTURES, REALWORLD, SHARED_FIXTURES, require_dl4j, require_shared, require_tfjs
from tests.helpers import randomize_weights, stored_predictions
from tests.test_dl4j import _zoo
from tests.zoo import ZOO

ATOL = RTOL = 1e-4  # the bar for DL4J against the source
KERAS1 = FIXTURES / "keras1"


@pytest.fixture(scope="module", autouse=True)
def dl4j() -> None:
    require_dl4j()


def _models(k: Any) -> list[tuple[str, Any, list[np.ndarray]]]:
    """The shared zoo and the DL4J test's own (Conv3D, separable convolutions, preprocessors)."""
    return [(name, *build(k)) for name, build in ZOO.items()] + [(f"dl4j_{n}", m, xs) for n, m, xs in _zoo(k)]


def _exports(tmp: Path) -> tuple[list[tuple[str, Path, list[np.ndarray], list[np.ndarray]]], dict[str, str]]:
    """Every zoo model and Keras 1 fixture that the DL4J writer exports: (case, zip, inputs,
    expected outputs); and the refused ones with the writer's reason."""
    cases, refused = [], {}
    rng = np.random.default_rng(3)
    for flavour in ("keras", "tf_keras"):
        k = pytest.importorskip(flavour)
        for name, model, xs in _models(k):
            randomize_weights(model, rng)
            source = tmp / f"{flavour}-{name}.{'h5' if flavour == 'tf_keras' else 'keras'}"
            model.save(source)
            try:
                written = kconvert.convert(source, "dl4j", tmp / f"{flavour}-{name}")
            except IncompatibleKerasConfigurationException as exc:
                refused[f"{flavour}/{name}"] = exc.reason
                continue
            ys = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
            cases.append((f"{flavour}/{name}", Path(written.files[-1]), xs, ys if isinstance(ys, list) else [ys]))
    for path in sorted(KERAS1.glob("*.h5")):
        try:
            model = kconvert.load(path)
            written = kconvert.write(model, "dl4j", tmp / f"keras1-{path.stem}")
        except IncompatibleKerasConfigurationException as exc:
            refused[f"keras1/{path.stem}"] = exc.reason
            continue
        except KConvertError:
            continue  # files kconvert does not read at all: test_keras1
        xs = generate_inputs(model, 2, 0)
        cases.append((f"keras1/{path.stem}", Path(written.files[-1]), xs, kconvert.run(model, xs, device="cpu")))
    return cases, refused


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Export everything, then run the exports and the real DL4J zips in one JVM."""
    tmp = tmp_path_factory.mktemp("dl4j-real")
    cases, refused = _exports(tmp)
    real = sorted(require_shared(SHARED_FIXTURES / "dl4j").glob("**/*.zip"))
    real_inputs = []
    for path in real:
        with kconvert.load(path) as model:
            real_inputs.append(generate_inputs(model, 2, 0))
    runs = run_dl4j_many([(zip_, xs, []) for _, zip_, xs, _ in cases] +
                         [(p, xs, []) for p, xs in zip(real, real_inputs)])
    out = {name: (run, want) for (name, _, _, want), run in zip(cases, runs)}
    out.update({f"real/{p.name}": (run, xs) for p, xs, run in zip(real, real_inputs, runs[len(cases):])})
    out["refused"] = refused
    return out


def _case_names(prefix: str, names: list[str]) -> list[str]:
    return [f"{prefix}/{n}" for n in names]


ZOO_CASES = [f"{flavour}/{name}" for flavour in ("keras", "tf_keras")
             for name in [*sorted(ZOO), "dl4j_cnn", "dl4j_rnn", "dl4j_text", "dl4j_shapes", "dl4j_volume",
                          "dl4j_per_step"]]
KERAS1_CASES = _case_names("keras1", sorted(p.stem for p in KERAS1.glob("*.h5")))


@pytest.mark.parametrize("case", ZOO_CASES + KERAS1_CASES)
def test_exports_compute_the_source_in_dl4j(results: dict[str, Any], case: str) -> None:
    if case not in results:
        pytest.skip(f"not exported: {results['refused'].get(case, 'kconvert does not read it')}")
    run, expected = results[case]
    assert run.error is None, run.error
    assert run.implementation == IMPLEMENTATION == "Deeplearning4j 1.0.0-M2.1"
    assert len(run.outputs) == len(expected)
    for got, want in zip(run.outputs, expected):
        np.testing.assert_allclose(got, np.asarray(want).reshape(got.shape), atol=ATOL, rtol=RTOL, err_msg=case)


def test_most_of_the_zoo_is_exported_and_checked(results: dict[str, Any]) -> None:
    checked = [c for c in ZOO_CASES + KERAS1_CASES if c in results]
    assert len(checked) >= 24, (len(checked), results["refused"])


def test_real_dl4j_zips_agree_with_kconvert(results: dict[str, Any]) -> None:
    """The real DL4J zips (written by DL4J 0.8 to 1.0.0-beta) restore in DL4J 1.0.0-M2.1 and compute
    there what kconvert's reader and runtime compute."""
    real = {k: v for k, v in results.items() if k.startswith("real/")}
    assert real
    for name, (run, xs) in real.items():
        assert run.error is None, (name, run.error)
        path = next((SHARED_FIXTURES / "dl4j").glob(f"**/{name.split('/', 1)[1]}"))
        for got, want in zip(run.outputs, kconvert.run(kconvert.load(path), xs, device="cpu")):
            np.testing.assert_allclose(got, np.asarray(want).reshape(got.shape), atol=ATOL, rtol=RTOL, err_msg=name)


def test_one_bad_model_does_not_end_the_batch(tmp_path: Path) -> None:
    good = SHARED_FIXTURES / "dl4j" / "dl4j-integration-tests" / "MLPMoon" / "Model_RANDOM_INIT_UNTRAINED.zip"
    require_shared(good)
    truncated = tmp_path / "truncated.zip"  # kconvert cannot read it: never given to the JVM
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    broken = tmp_path / "broken.zip"  # read, but no network DL4J can build
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("configuration.json", '{"confs": "nonsense"}')
    x = np.zeros((1, 2), "float32")
    short, bad, ok = run_dl4j_many([(truncated, [x], []), (broken, [x], []), (good, [x], [])])
    assert short.error and short.error.startswith("kconvert could not read the model, so Deeplearning4j was not")
    assert bad.error and bad.error.startswith("Deeplearning4j could not load or run the model: ")
    assert ok.error is None and ok.outputs[0].shape[0] == 1


# -- verify and check ------------------------------------------------------------------------------------

def test_verify_and_check_run_the_zip_in_dl4j(tmp_path: Path) -> None:
    source = str(KERAS1 / "bidirectional.h5")
    runner = CliRunner()
    result = runner.invoke(main, [source, "--to", "dl4j", str(tmp_path / "out")])
    assert result.exit_code == EXIT_OK, result.output
    result = runner.invoke(main, ["verify", source, "--target", str(tmp_path / "out" / "model.zip"), "--report",
                                  str(tmp_path / "verify.json")])
    assert result.exit_code == EXIT_OK and f"model.zip ({IMPLEMENTATION})" in result.output, result.output
    report = json.loads((tmp_path / "verify.json").read_text())
    validate(report, "verify-report")
    (target,) = [c for c in report["checks"] if c["name"] == "target"]
    assert target["status"] == "passed" and IMPLEMENTATION in target["reference"]
    result = runner.invoke(main, ["check", str(tmp_path / "out"), "--source", source, "--report",
                                  str(tmp_path / "check.json")])
    assert result.exit_code == EXIT_OK and IMPLEMENTATION in result.output, result.output
    validate(json.loads((tmp_path / "check.json").read_text()), "check-report")


def test_without_java_verify_falls_back_to_kconvert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = str(KERAS1 / "dense.h5")
    kconvert.convert(source, "dl4j", tmp_path / "out")
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # neither java nor mvn
    report = kconvert.verify(source, targets=(str(tmp_path / "out" / "model.zip"),), keras="never")
    (target,) = report.checks
    assert target.status == "passed"
    assert "kconvert's reader, not Deeplearning4j: Java is not installed" in target.reference
    validate(report.to_dict(), "verify-report")


# -- the real-world corpus --------------------------------------------------------------------------------

def realworld_exports(tmp: Path) -> tuple[list[tuple[str, Any, Path, Path, list[np.ndarray], Any]], dict[str, str]]:
    """Every real-world model kconvert reads, exported for DL4J: (name, model, source, zip,
    inputs, stored predictions or None); and the refusals with their reasons."""
    realworld = require_shared(REALWORLD)
    cases, refused = [], {}
    for path in sorted(p for p in realworld.glob("**/*.h*5") if "inputs_and_outputs" not in p.name):
        try:
            model = kconvert.load(path)
        except KConvertError:
            continue  # weights-only files and refused models: covered by test_realworld
        name = str(path.relative_to(realworld))
        try:
            written = kconvert.write(model, "dl4j", tmp / name.replace("/", "__"))
        except IncompatibleKerasConfigurationException as exc:
            refused[name] = exc.reason
            continue
        stored = stored_predictions(path)
        xs = stored[0] if stored else generate_inputs(model, 2, 0)
        cases.append((name, model, path, Path(written.files[-1]), xs, stored[1] if stored else None))
    return cases, refused


def references(cases: list[tuple[str, Any, Path, Path, list[np.ndarray], Any]]) -> list[tuple[str, list]]:
    """What each case is compared with: stored predictions, else tf_keras / Keras, else kconvert's
    runtime (Keras 1 files no installed Keras reads)."""
    keras_runs = iter(run_many([(model, str(path), xs) for _, model, path, _, xs, stored in cases if stored is None]))
    out = []
    for _, model, _, _, xs, stored in cases:
        if stored is not None:
            out.append(("stored predictions", stored))
            continue
        keras_run = next(keras_runs)
        out.append(("Keras", keras_run.outputs) if keras_run.outputs else
                   ("kconvert runtime", kconvert.run(model, xs, device="cpu")))
    return out


@pytest.mark.slow
def test_realworld_exports_in_dl4j(tmp_path: Path) -> None:
    """Every real-world model the DL4J writer exports loads in the real DL4J and matches its
    reference at atol 1e-4."""
    cases, _ = realworld_exports(tmp_path)
    runs = run_dl4j_many([(zip_, xs, []) for _, _, _, zip_, xs, _ in cases])
    failures = {}
    for (name, *_), run, (reference, want) in zip(cases, runs, references(cases)):
        if run.error:
            failures[name] = run.error
            continue
        for got, expected in zip(run.outputs, want):
            expected = np.asarray(expected).reshape(got.shape)
            if not np.allclose(got, expected, atol=ATOL, rtol=RTOL):
                failures[name] = f"against {reference}: max abs error {np.abs(got - expected).max():.3g}"
    assert len(cases) >= 100, len(cases)
    assert not failures, failures


def test_kconvert_setup_names_the_dl4j_harness() -> None:
    require_tfjs()  # setup installs the TF.js harness first
    result = CliRunner().invoke(main, ["setup"])
    assert result.exit_code == EXIT_OK, result.output
    (line,) = [x for x in result.output.splitlines() if x.startswith("Deeplearning4j harness: ")]
    assert (Path(line.split(": ", 1)[1]) / "target" / "harness.jar").is_file()
