"""Functional operations recorded in Keras graphs -- Keras 3 ``keras.ops`` nodes (``.keras`` and
Keras 3's legacy ``.h5``), tf.keras 2 ``TFOpLambda``/``SlicingOpLambda`` -- read into the IR's
operation kinds, run against Keras's own predictions (atol 1e-5), written back as Keras 3
operation nodes that ``load_model(safe_mode=True)`` reads, and refused by name where they cannot be
expressed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException
from tests.helpers import keras_layer, raises_exactly, randomize_weights, sequential_config

ATOL, RTOL = 1e-5, 1e-4

keras = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")
tf = pytest.importorskip("tensorflow")


def keras3_model() -> Any:
    """A dozen and more keras.ops calls (with constants on either side) around a Dense layer."""
    ops = keras.ops
    x = keras.Input((6, 4), name="x")
    d = keras.layers.Dense(4, name="dense")(x)
    a = ops.relu6(ops.add(d, 2.0) * 0.5)
    outputs = [
        ops.mean(a, axis=-1, keepdims=True), d[:, 1:3], ops.reshape(d, (-1, 4, 6)), ops.transpose(d, (0, 2, 1)),
        ops.concatenate([x, a], axis=-1), d[:, None, ..., ::2], d[..., -1], ops.hard_sigmoid(d),
        ops.hard_silu(d), ops.sigmoid(d), 1.0 - d, d / 3.0, ops.sum(d, axis=1), ops.max(d, axis=[1, 2]),
        ops.squeeze(ops.expand_dims(d, 1), 1), ops.maximum(d, 0.1), ops.minimum(d, a), ops.power(ops.abs(d), 2.0),
        ops.cast(x, "float32"), ops.negative(ops.tanh(d)), ops.add(d, a), keras.layers.Add(name="merge")([d, a]),
        ops.sqrt(ops.exp(d)), ops.square(d), ops.relu(d), ops.min(d, axis=2, keepdims=True), d[:, ::-2, 1:],
    ]
    return keras.Model(x, outputs, name="keras3_ops")


def tf_keras_model() -> Any:
    """tf.* calls and slices recorded by tf.keras 2 as TFOpLambda / SlicingOpLambda layers."""
    x = tf_keras.Input((6, 4), name="x")
    d = tf_keras.layers.Dense(4, name="dense")(x)
    r = tf.nn.relu6(d)
    outputs = [
        tf.math.multiply(d, 0.5), d + 1, r, tf.concat([d, r], axis=-1), tf.reshape(d, (-1, 4, 6)),
        tf.transpose(d, perm=[0, 2, 1]), d[:, 1:], tf.reduce_mean(d, axis=[1], keepdims=True),
        d[:, tf.newaxis, ..., ::2], 2.0 - d, d * r, tf.math.sigmoid(d), tf.nn.relu(d), d[..., 0],
        tf.squeeze(tf.expand_dims(d, 1), axis=1), tf.math.maximum(d, 0.0), tf.cast(d, tf.float32), d / 2.0,
        tf.reduce_sum(d, -1), tf.math.reduce_max(d, axis=1), tf.math.tanh(d),
    ]
    return tf_keras.Model(x, outputs, name="tf_keras_ops")


def sample(shape: tuple[int, ...] = (3, 6, 4), seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-2, 3, shape).astype("float32")


def assert_matches(model: kconvert.Model, x: np.ndarray, expected: list[np.ndarray]) -> float:
    got = kconvert.run(model, [x], device="cpu")
    got = got if isinstance(got, list) else [got]
    assert len(got) == len(expected)
    worst = 0.0
    for name, a, b in zip([r.layer for r in model.outputs], got, expected):
        a = np.asarray(a)
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, atol=ATOL, rtol=RTOL, err_msg=name)
        worst = max(worst, float(np.max(np.abs(a - b))) if a.size else 0.0)
    return worst


@pytest.fixture(scope="module")
def keras3_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], list[np.ndarray]]:
    keras.backend.clear_session()  # the operations' automatic names ("add") must not depend on earlier tests
    model = keras3_model()
    randomize_weights(model, np.random.default_rng(0))
    folder = tmp_path_factory.mktemp("keras3_ops")
    paths = {"keras": folder / "ops.keras", "h5": folder / "ops.h5"}
    for path in paths.values():
        model.save(path)
    return paths, model.predict(sample(), verbose=0)


@pytest.fixture(scope="module")
def tf_keras_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    model = tf_keras_model()
    randomize_weights(model, np.random.default_rng(0))
    path = tmp_path_factory.mktemp("tf_keras_ops") / "ops.h5"
    model.save(path)
    return path, model.predict(sample(), verbose=0)


# -- reading and running ---------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["keras", "h5"])
def test_keras3_operations_match_keras(keras3_files: Any, form: str) -> None:
    paths, expected = keras3_files
    model = kconvert.load(paths[form])
    kinds = {layer.kind for layer in model.layers}
    assert {"BinaryOp", "UnaryOp", "Reduce", "GetItem", "ExpandDims", "Squeeze", "Reshape", "Permute",
            "Concatenate", "Add"} <= kinds
    assert assert_matches(model, sample(), expected) <= ATOL


def test_keras3_legacy_h5_reads_an_add_operation_as_the_operation(keras3_files: Any) -> None:
    """Keras 3's legacy .h5 drops the module: ``Add`` with one tensor and a constant is ops.add,
    the Add merge layer (config with trainable/dtype, a list of tensors) stays the merge layer."""
    paths, _ = keras3_files
    with h5py.File(paths["h5"]) as f:
        layers = {entry["name"]: entry for entry in json.loads(f["/"].attrs["model_config"])["config"]["layers"]}
    assert layers["add"]["class_name"] == "Add" and "module" not in layers["add"]
    model = kconvert.load(paths["h5"])
    add = model.layer("add")
    assert (add.kind, add.config.constant, add.config.constant_first) == ("BinaryOp", 2.0, False)
    assert model.layer("subtract").config.constant_first  # 1.0 - d
    assert model.layer("merge").kind == "Add"


def test_tf_keras_operations_match_keras(tf_keras_file: Any) -> None:
    path, expected = tf_keras_file
    model = kconvert.load(path)
    assert {layer.source_class for layer in model.layers} >= {"TFOpLambda", "SlicingOpLambda"}
    # tf_keras numbers op layers per process ("tf.math.subtract_1" after another test built one)
    subtract = next(layer for layer in model.layers if layer.name.startswith("tf.math.subtract"))
    assert subtract.config.constant_first  # 2.0 - d: ["_CONSTANT_VALUE", -1, 2.0]
    assert assert_matches(model, sample(), expected) <= ATOL


# -- writing ---------------------------------------------------------------------------------------

def test_written_keras_archive_holds_operation_nodes_keras_loads_safely(keras3_files: Any, tmp_path: Path) -> None:
    paths, expected = keras3_files
    out = tmp_path / "written.keras"
    kconvert.write(kconvert.load(paths["h5"]), "keras", out)
    back = keras.saving.load_model(out, safe_mode=True, compile=False)
    got = back.predict(sample(), verbose=0)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, atol=ATOL, rtol=RTOL)


def test_tf_keras_operations_are_written_for_keras3(tf_keras_file: Any, tmp_path: Path) -> None:
    path, expected = tf_keras_file
    out = tmp_path / "from_tf_keras.keras"
    kconvert.write(kconvert.load(path), "keras", out)
    got = keras.saving.load_model(out, safe_mode=True, compile=False).predict(sample(), verbose=0)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, atol=ATOL, rtol=RTOL)


def small_ops_model(tmp_path: Path, op: Any = lambda x: keras.ops.add(x, 2.0)) -> Path:
    x = keras.Input((4,), name="x")
    y = keras.layers.Dense(3, name="dense")(op(x))
    path = tmp_path / "small.keras"
    keras.Model(x, y).save(path)
    return path


@pytest.mark.parametrize("to", ["tfjs", "dl4j"])
def test_operations_written_as_layers_and_the_rest_refused_by_layer(tmp_path: Path, to: str) -> None:
    """x + 2 is a Rescaling in TF.js and DL4J (test_tfjs_node and test_dl4j_write_more run such rewrites);
    2 / x has no stock layer: TF.js needs the companion module (test_tfjs_operations runs its classes),
    DL4J refuses it."""
    written = kconvert.write(kconvert.load(small_ops_model(tmp_path)), to, tmp_path / to)
    assert any("operation add with the constant 2 written as Rescaling" in n.message
               for n in written.report.by_category("rewritten"))
    (tmp_path / "divide").mkdir()
    model = kconvert.load(small_ops_model(tmp_path / "divide", lambda x: keras.ops.divide(2.0, x)))
    err = raises_exactly(IncompatibleKerasConfigurationException,
                         lambda: kconvert.write(model, to, tmp_path / "refused"), "layer 'divide", "(Divide)")
    assert "\n" not in str(err) and not (tmp_path / "refused").exists()
    if to == "dl4j":
        assert "BinaryOp" in str(err), str(err)
        return
    assert "stock TF.js has no layer computing the operation BinaryOp divide" in str(err)
    assert "--tfjs-companion" in str(err)
    written = kconvert.write(model, "tfjs", tmp_path / "companion", companion=True)
    assert written.companion is not None


def test_legacy_h5_refuses_operations_by_layer(tmp_path: Path) -> None:
    model = kconvert.load(small_ops_model(tmp_path))
    err = raises_exactly(IncompatibleKerasConfigurationException,
                         lambda: kconvert.write(model, "h5", tmp_path / "m.h5"), "layer 'add", "(Add)", "BinaryOp")
    assert "\n" not in str(err) and "has no safe equivalent in a legacy HDF5 file" in str(err)


# -- refusals --------------------------------------------------------------------------------------

def test_unlisted_tensorflow_functions_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "foo.json"
    path.write_text(json.dumps(sequential_config(keras_layer("TFOpLambda", "tf.raw_ops.Foo",
                                                             function="raw_ops.Foo"))))
    raises_exactly(IncompatibleKerasConfigurationException, lambda: kconvert.load(path),
                   "unsupported TensorFlow operation", "'tf.raw_ops.Foo'", "layer 'tf.raw_ops.Foo'")


def test_unlisted_keras3_operations_are_refused_by_name(tmp_path: Path) -> None:
    x = keras.Input((4,), name="x")
    path = tmp_path / "cumprod.keras"
    keras.Model(x, keras.ops.cumprod(x, axis=1)).save(path)
    raises_exactly(IncompatibleKerasConfigurationException, lambda: kconvert.load(path),
                   "keras.src.ops.numpy.Cumprod", "layer 'cumprod", "(Cumprod)")


def test_a_running_sum_reads_runs_and_is_written_back(tmp_path: Path) -> None:
    x = keras.Input((3, 4), name="x")
    model = keras.Model(x, keras.ops.cumsum(x, axis=1))
    model.save(tmp_path / "cumsum.keras")
    xs = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")
    ir = kconvert.load(tmp_path / "cumsum.keras")
    np.testing.assert_allclose(kconvert.run(ir, xs)[0], model.predict(xs, verbose=0), atol=1e-5)
    kconvert.write(ir, "keras", tmp_path / "out.keras")
    reloaded = keras.saving.load_model(tmp_path / "out.keras", safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(xs, verbose=0), model.predict(xs, verbose=0), atol=1e-5)
    from kconvert.formats.detect import detect
    from kconvert.verification.onnx_runner import run_onnx

    kconvert.write(ir, "onnx", tmp_path / "out.onnx")
    run = run_onnx(detect(tmp_path / "out.onnx"), [xs], [], None, "float32")
    np.testing.assert_allclose(run.outputs[0], model.predict(xs, verbose=0), atol=1e-5)


def test_operations_over_the_batch_axis_are_refused(tmp_path: Path) -> None:
    x = keras.Input((4,), name="x")
    path = tmp_path / "batch.keras"
    keras.Model(x, keras.ops.sum(x)).save(path)  # every axis, the batch's included
    raises_exactly(IncompatibleKerasConfigurationException, lambda: kconvert.load(path), "layer 'sum", "(Sum)", "axis")


# -- TensorFlow 2.1-2.3 TensorFlowOpLayer --------------------------------------------------------------

F, I32 = {"type": "DT_FLOAT"}, {"type": "DT_INT32"}

def op_layer(op: str, inputs: list[str], tensors: list[str], constants: dict[str, Any] | None = None,
             **attr: Any) -> dict[str, Any]:
    """A TensorFlow 2.2 TensorFlowOpLayer entry; ``inputs`` are the NodeDef's input names."""
    return {"class_name": "TensorFlowOpLayer", "name": f"tf_op_layer_{op}",
            "config": {"name": op, "trainable": True, "dtype": "float32",
                       "node_def": {"name": op, "op": op.split("_")[0], "input": inputs, "attr": {"T": F, **attr}},
                       "constants": constants or {}},
            "inbound_nodes": [[[t, 0, 0, {}] for t in tensors]]}

