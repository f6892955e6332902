"""Each activation means what its runtime computes: the table of IR activations <-> Deeplearning4j
activation classes, checked in the real runtimes.

* Every IR activation the DL4J writer emits, written as one ActivationLayer and run by the real
  Deeplearning4j 1.0.0-M2.1 on linspace(-6, 6), computes what Keras computes for it (for the
  activations only DL4J has, the formula in float64).
* Every zip read back gives the same IR activation, and kconvert's runtime computes on it what DL4J
  computed.
* gelu_sigmoid (DL4J's default GELU, ``x * sigmoid(1.702 x)``), which Keras and TF.js lack, is
  written for them as Rescaling, sigmoid and Multiply and computes the formula in Keras and tfjs.
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.layers import activations as act
from kconvert.ir.layers.core import Activation, Dense
from kconvert.writers.dl4j.layers import DL4J_ACTIVATIONS
from kconvert.writers.keras.dialect import KERAS3_ACTIVATIONS
from tests.conftest import require_dl4j, require_tfjs
from tests.helpers import input_layer, layer, model

keras = pytest.importorskip("keras")
ATOL = RTOL = 1e-5
X = np.linspace(-6.0, 6.0, 241, dtype="float32")[None]  # one sample of 241 features


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf)(x)


#: float64 formulas of the activations no Keras computes (Keras 2 for hard_sigmoid: Keras 3 changed it)
FORMULAS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gelu_sigmoid": lambda x: x / (1.0 + np.exp(-1.702 * x)),
    "dl4j_precise_gelu": lambda x: 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + (0.044715 * x) ** 3))),
    "hard_sigmoid": lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),
    "cube": lambda x: x ** 3,
    "rectified_tanh": lambda x: np.maximum(np.tanh(x), 0.0),
    "dl4j_rational_tanh": lambda x: 1.7159 * np.sign(2 * x / 3) * (
        1.0 - 1.0 / (1.0 + np.abs(2 * x / 3) + (2 * x / 3) ** 2 + 1.41645 * (2 * x / 3) ** 4)),
}


def _expected(name: str, x: np.ndarray) -> np.ndarray:
    """What Keras 3 computes for ``name`` (the formula for those it lacks)."""
    if name in FORMULAS:
        return FORMULAS[name](x.astype("float64"))
    return np.asarray(keras.activations.get(KERAS3_ACTIVATIONS[name])(keras.ops.convert_to_tensor(x)))


def _activation_model(name: str) -> Any:
    return _model(name, Activation(activation=name))


def _model(name: str, config: Any) -> Any:
    return model([input_layer("x", (None, X.shape[1])), layer("act", config, ["x"])], ["x"], ["act"], name=name)


#: DL4J's parameterized activations, which Keras's activation layers are written as (each read back as
#: the same layer): case -> the IR layer and the Keras 3 layer computing it (None: the formula below)
PARAMETERIZED: dict[str, tuple[Any, Any]] = {
    # a threshold off the grid of X: at x == threshold exactly DL4J gives x, Keras 0
    "ReLU(max, negativeSlope, threshold)": (act.ReLU(max_value=1.5, negative_slope=0.2, threshold=0.33),
                                            keras.layers.ReLU(max_value=1.5, negative_slope=0.2, threshold=0.33)),
    "ReLU(max)": (act.ReLU(max_value=2.5), keras.layers.ReLU(max_value=2.5)),
    "LReLU": (act.LeakyReLU(negative_slope=0.1), keras.layers.LeakyReLU(negative_slope=0.1)),
    "ELU(alpha)": (act.ELU(alpha=0.5), keras.layers.ELU(alpha=0.5)),
    "ThresholdedReLU": (act.ThresholdedReLU(theta=0.3), None),  # Keras 3 has none: x if x > theta else 0
}


def _parameterized_expected(case: str) -> np.ndarray:
    config, reference = PARAMETERIZED[case]
    if reference is None:
        return np.where(X > config.theta, X, 0.0)
    return np.asarray(reference(X))


def _without_precise(zip_path: Path, out: Path) -> Path:
    """The zip with ActivationGELU's ``precise`` key removed: DL4J's own default (precise=false)."""
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(out, "w") as dst:
        for entry in src.namelist():
            data = src.read(entry)
            if entry == "configuration.json":
                document = json.loads(data)
                (conf,) = document["confs"]
                assert conf["layer"]["activationFn"].pop("precise") is False
                data = json.dumps(document).encode()
            dst.writestr(entry, data)
    return out


@pytest.fixture(scope="module")
def dl4j_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    """Every activation the DL4J writer emits (and each parameterized one), as a zip run by the real
    DL4J: case -> (zip, run)."""
    from kconvert.verification.dl4j_runner import run_dl4j_many

    require_dl4j()
    tmp = tmp_path_factory.mktemp("dl4j-activations")
    models = {name: _activation_model(name) for name in DL4J_ACTIVATIONS}
    models.update({case: _model(f"case{i}", config) for i, (case, (config, _)) in enumerate(PARAMETERIZED.items())})
    zips = {case: Path(kconvert.write(ir, "dl4j", tmp / ir.name).files[-1]) for case, ir in models.items()}
    runs = run_dl4j_many([(path, [X], []) for path in zips.values()])
    return {case: (path, run) for (case, path), run in zip(zips.items(), runs)}


def _dl4j_output(dl4j_runs: dict[str, tuple[Path, Any]], case: str) -> np.ndarray:
    from kconvert.verification.dl4j_runner import IMPLEMENTATION

    _, run = dl4j_runs[case]
    assert run.error is None and run.implementation == IMPLEMENTATION, run.error
    return run.outputs[0].reshape(X.shape)


@pytest.mark.parametrize("name", sorted(DL4J_ACTIVATIONS))
def test_dl4j_computes_each_written_activation(dl4j_runs: dict[str, tuple[Path, Any]], name: str) -> None:
    np.testing.assert_allclose(_dl4j_output(dl4j_runs, name), _expected(name, X), atol=ATOL, rtol=RTOL, err_msg=name)


@pytest.mark.parametrize("case", list(PARAMETERIZED))
def test_dl4j_computes_each_parameterized_activation(dl4j_runs: dict[str, tuple[Path, Any]], case: str) -> None:
    np.testing.assert_allclose(_dl4j_output(dl4j_runs, case), _parameterized_expected(case), atol=ATOL, rtol=RTOL,
                               err_msg=case)


@pytest.mark.parametrize("case", sorted(DL4J_ACTIVATIONS) + list(PARAMETERIZED))
def test_each_dl4j_activation_reads_back_as_what_dl4j_computed(dl4j_runs: dict[str, tuple[Path, Any]],
                                                               case: str) -> None:
    path, _ = dl4j_runs[case]
    read = kconvert.load(path)
    if case in PARAMETERIZED:
        want = PARAMETERIZED[case][0]
    else:  # DL4J's ActivationLayer of ELU (its alpha a key) reads as an ELU layer
        want = act.ELU(alpha=1.0) if case == "elu" else Activation(activation=case)
    assert read.layers[-1].config == want
    (got,) = kconvert.run(read, [X], device="cpu")
    np.testing.assert_allclose(got, _dl4j_output(dl4j_runs, case), atol=ATOL, rtol=RTOL, err_msg=case)


def test_dl4j_default_gelu_is_the_sigmoid_form(dl4j_runs: dict[str, tuple[Path, Any]], tmp_path: Path) -> None:
    """ActivationGELU without ``precise`` (how DL4J builds ``new ActivationGELU()``) is x * sigmoid(1.702 x),
    in DL4J and as kconvert reads it."""
    from kconvert.verification.dl4j_runner import run_dl4j_many

    path = _without_precise(dl4j_runs["gelu_sigmoid"][0], tmp_path / "default.zip")
    (run,) = run_dl4j_many([(path, [X], [])])
    assert run.error is None, run.error
    read = kconvert.load(path)
    assert read.layers[-1].config.activation == "gelu_sigmoid"
    np.testing.assert_allclose(run.outputs[0].reshape(X.shape), FORMULAS["gelu_sigmoid"](X.astype("float64")),
                               atol=ATOL, rtol=RTOL)


def test_the_erf_gelu_is_refused_for_dl4j(tmp_path: Path) -> None:
    """DL4J's two GELUs are approximations (up to 0.02 and 0.03 off the erf GELU): neither is written for it."""
    with pytest.raises(IncompatibleKerasConfigurationException, match=r"activation 'gelu' = .*erf.*namesake.*gelu_sigmoid") as info:
        kconvert.write(_activation_model("gelu"), "dl4j", tmp_path / "out")
    assert info.value.layer == "act" and not (tmp_path / "out").exists()


