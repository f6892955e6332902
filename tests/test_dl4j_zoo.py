"""deeplearning4j-zoo models (1.0.0-M2.1) built and initialised by the real DL4J at test time (one JVM for all,
the smallest inputs their constructors allow), saved by ModelSerializer beside DL4J's own output: kconvert reads
each and its runtime computes what DL4J computed; what it writes computes the same in each real runtime: the
`.keras` in Keras 3's safe mode, the TF.js in tfjs (one Node process for all) and the DL4J zip in DL4J (one JVM
for all).  The heavy members are measured by bench/dl4j_zoo.py instead."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import kconvert
from tests.conftest import require_dl4j

ATOL = RTOL = 1e-4
#: zoo class -> the input shape its builder is given (channels, height, width; TextGenerationLSTM: characters, steps)
SMALL = {"LeNet": (1, 28, 28), "SimpleCNN": (3, 32, 32), "SqueezeNet": (3, 64, 64), "TextGenerationLSTM": (7, 6)}
#: what a writer refuses: model -> target -> the layer named and the refusal's words
REFUSED = {"TextGenerationLSTM": {"keras": ("layer0", "PeepholeLSTM has no equivalent in Keras 3"),
                                  "tfjs": ("layer0", "PeepholeLSTM has no equivalent in TF.js")}}


def _settings(name: str, shape: tuple[int, ...]) -> dict[str, object]:
    """The builder's settings: TextGenerationLSTM has no numClasses (its characters are its classes) and takes
    (steps, characters)."""
    if name == "TextGenerationLSTM":
        return {"seed": 3, "totalUniqueCharacters": shape[0], "inputShape": [shape[1], shape[0]]}
    return {"numClasses": 5, "seed": 3, "inputShape": list(shape)}


def _input_for(model: kconvert.Model, x: np.ndarray) -> np.ndarray:
    """LeNet's zoo configuration takes flattened images (convolutionalFlat): DL4J reshapes either."""
    return x.reshape(len(x), -1) if len(model.input_shapes[0]) == 2 else x


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each model built by DL4J, read by kconvert and written to every target, and each written model run in its
    runtime: name -> {"want": DL4J's output, "x": the input, "runtime": kconvert's output, target: what was written
    or the writer's refusal, "tfjs-run" / "dl4j-run": the written model's run}."""
    require_dl4j()
    from kconvert.verification.dl4j_runner import run_dl4j_many, run_zoo_many
    from kconvert.verification.tfjs_runner import run_tfjs_many, unavailable_reason

    directory = tmp_path_factory.mktemp("dl4j-zoo")
    rng = np.random.default_rng(3)
    inputs = {name: rng.normal(size=(1, *shape)).astype("float32") for name, shape in SMALL.items()}
    jobs = [(name, _settings(name, shape), [inputs[name]]) for name, shape in SMALL.items()]
    zips = [directory / f"{name}.zip" for name in SMALL]
    results: dict[str, dict[str, Any]] = {}
    tfjs, dl4j = [], []
    for name, path, run in zip(SMALL, zips, run_zoo_many(jobs, zips)):
        assert run.error is None, f"{name}: {run.error}"
        result = results[name] = {"want": run.outputs[0]}
        with kconvert.load(path) as model:
            x = result["x"] = _input_for(model, inputs[name])
            (result["runtime"],) = kconvert.run(model, [x], device="cpu")
            for target, out, options in (("keras", directory / f"{name}.keras", {"layout": "channels_last"}),
                                         ("tfjs", directory / f"{name}-tfjs", {}),
                                         ("dl4j", directory / f"{name}-dl4j", {})):
                try:
                    kconvert.write(model, target, out, **options)
                except kconvert.KConvertError as exc:
                    result[target] = exc
                    continue
                result[target] = out
                if target == "tfjs":
                    tfjs.append((name, out))
                elif target == "dl4j":
                    dl4j.append((name, out / "model.zip"))
    if tfjs and unavailable_reason() is None:
        for (name, _), run in zip(tfjs, run_tfjs_many([(out, [results[n]["x"]], []) for n, out in tfjs])):
            results[name]["tfjs-run"] = run
    for (name, _), run in zip(dl4j, run_dl4j_many([(out, [results[n]["x"]], []) for n, out in dl4j])):
        results[name]["dl4j-run"] = run
    return results


@pytest.mark.parametrize("name", sorted(SMALL))
def test_zoo_model_runs_as_in_dl4j(zoo: dict[str, Any], name: str) -> None:
    np.testing.assert_allclose(zoo[name]["runtime"], zoo[name]["want"], atol=ATOL, rtol=RTOL, err_msg=name)


def _refused(zoo: dict[str, Any], name: str, target: str) -> bool:
    """Whether ``target``'s writer refuses ``name`` (and then, that it refused naming the layer and why)."""
    if target not in REFUSED.get(name, {}):
        return False
    layer, why = REFUSED[name][target]
    refusal = zoo[name][target]
    assert isinstance(refusal, kconvert.KConvertError) and why in str(refusal), refusal
    assert getattr(refusal, "layer", None) == layer
    return True


@pytest.mark.parametrize("name", sorted(SMALL))
def test_zoo_model_written_as_keras_runs_as_in_dl4j(zoo: dict[str, Any], name: str) -> None:
    keras = pytest.importorskip("keras")
    if _refused(zoo, name, "keras"):
        return
    loaded = keras.saving.load_model(zoo[name]["keras"], safe_mode=True)
    np.testing.assert_allclose(loaded.predict(zoo[name]["x"], verbose=0), zoo[name]["want"], atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_zoo_model_written_as_tfjs_runs_as_in_dl4j(zoo: dict[str, Any], name: str) -> None:
    if _refused(zoo, name, "tfjs"):
        return
    run = zoo[name].get("tfjs-run")
    if run is None:
        pytest.skip("tfjs (Node) is not installed")
    assert run.error is None, run.error
    np.testing.assert_allclose(run.outputs[0], zoo[name]["want"], atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_zoo_model_written_back_to_dl4j_runs_as_in_dl4j(zoo: dict[str, Any], name: str) -> None:
    """DL4J restores the zip kconvert writes and computes what it computed on the model it built; what the DL4J
    writer refuses (another part of the project's) is refused naming the layer and why."""
    if _refused(zoo, name, "dl4j"):
        return
    run = zoo[name]["dl4j-run"]
    assert run.error is None, run.error
    np.testing.assert_allclose(run.outputs[0], zoo[name]["want"], atol=ATOL, rtol=RTOL)
