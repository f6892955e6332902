"""The runtime executes the IR with its own TensorFlow kernels; it must compute what Keras computes.

References: Keras's own predictions stored with the generated fixtures, Keras applications built
here with random weights, and, for Keras-1-only layers no installed Keras can run, NumPy
implementations of the Keras 1 formulas applied to the weights read straight from the file.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

import kconvert
from kconvert.runtime import DeviceError, Runtime, resolve_device
from tests.conftest import FIXTURES, GENERATED
from tests.helpers import randomize_weights

ATOL, RTOL = 1e-5, 1e-4
VERSIONS = json.loads((GENERATED / "VERSIONS.json").read_text())
ZOO = sorted((f, p.name[: -len(".ref.npz")]) for f in VERSIONS for p in (GENERATED / f).glob("*.ref.npz"))
FORMS = [(f, n, form) for f, n in ZOO for form in (["h5", "keras"] if f == "keras3" else ["h5"])]


def reference(flavour: str, name: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    with np.load(GENERATED / flavour / f"{name}.ref.npz") as data:
        xs = [data[k] for k in sorted(k for k in data.files if k.startswith("x"))]
        ys = [data[k] for k in sorted(k for k in data.files if k.startswith("y"))]
    return xs, ys


@pytest.mark.parametrize("flavour,name,form", FORMS)
def test_generated_zoo_matches_keras_predict(flavour: str, name: str, form: str) -> None:
    xs, ys = reference(flavour, name)
    outputs = kconvert.run(kconvert.load(GENERATED / flavour / f"{name}.{form}"), xs, device="cpu")
    assert len(outputs) == len(ys)
    for out, y in zip(outputs, ys):
        np.testing.assert_allclose(out, y, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("name", ["rnn", "functional", "cnn2d"])
def test_float64_reference_runs_agree(name: str) -> None:
    xs, ys = reference("keras3", name)
    runtime = Runtime(kconvert.load(GENERATED / "keras3" / f"{name}.h5"), device="cpu", dtype="float64")
    for out, y in zip(runtime(xs), ys):
        assert out.dtype == np.float64
        np.testing.assert_allclose(out, y, atol=1e-4, rtol=1e-3)


def test_inputs_by_name_and_activations() -> None:
    xs, ys = reference("keras3", "functional")
    model = kconvert.load(GENERATED / "keras3" / "functional.keras")
    by_name = kconvert.run(model, {"in_b": xs[1], "in_a": xs[0]})
    # a first run is eager, later ones compiled (whose fused operations may differ in the last bit)
    np.testing.assert_allclose(by_name[0], kconvert.run(model, xs)[0], rtol=1e-6, atol=1e-7)
    outputs, acts = kconvert.run(model, xs, activations=True)
    np.testing.assert_allclose(acts["out_cls"][0], outputs[0], rtol=1e-6, atol=1e-7)
    assert acts["shared"][0].shape == acts["shared[1]"][0].shape == (2, 6)  # both calls of the shared layer
    with pytest.raises(kconvert.InputReadError, match="in_b"):
        kconvert.run(model, {"in_a": xs[0]})
    with pytest.raises(kconvert.InputReadError, match="expects"):
        kconvert.run(model, [xs[0][:, :3], xs[1]])


def test_a_configuration_without_weights_does_not_run() -> None:
    with pytest.raises(kconvert.IncompatibleKerasConfigurationException, match="no weights"):
        Runtime(kconvert.load(GENERATED / "keras3" / "mlp.json"))


def test_device_selection() -> None:
    assert resolve_device("cpu") == "/CPU:0"
    with pytest.raises(DeviceError, match="unknown device"):
        resolve_device("tpu")
    import tensorflow as tf

    if not tf.config.list_logical_devices("GPU"):
        with pytest.raises(DeviceError, match="no GPU"):
            resolve_device("gpu")
        assert resolve_device(None) == "/CPU:0"
    with pytest.raises(DeviceError, match="gpu:7"):
        resolve_device("gpu:7")


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["cnn2d", "rnn", "channels_first", "convlstm"])
def test_gpu_matches_cpu(name: str) -> None:
    import tensorflow as tf

    if not tf.config.list_logical_devices("GPU"):
        pytest.skip("no GPU on this machine")
    xs, ys = reference("keras3", name)
    model = kconvert.load(GENERATED / "keras3" / f"{name}.h5")
    for gpu, y in zip(Runtime(model, device="gpu")(xs), ys):
        np.testing.assert_allclose(gpu, y, atol=ATOL, rtol=RTOL)


# -- Keras applications with random weights -----------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("app,shape", [("MobileNetV2", (96, 96, 3)), ("ResNet50", (64, 64, 3))])
def test_keras_applications_match_keras(tmp_path, app: str, shape: tuple[int, ...]) -> None:
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(7)
    model = getattr(keras.applications, app)(weights=None, input_shape=shape, classes=10)
    randomize_weights(model, rng)
    path = tmp_path / f"{app}.h5"
    model.save(path)
    probes = [layer.name for layer in model.layers if layer.name.endswith(("_add", "_out", "out_relu"))][-4:]
    x = rng.normal(0, 1, (2, *shape)).astype("float32")
    expected = keras.Model(model.inputs, [model.output] + [model.get_layer(n).output for n in probes]).predict(
        x, verbose=0)
    ir = kconvert.load(path)
    outputs, acts = kconvert.run(ir, x, device="cpu", activations=True)
    np.testing.assert_allclose(outputs[0], expected[0], atol=ATOL, rtol=RTOL)
    assert np.ptp(expected[0]) > 1e-3, "degenerate reference: the outputs do not depend on the input"
    for name, want in zip(probes, expected[1:]):
        np.testing.assert_allclose(acts[name][0], want, atol=ATOL * max(1.0, float(np.abs(want).max())),
                                   rtol=RTOL, err_msg=name)


# -- Keras 1 layers, against the Keras 1 formulas ------------------------------------------------

def _saved(name: str, layer: str) -> dict[str, np.ndarray]:
    with h5py.File(FIXTURES / "keras1" / f"{name}.h5", "r") as f:
        group = f["model_weights"][layer]
        return {n.decode()[len(layer) + 1:]: group[n.decode()][()] for n in group.attrs["weight_names"]}


def _keras1_relu(x: np.ndarray, alpha: np.ndarray | float = 0.0, max_value: np.ndarray | None = None) -> np.ndarray:
    y = np.maximum(x, 0.0)
    if max_value is not None:
        y = np.minimum(y, max_value)
    return y - alpha * np.maximum(-x, 0.0)


def test_keras1_highway_and_maxout_dense() -> None:
    model = kconvert.load(FIXTURES / "keras1" / "highway_maxout.h5")
    x = np.random.default_rng(3).normal(size=(5, 4)).astype("float32")
    h = _saved("highway_maxout", "highway_1")
    gate = 1.0 / (1.0 + np.exp(-(x @ h["W_carry"] + h["b_carry"])))
    highway = model.layer("highway_1").config.activation
    act = {"linear": lambda v: v, "relu": lambda v: np.maximum(v, 0), "tanh": np.tanh}[highway]
    y = act(x @ h["W"] + h["b"]) * gate + (1.0 - gate) * x
    m = _saved("highway_maxout", "maxoutdense_1")
    want = np.max(np.einsum("bi,fio->bfo", y, m["W"]) + m["b"], axis=1)
    np.testing.assert_allclose(kconvert.run(model, x)[0], want, atol=ATOL, rtol=RTOL)


def test_keras1_advanced_activations() -> None:
    model = kconvert.load(FIXTURES / "keras1" / "advanced_activations.h5")
    x = np.random.default_rng(4).normal(0, 2, size=(6, 2, 3)).astype("float32")
    _, acts = kconvert.run(model, x, activations=True)
    config = {layer.name: layer.config for layer in model.layers}
    prelu = _saved("advanced_activations", "prelu_1")
    y = _keras1_relu(x, prelu["alphas"])
    np.testing.assert_allclose(acts["prelu_1"][0], y, atol=ATOL, rtol=RTOL)
    alpha = config["elu_1"].alpha
    y = np.where(y > 0, y, alpha * (np.exp(y) - 1))
    y = _keras1_relu(y, config["leakyrelu_1"].negative_slope)
    y = y * (y > config["thresholdedrelu_1"].theta)
    np.testing.assert_allclose(acts["thresholdedrelu_1"][0], y, atol=ATOL, rtol=RTOL)
    ps = _saved("advanced_activations", "parametricsoftplus_1")
    y = np.log1p(np.exp(ps["betas"] * y)) * ps["alphas"]
    np.testing.assert_allclose(acts["parametricsoftplus_1"][0], y, atol=ATOL, rtol=RTOL)
    s = _saved("advanced_activations", "srelu_1")
    t_right = s["t_left"] + np.abs(s["t_right"])
    y = s["t_left"] + _keras1_relu(y - s["t_left"], s["a_left"], t_right - s["t_left"]) + \
        np.maximum(y - t_right, 0) * s["a_right"]
    np.testing.assert_allclose(acts["srelu_1"][0], y, atol=ATOL, rtol=RTOL)


def test_keras1_functional_merges() -> None:
    model = kconvert.load(FIXTURES / "keras1" / "functional_merges.h5")
    rng = np.random.default_rng(5)
    a, b = (rng.normal(size=(4, 4)).astype("float32") for _ in range(2))
    d1, d2 = (_saved("functional_merges", n) for n in ("dense_1", "dense_2"))
    u, v = a @ d1["W"] + d1["b"], b @ d2["W"] + d2["b"]
    concat, dot, cos = kconvert.run(model, [a, b])
    np.testing.assert_allclose(concat, np.concatenate([u + v, u * v, (u + v) / 2, np.maximum(u, v)], -1),
                               atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(dot[:, 0], np.sum(u * v, -1), atol=ATOL, rtol=RTOL)
    expected_cos = np.sum(u * v, -1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1))
    np.testing.assert_allclose(cos[:, 0], expected_cos, atol=ATOL, rtol=RTOL)


def test_stateful_layers_carry_state_across_batches(tmp_path) -> None:
    """Keras's predict runs a stateful model batch by batch, each batch starting from the states
    the previous batch left; the runtime does the same, and reset_states starts afresh."""
    keras = pytest.importorskip("keras")
    L = keras.layers
    model = keras.Sequential([keras.Input(batch_shape=(2, 5, 3)), L.LSTM(4, stateful=True, return_sequences=True),
                              L.GRU(3, stateful=True)])
    randomize_weights(model, np.random.default_rng(1))
    model.save(tmp_path / "stateful.keras")
    x = np.random.default_rng(2).normal(size=(6, 5, 3)).astype("float32")
    expected = model.predict(x, batch_size=2, verbose=0)
    runtime = Runtime(kconvert.load(tmp_path / "stateful.keras"), device="cpu")
    np.testing.assert_allclose(runtime(x)[0], expected, atol=ATOL, rtol=RTOL)
    again = model.predict(x, batch_size=2, verbose=0)  # Keras goes on from the states it holds
    assert not np.allclose(again, expected, atol=1e-3)
    np.testing.assert_allclose(runtime(x)[0], again, atol=ATOL, rtol=RTOL)
    for layer in model.layers:
        layer.reset_state()
    runtime.reset_states()
    np.testing.assert_allclose(runtime(x)[0], model.predict(x, batch_size=2, verbose=0), atol=ATOL, rtol=RTOL)
    with pytest.raises(kconvert.InputReadError, match="fixed batch size"):
        runtime(x[:3])


#: Keras 1 fixtures whose outputs the tests above check against the Keras 1 formulas
KERAS1_CHECKED = ("highway_maxout", "advanced_activations", "functional_merges")
#: kinds no Keras can build, checked by a test of their own here
KERNELS_CHECKED_ON_THEIR_OWN = {"PeepholeLSTM",  # test_peephole_lstm_matches_tensorflows_block_lstm
                                # against Keras 3 and tf_keras in test_attention.py
                                "MultiHeadAttention", "EinsumDense",
                                # against Keras 3 and tf_keras in test_applications.py and test_modern_layers.py
                                "Normalization", "Identity", "LayerScale", "StochasticDepth", "CustomScaleLayer",
                                "GroupNormalization", "UnitNormalization", "Resizing", "CenterCrop",
                                # functional operations: tests/test_ops.py, against Keras 3 and tf_keras
                                "BinaryOp", "UnaryOp", "Reduce", "ExpandDims", "Squeeze", "GetItem", "Cumsum",
                                # against Keras 3 and tf_keras in test_preprocessing_layers.py
                                "Augmentation", "CategoryEncoding", "Discretization", "IntegerLookup", "Hashing"}


def test_every_kernel_is_checked_against_a_reference() -> None:
    """A kernel that no numerically checked model uses could be wrong unnoticed: add the layer to
    the generated zoo (tests/fixtures/make_fixtures.py) or to a Keras 1 formula test."""
    from kconvert.runtime.registry import KERNELS

    checked = {layer.kind for flavour, name, form in FORMS
               for layer in kconvert.load(GENERATED / flavour / f"{name}.{form}").iter_layers(recursive=True)}
    for name in KERAS1_CHECKED:
        checked |= {layer.kind for layer in kconvert.load(FIXTURES / "keras1" / f"{name}.h5").iter_layers()}
    checked |= KERNELS_CHECKED_ON_THEIR_OWN
    assert set(KERNELS) - checked == set()


def test_peephole_lstm_matches_tensorflows_block_lstm() -> None:
    """PeepholeLSTM (Deeplearning4j's GravesLSTM) against TensorFlow's own fused peephole LSTM op,
    BlockLSTM: gate blocks i, c, f, o over [x, h]; peepholes wci, wcf (previous cell), wco (new cell)."""
    import tensorflow as tf

    from kconvert.ir.layers.recurrent import LSTM, PeepholeLSTM
    from tests import helpers as ir

    rng = np.random.default_rng(5)
    n_in, units, steps = 3, 4, 6
    kernel, recurrent = rng.normal(0, 0.5, (n_in, 4 * units)), rng.normal(0, 0.5, (units, 4 * units))
    bias, peepholes = rng.normal(0, 0.5, 4 * units), rng.normal(0, 0.5, (3, units))
    x = rng.normal(0, 1, (2, steps, n_in)).astype(np.float32)
    weights = {"kernel": kernel, "recurrent_kernel": recurrent, "bias": bias, "peephole_kernel": peepholes}

    def run(config: LSTM) -> np.ndarray:
        arrays = {k: v.astype(np.float32) for k, v in weights.items() if k in config.weight_shapes([x.shape])}
        model = ir.model([ir.input_layer("x", (None, steps, n_in)), ir.layer("lstm", config, ["x"], weights=arrays)],
                         ["x"], ["lstm"])
        return kconvert.run(model, [x], device="cpu")[0]
    got = run(PeepholeLSTM(units=units, return_sequences=True))

    def tf_gates(a: np.ndarray) -> np.ndarray:  # Keras i, f, c, o -> BlockLSTM i, c, f, o
        i, f, c, o = np.split(a, 4, axis=-1)
        return np.concatenate([i, c, f, o], axis=-1).astype(np.float32)
    zeros = np.zeros((2, units), np.float32)
    outputs = tf.raw_ops.BlockLSTM(
        seq_len_max=np.int64(steps), x=x.transpose(1, 0, 2), cs_prev=zeros, h_prev=zeros,
        w=tf_gates(np.concatenate([kernel, recurrent])), wci=peepholes[0].astype(np.float32),
        wcf=peepholes[1].astype(np.float32), wco=peepholes[2].astype(np.float32), b=tf_gates(bias),
        forget_bias=0.0, cell_clip=-1.0, use_peephole=True)
    want = outputs.h.numpy().transpose(1, 0, 2)
    np.testing.assert_allclose(got, want, atol=ATOL, rtol=RTOL)
    assert np.abs(run(LSTM(units=units, return_sequences=True)) - want).max() > 1e-2  # the peepholes matter


# -- folding normalisation into convolutions ------------------------------------------------------

def test_batchnorm_folds_into_the_convolution_before_it(tmp_path) -> None:
    """The forward pass folds a BatchNormalization into a linear convolution whose output only it
    reads (kconvert.runtime.folding); the results stay Keras's, in float32 and float64, and the
    per-layer activations still show each layer's own output."""
    keras = pytest.importorskip("keras")
    from kconvert.runtime.folding import batchnorm_folds

    L = keras.layers
    x_in = keras.Input((12, 12, 3))
    a = L.BatchNormalization(name="bn_conv")(L.Conv2D(4, 3, name="conv")(x_in))  # with a bias
    b = L.BatchNormalization(name="bn_dw", center=False)(
        L.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False, padding="same", name="dw")(x_in))
    shared = L.Conv2D(6, 1, name="shared")(x_in)  # read twice: not folded
    c = L.BatchNormalization(name="bn_shared")(shared)
    d = L.BatchNormalization(name="bn_relu", scale=False)(L.Conv2D(6, 1, activation="relu", name="relu")(x_in))
    e = L.BatchNormalization(axis=1, name="bn_rows")(L.Conv2D(6, 1, name="rows")(x_in))  # not the channels
    out = L.Concatenate()([L.Flatten()(t) for t in (a, b, c, L.Add()([shared, d]), e)])
    model = keras.Model(x_in, out)
    randomize_weights(model, np.random.default_rng(3))
    model.save(tmp_path / "folds.keras")
    ir = kconvert.load(tmp_path / "folds.keras")
    assert sorted(key for key, _ in batchnorm_folds(ir)) == ["bn_conv", "bn_dw"]
    x = np.random.default_rng(4).normal(0, 1, (2, 12, 12, 3)).astype("float32")
    want = model.predict(x, verbose=0)
    np.testing.assert_allclose(Runtime(ir, device="cpu")(x)[0], want, atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(Runtime(ir, device="cpu", dtype="float64")(x)[0], want, atol=ATOL, rtol=RTOL)
    acts = Runtime(ir, device="cpu").activations(x)  # "dw" is reported: here it runs on its own
    want_dw = keras.Model(x_in, model.get_layer("dw").output).predict(x, verbose=0)
    np.testing.assert_allclose(acts["dw"][0], want_dw, atol=ATOL, rtol=RTOL)
