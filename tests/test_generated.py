"""Models generated with the installed Keras (tests/fixtures/make_fixtures.py), read back in every
saved form: each form must give the same IR, with every weight equal to what Keras holds, in
Keras's own order, and output shapes equal to what Keras's predict returned."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import kconvert
from kconvert.ir.layers.model import NestedModel
from tests.conftest import GENERATED

VERSIONS = json.loads((GENERATED / "VERSIONS.json").read_text())


def cases() -> list[tuple[str, str, str]]:
    out = []
    for flavour in sorted(VERSIONS):
        forms = ["json", "yaml", "h5", "json+weights"] + (["keras"] if flavour == "keras3" else
                                                          ["json+legacy-weights"])
        for ref in sorted((GENERATED / flavour).glob("*.ref.npz")):
            name = ref.name[: -len(".ref.npz")]
            out += [(flavour, name, form) for form in forms]
    return out


def load_form(flavour: str, name: str, form: str) -> kconvert.Model:
    base = GENERATED / flavour / name
    if form == "json+weights":
        return kconvert.load(f"{base}.json", weights=f"{base}.weights.h5")
    if form == "json+legacy-weights":  # tf_keras save_weights(save_format="h5"): layer order decides
        return kconvert.load(f"{base}.json", weights=f"{base}_weights.h5", weights_by="order")
    return kconvert.load(f"{base}.{form}")


def reference(flavour: str, name: str) -> dict[str, np.ndarray]:
    with np.load(GENERATED / flavour / f"{name}.ref.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("flavour,name,form", cases(), ids=lambda v: str(v))
def test_every_form_reads_the_keras_weights(flavour: str, name: str, form: str) -> None:
    ref = reference(flavour, name)
    expected = [ref[f"w{i}"] for i in range(len(ref["paths"]))]
    with load_form(flavour, name, form) as model:
        model.validate()
        # Keras 3 records no version in to_json or in .weights.h5 files
        recorded = None if flavour == "keras3" and form.startswith("json") else VERSIONS[flavour]
        assert model.provenance is not None and model.provenance.keras_version == recorded
        weights = [w for _, w in model.iter_weights()]
        if form in ("json", "yaml"):
            assert not weights and model.param_count() == sum(w.size for w in expected)
            return
        assert len(weights) == len(expected), [p for p, _ in model.iter_weights()]
        for (path, w), keras_path, want in zip(model.iter_weights(), ref["paths"], expected):
            got = w.numpy()
            assert got.shape == want.shape and np.array_equal(got, want), f"{path} vs Keras {keras_path}"
        assert model.param_count() == sum(w.size for w in expected)


@pytest.mark.parametrize("flavour,name", sorted({(f, n) for f, n, _ in cases()}))
def test_inferred_output_shapes_match_keras_predict(flavour: str, name: str) -> None:
    ref = reference(flavour, name)
    outputs = [ref[k] for k in sorted(k for k in ref if k.startswith("y"))]
    model = load_form(flavour, name, "h5")
    assert len(model.output_shapes) == len(outputs)
    for shape, y in zip(model.output_shapes, outputs):
        assert shape[0] is None and tuple(shape[1:]) == y.shape[1:]


@pytest.mark.parametrize("flavour", sorted(VERSIONS))
def test_every_form_gives_the_same_graph(flavour: str) -> None:
    for name in {n for f, n, _ in cases() if f == flavour}:
        shapes = {form: _describe(load_form(flavour, name, form)) for f, n, form in cases()
                  if (f, n) == (flavour, name)}
        first = next(iter(shapes.values()))
        assert all(v == first for v in shapes.values()), name


def _describe(model: kconvert.Model) -> list:
    return [(layer.name, layer.kind, layer.config.attributes() if layer.kind not in ("Model", "Bidirectional",
            "TimeDistributed") else None, [[str(r) for r in c.inputs] for c in layer.calls])
            for layer in model.layers]


@pytest.mark.parametrize("flavour", sorted(VERSIONS))
def test_mlp_attributes_and_training_config(flavour: str) -> None:
    model = load_form(flavour, "mlp", "h5")
    hidden = model.layer("hidden")
    assert (hidden.kind, hidden.config.units, hidden.config.activation) == ("Dense", 16, "relu")
    assert hidden.weight_settings["kernel"].regularizer.config["l2"] == pytest.approx(1e-4)
    assert hidden.weight_settings["bias"].constraint.name == "MaxNorm"
    assert model.layer("no_bias").weights.keys() == {"kernel"}
    assert model.layer("drop").config.rate == 0.25 and model.layer("drop").config.training_only
    training = model.training
    assert training is not None and training.optimizer.name == "Adam"
    assert training.optimizer.config["learning_rate"] == pytest.approx(0.002)
    assert {o: loss.name for o, loss in training.losses.items()} == {"probs": "categorical_crossentropy"}
    assert any("acc" in m for ms in training.metrics.values() for m in ms)


@pytest.mark.parametrize("flavour", sorted(VERSIONS))
def test_functional_graph_structure(flavour: str) -> None:
    model = load_form(flavour, "functional", "h5")
    assert [r.layer for r in model.inputs] == ["in_a", "in_b"]
    assert [r.layer for r in model.outputs] == ["out_cls", "out_reg"]
    shared = model.layer("shared")
    assert len(shared.calls) == 2 and {str(c.inputs[0]) for c in shared.calls} == {"in_a", "in_b"}
    assert [str(r) for r in model.layer("add").calls[0].inputs] == ["shared", "shared[1]"]
    tower = model.layer("tower")
    assert isinstance(tower.config, NestedModel)
    assert [layer.kind for layer in tower.config.model.layers] == ["InputLayer", "Dense", "LayerNormalization", "Dense"]
    assert model.layer("cos").config.normalize is True
    assert model.layer("attention").config.use_scale and "scale" in model.layer("attention").weights
    losses = {o: loss.name for o, loss in model.training.losses.items()}
    assert losses == {"out_cls": "categorical_crossentropy", "out_reg": "mean_absolute_error"}
    assert model.training.loss_weights == {"out_cls": 1.0, "out_reg": 0.5}
    assert model.training.optimizer.name == "SGD" and model.training.optimizer.config["momentum"] == pytest.approx(0.9)


@pytest.mark.parametrize("flavour", sorted(VERSIONS))
def test_recurrent_attributes(flavour: str) -> None:
    model = load_form(flavour, "rnn", "h5")
    assert model.layer("embed").config.mask_zero
    assert model.layer("gru_v1").config.reset_after is False
    assert model.layer("gru_v1").weights["bias"].shape == (15,)
    bigru = model.layer("bigru").config
    assert bigru.merge_mode == "sum" and bigru.forward.config.reset_after is True
    assert bigru.backward.config.go_backwards and not bigru.forward.config.go_backwards
    assert bigru.forward.weights["bias"].shape == (2, 12)
    assert model.layer("srnn").config.go_backwards
    assert model.layer("td").config.layer.kind == "Dense"
    assert model.layer("tokens").config.dtype == "int32"


def test_hard_sigmoid_meaning_follows_the_keras_generation(tmp_path: Path) -> None:
    """Keras 3 redefined hard_sigmoid; the IR keeps the two functions apart."""
    keras3 = json.loads((GENERATED / "keras3" / "mlp.json").read_text())
    keras3["config"]["layers"][-1]["config"]["activation"] = "hard_sigmoid"
    tfkeras = json.loads((GENERATED / "tfkeras" / "mlp.json").read_text())
    tfkeras["config"]["layers"][-1]["config"]["activation"] = "hard_sigmoid"
    assert kconvert.load(json.dumps(keras3)).layer("probs").config.activation == "hard_sigmoid_relu6"
    assert kconvert.load(json.dumps(tfkeras)).layer("probs").config.activation == "hard_sigmoid"


def test_weights_are_read_lazily_and_survive_close() -> None:
    model = kconvert.load(GENERATED / "keras3" / "cnn2d.keras")
    conv = model.layer("conv").weights["kernel"]
    model.close()
    assert conv.numpy().shape == conv.shape  # the file is reopened on demand
    model.close()
