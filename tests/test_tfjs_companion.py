"""The opt-in TF.js companion module (``kconvert-layers.js``): layers stock TF.js lacks, run in the
real @tensorflow/tfjs 4.22 and compared with Keras's own predictions.

Models are built with Keras 3 and tf_keras (GRU with reset_after=True in every form stock tfjs's
RNN machinery handles, a transformer block around MultiHeadAttention, tf_keras's
LocallyConnected1D/2D), given random weights, saved, converted with ``companion=True`` and all run
in one Node process, which loads each model's module as a user would.  Without the option the same
models are refused with the hint; a model that needs no class of the module gets no module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from click.testing import CliRunner

import kconvert
from kconvert.cli import main
from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.formats.tfjs import COMPANION_FILE
from kconvert.schemas import validate
from kconvert.verification.tfjs_runner import check_model_json, run_tfjs_many
from tests.conftest import REALWORLD, require_shared, require_tfjs
from tests.helpers import assert_tfjs_run_matches, randomize_weights

ATOL = 1e-4  # the bar for TF.js against Keras
RTOL = 1e-4
HINT = "--tfjs-companion (Python: companion=True)"

Build = Callable[[Any, np.random.Generator], tuple[Any, list[np.ndarray]]]


@pytest.fixture(scope="module", autouse=True)
def tfjs() -> None:
    require_tfjs()


def _keras(flavour: str) -> Any:
    return pytest.importorskip("tf_keras" if flavour == "tf_keras" else "keras")


def _sequence(rng: np.random.Generator, steps: int = 6, features: int = 4) -> np.ndarray:
    return rng.normal(0, 1, (3, steps, features)).astype("float32")


def _gru(**kw: Any) -> Build:
    def build(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
        x = k.Input((6, 4))
        y = k.layers.GRU(5, reset_after=True, **kw)(x)
        outputs = y if isinstance(y, list) else [y]
        return k.Model(x, outputs), [_sequence(rng)]
    return build


def _gru_stack(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    x = k.Input((6, 4))
    y = k.layers.GRU(5, reset_after=True, return_sequences=True)(x)
    y = k.layers.GRU(3, reset_after=True, activation="relu", use_bias=False)(y)
    return k.Model(x, k.layers.Dense(2)(y)), [_sequence(rng)]


def _bidirectional(merge_mode: str) -> Build:
    def build(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
        x = k.Input((6, 4))
        y = k.layers.Bidirectional(k.layers.GRU(4, reset_after=True), merge_mode=merge_mode)(x)
        return k.Model(x, y), [_sequence(rng)]
    return build


def _masked_gru(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    """Embedding(mask_zero) -> GRU: the padded steps are skipped."""
    x = k.Input((7,), dtype="int32")
    y = k.layers.Embedding(10, 4, mask_zero=True)(x)
    y = k.layers.GRU(5, reset_after=True)(y)
    ids = rng.integers(1, 10, (4, 7)).astype("int32")
    ids[0, 5:] = 0
    ids[1, 2:] = 0
    ids[2, 6:] = 0
    return k.Model(x, y), [ids]


def _transformer(causal: bool = False, key: bool = False) -> Build:
    """Embedding + MultiHeadAttention + residual + LayerNormalization + Dense feed-forward + residual."""
    def build(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
        x = k.Input((8,), dtype="int32")
        h = k.layers.Embedding(20, 16)(x)
        extra = {"key": k.layers.Dense(16)(h)} if key else {}
        a = k.layers.MultiHeadAttention(num_heads=2, key_dim=8, value_dim=6)(h, h, use_causal_mask=causal, **extra)
        h = k.layers.LayerNormalization()(k.layers.Add()([h, a]))
        f = k.layers.Dense(16)(k.layers.Dense(32, activation="relu")(h))
        h = k.layers.LayerNormalization()(k.layers.Add()([h, f]))
        return k.Model(x, k.layers.Dense(3)(h)), [rng.integers(0, 20, (3, 8)).astype("int32")]
    return build


def _attention_mask(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    """Cross attention with an explicit attention_mask input and a multi-dimensional output_shape."""
    q, v, m = k.Input((5, 6)), k.Input((7, 3)), k.Input((5, 7))
    y = k.layers.MultiHeadAttention(num_heads=3, key_dim=4, output_shape=(2, 5), use_bias=False)(
        q, v, attention_mask=m)
    mask = (rng.uniform(0, 1, (2, 5, 7)) > 0.3).astype("float32")
    mask[:, :, 0] = 1  # every query row keeps a key
    return k.Model([q, v, m], y), [rng.normal(0, 1, (2, 5, 6)).astype("float32"),
                                   rng.normal(0, 1, (2, 7, 3)).astype("float32"), mask]


def _locally_connected_1d(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    x = k.Input((10, 3))
    y = k.layers.LocallyConnected1D(4, 3, strides=2, activation="tanh")(x)
    y = k.layers.LocallyConnected1D(2, 2, use_bias=False)(y)
    return k.Model(x, y), [_sequence(rng, 10, 3)]


def _locally_connected_2d(data_format: str) -> Build:
    def build(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
        shape = (7, 6, 2) if data_format == "channels_last" else (2, 7, 6)
        x = k.Input(shape)
        y = k.layers.LocallyConnected2D(3, (3, 2), strides=(2, 1), data_format=data_format, activation="relu")(x)
        return k.Model(x, k.layers.Flatten()(y)), [rng.normal(0, 1, (2, *shape)).astype("float32")]
    return build


def _einsum_dense(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    x = k.Input((4, 5, 6))
    y = k.layers.EinsumDense("...b,bc->...c", output_shape=7, bias_axes="c", activation="tanh")(x)
    y = k.layers.Reshape((20, 7))(y)
    y = k.layers.EinsumDense("abc,cde->abde", output_shape=(20, 2, 4), bias_axes="de")(y)
    y = k.layers.EinsumDense("abcd,cd->ab", output_shape=(20,), bias_axes="b", activation="relu")(y)
    return k.Model(x, k.layers.EinsumDense("ab,bc->ac", output_shape=3)(y)), [
        rng.normal(0, 1, (3, 4, 5, 6)).astype("float32")]


def _normalizations(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    x = k.Input((5, 6, 8))
    y = k.layers.GroupNormalization(groups=4)(x)
    y = k.layers.GroupNormalization(groups=5, axis=1, center=False, epsilon=0.01)(y)
    y = k.layers.UnitNormalization(axis=[1, 2])(k.layers.Dense(4)(y))
    y = k.layers.UnitNormalization()(k.layers.Dense(3)(y))
    return k.Model(x, y), [rng.normal(0.5, 2, (2, 5, 6, 8)).astype("float32")]


#: (flavour, name) -> model builder; every one needs the companion module
MODELS: dict[tuple[str, str], Build] = {
    **{(f, "gru-last"): _gru() for f in ("keras", "tf_keras")},
    **{(f, "gru-sequences"): _gru(return_sequences=True) for f in ("keras", "tf_keras")},
    **{(f, "gru-backwards"): _gru(go_backwards=True, return_sequences=True) for f in ("keras", "tf_keras")},
    ("tf_keras", "gru-state"): _gru(return_state=True),  # kconvert does not read Keras 3's list of outputs of one layer
    **{(f, "gru-stack"): _gru_stack for f in ("keras", "tf_keras")},
    **{(f, "bidirectional-concat"): _bidirectional("concat") for f in ("keras", "tf_keras")},
    ("keras", "bidirectional-sum"): _bidirectional("sum"),
    **{(f, "masked-gru"): _masked_gru for f in ("keras", "tf_keras")},
    **{(f, "transformer"): _transformer() for f in ("keras", "tf_keras")},
    ("keras", "transformer-causal"): _transformer(causal=True),
    ("tf_keras", "transformer-key"): _transformer(key=True),
    **{(f, "attention-mask"): _attention_mask for f in ("keras", "tf_keras")},
    ("tf_keras", "locally-connected-1d"): _locally_connected_1d,
    **{(f, "einsum-dense"): _einsum_dense for f in ("keras", "tf_keras")},
    **{(f, "normalizations"): _normalizations for f in ("keras", "tf_keras")},
    # kconvert reads implementation=1 weights (implementations 2 and 3 are refused when reading)
    **{("tf_keras", f"locally-connected-2d-{fmt}"): _locally_connected_2d(fmt)
       for fmt in ("channels_last", "channels_first")},
}


def _save(flavour: str, name: str, build: Build, tmp: Path, rng: np.random.Generator) -> tuple[Path, Any, list]:
    k = _keras(flavour)
    model, xs = build(k, rng)
    randomize_weights(model, rng)
    source = tmp / f"{flavour}-{name}.{'h5' if flavour == 'tf_keras' else 'keras'}"
    model.save(source)
    ys = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    return source, xs, ys if isinstance(ys, list) else [ys]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[Path, list, list]]:
    tmp = tmp_path_factory.mktemp("companion-sources")
    rng = np.random.default_rng(11)
    return {key: _save(*key, build, tmp, rng) for key, build in MODELS.items()}


@pytest.fixture(scope="module")
def results(saved: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    """Convert every model with the companion module and run them all in one Node process."""
    tmp = tmp_path_factory.mktemp("companion-tfjs")
    jobs, keys = [], []
    for key, (source, xs, _) in saved.items():
        out = tmp / "-".join(key)
        written = kconvert.convert(source, "tfjs", out, companion=True)
        jobs.append((out, xs, []))
        keys.append(key)
        assert written.companion == out / COMPANION_FILE and written.companion in written.files
    runs = run_tfjs_many(jobs)
    return {key: (run, tmp / "-".join(key)) for key, run in zip(keys, runs)}


@pytest.mark.parametrize("key", sorted(MODELS), ids=["-".join(k) for k in sorted(MODELS)])
def test_companion_models_match_keras_in_tfjs(saved: dict, results: dict, key: tuple[str, str]) -> None:
    run, out = results[key]
    _, _, expected = saved[key]
    assert_tfjs_run_matches(run, expected, ATOL, RTOL, min_range=1e-3)
    check_model_json(out / "model.json")


@pytest.mark.parametrize("key", [("keras", "gru-last"), ("tf_keras", "bidirectional-concat"),
                                 ("keras", "transformer"), ("tf_keras", "locally-connected-2d-channels_last")],
                         ids="-".join)
def test_without_the_option_they_are_refused_with_the_hint(saved: dict, tmp_path: Path,
                                                           key: tuple[str, str]) -> None:
    with pytest.raises(IncompatibleKerasConfigurationException) as err:
        kconvert.convert(saved[key][0], "tfjs", tmp_path / "out")
    assert "stock TF.js has no" in str(err.value) and HINT in str(err.value) and "layer '" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_model_that_needs_no_class_gets_no_module(tmp_path: Path) -> None:
    k = _keras("keras")
    x = k.Input((6, 4))
    model = k.Model(x, k.layers.Dense(2)(k.layers.GRU(3, reset_after=False)(x)))
    model.save(tmp_path / "plain.keras")
    written = kconvert.convert(tmp_path / "plain.keras", "tfjs", tmp_path / "out", companion=True)
    assert written.companion is None and "companion" not in written.to_dict()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["group1-shard1of1.bin", "model.json"]


def test_the_module_is_the_same_for_every_model(results: dict) -> None:
    texts = {(out / COMPANION_FILE).read_text() for _, out in results.values()}
    assert len(texts) == 1
    (text,) = texts
    assert "eval(" not in text and "Function(" not in text and "require(" not in text.split("//")[0]


def test_the_command_names_the_module_and_reports_it(saved: dict, tmp_path: Path) -> None:
    source = saved[("tf_keras", "gru-last")][0]
    runner = CliRunner()
    refused = runner.invoke(main, ["convert", str(source), str(tmp_path / "refused"), "--to", "tfjs"])
    assert refused.exit_code == 4 and HINT in refused.output
    report = tmp_path / "report.json"
    done = runner.invoke(main, ["convert", str(source), str(tmp_path / "out"), "--to", "tfjs", "--tfjs-companion",
                                "--report", str(report)])
    assert done.exit_code == 0, done.output
    assert f"wrote {tmp_path / 'out' / COMPANION_FILE}" in done.output and "register(tf)" in done.output
    document = json.loads(report.read_text())
    validate(document, "convert-report", str(report))
    assert document["output"]["companion"] == str(tmp_path / "out" / COMPANION_FILE)
    assert any(n["category"] == "rewritten" and COMPANION_FILE in n["message"] for n in document["output"]["notes"])
    wrong = runner.invoke(main, ["convert", str(source), str(tmp_path / "dl4j.zip"), "--to", "dl4j",
                                 "--tfjs-companion"])
    assert wrong.exit_code == 2 and "--tfjs-companion" in wrong.output


def test_verify_and_check_run_the_module_in_tfjs(saved: dict, tmp_path: Path) -> None:
    """``--verify`` and ``kconvert check`` load the companion module in the real tfjs."""
    source = saved[("keras", "transformer")][0]
    runner = CliRunner()
    done = runner.invoke(main, ["convert", str(source), str(tmp_path / "out"), "--to", "tfjs", "--tfjs-companion",
                                "--verify"])
    assert done.exit_code == 0, done.output
    assert "TF.js" in done.output
    checked = runner.invoke(main, ["check", str(tmp_path / "out"), "--source", str(source)])
    assert checked.exit_code == 0, checked.output
    assert "parity" in checked.output


def test_batch_conversion_passes_the_option(saved: dict, tmp_path: Path) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    for key in (("keras", "gru-last"), ("tf_keras", "transformer")):
        source = saved[key][0]
        (folder / source.name).write_bytes(source.read_bytes())
    done = CliRunner().invoke(main, ["convert", str(folder), str(tmp_path / "out"), "--to", "tfjs",
                                     "--tfjs-companion", "--jobs", "1"])
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in (tmp_path / "out").glob(f"*/{COMPANION_FILE}")) == [COMPANION_FILE] * 2


def test_a_padding_mask_reaching_attention_is_refused(tmp_path: Path) -> None:
    """tfjs-layers hands a layer only its first input's mask: the companion class does not take masks."""
    k = _keras("keras")
    x = k.Input((6,), dtype="int32")
    h = k.layers.Embedding(10, 8, mask_zero=True)(x)
    model = k.Model(x, k.layers.MultiHeadAttention(num_heads=2, key_dim=4)(h, h))
    model.save(tmp_path / "masked.keras")
    with pytest.raises(IncompatibleKerasConfigurationException, match="mask"):
        kconvert.convert(tmp_path / "masked.keras", "tfjs", tmp_path / "out", companion=True)
    assert not (tmp_path / "out").exists()


def test_a_realworld_locally_connected_model_verifies_in_tfjs(tmp_path: Path) -> None:
    """tf_keras's LocallyConnected2D from the real-world corpus (refused by stock TF.js), checked by
    ``--verify`` against tf_keras."""
    source = require_shared(REALWORLD) / "dl4j-test-resources" / "tfkeras" / "cnn2d_34.h5"
    done = CliRunner().invoke(main, ["convert", str(source), str(tmp_path / "out"), "--to", "tfjs",
                                     "--tfjs-companion", "--verify"])
    assert done.exit_code == 0, done.output
    assert "PASSED  target" in done.output and "@tensorflow/tfjs 4.22.0" in done.output