def tf22_config() -> dict[str, Any]:
    """A TensorFlow 2.2 functional model of TensorFlowOpLayers (NodeDefs with constants), as tf.keras
    2.2 wrote them."""
    def t(op: str) -> str:
        return f"tf_op_layer_{op}"

    layers = [
        {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 6, 4], "dtype": "float32", "sparse": False, "ragged": False,
                    "name": "x"}},
        op_layer("AddV2", ["x", "AddV2/y"], ["x"], {"1": 2.0}),
        op_layer("Mul", ["AddV2", "x"], [t("AddV2"), "x"]),
        op_layer("Sub", ["Sub/x", "x"], ["x"], {"0": 1.0}),
        op_layer("Relu6", ["Mul"], [t("Mul")]),
        op_layer("Mean", ["Relu6", "Mean/reduction_indices"], [t("Relu6")], {"1": [-1]}, Tidx=I32,
                 keep_dims={"b": True}),
        op_layer("Reshape", ["x", "Reshape/shape"], ["x"], {"1": [-1, 4, 6]}, Tshape=I32),
        op_layer("Transpose", ["x", "Transpose/perm"], ["x"], {"1": [0, 2, 1]}, Tperm=I32),
        op_layer("ConcatV2", ["x", "Relu6", "ConcatV2/axis"], ["x", t("Relu6")], {"2": -1}, N={"i": "2"}, Tidx=I32),
        op_layer("ExpandDims", ["x", "ExpandDims/dim"], ["x"], {"1": 1}, Tdim=I32),
        op_layer("Squeeze", ["ExpandDims"], [t("ExpandDims")], squeeze_dims={"list": {"i": ["1"]}}),
        op_layer("Sigmoid", ["Sub"], [t("Sub")]),
    ]
    outs = [t(n) for n in ("Mean", "Reshape", "Transpose", "ConcatV2", "Squeeze", "Sigmoid")]
    return {"class_name": "Model", "config": {"name": "tf22_ops", "layers": layers, "input_layers": [["x", 0, 0]],
            "output_layers": [[o, 0, 0] for o in outs]}, "keras_version": "2.3.0-tf", "backend": "tensorflow"}


def test_tensorflow_2_2_op_layers_match_tf_keras(tmp_path: Path) -> None:
    """TensorFlow 2.1-2.3's TensorFlowOpLayer: a NodeDef whose constants fill some input positions."""
    text = json.dumps(tf22_config())
    expected = tf_keras.models.model_from_json(text).predict(sample(), verbose=0)
    path = tmp_path / "tf22.json"
    path.write_text(text)
    model = kconvert.load(path)
    assert model.layer("tf_op_layer_Sub").config.constant_first
    assert assert_matches(model, sample(), expected) <= ATOL


def test_unlisted_tensorflow_graph_operations_are_refused_by_name(tmp_path: Path) -> None:
    config = tf22_config()
    config["config"]["layers"][1]["config"]["node_def"]["op"] = "Foo"
    path = tmp_path / "foo.json"
    path.write_text(json.dumps(config))
    raises_exactly(IncompatibleKerasConfigurationException, lambda: kconvert.load(path),
                   "unsupported TensorFlow operation 'Foo'", "layer 'tf_op_layer_AddV2'")


# -- Keras applications built with operations --------------------------------------------------------

def single(outputs: Any) -> np.ndarray:
    return np.asarray(outputs[0] if isinstance(outputs, list) else outputs)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["MobileNetV3Small", "MobileNetV3Large"])
def test_keras3_mobilenet_v3_matches_keras(name: str, tmp_path: Path) -> None:
    model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classifier_activation=None)
    randomize_weights(model, np.random.default_rng(0))
    path = tmp_path / f"{name}.keras"
    model.save(path)
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    loaded = kconvert.load(path)
    np.testing.assert_allclose(single(kconvert.run(loaded, [x], device="cpu")), expected, atol=1e-4, rtol=1e-4)
    if name == "MobileNetV3Small":  # written back with its operations, loaded by Keras in safe mode
        kconvert.write(loaded, "keras", tmp_path / "written.keras")
        back = keras.saving.load_model(tmp_path / "written.keras", safe_mode=True, compile=False)
        np.testing.assert_allclose(back.predict(x, verbose=0), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_tf_keras_mobilenet_v3_matches_keras(tmp_path: Path) -> None:
    model = tf_keras.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), classifier_activation=None)
    randomize_weights(model, np.random.default_rng(0))
    path = tmp_path / "mobilenet_v3_small.h5"
    model.save(path)
    assert any(layer.__class__.__name__ == "TFOpLambda" for layer in model.layers)
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    got = single(kconvert.run(kconvert.load(path), [x], device="cpu"))
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)
