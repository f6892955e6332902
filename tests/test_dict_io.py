"""Keras 3 dict and nested model inputs/outputs: read from .keras, .h5 and to_json (and tf_keras
.h5), run by name, written back exactly by the Keras writer, and named in TF.js, ONNX and DL4J."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kconvert
from kconvert.ir.structure import pack

keras = pytest.importorskip("keras")
XS = {"a": np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3), "b": np.ones((2, 2), "float32")}


def build(k: Any, nested: bool) -> Any:
    a, b = k.Input((3,), name="a"), k.Input((2,), name="b")
    c = k.layers.Concatenate(name="c")([a, b])
    y, z = k.layers.Dense(2, name="dy")(c), k.layers.Dense(1, name="dz")(c)
    outputs = {"z": z, "y": y, "n": [z, {"q": y}]} if nested else {"z": z, "y": y}
    return k.Model(inputs={"b": b, "a": a}, outputs=outputs)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Any]]:
    tmp = tmp_path_factory.mktemp("dict-io")
    out: dict[str, tuple[Path, Any]] = {}
    for nested in (False, True):
        model = build(keras, nested)
        name = "nested" if nested else "flat"
        for suffix in ("keras", "h5"):
            model.save(tmp / f"{name}.{suffix}")
            out[f"{name}.{suffix}"] = (tmp / f"{name}.{suffix}", model)
    flat = out["flat.keras"][1]
    (tmp / "flat.json").write_text(flat.to_json())
    flat.save_weights(tmp / "flat.weights.h5")
    out["flat.json"] = (tmp / "flat.json", flat)
    tf_keras = pytest.importorskip("tf_keras")
    legacy = build(tf_keras, False)
    legacy.save(tmp / "tf_keras.h5")
    out["tf_keras.h5"] = (tmp / "tf_keras.h5", legacy)
    return out


@pytest.mark.parametrize("name", ["flat.keras", "flat.h5", "flat.json", "nested.keras", "nested.h5", "tf_keras.h5"])
def test_read_and_run_by_name(sources: dict[str, tuple[Path, Any]], name: str) -> None:
    path, source = sources[name]
    weights = path.with_name("flat.weights.h5") if name.endswith(".json") else None
    expected = source.predict(XS, verbose=0)
    with kconvert.load(path, weights) as model:
        assert model.input_names == ["a", "b"]  # Keras's flat order: keys sorted
        assert sorted(model.output_names) == model.output_names
        outputs = kconvert.run(model, XS)  # by the model's own keys
        got = pack(model.output_structure, outputs)
        assert got.keys() == expected.keys()
        for key in ("y", "z"):
            np.testing.assert_allclose(got[key], expected[key], atol=1e-4, rtol=1e-3)
        if "n" in got:
            np.testing.assert_allclose(got["n"][1]["q"], expected["n"][1]["q"], atol=1e-4, rtol=1e-3)
        np.testing.assert_allclose(kconvert.run(model, [XS["a"], XS["b"]])[0], outputs[0])


def test_keras_writer_writes_the_structure_back(sources: dict[str, tuple[Path, Any]], tmp_path: Path) -> None:
    path, source = sources["nested.keras"]
    with kconvert.load(path) as model:
        kconvert.write(model, "keras", tmp_path / "out.keras")
    def io(p: Path) -> tuple[Any, Any]:
        config = json.loads(zipfile.ZipFile(p).read("config.json"))["config"]
        return config["input_layers"], config["output_layers"]
    assert io(tmp_path / "out.keras") == io(path)
    back = keras.saving.load_model(tmp_path / "out.keras", safe_mode=True)
    np.testing.assert_allclose(back.predict(XS, verbose=0)["n"][0], source.predict(XS, verbose=0)["n"][0], atol=1e-5)


def test_targets_name_inputs_and_outputs(sources: dict[str, tuple[Path, Any]], tmp_path: Path) -> None:
    import onnxruntime as ort

    path, source = sources["flat.keras"]
    expected = source.predict(XS, verbose=0)
    with kconvert.load(path) as model:
        kconvert.write(model, "tfjs", tmp_path / "tfjs")
        kconvert.write(model, "onnx", tmp_path / "m.onnx")
        kconvert.write(model, "dl4j", tmp_path / "dl4j")
    topology = json.loads((tmp_path / "tfjs" / "model.json").read_text())["modelTopology"]["model_config"]["config"]
    assert [r[0] for r in topology["output_layers"]] == ["y", "z"]
    dl4j = json.loads((tmp_path / "dl4j" / "configuration.json").read_text())
    assert (dl4j["networkInputs"], dl4j["networkOutputs"]) == (["a", "b"], ["y", "z"])
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["y", "z"]
    got = dict(zip(["y", "z"], session.run(None, XS)))  # fed by input name
    for key in ("y", "z"):
        np.testing.assert_allclose(got[key], expected[key], atol=1e-4, rtol=1e-3)
    report = kconvert.verify(str(path), targets=(str(tmp_path / "tfjs"), str(tmp_path / "dl4j" / "model.zip")),
                             atol=1e-4, rtol=1e-3)
    assert report.passed, report.to_dict()
    assert all([c.name for c in check.comparisons] == ["y", "z"] for check in report.checks)


def test_a_key_that_cannot_name_a_layer_is_noted(sources: dict[str, tuple[Path, Any]], tmp_path: Path) -> None:
    with kconvert.load(sources["nested.keras"][0]) as model:
        written = kconvert.write(model, "tfjs", tmp_path / "tfjs")
    assert any("output 'n/0' keeps its layer's name" in n.message for n in written.report.notes)