def test_dl4j_precise_gelu_is_refused_for_keras(tmp_path: Path) -> None:
    with pytest.raises(IncompatibleKerasConfigurationException, match="dl4j_precise_gelu") as info:
        kconvert.write(_activation_model("dl4j_precise_gelu"), "keras", tmp_path / "m.keras")
    assert info.value.layer == "act"


def _gelu_sigmoid_models() -> list[tuple[Any, np.ndarray]]:
    """gelu_sigmoid as an Activation layer and as a Dense layer's activation, with the float64 expectation."""
    rng = np.random.default_rng(0)
    kernel = rng.normal(0, 1.5, (X.shape[1], 7)).astype("float32") / 4
    bias = rng.normal(0, 1, 7).astype("float32")
    dense = model([input_layer("x", (None, X.shape[1])),
                   layer("dense", Dense(units=7, activation="gelu_sigmoid"), ["x"], weights={"kernel": kernel,
                                                                                              "bias": bias})],
                  ["x"], ["dense"], name="dense")
    pre = X.astype("float64") @ kernel.astype("float64") + bias
    assert np.ptp(pre) > 4
    return [(_activation_model("gelu_sigmoid"), FORMULAS["gelu_sigmoid"](X.astype("float64"))),
            (dense, FORMULAS["gelu_sigmoid"](pre))]


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_gelu_sigmoid_in_keras(tmp_path: Path, fmt: str) -> None:
    for ir, want in _gelu_sigmoid_models():
        written = kconvert.write(ir, fmt, tmp_path / f"{ir.name}.{fmt}")
        assert any("Rescaling(1.702)" in note.message for note in written.report.notes), written.report.notes
        loaded = keras.saving.load_model(written.path, compile=False)
        got = loaded.predict(X, verbose=0)
        np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL, err_msg=f"{ir.name}.{fmt}")


def test_gelu_sigmoid_in_tfjs(tmp_path: Path) -> None:
    from kconvert.verification.tfjs_runner import run_tfjs_many

    require_tfjs()
    cases = _gelu_sigmoid_models()
    paths = [kconvert.write(ir, "tfjs", tmp_path / ir.name).path for ir, _ in cases]
    for (ir, want), run in zip(cases, run_tfjs_many([(p, [X], []) for p in paths])):
        assert run.error is None, run.error
        np.testing.assert_allclose(run.outputs[0].reshape(want.shape), want, atol=ATOL, rtol=RTOL, err_msg=ir.name)
