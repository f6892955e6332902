"""Keras 2 HDF5 layouts no shared real-world file happens to exercise: attributes split into
chunks, and the CuDNN recurrent layers' weight layout."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

import kconvert
from tests.conftest import GENERATED

HDF5_OBJECT_HEADER_LIMIT = 64512  # Keras splits larger attributes into name0, name1, ...


def _chunk(obj: h5py.HLObject, name: str, chunks: int) -> None:
    """Rewrite a list attribute the way Keras's save_attributes_to_hdf5_group splits it."""
    values = [v.encode() if isinstance(v, str) else v for v in obj.attrs[name]]  # Keras wrote bytes
    del obj.attrs[name]
    for i, part in enumerate(np.array_split(np.array(values), chunks)):
        obj.attrs[f"{name}{i}"] = part


@pytest.mark.parametrize("source", ["tfkeras/functional.h5", "tfkeras/rnn_weights.h5"])
def test_chunked_name_attributes(tmp_path: Path, source: str) -> None:
    original = GENERATED / source
    chunked = tmp_path / original.name
    shutil.copy(original, chunked)
    with h5py.File(chunked, "r+") as f:
        root = f.get("model_weights", f)
        _chunk(root, "layer_names", 3)
        for name in root.attrs["layer_names0"][:2]:
            group = root[name.decode() if isinstance(name, bytes) else name]
            if len(group.attrs["weight_names"]) > 1:
                _chunk(group, "weight_names", 2)
    if source.endswith("_weights.h5"):
        config = str(original).replace("_weights.h5", ".json")
        want, got = kconvert.load(config, weights=original), kconvert.load(config, weights=chunked)
    else:
        want, got = kconvert.load(original), kconvert.load(chunked)
    pairs = list(zip(want.iter_weights(), got.iter_weights(), strict=True))
    assert pairs
    for (name_a, a), (name_b, b) in pairs:
        assert name_a == name_b and np.array_equal(a.numpy(), b.numpy())


# -- CuDNN layers ---------------------------------------------------------------------------------

def _cudnn_file(tmp_path: Path, class_name: str, units: int, n_in: int, arrays: list[np.ndarray]) -> Path:
    """A Keras 2.2-style model.save file holding one CuDNN layer."""
    layer = {"class_name": class_name, "config": {
        "name": "rnn", "trainable": True, "batch_input_shape": [None, 5, n_in], "dtype": "float32", "units": units,
        "kernel_initializer": {"class_name": "VarianceScaling", "config": {"scale": 1.0, "mode": "fan_avg",
                                                                              "distribution": "uniform", "seed": None}},
        "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "recurrent_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
        "kernel_constraint": None, "recurrent_constraint": None, "bias_constraint": None,
        "return_sequences": True, "return_state": False, "stateful": False, "go_backwards": False,
        **({"unit_forget_bias": True} if class_name == "CuDNNLSTM" else {})}}
    path = tmp_path / f"{class_name}.h5"
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = "2.2.4"
        f.attrs["backend"] = "tensorflow"
        f.attrs["model_config"] = json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": [layer]}})
        group = f.create_group("model_weights")
        group.attrs["layer_names"] = [b"rnn"]
        rnn = group.create_group("rnn")
        names = [f"rnn/{n}:0" for n in ("kernel", "recurrent_kernel", "bias")]
        rnn.attrs["weight_names"] = [n.encode() for n in names]
        for name, array in zip(names, arrays):
            rnn.create_dataset(name, data=array)
    return path


def _to_cudnn(kernel: np.ndarray, recurrent: np.ndarray, gates: int) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of the conversion Keras applied when it read CuDNN weights into LSTM/GRU: cuDNN
    took each gate's matrix as a flat (units, in) array, and recurrent matrices transposed."""
    n_in, units = kernel.shape[0], kernel.shape[1] // gates
    k = np.concatenate([g.T.reshape(n_in, units) for g in np.split(kernel, gates, axis=1)], axis=1)
    r = np.concatenate([g.T for g in np.split(recurrent, gates, axis=1)], axis=1)
    return k, r


def test_cudnn_lstm_reads_as_lstm(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n_in, units = 3, 4
    kernel, recurrent = rng.normal(size=(n_in, 4 * units)), rng.normal(size=(units, 4 * units))
    bias = rng.normal(size=4 * units)
    k, r = _to_cudnn(kernel, recurrent, 4)
    split = rng.normal(size=4 * units)  # any split of the bias between input and recurrent halves
    path = _cudnn_file(tmp_path, "CuDNNLSTM", units, n_in, [k, r, np.concatenate([bias - split, split])])
    model = kconvert.load(path)
    layer = model.layer("rnn")
    assert layer.kind == "LSTM" and layer.source_class == "CuDNNLSTM"
    assert (layer.config.activation, layer.config.recurrent_activation) == ("tanh", "sigmoid")
    np.testing.assert_allclose(layer.weights["kernel"].numpy(), kernel)
    np.testing.assert_allclose(layer.weights["recurrent_kernel"].numpy(), recurrent)
    np.testing.assert_allclose(layer.weights["bias"].numpy(), bias)
    assert model.report.by_category("rewritten")


def test_cudnn_gru_reads_as_gru_with_reset_after(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n_in, units = 2, 3
    kernel, recurrent = rng.normal(size=(n_in, 3 * units)), rng.normal(size=(units, 3 * units))
    bias = rng.normal(size=(2, 3 * units))  # input biases, recurrent biases
    k, r = _to_cudnn(kernel, recurrent, 3)
    path = _cudnn_file(tmp_path, "CuDNNGRU", units, n_in, [k, r, bias.reshape(-1)])
    layer = kconvert.load(path).layer("rnn")
    assert layer.kind == "GRU" and layer.config.reset_after and layer.config.recurrent_activation == "sigmoid"
    np.testing.assert_allclose(layer.weights["kernel"].numpy(), kernel)
    np.testing.assert_allclose(layer.weights["recurrent_kernel"].numpy(), recurrent)
    np.testing.assert_allclose(layer.weights["bias"].numpy(), bias)


def test_cudnn_lstm_computes_what_keras_lstm_computes(tmp_path: Path) -> None:
    """End to end: the converted CuDNNLSTM runs like Keras's LSTM on the original weights."""
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(2)
    n_in, units = 3, 4
    lstm = keras.Sequential([keras.Input((5, n_in)), keras.layers.LSTM(units, return_sequences=True)])
    kernel, recurrent, bias = (rng.normal(0, 0.5, w.shape).astype("float32") for w in lstm.get_weights())
    lstm.set_weights([kernel, recurrent, bias])
    k, r = _to_cudnn(kernel, recurrent, 4)
    path = _cudnn_file(tmp_path, "CuDNNLSTM", units, n_in, [k, r, np.concatenate([bias, np.zeros_like(bias)])])
    x = rng.normal(size=(2, 5, n_in)).astype("float32")
    np.testing.assert_allclose(kconvert.run(kconvert.load(path), x)[0], lstm.predict(x, verbose=0), atol=1e-5)
