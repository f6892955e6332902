"""The models Keras ships: every keras.applications family, built with ``weights=None`` in Keras 3
and tf_keras, saved as ``.keras`` and ``.h5``, loads, runs in kconvert's runtime as Keras predicts,
is written as ``.keras`` that Keras 3 loads in safe mode, to ONNX that ONNX Runtime runs as Keras
predicts and to TF.js that the real tfjs runs as Keras predicts, and is written to DL4J or refused
naming the layer.  Also the helper layers the
applications define for themselves (Normalization, LayerScale, StochasticDepth, CustomScaleLayer,
Identity), pooling whose strides exceed its window, and tf.keras layer names holding '/'.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.verification.tfjs_runner import run_tfjs_many
from tests.conftest import require_tfjs
from tests.helpers import randomize_weights
from tests.test_onnx import run_onnx

keras = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")

ATOL, RTOL = 1e-4, 1e-3  # the bar for whole applications


def saved(model: Any, folder: Path, package: str) -> tuple[Any, list[Path]]:
    """``model`` saved as its Keras saves it (Keras 3: ``.keras`` and ``.h5``; tf_keras: ``.h5``) and
    loaded again: the reference, since a Normalization layer computes from statistics it derives when
    built or loaded, not from weights set afterwards.  Keras 3 cannot load the legacy ``.h5`` it
    writes for a model holding application layers, so its reference comes from the ``.keras`` file."""
    if package == "tf_keras":  # which cannot load its own ConvNeXt without being told the class
        from tf_keras.src.applications.convnext import LayerScale

        model.save(folder / "source.h5")
        reference = tf_keras.models.load_model(folder / "source.h5", compile=False,
                                               custom_objects={"LayerScale": LayerScale})
        return reference, [folder / "source.h5"]
    model.save(folder / "source.keras")
    reference = keras.saving.load_model(folder / "source.keras", compile=False)
    reference.save(folder / "source.h5")
    return reference, [folder / "source.keras", folder / "source.h5"]


def predict(model: Any, x: np.ndarray) -> np.ndarray:
    """Keras's inference on one small batch, run eagerly: what ``predict`` computes, without tracing the
    model first (seconds for the larger families)."""
    return np.asarray(model(x, training=False))


def randomized(model: Any, seed: int) -> Any:
    """Random weights and statistics; adapted Normalization variances kept positive."""
    randomize_weights(model, np.random.default_rng(seed))
    for layer in model.layers:
        if type(layer).__name__ == "Normalization" and layer.get_weights():
            mean, variance, count = layer.get_weights()
            layer.set_weights([mean, np.abs(variance) + 0.5, count])
    return model


# -- the helper layers -------------------------------------------------------------------------------

def helper_layers_model() -> Any:
    from keras.src.applications.convnext import LayerScale, StochasticDepth
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    L = keras.layers
    inp = keras.Input((6, 5, 3))
    x = L.Normalization(axis=-1, mean=[1.0, 2.0, 3.0], variance=[4.0, 5.0, 6.0])(inp)
    adapted = L.Normalization(axis=-1)
    adapted.adapt(np.random.default_rng(0).normal(2, 3, (20, 6, 5, 3)).astype("float32"))
    x = adapted(x)
    x = L.Normalization(axis=None, mean=0.5, variance=2.0, invert=True)(x)
    x = L.Identity()(x)
    y = StochasticDepth(0.1)(LayerScale(1e-6, 3)(L.Conv2D(3, 1)(x)))
    return keras.Model(inp, L.GlobalAveragePooling2D()(CustomScaleLayer(0.17)([x, y])))


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_helper_layers(tmp_path: Path, fmt: str) -> None:
    model, _ = saved(randomized(helper_layers_model(), 1), tmp_path, "keras")
    x = np.random.default_rng(2).normal(size=(2, 6, 5, 3)).astype("float32")
    want = predict(model, x)
    source = kconvert.load(tmp_path / f"source.{fmt}")
    assert {la.kind for la in source.layers} >= {"Normalization", "Identity", "LayerScale", "StochasticDepth",
                                                 "CustomScaleLayer"}
    np.testing.assert_allclose(kconvert.run(source, x, device="cpu")[0], want, atol=1e-5, rtol=1e-5)
    for out in ("keras", "h5"):
        written = kconvert.write(source, out, tmp_path / f"out.{out}").path
        back = keras.saving.load_model(written, safe_mode=True) if out == "keras" else keras.models.load_model(written)
        np.testing.assert_allclose(predict(back, x), want, atol=1e-5, rtol=1e-5, err_msg=out)
    require_tfjs()  # TF.js rewrites each helper layer into stock layers
    kconvert.write(source, "tfjs", tmp_path / "tfjs")
    (run,) = run_tfjs_many([(tmp_path / "tfjs", [x], [])])
    assert run.error is None, run.error
    np.testing.assert_allclose(run.outputs[0], want, atol=1e-5, rtol=1e-5, err_msg="tfjs")
    with pytest.raises(IncompatibleKerasConfigurationException, match="layer '"):  # one mean for all values
        kconvert.write(source, "dl4j", tmp_path / "dl4j")


def test_helper_layers_only_from_keras_own_modules(tmp_path: Path) -> None:
    """A LayerScale from any other module is somebody's own class: refused, never imported."""
    model = helper_layers_model()
    model.save(tmp_path / "source.keras")
    with zipfile.ZipFile(tmp_path / "source.keras") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    for layer in config["config"]["layers"]:
        if layer["class_name"] == "LayerScale":
            layer["module"] = "my_package.layers"
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "tampered.keras", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(IncompatibleKerasConfigurationException, match="module 'my_package.layers' is not Keras's own"):
        kconvert.load(tmp_path / "tampered.keras")


