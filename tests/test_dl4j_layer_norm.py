"""Keras LayerNormalization written to Deeplearning4j and run in the real DL4J 1.0.0-M2.1 against Keras
(atol 1e-4).

DL4J's only layer norm is a DenseLayer's ``hasLayerNorm``, which standardizes the layer's own x.W with
no epsilon; the writer carries Keras's epsilon by appending ``mean +- sqrt(d * epsilon / 2)`` to the
features first (``writers/dl4j/rewrites.py``).  Covered: flat features (epsilon 1e-3 and 1e-6, with and
without scale / center), inputs of large mean and tiny spread (float32 cancellation, epsilon dominating),
sequences (the Dense layers run per step, after an LSTM too), channels-last images (per pixel, ConvNeXt's use) and a
transformer-like residual block.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException
from tests.helpers import randomize_weights

keras = pytest.importorskip("keras")


#: single LayerNormalization models: input mean and spread.  At (5, 3e-3) float32 holds the input to
#: 1.6e-4 of its spread, and Keras itself is 1.4e-4 from the exact result: compared with that instead
_TIGHT = {"tight_1_3e-2": (1.0, 3e-2), "tight_5_3e-3": (5.0, 3e-3)}
#: models beyond float32's reach of 1e-4
_LOOSE = {"tight_5_3e-3"}


def _models() -> dict[str, tuple[Any, np.ndarray]]:
    L = keras.layers
    rng = np.random.default_rng(7)
    x = lambda *s: rng.normal(0, 1, (3, *s)).astype("float32")  # noqa: E731
    out: dict[str, tuple[Any, np.ndarray]] = {}

    for name, kwargs in {"flat_eps1e-3": {"epsilon": 1e-3}, "flat_eps1e-6": {"epsilon": 1e-6},
                         "flat_plain": {"epsilon": 1e-3, "scale": False, "center": False},
                         "flat_scale_only": {"epsilon": 1e-6, "center": False},
                         "flat_center_only": {"epsilon": 1e-3, "scale": False}}.items():
        flat = keras.Input((6,))
        h = L.LayerNormalization(**kwargs)(L.Dense(8)(flat))
        out[name] = keras.Model(flat, L.Dense(4, activation="tanh")(h)), x(6)

    # a mean far larger than the spread, epsilon a tenth of the variance (float32 cancellation)
    for name, (mean, spread) in _TIGHT.items():
        tight = keras.Input((8,))
        out[name] = keras.Model(tight, L.LayerNormalization(epsilon=1e-6)(tight)), \
            (mean + spread * rng.normal(0, 1, (3, 8))).astype("float32")

    steps = keras.Input((5, 6))
    s = L.LayerNormalization(epsilon=1e-6)(L.Dense(7, activation="tanh")(steps))
    out["sequence"] = keras.Model(steps, L.Dense(3)(s)), x(5, 6)
    # a TimeDistributed DenseLayer reading a layer's output: DL4J runs it without workspaces (writer.py)
    s = L.LayerNormalization(epsilon=1e-3)(L.LSTM(7, return_sequences=True)(steps))
    out["sequence_after_lstm"] = keras.Model(steps, L.Dense(3)(s)), x(5, 6)

    image = keras.Input((5, 5, 3))
    c = L.LayerNormalization(epsilon=1e-6)(L.Conv2D(6, 3, padding="same")(image))  # ConvNeXt's, per pixel
    out["image_channels_last"] = keras.Model(image, L.Flatten()(L.Conv2D(2, 1)(c))), x(5, 5, 3)

    tokens = keras.Input((4, 8))
    h = L.LayerNormalization(epsilon=1e-6)(L.Add()([tokens, L.Dense(8)(tokens)]))
    f = L.Dense(8)(L.Dense(16, activation="relu")(h))
    out["transformer_block"] = keras.Model(tokens, L.LayerNormalization(epsilon=1e-6)(L.Add()([h, f]))), x(4, 8)
    return out


def _weighted(model: Any, rng: np.random.Generator) -> None:
    """Random weights; every LayerNormalization's gamma of both signs and beta far from 0, so that a
    wrong order of the gain, bias or scale shows."""
    randomize_weights(model, rng)
    for layer in model.layers:
        if isinstance(layer, keras.layers.LayerNormalization):
            layer.set_weights([rng.normal(0.5 if w.name == "gamma" else 0.0, 1.0, tuple(w.shape)).astype("float32")
                               for w in layer.weights])


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, np.ndarray, np.ndarray, np.ndarray | None]]:
    tmp = tmp_path_factory.mktemp("dl4j-layer-norm")
    out = {}
    for name, (model, x) in _models().items():
        _weighted(model, np.random.default_rng(11))
        model.save(tmp / f"{name}.keras")
        result = kconvert.convert(tmp / f"{name}.keras", "dl4j", tmp / name)
        out[name] = (Path(result.files[-1]), x, np.asarray(model.predict(x, verbose=0)),
                     _exact(model, x) if name in _TIGHT else None)
    return out


def _exact(model: Any, x: np.ndarray) -> np.ndarray:
    """A single LayerNormalization's output computed in float64."""
    (norm,) = [layer for layer in model.layers if isinstance(layer, keras.layers.LayerNormalization)]
    gamma, beta = (w.astype(np.float64) for w in norm.get_weights())
    x = x.astype(np.float64)
    return gamma * (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + norm.epsilon) + beta


