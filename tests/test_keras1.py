"""The Keras 1 reader, proven on files rebuilt by hand from Keras 1.2.2's source.

The fixtures in ``tests/fixtures/keras1`` (written by ``make_keras1_fixtures.py``) carry every
config key and weight layout Keras 1.2.2 wrote.  Each expectation below is derived from Keras 1's
own code -- which array ``build()`` created under which name, how ``call()`` used it -- and states
the canonical Keras 2 TensorFlow layout it must become, computed here from the raw datasets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import kconvert
from kconvert import (
    IncompatibleKerasConfigurationException,
    KConvertError,
    UnsupportedKerasConfigurationException,
    UnsupportedKerasConfigurationWarning,
)
from kconvert.ir import Constraint, Initializer, Model, Regularizer, WeightSettings
from kconvert.ir.layers.core import Rescaling
from tests.conftest import FIXTURES

KERAS1 = FIXTURES / "keras1"
#: fixtures kconvert must refuse, with the layer and the config key it must name
REFUSED = {
    "batchnorm_mode2": ("batchnormalization_1", "mode"),
    "merge_lambda": ("merge_1", "mode"),
    "lambda_layer": ("lambda_1", "function"),
}
ALL = sorted(p.stem for p in KERAS1.glob("*.h5"))
READABLE = [name for name in ALL if name not in REFUSED]
#: readable with their weights too (prelu_shared_axes: its config loads, its weights do not fit)
BOUND = [name for name in READABLE if name != "prelu_shared_axes"]


# -- helpers ---------------------------------------------------------------------------------------

def path(name: str, ext: str = "h5") -> Path:
    return KERAS1 / f"{name}.{ext}"


def load(name: str, ext: str = "h5", **options: Any) -> Model:
    model = kconvert.load(path(name, ext), **options)
    model.validate()
    return model


def saved(name: str, layer: str) -> dict[str, np.ndarray]:
    """The datasets Keras 1 wrote for ``layer``, in file order, keyed by weight name without the
    layer prefix and TensorFlow's ``:0`` suffix (``dense_1_W:0`` -> ``W``)."""
    with h5py.File(path(name), "r") as f:
        group = f["model_weights"][layer]
        out = {}
        for raw in group.attrs["weight_names"]:
            key = raw.decode()
            short = key.removeprefix(f"{layer}_").removesuffix(":0")
            out[short] = group[key][()]
        return out


def weights(model: Model, layer: str, sub: str | None = None) -> dict[str, np.ndarray]:
    """The canonical weights kconvert bound to ``layer`` (or to its wrapped ``sub`` layer)."""
    owner = model.layer(layer)
    if sub is not None:
        owner = next(s for s in owner.sublayers() if s.name == sub)
    return {name: w.numpy() for name, w in owner.weights.items()}


