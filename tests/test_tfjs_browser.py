"""Converted models run in a real headless browser (Chromium) as a TF.js user's page runs them.

A local server serves the stock ``tf.min.js`` of the pinned harness, the converted model and a
page; the page loads the model over HTTP with ``tf.loadLayersModel``, predicts on the test's
inputs with the best backend the browser has (webgl, else cpu) and posts the outputs back, which
are compared with Keras's own predictions.  Without Chromium these tests skip with a message;
under CI=true (where ./dev.sh installs it) they fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import kconvert
from kconvert.verification import tfjs_browser
from kconvert.verification.tfjs_browser import BrowserRunError, BrowserUnavailable, run_in_browser
from tests.conftest import GENERATED, in_ci
from tests.helpers import randomize_weights

ATOL = 1e-4  # the bar for TF.js against Keras
RTOL = 1e-4


def require_browser() -> None:
    """Skip (or fail under CI, where ./dev.sh installs Chromium) when no browser can run the page."""
    reason = tfjs_browser.unavailable_reason()
    if reason:
        if in_ci():
            pytest.fail(f"{reason} -- required under CI=true", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """MobileNetV2 (Keras 3, random weights) converted to TF.js, inputs, and Keras's predictions.
    Its logits (no softmax) are compared: a softmax over 10 classes would hide errors."""
    require_browser()
    keras = pytest.importorskip("keras")
    tmp = tmp_path_factory.mktemp("mobilenet")
    rng = np.random.default_rng(7)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10,
                                           classifier_activation=None)
    randomize_weights(model, rng)
    model.save(tmp / "mobilenet_v2.keras")
    kconvert.convert(tmp / "mobilenet_v2.keras", "tfjs", tmp / "web")
    x = rng.normal(0, 1, (2, 96, 96, 3)).astype("float32")
    return tmp / "web", x, model.predict(x, verbose=0)


@pytest.mark.slow
@pytest.mark.parametrize("backends", [("webgl", "cpu"), ("cpu",)], ids=["best", "cpu"])
def test_mobilenet_v2_in_headless_chromium(mobilenet: tuple[Path, np.ndarray, np.ndarray],
                                           backends: tuple[str, ...],
                                           record_property: Callable[[str, object], None]) -> None:
    web, x, want = mobilenet
    run = run_in_browser(web, [x], backends=backends, timeout=120)
    error = float(np.abs(run.outputs[0] - want).max())
    for name, value in (("browser", run.browser), ("backend", run.backend), ("device", run.device),
                        ("max_abs_error", error)):
        record_property(name, value)
    assert run.tfjs_version == "4.22.0" and run.browser.startswith(("Chromium", "Google Chrome"))
    assert run.backend in backends and not run.companion
    if run.backend != backends[0]:  # say which ran: webgl needs a GPU or SwiftShader in headless Chromium
        warnings.warn(f"MobileNetV2 ran on TF.js's {run.backend} backend in {run.browser}: "
                      f"{'; '.join(run.notes)}", stacklevel=1)
    np.testing.assert_allclose(run.outputs[0], want, atol=ATOL, rtol=RTOL,
                               err_msg=f"{run.browser}, tfjs {run.backend} backend ({run.device})")
    assert np.ptp(want) > 0.1  # logits that differ: the comparison means something


def test_a_companion_model_in_headless_chromium(tmp_path: Path) -> None:
    """A GRU(reset_after=True) encoder with a transformer block (Keras 3): written with the companion
    module, which the page loads after tf.min.js, and computing what Keras predicts."""
    require_browser()
    keras = pytest.importorskip("keras")
    L = keras.layers
    tokens = keras.Input((6,), dtype="int32")
    x = L.Embedding(20, 8)(tokens)
    x = L.GRU(8, return_sequences=True)(x)
    x = L.LayerNormalization()(L.Add()([x, L.MultiHeadAttention(2, 4)(x, x)]))
    model = keras.Model(tokens, L.Dense(3)(L.GlobalAveragePooling1D()(x)))
    randomize_weights(model, np.random.default_rng(8))
    model.save(tmp_path / "encoder.keras")
    written = kconvert.convert(tmp_path / "encoder.keras", "tfjs", tmp_path / "web", companion=True)
    assert written.companion is not None
    ids = np.random.default_rng(9).integers(0, 20, (3, 6)).astype("int32")
    run = run_in_browser(tmp_path / "web", [ids], backends=("cpu",), timeout=120)
    assert run.companion
    want = model.predict(ids, verbose=0)
    np.testing.assert_allclose(run.outputs[0], want, atol=ATOL, rtol=RTOL)
    assert np.ptp(want) > 1e-3


# -- the page around the model ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """A small converted model, its inputs, and kconvert's runtime's outputs (proven against Keras
    elsewhere)."""
    require_browser()
    tmp = tmp_path_factory.mktemp("mlp")
    with kconvert.load(GENERATED / "tfkeras" / "mlp.h5") as model:
        kconvert.write(model, "tfjs", tmp / "web")
        x = np.random.default_rng(3).normal(size=(4, *model.input_shapes[0][1:])).astype("float32")
        return tmp / "web", x, kconvert.run(model, x)[0]


def _copy(web: Path, to: Path) -> Path:
    to.mkdir()
    for f in web.iterdir():
        (to / f.name).write_bytes(f.read_bytes())
    return to


def _page_script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    """Serve ``text`` as the page's script (a model directory's own scripts are never served: see
    tests/test_foreign_js.py)."""
    script = tmp_path / "browser.js"
    script.write_text(text)
    monkeypatch.setattr(tfjs_browser, "PAGE_SCRIPT", script)


def test_a_script_that_throws_fails_the_run_naming_it(mlp: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    web, x, _ = mlp
    _page_script(monkeypatch, tmp_path, 'throw new Error("this script is broken");\n')
    with pytest.raises(BrowserRunError, match="browser.js:1: .*this script is broken"):
        run_in_browser(web, [x], backends=("cpu",))


def test_a_model_tfjs_cannot_load_fails_with_tfjs_message(mlp: tuple[Path, np.ndarray, np.ndarray],
                                                          tmp_path: Path) -> None:
    web, x, _ = mlp
    web = _copy(web, tmp_path / "web")
    document = json.loads((web / "model.json").read_text())
    document["modelTopology"]["model_config"]["config"]["layers"][-1]["class_name"] = "NoSuchLayer"
    (web / "model.json").write_text(json.dumps(document))
    with pytest.raises(BrowserRunError, match="failed: .*NoSuchLayer"):
        run_in_browser(web, [x], backends=("cpu",))


def test_a_page_that_never_reports_times_out_with_its_console(mlp: tuple[Path, np.ndarray, np.ndarray],
                                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    web, x, _ = mlp
    _page_script(monkeypatch, tmp_path, 'console.log("page: looping forever");\nwhile (true) {}\n')
    with pytest.raises(BrowserRunError, match="reported nothing within 10 s .the page's console: "
                                              "\"page: looping forever\""):
        run_in_browser(web, [x], backends=("cpu",), timeout=10)


def test_without_chromium_the_error_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KCONVERT_CHROMIUM", str(tmp_path / "no-such-browser"))
    (tmp_path / "model.json").write_text("{}")
    assert "Chromium is not installed" in (tfjs_browser.unavailable_reason() or "")
    with pytest.raises(BrowserUnavailable, match="apt-get install chromium"):
        run_in_browser(tmp_path, [np.zeros((1, 2), "float32")])


def test_a_directory_without_model_json_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BrowserRunError, match="no model.json"):
        run_in_browser(tmp_path, [np.zeros((1, 2), "float32")])


def test_running_in_a_browser_needs_no_tensorflow() -> None:
    code = "import sys, kconvert.verification.tfjs_browser; print('tensorflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr
