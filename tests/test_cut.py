"""Cutting a model at named layers (--inputs-from, kconvert.load(inputs_from=...)): the layers'
outputs become the inputs, what only fed them goes, and a cut that leaves a way around it is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import kconvert
from kconvert.cli import main
from kconvert.errors import IncompatibleKerasConfigurationException

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    ids = keras.Input((5,), dtype="int32", name="ids")
    extra = keras.Input((3,), name="extra")
    x = keras.layers.GlobalAveragePooling1D(name="pool")(keras.layers.Embedding(10, 4, name="emb")(ids))
    h = keras.layers.Dense(6, activation="relu", name="hidden")(keras.layers.Concatenate(name="join")([x, extra]))
    model = keras.Model([ids, extra], keras.layers.Dense(2, name="out")(h))
    path = tmp_path_factory.mktemp("cut") / "model.keras"
    model.save(path)
    return path, model


def test_cut_runs_what_keras_computes_from_there(source: tuple[Path, Any]) -> None:
    path, model = source
    with kconvert.load(path, inputs_from=["join"]) as cut:
        assert [layer.name for layer in cut.layers] == ["join", "hidden", "out"]
        assert (cut.input_names, cut.input_shapes, cut.input_layers[0].config.dtype) == (["join"], [(None, 7)],
                                                                                          "float32")
        assert cut.provenance.inputs_from == ("join",)
        x = np.random.default_rng(0).standard_normal((3, 7)).astype("float32")
        expected = keras.Model(model.get_layer("join").output, model.outputs).predict(x, verbose=0)
        np.testing.assert_allclose(kconvert.run(cut, x)[0], expected, atol=1e-4, rtol=1e-3)


def test_a_cut_with_a_way_around_it_is_refused(source: tuple[Path, Any]) -> None:
    path, _ = source
    with pytest.raises(IncompatibleKerasConfigurationException,
                       match="layer 'pool'.*input 'extra' a path to output 'out' \\(through extra -> join"):
        kconvert.load(path, inputs_from=["pool"])
    with pytest.raises(IncompatibleKerasConfigurationException, match="no layer is named 'nope'"):
        kconvert.load(path, inputs_from=["nope"])
    with kconvert.load(path, inputs_from=["pool", "extra"]) as cut:  # both ways cut: the embedding goes
        assert "emb" not in [layer.name for layer in cut.layers] and cut.input_names == ["pool", "extra"]


def test_every_command_cuts_alike(source: tuple[Path, Any], tmp_path: Path) -> None:
    path, _ = source
    runner = CliRunner()
    shown = runner.invoke(main, ["inspect", str(path), "--inputs-from", "join", "--json"])
    assert shown.exit_code == 0, shown.output
    assert [t["name"] for t in json.loads(shown.output)["inputs"]] == ["join"]
    out = tmp_path / "tfjs"
    converted = runner.invoke(main, ["convert", str(path), "--to", "tfjs", str(out), "--inputs-from", "join",
                                     "--verify", "-q"])
    assert converted.exit_code == 0, converted.output
    verified = runner.invoke(main, ["verify", str(path), "--inputs-from", "join", "--target", str(out),
                                    "--atol", "1e-4", "--rtol", "1e-3"])
    assert verified.exit_code == 0 and "PASSED  keras" in verified.output, verified.output
    checked = runner.invoke(main, ["check", str(out), "--source", str(path), "--inputs-from", "join"])
    assert checked.exit_code == 0, checked.output
    refused = runner.invoke(main, ["check", str(out), "--source", str(path), "--inputs-from", "pool"])
    assert refused.exit_code != 0 and "input 'extra' a path" in refused.output
