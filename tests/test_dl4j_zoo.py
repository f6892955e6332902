"""deeplearning4j-zoo models (1.0.0-M2.1) built and initialised by the real DL4J at test time (one JVM,
small inputs where the constructor allows), saved by ModelSerializer beside DL4J's own output: kconvert
reads each, its runtime computes what DL4J computed, and the `.keras` it writes loads in Keras 3's safe
mode and computes the same.  The heavy members are measured by bench/dl4j_zoo.py instead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kconvert
from tests.conftest import require_dl4j

ATOL = RTOL = 1e-4
#: zoo class -> the input shape its builder is given (channels, height, width)
SMALL = {"LeNet": (1, 28, 28), "SimpleCNN": (3, 32, 32), "SqueezeNet": (3, 64, 64)}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any, np.ndarray]]:
    require_dl4j()
    from kconvert.verification.dl4j_runner import run_zoo_many

    directory = tmp_path_factory.mktemp("dl4j-zoo")
    rng = np.random.default_rng(3)
    inputs = {name: rng.normal(size=(2, *shape)).astype("float32") for name, shape in SMALL.items()}
    jobs = [(name, {"numClasses": 5, "seed": 3, "inputShape": list(shape)}, [inputs[name]])
            for name, shape in SMALL.items()]
    zips = [directory / f"{name}.zip" for name in SMALL]
    runs = run_zoo_many(jobs, zips)
    return {name: (path, run, inputs[name]) for name, path, run in zip(SMALL, zips, runs)}


def _input_for(model: kconvert.Model, x: np.ndarray) -> np.ndarray:
    """LeNet's zoo configuration takes flattened images (convolutionalFlat): DL4J reshapes either."""
    return x.reshape(len(x), -1) if len(model.input_shapes[0]) == 2 else x


@pytest.mark.parametrize("name", sorted(SMALL))
def test_zoo_model_runs_as_in_dl4j_and_in_keras(zoo: dict[str, Any], name: str, tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    path, run, x = zoo[name]
    assert run.error is None, run.error
    with kconvert.load(path) as model:
        x = _input_for(model, x)
        (got,) = kconvert.run(model, [x], device="cpu")
        np.testing.assert_allclose(got, run.outputs[0], atol=ATOL, rtol=RTOL, err_msg=name)
        kconvert.write(model, "keras", tmp_path / "model.keras", layout="channels_last")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), run.outputs[0], atol=ATOL, rtol=RTOL, err_msg=name)
