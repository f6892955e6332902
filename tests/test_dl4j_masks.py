"""Keras padding masks (``Masking``, ``Embedding(mask_zero=True)``) before an LSTM or SimpleRNN returning its
last step, written to Deeplearning4j as a MaskZeroLayer and run in the real DL4J 1.0.0-M2.1 against Keras's
own predictions (atol 1e-4) on padded sequences (``pre``, ``post`` and both); a masked step between unmasked
ones, where DL4J resets the state Keras carries, is shown to differ and is reported; ``return_sequences``
(DL4J zeros trailing masked steps) and masks read by other layers are refused naming the layer.
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

STEPS = 7


def _padded(rng: np.random.Generator, features: int, pad: float) -> np.ndarray:
    """Four sequences: unpadded, padded before, after, and both (what ``pad_sequences`` makes)."""
    x = rng.normal(0, 1, (4, STEPS, features)).astype("float32")
    x[1, :3] = pad
    x[2, 4:] = pad
    x[3, :2] = pad
    x[3, 5:] = pad
    return x


def _tokens(rng: np.random.Generator) -> np.ndarray:
    ids = rng.integers(1, 10, (4, STEPS)).astype("float32")
    ids[1, :3] = 0
    ids[2, 4:] = 0
    ids[3, :2] = 0
    ids[3, 5:] = 0
    return ids


def _models() -> dict[str, tuple[Any, np.ndarray]]:
    """Sequential models: Keras 3.15 records a functional model's Masking mask as ``not_equal`` and ``any``
    operations passed as the recurrent layer's ``mask``, which kconvert's reader does not read yet."""
    L = keras.layers
    rng = np.random.default_rng(5)
    return {
        "masking_lstm": (keras.Sequential([keras.Input((STEPS, 3)), L.Masking(0.0), L.LSTM(4)]),
                         _padded(rng, 3, 0.0)),
        "masking_value_simple_rnn": (keras.Sequential([keras.Input((STEPS, 3)), L.Masking(-1.0), L.SimpleRNN(5),
                                                       L.Dense(2)]), _padded(rng, 3, -1.0)),
        "embedding_lstm": (keras.Sequential([keras.Input((STEPS,)), L.Embedding(10, 5, mask_zero=True), L.LSTM(4)]),
                           _tokens(rng)),
    }


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, np.ndarray, np.ndarray, Any]]:
    tmp = tmp_path_factory.mktemp("dl4j-masks")
    out = {}
    for name, (model, x) in _models().items():
        randomize_weights(model, np.random.default_rng(6))
        model.save(tmp / f"{name}.keras")
        result = kconvert.convert(tmp / f"{name}.keras", "dl4j", tmp / name)
        notes = [str(note) for note in result.report.notes]
        assert any("MaskZeroLayer" in note and "between unmasked ones" in note for note in notes), notes
        out[name] = (Path(result.files[-1]), x, np.asarray(model.predict(x, verbose=0)), model)
    return out


def test_padded_sequences_in_real_dl4j(written: dict[str, Any]) -> None:
    """Padded before, after or both, DL4J's MaskZeroLayer and LastTimeStep compute Keras's last step."""
    from kconvert.verification.dl4j_runner import IMPLEMENTATION, run_dl4j_many
    from tests.conftest import require_dl4j

    require_dl4j()
    names = list(written)
    runs = run_dl4j_many([(written[n][0], [written[n][1]], []) for n in names])
    for name, run in zip(names, runs):
        want = written[name][2]
        assert run.error is None and run.implementation == IMPLEMENTATION, (name, run.error)
        np.testing.assert_allclose(run.outputs[0].reshape(want.shape), want, atol=1e-4, rtol=1e-4, err_msg=name)
        assert np.ptp(want[1:] - want[0]) > 1e-3  # the padding changes the output: the mask is honoured


def test_masked_step_between_unmasked_ones_differs(written: dict[str, Any]) -> None:
    """What the report says: a masked step between unmasked ones resets DL4J's state, Keras carries it."""
    from kconvert.verification.dl4j_runner import run_dl4j_many
    from tests.conftest import require_dl4j

    require_dl4j()
    path, x, _, model = written["masking_lstm"]
    x = x.copy()
    x[:, 3] = 0.0
    (run,) = run_dl4j_many([(path, [x], [])])
    want = np.asarray(model.predict(x, verbose=0))
    assert run.error is None
    assert np.abs(run.outputs[0].reshape(want.shape) - want).max() > 1e-3


def _refused(tmp_path: Path, model: Any, match: str) -> IncompatibleKerasConfigurationException:
    model.save(tmp_path / "m.keras")
    with pytest.raises(IncompatibleKerasConfigurationException, match=match) as info:
        kconvert.convert(tmp_path / "m.keras", "dl4j", tmp_path / "out")
    assert info.value.layer and not (tmp_path / "out").exists()
    return info.value


def test_return_sequences_refused(tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((STEPS, 3)), keras.layers.Masking(),
                              keras.layers.LSTM(4, return_sequences=True, name="seq")])
    assert _refused(tmp_path, model, "trailing masked step").layer == "seq"


def test_mask_read_by_another_layer_refused(tmp_path: Path) -> None:
    model = keras.Sequential([keras.Input((STEPS,)), keras.layers.Embedding(10, 5, mask_zero=True, name="emb"),
                              keras.layers.GlobalAveragePooling1D()])
    assert _refused(tmp_path, model, "GlobalAveragePooling1D").layer == "emb"