@pytest.mark.parametrize("layer,dims", [("MaxPooling2D", 2), ("AveragePooling2D", 2), ("MaxPooling1D", 1),
                                        ("AveragePooling3D", 3)])
def test_pooling_with_strides_larger_than_the_window(tmp_path: Path, layer: str, dims: int) -> None:
    """ResNet50V2 has MaxPooling2D(1, strides=2), NASNetMobile AveragePooling2D(1, strides=2)."""
    inp = keras.Input((7,) * dims + (2,))
    pooled = [getattr(keras.layers, layer)(1, strides=2, padding=p)(inp) for p in ("valid", "same")]
    model = keras.Model(inp, pooled)
    model.save(tmp_path / "pool.keras")
    x = np.random.default_rng(0).normal(size=(2,) + (7,) * dims + (2,)).astype("float32")
    got = kconvert.run(kconvert.load(tmp_path / "pool.keras"), x, device="cpu")
    for got, want in zip(got, model.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_layer_names_with_slashes_are_renamed_for_keras(tmp_path: Path) -> None:
    """tf.keras named DenseNet's layers 'conv1/conv'; Keras 3 refuses '/' in a layer name."""
    L = tf_keras.layers
    inp = tf_keras.Input((5,), name="in/put")
    hidden = L.Dense(4, name="block1/dense")(inp)
    model = tf_keras.Model(inp, L.Dense(2, name="head/out")(L.Activation("relu", name="block1/relu")(hidden)))
    randomize_weights(model, np.random.default_rng(3))
    model.save(tmp_path / "slashes.h5")
    x = np.random.default_rng(4).normal(size=(2, 5)).astype("float32")
    source = kconvert.load(tmp_path / "slashes.h5")
    for fmt in ("keras", "h5"):
        written = kconvert.write(source, fmt, tmp_path / f"out.{fmt}")
        notes = [n.message for n in written.report.by_category("rewritten")]
        assert any("4 layer name(s) holding '/' written with '_'" in n and "block1/dense -> block1_dense" in n
                   for n in notes), notes
        back = keras.saving.load_model(written.path, safe_mode=True) if fmt == "keras" else \
            keras.models.load_model(written.path)
        assert {la.name for la in back.layers} - {"in_put"} == {"block1_dense", "block1_relu", "head_out"}
        np.testing.assert_allclose(predict(back, x), predict(model, x), atol=1e-6)


# -- every family --------------------------------------------------------------------------------------

#: one model of each family, at the smallest input it accepts
FAMILIES = {
    "ConvNeXtTiny": (32, 32, 3), "DenseNet121": (32, 32, 3), "EfficientNetB0": (32, 32, 3),
    "EfficientNetV2B0": (32, 32, 3), "InceptionResNetV2": (75, 75, 3), "InceptionV3": (75, 75, 3),
    "MobileNet": (32, 32, 3), "MobileNetV2": (32, 32, 3), "MobileNetV3Small": (32, 32, 3),
    "MobileNetV3Large": (32, 32, 3), "NASNetMobile": (32, 32, 3), "ResNet50": (32, 32, 3),
    "ResNet50V2": (32, 32, 3), "VGG16": (32, 32, 3), "Xception": (71, 71, 3),
}


def assert_same_ir(a: kconvert.Model, b: kconvert.Model) -> None:
    """Two readings of one model: the same layers, connections and weights."""
    def structure(m: kconvert.Model) -> list[Any]:
        return [(la.name, structure(la.config.model) if la.kind == "Model" else la.config,
                 [c.inputs for c in la.calls]) for la in m.layers] + [m.outputs]

    assert structure(a) == structure(b)
    for (name, wa), (_, wb) in zip(a.iter_weights(), b.iter_weights(), strict=True):
        np.testing.assert_array_equal(wa.numpy(), wb.numpy(), err_msg=name)


def _written_or_refused(source: kconvert.Model, target: str, out: Path) -> str:
    try:
        kconvert.write(source, target, out)
        return "written"
    except IncompatibleKerasConfigurationException as exc:
        assert exc.layer, f"{target} refused without naming the layer: {exc}"
        return f"refused: {exc.reason}"


@pytest.mark.slow
@pytest.mark.parametrize("package", ["keras", "tf_keras"])
@pytest.mark.parametrize("family", list(FAMILIES))
def test_application(tmp_path: Path, family: str, package: str) -> None:
    k = keras if package == "keras" else tf_keras
    shape = FAMILIES[family]
    built = randomized(getattr(k.applications, family)(weights=None, input_shape=shape, classes=7,
                                                       classifier_activation=None), 5)
    x = np.random.default_rng(6).uniform(0, 255, (2, *shape)).astype("float32")
    reference, paths = saved(built, tmp_path, package)
    want = predict(reference, x)
    assert np.ptp(want) > 1e-3, "degenerate reference"
    source = kconvert.load(paths[0])
    np.testing.assert_allclose(kconvert.run(source, x, device="cpu")[0], want, atol=ATOL, rtol=RTOL,
                               err_msg=f"{package} {family} {paths[0].name} in kconvert's runtime")
    for other in paths[1:]:  # the same model read from its other file: the same IR, so the same outputs
        assert_same_ir(kconvert.load(other), source)
    written = kconvert.write(source, "keras", tmp_path / "out.keras").path
    back = keras.saving.load_model(written, safe_mode=True)
    np.testing.assert_allclose(predict(back, x), want, atol=ATOL, rtol=RTOL,
                               err_msg=f"{package} {family} written as .keras, in Keras 3")
    kconvert.write(source, "onnx", tmp_path / "out.onnx")
    np.testing.assert_allclose(run_onnx(tmp_path / "out.onnx", [x])[0], want, atol=ATOL, rtol=RTOL,
                               err_msg=f"{package} {family} written to ONNX, in ONNX Runtime")
    require_tfjs()
    kconvert.write(source, "tfjs", tmp_path / "tfjs")
    (run,) = run_tfjs_many([(tmp_path / "tfjs", [x], [])])
    assert run.error is None, run.error
    np.testing.assert_allclose(run.outputs[0], want, atol=ATOL, rtol=RTOL,
                               err_msg=f"{package} {family} written to TF.js, in the real tfjs")
    _written_or_refused(source, "dl4j", tmp_path / "dl4j")
    keras.backend.clear_session()
    tf_keras.backend.clear_session()


def test_a_layer_named_like_a_path_never_becomes_one(tmp_path: Path) -> None:
    """'../../../evil' is a name: written as '.._.._.._evil', inside the output file only."""
    from tests.helpers import keras_layer, sequential_config, write_keras2_h5

    source = tmp_path / "in" / "model.h5"
    source.parent.mkdir()
    write_keras2_h5(source, sequential_config(keras_layer("Dense", "../../../evil", units=2)),
                    {"../../../evil": {"kernel:0": np.ones((4, 2), "float32"), "bias:0": np.zeros(2, "float32")}})
    out = tmp_path / "out"
    out.mkdir()
    for fmt in ("keras", "h5"):
        kconvert.convert(source, fmt, out / f"model.{fmt}")
        back = keras.saving.load_model(out / f"model.{fmt}", safe_mode=True) if fmt == "keras" else \
            keras.models.load_model(out / f"model.{fmt}")
        assert [la.name for la in back.layers] == [".._.._.._evil"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["in", "model.h5", "model.h5", "model.keras", "out"]