def test_in_real_dl4j(written: dict[str, Any]) -> None:
    """Each model, restored and run by the real Deeplearning4j, computes what Keras predicts."""
    from kconvert.verification.dl4j_runner import IMPLEMENTATION, run_dl4j_many
    from tests.conftest import require_dl4j

    require_dl4j()
    names = list(written)
    runs = run_dl4j_many([(written[n][0], [written[n][1]], []) for n in names])
    for name, run in zip(names, runs):
        _, _, want, exact = written[name]
        assert run.error is None and run.implementation == IMPLEMENTATION, (name, run.error)
        got = run.outputs[0].reshape(want.shape)
        assert np.ptp(want) > 1e-2, name  # the output is not constant
        if exact is not None:  # no further from the exact result than Keras's own float32
            assert np.abs(got - exact).max() <= np.abs(want - exact).max() + 1e-5, name
        if name not in _LOOSE:
            np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4, err_msg=name)


@pytest.mark.parametrize("name", [n for n in _models() if n not in _LOOSE])
def test_read_back_computes_keras(written: dict[str, Any], name: str) -> None:
    """kconvert reads a DenseLayer with hasLayerNorm back as a Dense and an epsilon-0 LayerNormalization."""
    path, x, want, _ = written[name]
    (got,) = kconvert.run(kconvert.load(path), [x], device="cpu")
    np.testing.assert_allclose(got.reshape(want.shape), want, atol=1e-4, rtol=1e-4, err_msg=name)


def test_written_as_layer_norm_dense(written: dict[str, Any]) -> None:
    """The middle DenseLayer carries hasLayerNorm and its gain after W (DL4J flattens W, b, g)."""
    import json
    import zipfile

    with zipfile.ZipFile(written["flat_eps1e-3"][0]) as zf:
        config = json.loads(zf.read("configuration.json"))
    confs = [conf for conf in config["confs"] if conf["layer"].get("hasLayerNorm")]
    assert len(confs) == 1 and confs[0]["variables"] == ["W", "g"] and confs[0]["layer"]["nout"] == 10


@pytest.mark.parametrize("kwargs, reason", [({"axis": 1}, "last axis"), ({"rms_scaling": True}, "rms_scaling")])
def test_refused_with_reason(tmp_path: Path, kwargs: dict[str, Any], reason: str) -> None:
    steps = keras.Input((4, 6))
    keras.Model(steps, keras.layers.LayerNormalization(**kwargs)(steps)).save(tmp_path / "m.keras")
    with pytest.raises(IncompatibleKerasConfigurationException, match=reason) as info:
        kconvert.convert(tmp_path / "m.keras", "dl4j", tmp_path / "out")
    assert info.value.layer and not (tmp_path / "out").exists()