def assert_weights(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    """Same canonical names (in canonical order), shapes and values, bit for bit."""
    assert list(actual) == list(expected)
    for name, value in expected.items():
        assert actual[name].shape == value.shape, name
        np.testing.assert_array_equal(actual[name], value, err_msg=name)


def flip(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """A Theano (true convolution) kernel as the TensorFlow correlation kernel computing the same."""
    return np.flip(a, axes)


def attrs(model: Model, layer: str) -> dict[str, Any]:
    return model.layer(layer).config.attributes()


def shape(model: Model, layer: str) -> tuple:
    return model.shapes()[(layer, 0)][0]


def notes(model: Model, category: str, layer: str | None = None) -> list[str]:
    return [n.message for n in model.report.by_category(category) if layer is None or n.layer == layer]


def assert_names(exc: KConvertError, name: str, ext: str, layer: str, key: str) -> None:
    """The error says where to look: the file, the layer and the config key, in fields and message."""
    assert (exc.file, exc.layer, exc.key) == (str(path(name, ext)), layer, key)
    message = str(exc)
    assert str(path(name, ext)) in message and f"layer '{layer}'" in message and f"key '{key}'" in message


# -- every fixture ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_fixture_is_a_keras_1_save(name: str) -> None:
    """The HDF5 file has Keras 1's ``model.save`` layout, and its config is ``to_json``'s."""
    with h5py.File(path(name), "r") as f:
        assert "backend" not in f.attrs
        version = f.attrs["keras_version"].decode()
        config = json.loads(f.attrs["model_config"])
        layer_names = [n.decode() for n in f["model_weights"].attrs["layer_names"]]
        assert sorted(layer_names) == sorted(f["model_weights"])
        for layer in layer_names:
            group = f["model_weights"][layer]
            assert sorted(n.decode() for n in group.attrs["weight_names"]) == sorted(group)
    assert version.startswith("1.")
    text = json.loads(path(name, "json").read_text())
    assert text.pop("keras_version") == version
    assert text == config


@pytest.mark.parametrize("name, ext", [(n, "json") for n in READABLE] + [(n, "h5") for n in BOUND])
def test_loads_and_validates(name: str, ext: str) -> None:
    model = load(name, ext)
    assert model.provenance.keras_version.startswith("1.")
    assert model.provenance.backend_assumed  # Keras 1 never recorded it
    assert model.has_weights == (ext == "h5" and any(saved_weights(name).values()))


def saved_weights(name: str) -> dict[str, int]:
    with h5py.File(path(name), "r") as f:
        return {layer: sum(group[w].size for w in group) for layer, group in f["model_weights"].items()}


@pytest.mark.parametrize("name", BOUND)
def test_json_and_h5_describe_the_same_model(name: str) -> None:
    from_json, from_h5 = load(name, "json"), load(name)
    assert [(lay.name, lay.kind, lay.config.attributes() if not lay.sublayers() else None)
            for lay in from_json.layers] == \
           [(lay.name, lay.kind, lay.config.attributes() if not lay.sublayers() else None)
            for lay in from_h5.layers]
    assert from_json.output_shapes == from_h5.output_shapes


@pytest.mark.parametrize("name", BOUND)
def test_every_saved_value_is_bound_once(name: str) -> None:
    """Layouts are permuted, never dropped or duplicated: each layer's canonical weights hold
    exactly the values its group in the file holds."""
    model = load(name)
    per_layer = saved_weights(name)
    for layer in model.layers:
        arrays = [w.numpy() for _, w in layer.iter_weights()]
        assert sum(a.size for a in arrays) == per_layer.get(layer.name, 0), layer.name
        assert all(a.dtype == np.float32 for a in arrays)
        if arrays:
            with h5py.File(path(name), "r") as f:
                group = f["model_weights"][layer.name]
                in_file = np.sort(np.concatenate([group[w][()].ravel() for w in group]))
            np.testing.assert_array_equal(np.sort(np.concatenate([a.ravel() for a in arrays])), in_file)


# -- core layers -----------------------------------------------------------------------------------

def test_dense_weights_regularizers_and_constraints() -> None:
    model = load("dense")
    assert [lay.kind for lay in model.layers] == ["InputLayer", "Dense", "Dense"]
    assert model.input_shapes == [(None, 3)]
    assert attrs(model, "dense_1") == {"units": 4, "activation": "relu", "use_bias": True}
    assert attrs(model, "dense_2") == {"units": 2, "activation": "softmax", "use_bias": False}
    w1, w2 = saved("dense", "dense_1"), saved("dense", "dense_2")
    assert_weights(weights(model, "dense_1"), {"kernel": w1["W"], "bias": w1["b"]})
    assert_weights(weights(model, "dense_2"), {"kernel": w2["W"]})
    kernel = model.layer("dense_1").weight_settings["kernel"]
    assert kernel.initializer == Initializer("GlorotUniform")
    assert kernel.regularizer is not None and kernel.regularizer.name == "L1L2"
    assert kernel.regularizer.config == {"l1": 0.0, "l2": pytest.approx(0.01)}
    assert kernel.constraint == Constraint("MaxNorm", {"max_value": 2, "axis": 0})


def test_training_config_with_keras_1_optimizer() -> None:
    """``lr`` is read as ``learning_rate``, saved through float32 (0.009999999776482582) and tidied;
    the optimizer's saved slots (``optimizer_weights``) are no layer's weights."""
    training = load("dense").training
    assert training is not None and training.optimizer is not None
    assert training.optimizer.name == "SGD"
    assert training.optimizer.config == {"learning_rate": 0.01, "momentum": 0.0, "decay": 0.0, "nesterov": False}
    assert {name: loss.name for name, loss in training.losses.items()} == {"dense_2": "categorical_crossentropy"}
    assert training.metrics == {"": ["accuracy"]}
    assert load("dense", "json").training is None  # to_json carries no training config


def test_highway_and_maxout_dense() -> None:
    """1.2 Highway: ``y = t * act(x W + b) + (1 - t) * x`` with ``t = sigmoid(x W_carry + b_carry)``,
    weights saved W, W_carry, b, b_carry; MaxoutDense: W (nb_feature, in, out), b (nb_feature, out)."""
    model = load("highway_maxout")
    assert attrs(model, "highway_1") == {"activation": "tanh", "use_bias": True}
    h = saved("highway_maxout", "highway_1")
    assert_weights(weights(model, "highway_1"),
                   {"kernel": h["W"], "carry_kernel": h["W_carry"], "bias": h["b"], "carry_bias": h["b_carry"]})
    # Keras 1.2 initialised b_carry with ones (transform_bias was deprecated)
    assert model.layer("highway_1").weight_settings["carry_bias"] == WeightSettings(Initializer("Ones"))
    assert attrs(model, "maxoutdense_1") == {"units": 3, "nb_feature": 2, "use_bias": True}
    m = saved("highway_maxout", "maxoutdense_1")
    assert_weights(weights(model, "maxoutdense_1"), {"kernel": m["W"], "bias": m["b"]})
    assert model.output_shapes == [(None, 3)]


def test_highway_keras_1_1_weight_order() -> None:
    """Keras <= 1.1 saved ``[W, b, W_carry, b_carry]``, started b_carry at ``transform_bias`` and
    named its regularizer ``WeightRegularizer``."""
    model = load("highway_k11")
    h = saved("highway_k11", "highway_1")
    assert list(h) == ["W", "b", "W_carry", "b_carry"]
    assert_weights(weights(model, "highway_1"),
                   {"kernel": h["W"], "carry_kernel": h["W_carry"], "bias": h["b"], "carry_bias": h["b_carry"]})
    settings = model.layer("highway_1").weight_settings
    assert settings["carry_bias"].initializer == Initializer("Constant", {"value": -2.0})
    assert settings["kernel"].regularizer == Regularizer.l1l2(0.0, float(np.float32(0.01)))


def test_core_layers_without_weights() -> None:
    model = load("core_layers")
    kinds = {lay.name: lay.kind for lay in model.layers}
    assert kinds == {"masking_1_input": "InputLayer", "masking_1": "Masking", "permute_1": "Permute",
                     "reshape_1": "Reshape", "flatten_1": "Flatten", "repeatvector_1": "RepeatVector",
                     "dropout_1": "Dropout", "gaussiannoise_1": "GaussianNoise",
                     "gaussiandropout_1": "GaussianDropout", "activityregularization_1": "ActivityRegularization",
                     "activation_1": "Activation"}
    assert attrs(model, "masking_1") == {"mask_value": 0.0}
    assert attrs(model, "permute_1") == {"dims": (2, 1)}
    assert attrs(model, "reshape_1") == {"target_shape": (2, -1)}
    assert attrs(model, "repeatvector_1") == {"n": 2}
    assert attrs(model, "dropout_1")["rate"] == 0.5  # Keras 1 "p"
    assert attrs(model, "gaussiannoise_1")["stddev"] == 0.1  # Keras 1 "sigma"
    assert attrs(model, "gaussiandropout_1")["rate"] == 0.2
    assert attrs(model, "activityregularization_1") == {"l1": 0.01, "l2": 0.0}
    assert attrs(model, "activation_1") == {"activation": "tanh"}
    expected = {"masking_1": (None, 3, 4), "permute_1": (None, 4, 3), "reshape_1": (None, 2, 6),
                "flatten_1": (None, 12), "repeatvector_1": (None, 2, 12), "activation_1": (None, 2, 12)}
    assert {name: shape(model, name) for name in expected} == expected
    assert all(model.layer(n).config.training_only for n in
               ("dropout_1", "gaussiannoise_1", "gaussiandropout_1", "activityregularization_1"))


def test_embedding() -> None:
    """Embedding always declared an int32 input of ``input_length`` ids."""
    model = load("embedding_dropout")
    assert model.input_shapes == [(None, 4)]
    assert model.input_layers[0].config.dtype == "int32"
    assert attrs(model, "embedding_1") == {"input_dim": 10, "output_dim": 3, "mask_zero": True}
    assert_weights(weights(model, "embedding_1"), {"embeddings": saved("embedding_dropout", "embedding_1")["W"]})
    settings = model.layer("embedding_1").weight_settings["embeddings"]
    assert settings.initializer == Initializer("RandomUniform", {"minval": -0.05, "maxval": 0.05})
    assert settings.constraint == Constraint("MaxNorm", {"max_value": 3, "axis": 1})


@pytest.mark.parametrize("ext", ["h5", "json"])
def test_embedding_dropout_is_an_unsupported_training_setting(ext: str) -> None:
    with pytest.warns(UnsupportedKerasConfigurationWarning, match="dropout"):
        model = load("embedding_dropout", ext)
    [note] = model.report.by_category("unsupported")
    assert (note.severity, note.layer, note.key) == ("warning", "embedding_1", "dropout")
    with pytest.raises(UnsupportedKerasConfigurationException) as info:
        load("embedding_dropout", ext, enforce_training_config=True)
    assert_names(info.value, "embedding_dropout", ext, "embedding_1", "dropout")


def test_time_distributed_dense_and_time_distributed() -> None:
    model = load("time_distributed")
    tdd = model.layer("timedistributeddense_1")
    assert tdd.kind == "TimeDistributed" and notes(model, "rewritten", "timedistributeddense_1")
    [inner] = tdd.sublayers()
    assert (inner.kind, inner.config.attributes()) == ("Dense", {"units": 5, "activation": "linear", "use_bias": True})
    t = saved("time_distributed", "timedistributeddense_1")
    assert_weights(weights(model, "timedistributeddense_1", inner.name), {"kernel": t["W"], "bias": t["b"]})
    wrapper = model.layer("timedistributed_1")
    assert [s.name for s in wrapper.sublayers()] == ["dense_1"]
    d = saved("time_distributed", "timedistributed_1")  # the wrapper's group holds dense_1_W, dense_1_b
    assert_weights(weights(model, "timedistributed_1", "dense_1"),
                   {"kernel": d["dense_1_W"], "bias": d["dense_1_b"]})
    assert model.input_shapes == [(None, 4, 3)] and model.output_shapes == [(None, 4, 2)]


def test_branching_sequential_merge() -> None:
    """``Sequential([Merge([seq_a, seq_b], mode='concat'), Dense])`` is a two-input graph."""
    model = load("branching_merge")
    assert model.structure == "functional"
    assert [str(r) for r in model.inputs] == ["dense_1_input", "dense_2_input"]
    assert model.input_shapes == [(None, 4), (None, 5)]
    merge = model.layer("merge_1")
    assert merge.kind == "Concatenate" and attrs(model, "merge_1") == {"axis": -1}
    assert [str(r) for r in merge.calls[0].inputs] == ["dense_1", "dense_2"]
    assert notes(model, "rewritten", "merge_1")
    for layer in ("dense_1", "dense_2", "dense_3"):
        w = saved("branching_merge", layer)
        assert_weights(weights(model, layer), {"kernel": w["W"], "bias": w["b"]})
    assert model.output_shapes == [(None, 2)]


def test_functional_merge_modes() -> None:
    model = load("functional_merges")
    kinds = {f"merge_{i}": model.layer(f"merge_{i}").kind for i in range(1, 8)}
    assert kinds == {"merge_1": "Add", "merge_2": "Multiply", "merge_3": "Average", "merge_4": "Maximum",
                     "merge_5": "Concatenate", "merge_6": "Dot", "merge_7": "Dot"}
    assert attrs(model, "merge_6") == {"axes": (1, 1), "normalize": False}
    assert attrs(model, "merge_7") == {"axes": (1, 1), "normalize": True}  # mode 'cos'
    assert notes(model, "approximated", "merge_7")
    assert [str(r) for r in model.layer("merge_5").calls[0].inputs] == ["merge_1", "merge_2", "merge_3", "merge_4"]
    assert model.output_shapes == [(None, 12), (None, 1), (None, 1)]


# -- Lambda code is never run ------------------------------------------------------------------------

@pytest.mark.parametrize("ext", ["h5", "json"])
@pytest.mark.parametrize("name", sorted(REFUSED))
def test_refused_with_file_layer_and_key(name: str, ext: str) -> None:
    layer, key = REFUSED[name]
    with pytest.raises(IncompatibleKerasConfigurationException) as info:
        load(name, ext)
    assert_names(info.value, name, ext, layer, key)


def test_batchnorm_mode_2_refusal_says_why() -> None:
    with pytest.raises(IncompatibleKerasConfigurationException, match="mode=2"):
        load("batchnorm_mode2")


def test_lambda_layer_with_replacement() -> None:
    with pytest.raises(IncompatibleKerasConfigurationException, match="register_lambda"):
        load("lambda_layer")
    model = load("lambda_layer", lambdas={"lambda_1": Rescaling(scale=2.0)})
    assert model.layer("lambda_1").config == Rescaling(scale=2.0)
    assert notes(model, "rewritten", "lambda_1")
    w = saved("lambda_layer", "dense_1")
    assert_weights(weights(model, "dense_1"), {"kernel": w["W"], "bias": w["b"]})


def test_merge_lambda_with_registered_replacement() -> None:
    kconvert.register_lambda("merge_1", {"class_name": "Subtract", "config": {}})
    try:
        model = load("merge_lambda")
    finally:
        kconvert.unregister_lambda("merge_1")
    assert model.layer("merge_1").kind == "Subtract"
    assert [str(r) for r in model.layer("merge_1").calls[0].inputs] == ["input_1", "input_2"]
    with pytest.raises(IncompatibleKerasConfigurationException):
        load("merge_lambda")  # unregistered again


# -- recurrent layers --------------------------------------------------------------------------------

def gates(w: dict[str, np.ndarray], order: str, prefix: str = "") -> dict[str, np.ndarray]:
    """Keras 1 per-gate arrays fused in ``order`` along the last axis, as Keras 2 fuses them."""
    return {name: np.concatenate([w[f"{prefix}{kind}_{g}"] for g in order], axis=-1)
            for name, kind in (("kernel", "W"), ("recurrent_kernel", "U"), ("bias", "b"))}


def test_lstm_per_gate() -> None:
    """Saved W_i, U_i, b_i, W_c, ..., W_f, ..., W_o; Keras 2 fuses i, f, c, o."""
    model = load("lstm_per_gate")
    w = saved("lstm_per_gate", "lstm_1")
    assert list(w)[:6] == ["W_i", "U_i", "b_i", "W_c", "U_c", "b_c"] and len(w) == 12
    assert_weights(weights(model, "lstm_1"), gates(w, "ifco"))
    a = attrs(model, "lstm_1")
    assert (a["units"], a["return_sequences"], a["go_backwards"]) == (3, True, False)
    assert (a["activation"], a["recurrent_activation"], a["unit_forget_bias"]) == ("tanh", "hard_sigmoid", True)
    assert (a["dropout"], a["recurrent_dropout"]) == (0.1, 0.2)  # dropout_W, dropout_U
    settings = model.layer("lstm_1").weight_settings
    assert settings["recurrent_kernel"].regularizer == Regularizer.l1l2(0.0, float(np.float32(0.001)))
    assert settings["recurrent_kernel"].initializer == Initializer("Orthogonal", {"gain": 1.1})
    assert model.output_shapes == [(None, 5, 3)]


def test_lstm_consume_less_gpu() -> None:
    """``consume_less='gpu'`` saved one W, U, b already fused i, f, c, o."""
    model = load("lstm_gpu")
    w = saved("lstm_gpu", "lstm_1")
    assert_weights(weights(model, "lstm_1"), {"kernel": w["W"], "recurrent_kernel": w["U"], "bias": w["b"]})
    assert attrs(model, "lstm_1")["go_backwards"] is True


def test_gru_per_gate() -> None:
    model = load("gru_per_gate")
    w = saved("gru_per_gate", "gru_1")
    assert len(w) == 9
    assert_weights(weights(model, "gru_1"), gates(w, "zrh"))
    a = attrs(model, "gru_1")
    assert (a["units"], a["reset_after"], a["recurrent_activation"]) == (3, False, "hard_sigmoid")
    assert model.input_shapes == [(None, None, 2)]


def test_gru_consume_less_gpu() -> None:
    model = load("gru_gpu")
    w = saved("gru_gpu", "gru_1")
    assert_weights(weights(model, "gru_1"), {"kernel": w["W"], "recurrent_kernel": w["U"], "bias": w["b"]})
    assert model.output_shapes == [(None, None, 3)]


def test_simple_rnn() -> None:
    model = load("simple_rnn")
    w = saved("simple_rnn", "simplernn_1")
    assert_weights(weights(model, "simplernn_1"), {"kernel": w["W"], "recurrent_kernel": w["U"], "bias": w["b"]})
    assert attrs(model, "simplernn_1")["activation"] == "relu"
    assert model.input_shapes == [(None, 6, 3)] and model.output_shapes == [(None, 4)]


def test_bidirectional_lstm() -> None:
    """The wrapper's group holds forward_lstm_1_* then backward_lstm_1_*, 12 per-gate arrays each."""
    model = load("bidirectional")
    layer = model.layer("bidirectional_1")
    assert attrs(model, "bidirectional_1")["merge_mode"] == "concat"
    forward, backward = layer.sublayers()
    assert (forward.name, forward.config.go_backwards) == ("forward_lstm_1", False)
    assert (backward.name, backward.config.go_backwards) == ("backward_lstm_1", True)
    w = saved("bidirectional", "bidirectional_1")
    assert_weights(weights(model, "bidirectional_1", "forward_lstm_1"), gates(w, "ifco", "forward_lstm_1_"))
    assert_weights(weights(model, "bidirectional_1", "backward_lstm_1"), gates(w, "ifco", "backward_lstm_1_"))
    assert model.output_shapes == [(None, 5, 4)]


# -- convolutions --------------------------------------------------------------------------------------

def test_conv1d_and_atrous_conv1d() -> None:
    """Keras 1.2 Conv1D kernels are 2-D 'tf' kernels (length, 1, in, filters) over a dummy axis."""
    model = load("conv1d")
    a = attrs(model, "convolution1d_1")
    assert (a["filters"], a["kernel_size"], a["strides"], a["padding"], a["dilation_rate"]) == \
        (4, (3,), (1,), "same", (1,))
    assert attrs(model, "atrousconvolution1d_1")["dilation_rate"] == (2,)
    for layer in ("convolution1d_1", "atrousconvolution1d_1"):
        w = saved("conv1d", layer)
        assert w["W"].shape[1] == 1
        assert_weights(weights(model, layer), {"kernel": w["W"][:, 0, :, :], "bias": w["b"]})
    assert shape(model, "atrousconvolution1d_1") == (None, 8, 3)
    assert not notes(model, "assumed")  # no 'th' layer: TensorFlow, kernels kept as they are


def test_conv2d_th_from_theano_is_transposed_and_flipped() -> None:
    """'th' kernels are (filters, in, rows, cols): canonical is ``W.transpose(2, 3, 1, 0)``; with no
    backend recorded, 'th' means Theano, whose true convolution needs the kernel flipped."""
    model = load("conv2d_th")
    assert any("Theano assumed" in m for m in notes(model, "assumed"))
    for layer in ("convolution2d_1", "atrousconvolution2d_1"):
        w = saved("conv2d_th", layer)
        assert_weights(weights(model, layer), {"kernel": flip(w["W"].transpose(2, 3, 1, 0), (0, 1)), "bias": w["b"]})
        assert notes(model, "assumed", layer)  # the flip is reported as an assumption
    a = attrs(model, "convolution2d_1")
    assert (a["filters"], a["kernel_size"], a["data_format"], a["activation"]) == (4, (3, 2), "channels_first", "relu")
    assert attrs(model, "atrousconvolution2d_1")["dilation_rate"] == (2, 2)
    assert model.layer("convolution2d_1").weight_settings["kernel"].regularizer == \
        Regularizer.l1l2(0.0, float(np.float32(0.0005)))


def test_conv2d_th_with_tensorflow_backend_is_not_flipped() -> None:
    model = load("conv2d_th", backend="tensorflow")
    assert not any("Theano" in m for m in notes(model, "assumed"))
    for layer in ("convolution2d_1", "atrousconvolution2d_1"):
        w = saved("conv2d_th", layer)
        assert_weights(weights(model, layer), {"kernel": w["W"].transpose(2, 3, 1, 0), "bias": w["b"]})


def test_conv2d_th_model_layers() -> None:
    """BatchNormalization's running_std holds the variance since Keras 1.1; ZeroPadding2D and
    SpatialDropout2D saved no dim_ordering and follow the model's 'th'; Flatten flattens in the
    tensor's own (channels-first) order, which is the IR's channels_last Flatten (no transpose)."""
    model = load("conv2d_th")
    bn = saved("conv2d_th", "batchnormalization_1")
    assert_weights(weights(model, "batchnormalization_1"), {
        "gamma": bn["gamma"], "beta": bn["beta"], "moving_mean": bn["running_mean"],
        "moving_variance": bn["running_std"]})
    assert attrs(model, "batchnormalization_1")["axis"] == (1,)
    assert attrs(model, "zeropadding2d_1") == {"data_format": "channels_first", "padding": ((1, 0), (2, 1))}
    assert notes(model, "assumed", "zeropadding2d_1")
    assert attrs(model, "spatialdropout2d_1")["data_format"] == "channels_first"
    pool = attrs(model, "maxpooling2d_1")
    assert (pool["pool_size"], pool["strides"], pool["data_format"]) == ((2, 2), (2, 1), "channels_first")
    assert attrs(model, "flatten_1") == {"data_format": "channels_last"}
    expected = {"convolution2d_1": (None, 4, 6, 6), "atrousconvolution2d_1": (None, 2, 4, 4),
                "zeropadding2d_1": (None, 2, 5, 7), "maxpooling2d_1": (None, 2, 2, 6), "flatten_1": (None, 24)}
    assert {name: shape(model, name) for name in expected} == expected
    d = saved("conv2d_th", "dense_1")
    assert_weights(weights(model, "dense_1"), {"kernel": d["W"], "bias": d["b"]})


def test_conv2d_tf_keeps_its_kernel() -> None:
    model = load("conv2d_tf")
    w = saved("conv2d_tf", "convolution2d_1")
    assert_weights(weights(model, "convolution2d_1"), {"kernel": w["W"], "bias": w["b"]})
    a = attrs(model, "convolution2d_1")
    assert (a["kernel_size"], a["strides"], a["padding"], a["data_format"]) == ((3, 3), (2, 1), "same", "channels_last")
    assert not any("Theano" in m for m in notes(model, "assumed"))


def test_conv2d_tf_spatial_layers() -> None:
    """ZeroPadding2D's 4-tuple is (top, bottom, left, right), its 2-tuple (rows, cols) symmetric."""
    model = load("conv2d_tf")
    assert attrs(model, "zeropadding2d_1")["padding"] == ((1, 2), (0, 1))
    assert attrs(model, "zeropadding2d_2")["padding"] == ((1, 1), (1, 1))
    assert attrs(model, "cropping2d_1")["cropping"] == ((1, 0), (2, 1))
    assert attrs(model, "upsampling2d_1")["size"] == (2, 1)
    assert attrs(model, "averagepooling2d_1")["padding"] == "same"
    expected = {"convolution2d_1": (None, 4, 7, 4), "zeropadding2d_1": (None, 7, 8, 4),
                "cropping2d_1": (None, 6, 5, 4), "upsampling2d_1": (None, 12, 5, 4),
                "averagepooling2d_1": (None, 6, 3, 4), "zeropadding2d_2": (None, 8, 5, 4),
                "globalaveragepooling2d_1": (None, 4)}
    assert {name: shape(model, name) for name in expected} == expected


def test_conv2d_tf_with_theano_backend_is_flipped() -> None:
    w = saved("conv2d_tf", "convolution2d_1")
    kernel = load("conv2d_tf", backend="theano").layer("convolution2d_1").weights["kernel"].numpy()
    np.testing.assert_array_equal(kernel, flip(w["W"], (0, 1)))


def test_conv3d_th() -> None:
    model = load("conv3d_th")
    w = saved("conv3d_th", "convolution3d_1")
    assert_weights(weights(model, "convolution3d_1"),
                   {"kernel": flip(w["W"].transpose(2, 3, 4, 1, 0), (0, 1, 2)), "bias": w["b"]})
    assert attrs(model, "convolution3d_1")["kernel_size"] == (2, 3, 2)
    assert attrs(model, "zeropadding3d_1") == {"data_format": "channels_first", "padding": ((1, 1), (0, 0), (1, 1))}
    assert attrs(model, "cropping3d_1")["cropping"] == ((1, 1), (0, 1), (1, 0))
    assert attrs(model, "upsampling3d_1")["size"] == (1, 2, 1)
    expected = {"convolution3d_1": (None, 2, 3, 3, 3), "zeropadding3d_1": (None, 2, 5, 3, 5),
                "cropping3d_1": (None, 2, 3, 2, 4), "upsampling3d_1": (None, 2, 3, 4, 4),
                "maxpooling3d_1": (None, 2, 3, 2, 2), "averagepooling3d_1": (None, 2, 1, 1, 1)}
    assert {name: shape(model, name) for name in expected} == expected


def test_deconv2d_tf() -> None:
    """Deconvolution2D built its W as Convolution2D did (rows, cols, in, filters); TensorFlow's
    conv2d_transpose takes (rows, cols, filters, in)."""
    model = load("deconv2d_tf")
    w = saved("deconv2d_tf", "deconvolution2d_1")
    assert_weights(weights(model, "deconvolution2d_1"), {"kernel": w["W"].transpose(0, 1, 3, 2), "bias": w["b"]})
    a = attrs(model, "deconvolution2d_1")
    assert (a["filters"], a["strides"], a["padding"]) == (3, (2, 2), "valid")
    assert model.output_shapes == [(None, 9, 9, 3)]  # the output_shape Keras 1 was given


def test_deconv2d_th() -> None:
    model = load("deconv2d_th")
    w = saved("deconv2d_th", "deconvolution2d_1")
    assert_weights(weights(model, "deconvolution2d_1"),
                   {"kernel": flip(w["W"].transpose(2, 3, 0, 1), (0, 1)), "bias": w["b"]})
    assert shape(model, "deconvolution2d_1") == (None, 3, 9, 8)  # the output_shape Keras 1 was given
    assert attrs(model, "globalmaxpooling2d_1")["data_format"] == "channels_first"


def test_separable_conv2d_tf() -> None:
    model = load("separable_conv2d_tf")
    w = saved("separable_conv2d_tf", "separableconvolution2d_1")
    assert_weights(weights(model, "separableconvolution2d_1"), {
        "depthwise_kernel": w["depthwise_kernel"], "pointwise_kernel": w["pointwise_kernel"], "bias": w["b"]})
    a = attrs(model, "separableconvolution2d_1")
    assert (a["filters"], a["depth_multiplier"], a["padding"]) == (4, 2, "same")


def test_separable_conv2d_th_trained_with_tensorflow() -> None:
    """Keras 1 ran SeparableConvolution2D on TensorFlow only, and the ``:0`` suffix of the weight
    names says so: the 'th' kernels are transposed but not flipped."""
    model = load("separable_conv2d_th")
    w = saved("separable_conv2d_th", "separableconvolution2d_1")
    assert_weights(weights(model, "separableconvolution2d_1"), {
        "depthwise_kernel": w["depthwise_kernel"].transpose(2, 3, 1, 0),
        "pointwise_kernel": w["pointwise_kernel"].transpose(2, 3, 1, 0), "bias": w["b"]})
    assert not any("Theano" in m for m in notes(model, "assumed"))
    assert not notes(model, "assumed", "separableconvolution2d_1")


def test_locally_connected() -> None:
    """Locally connected layers multiply, they do not convolve: never flipped, and Keras 1's
    layouts are Keras 2's (a 'th' bias is reshaped, not transposed, to channels first in both)."""
    model = load("locally_connected1d")
    w = saved("locally_connected1d", "locallyconnected1d_1")
    assert_weights(weights(model, "locallyconnected1d_1"), {"kernel": w["W"], "bias": w["b"]})
    assert model.output_shapes == [(None, 4, 3)]
    model = load("locally_connected2d_th")
    assert any("Theano assumed" in m for m in notes(model, "assumed"))
    w = saved("locally_connected2d_th", "locallyconnected2d_1")
    assert_weights(weights(model, "locallyconnected2d_1"), {"kernel": w["W"], "bias": w["b"]})
    assert attrs(model, "locallyconnected2d_1")["data_format"] == "channels_first"
    assert model.output_shapes == [(None, 2, 3, 2)]


def test_pooling_and_padding_1d() -> None:
    model = load("pooling1d")
    a = attrs(model, "maxpooling1d_1")
    assert (a["pool_size"], a["strides"], a["padding"]) == ((3,), (1,), "valid")  # pool_length, stride
    a = attrs(model, "averagepooling1d_1")
    assert (a["pool_size"], a["strides"], a["padding"]) == ((2,), (2,), "same")
    assert attrs(model, "upsampling1d_1")["size"] == (3,)  # length
    assert attrs(model, "zeropadding1d_1")["padding"] == ((1, 2),)  # {"left_pad", "right_pad"}
    assert attrs(model, "zeropadding1d_2")["padding"] == ((2, 0),)
    assert attrs(model, "zeropadding1d_3")["padding"] == ((1, 1),)
    assert attrs(model, "cropping1d_1")["cropping"] == ((1, 3),)
    expected = {"maxpooling1d_1": (None, 6, 3), "averagepooling1d_1": (None, 3, 3), "upsampling1d_1": (None, 9, 3),
                "zeropadding1d_1": (None, 12, 3), "zeropadding1d_2": (None, 14, 3),
                "zeropadding1d_3": (None, 16, 3), "cropping1d_1": (None, 12, 3), "globalmaxpooling1d_1": (None, 3)}
    assert {name: shape(model, name) for name in expected} == expected


# -- normalisation and activations -------------------------------------------------------------------

def test_batchnorm_running_std_is_the_variance() -> None:
    model = load("batchnorm")
    w = saved("batchnorm", "batchnormalization_1")
    assert_weights(weights(model, "batchnormalization_1"), {
        "gamma": w["gamma"], "beta": w["beta"], "moving_mean": w["running_mean"], "moving_variance": w["running_std"]})
    a = attrs(model, "batchnormalization_1")
    assert (a["axis"], a["epsilon"], a["momentum"]) == ((-1,), 0.001, 0.99)


def test_advanced_activations() -> None:
    model = load("advanced_activations")
    w = saved("advanced_activations", "prelu_1")
    assert_weights(weights(model, "prelu_1"), {"alpha": w["alphas"]})
    assert attrs(model, "prelu_1") == {"shared_axes": ()}
    assert model.layer("prelu_1").weight_settings["alpha"].initializer == Initializer("Zeros")
    assert attrs(model, "elu_1") == {"alpha": 0.5}
    assert attrs(model, "leakyrelu_1") == {"negative_slope": 0.1}  # Keras 1 "alpha"
    assert attrs(model, "thresholdedrelu_1") == {"theta": 0.7}
    w = saved("advanced_activations", "parametricsoftplus_1")
    assert_weights(weights(model, "parametricsoftplus_1"), {"alpha": w["alphas"], "beta": w["betas"]})
    settings = model.layer("parametricsoftplus_1").weight_settings
    assert (settings["alpha"].initializer, settings["beta"].initializer) == \
        (Initializer("Constant", {"value": 0.3}), Initializer("Constant", {"value": 4.0}))
    w = saved("advanced_activations", "srelu_1")
    assert_weights(weights(model, "srelu_1"), {k: w[k] for k in ("t_left", "a_left", "t_right", "a_right")})
    assert model.layer("srelu_1").weight_settings["a_right"].initializer == Initializer("Ones")
    assert model.output_shapes == [(None, 2, 3)]


def test_prelu_shared_axes_refused() -> None:
    """1.2.2's PReLU.get_config forgot ``shared_axes``: alphas saved shared, (1, 3), do not fit the
    per-unit (2, 3) the config calls for (Keras 1 itself could not reload such a file)."""
    with pytest.raises(IncompatibleKerasConfigurationException, match=r"\(1, 3\).*\(2, 3\)") as info:
        load("prelu_shared_axes")
    assert_names(info.value, "prelu_shared_axes", "h5", "prelu_1", "alpha")
