"""The TF.js writer on IR graphs built by hand: what it refuses, what it rewrites, how it names
layers and weights, and that it writes nothing when it refuses.  (``test_tfjs_node.py`` runs
written models in the real TF.js.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException, UnsupportedKerasConfigurationException
from kconvert.ir import Layer, LayerConfig, Model
from kconvert.ir.graph import Call, TensorRef
from kconvert.ir.layers import activations as act
from kconvert.ir.layers import conv, core, merge, noise, normalization, pooling, recurrent, reshaping, wrappers
from kconvert.ir.layers.model import NestedModel
from kconvert.ir.values import Constraint, Initializer, Regularizer, WeightSettings
from kconvert.schemas import validate
from kconvert.writers.tfjs import write_tfjs
from tests.helpers import input_layer, layer, model, zeros_for

Incompatible = IncompatibleKerasConfigurationException


def chain(*configs: LayerConfig, shape: tuple[int | None, ...] = (None, 8), names: list[str] | None = None) -> Model:
    """Input -> configs..., each layer with zero weights of the right shapes."""
    layers = [input_layer("x", shape)]
    previous, current = "x", shape
    for i, config in enumerate(configs):
        name = names[i] if names else f"l{i}"
        layers.append(layer(name, config, [previous], weights=zeros_for(config, [current])))
        previous, current = name, config.output_shapes([current])[0]
    return model(layers, ["x"], [previous])


def written(m: Model, tmp_path: Path, **options: Any) -> dict[str, Any]:
    out = tmp_path / "out"
    result = write_tfjs(m, out, **options)
    document = json.loads((out / "model.json").read_text())
    validate(document, "tfjs-layers-model")
    document["_notes"] = [str(n) for n in result.report.notes]
    return document


def layer_configs(document: dict[str, Any]) -> list[dict[str, Any]]:
    return document["modelTopology"]["model_config"]["config"]["layers"]


def refused(m: Model, tmp_path: Path, *fragments: str) -> str:
    with pytest.raises(Incompatible) as err:
        write_tfjs(m, tmp_path / "out")
    message = str(err.value)
    assert all(f in message for f in fragments), message
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == [], "a refused model left files behind"
    return message


# -- what TF.js would reject, or load and compute differently -----------------------------------------

def gru(**kw: Any) -> recurrent.GRU:
    return recurrent.GRU(units=3, **kw)


REFUSED = {
    "gru-reset-after": (chain(gru(reset_after=True), shape=(None, 5, 4)), ["reset_after"]),
    "grouped-conv": (chain(conv.Conv2D(filters=4, kernel_size=(3, 3), groups=2), shape=(None, 8, 8, 4)),
                     ["one group per input channel"]),
    "output-padding": (chain(conv.Conv2DTranspose(filters=2, kernel_size=(3, 3), strides=(2, 2),
                                                  output_padding=(1, 1)), shape=(None, 4, 4, 2)), ["output_padding"]),
    "dilated-depthwise": (chain(conv.DepthwiseConv2D(kernel_size=(3, 3), dilation_rate=(2, 2)),
                                shape=(None, 9, 9, 2)), ["dilation_rate"]),
    "bilinear": (chain(reshaping.UpSampling2D(size=(2, 2), interpolation="bilinear"), shape=(None, 4, 4, 1)),
                 ["interpolation"]),
    "bn-two-axes": (chain(normalization.BatchNormalization(axis=(1, 2)), shape=(None, 3, 4, 4)), ["axis"]),
    "relu-negative-threshold": (chain(act.ReLU(threshold=-0.5)), ["threshold"]),
    "relu-cap-below-threshold": (chain(act.ReLU(threshold=0.5, max_value=0.25)), ["threshold"]),
    "softmax-two-axes": (chain(act.Softmax(axis=(1, 2)), shape=(None, 3, 4)), ["one axis"]),
    "exponential": (chain(core.Activation(activation="exponential")), ["exponential"]),
    "layer-norm-rms": (chain(normalization.LayerNormalization(rms_scaling=True)), ["rms_scaling"]),
    "upsampling-1d-unknown-channels": (chain(reshaping.UpSampling1D(size=(2,)), shape=(None, 9, None)),
                                       ["number of channels"]),
    "padding-3d-unknown-width": (chain(reshaping.ZeroPadding3D(padding=((1, 1), (1, 1), (1, 1))),
                                       shape=(None, 2, 2, None, 1)), ["height, width"]),
}

#: what tfjs-layers lacks, rewritten into layers it has: the classes written, and a fragment of the note
REWRITTEN = {
    "causal-conv1d": (chain(conv.Conv1D(filters=2, kernel_size=(3,), padding="causal"), shape=(None, 9, 3)),
                      ["Reshape", "ZeroPadding2D", "Reshape", "Conv1D"], "causal Conv1D written as 2 zero step"),
    "causal-conv1d-any-length": (chain(conv.Conv1D(filters=2, kernel_size=(3,), padding="causal"),
                                       shape=(None, None, 3)),
                                 ["Reshape", "ZeroPadding2D", "Reshape", "Conv1D"], "left padding"),
    "channels-first-conv1d": (chain(conv.Conv1D(filters=2, kernel_size=(3,), data_format="channels_first"),
                                    shape=(None, 3, 9)), ["Permute", "Conv1D", "Permute"], "between Permute"),
    "keepdims": (chain(pooling.GlobalAveragePooling2D(keepdims=True), shape=(None, 4, 4, 2)),
                 ["GlobalAveragePooling2D", "Reshape"], "with keepdims written as"),
    "bn-axis-1": (chain(normalization.BatchNormalization(axis=(1,)), shape=(None, 3, 4, 4)),
                  ["Permute", "BatchNormalization", "Permute"], "over axis 1"),
    "bn-rank-5": (chain(normalization.BatchNormalization(), shape=(None, 2, 3, 4, 4)),
                  ["Reshape", "BatchNormalization", "Reshape"], "rank-4 view"),
    # tf_keras records a positive axis (ConvLSTM2D -> BatchNormalization): the rank-4 view maps it
    "bn-rank-5-positive-axis": (chain(normalization.BatchNormalization(axis=(4,)), shape=(None, 2, 3, 4, 4)),
                                ["Reshape", "BatchNormalization", "Reshape"], "rank-4 view"),
    "relu-threshold": (chain(act.ReLU(threshold=0.5)), ["ThresholdedReLU"], "x == threshold"),
    "elu-alpha": (chain(act.ELU(alpha=0.5)), ["ReLU", "Rescaling", "ReLU", "Rescaling", "Activation", "Rescaling",
                                              "Add"], "elu(min(x, 0))"),
    "softmax-axis": (chain(act.Softmax(axis=1), shape=(None, 3, 4)), ["Permute", "Softmax", "Permute"], "axis 1"),
    "keras3-hard-sigmoid": (chain(core.Dense(units=2, activation="hard_sigmoid_relu6")), ["Dense"],
                            "weights scaled by 0.833333"),
    "hard-silu": (chain(core.Activation(activation="hard_silu")), ["Rescaling", "ReLU", "Multiply"],
                  "gate and a Multiply"),
    "pool1d-channels-first": (chain(pooling.MaxPooling1D(pool_size=(2,), data_format="channels_first"),
                                    shape=(None, 3, 8)), ["Permute", "MaxPooling1D", "Permute"], "channels-last"),
    "zero-padding-3d": (chain(reshaping.ZeroPadding3D(padding=((1, 1), (1, 1), (1, 1))), shape=(None, 2, 2, 2, 1)),
                        ["Reshape", "ZeroPadding2D", "Reshape", "ZeroPadding2D", "Reshape"], "two 2-D"),
    "subtract": (None, ["Rescaling", "Add"], "negated second"),
}


@pytest.mark.parametrize("case", sorted(REWRITTEN))
def test_rewrites_into_stock_layers(tmp_path: Path, case: str) -> None:
    """Each rewrite writes only classes tfjs-layers has, and says what it did (test_tfjs_node runs them)."""
    m, classes, note = REWRITTEN[case]
    document = written(m or _subtract(), tmp_path)
    assert sorted(e["class_name"] for e in layer_configs(document) if e["class_name"] != "InputLayer") == \
        sorted(classes)
    assert any(note in n for n in document["_notes"]), document["_notes"]


def _subtract() -> Model:
    layers = [input_layer("a", (None, 3)), input_layer("b", (None, 3)),
              layer("sub", merge.Subtract(), ["a", "b"])]
    return model(layers, ["a", "b"], ["sub"])


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refusals_name_the_layer_and_leave_nothing(tmp_path: Path, case: str) -> None:
    m, fragments = REFUSED[case]
    m = m or _subtract()
    message = refused(m, tmp_path, "TF.js", *fragments)
    assert "layer '" in message


def test_a_backward_layer_that_is_not_the_mirror_is_refused(tmp_path: Path) -> None:
    fwd = Layer("forward_lstm", recurrent.LSTM(units=2))
    bwd = Layer("backward_lstm", recurrent.LSTM(units=2, go_backwards=True, activation="relu"))
    bi = wrappers.Bidirectional(forward=fwd, backward=bwd)
    refused(chain(bi, shape=(None, 4, 3)), tmp_path, "backward_layer")


# -- masks ----------------------------------------------------------------------------------------

def embedding(name: str = "emb", source: str = "ids") -> Layer:
    config = core.Embedding(input_dim=10, output_dim=4, mask_zero=True)
    return layer(name, config, [source], weights=zeros_for(config, [(None, 6)]))


def rnn(name: str, source: str, units: int = 3, shape: tuple = (None, 6, 4), **kw: Any) -> Layer:
    config = recurrent.LSTM(units=units, **kw)
    return layer(name, config, [source], weights=zeros_for(config, [shape]))


def test_the_usual_masked_classifier_is_written(tmp_path: Path) -> None:
    dense = core.Dense(units=2)
    m = model([input_layer("ids", (None, 6)), embedding(), rnn("lstm", "emb", return_sequences=True),
               rnn("lstm2", "lstm", shape=(None, 6, 3)), layer("out", dense, ["lstm2"],
                                                                weights=zeros_for(dense, [(None, 3)]))],
              ["ids"], ["out"])
    written(m, tmp_path)


@pytest.mark.parametrize("case,fragment", [
    ("stale-mask", "where Keras applies none"),
    ("bidirectional-sequences", "Bidirectional with return_sequences"),
    ("merge", "where Keras applies none"),
    ("two-sources", "2 mask sources"),
    ("average-pooling", "mishandles the padding mask"),
])
def test_masks_tfjs_would_misapply_are_refused(tmp_path: Path, case: str, fragment: str) -> None:
    ids = input_layer("ids", (None, 6))
    if case == "stale-mask":  # the second LSTM gets no mask in Keras, the first one's in TF.js
        repeat = layer("repeat", core.RepeatVector(n=6), ["lstm"])
        layers = [ids, embedding(), rnn("lstm", "emb"), repeat, rnn("lstm2", "repeat", shape=(None, 6, 3))]
    elif case == "bidirectional-sequences":
        fwd, bwd = recurrent.LSTM(units=2, return_sequences=True), recurrent.LSTM(
            units=2, return_sequences=True, go_backwards=True)
        bi = wrappers.Bidirectional(forward=Layer("forward_l", fwd, weights={}), backward=Layer("backward_l", bwd))
        layers = [ids, embedding(), layer("bi", bi, ["emb"])]
    elif case == "merge":
        layers = [ids, embedding(), rnn("lstm", "emb"), rnn("lstm_b", "emb"),
                  layer("sum", merge.Add(), ["lstm", "lstm_b"])]
    elif case == "two-sources":
        layers = [ids, embedding(), embedding("emb2"), layer("cat", merge.Concatenate(), ["emb", "emb2"])]
    else:
        layers = [ids, embedding(), layer("gap", pooling.GlobalAveragePooling1D(), ["emb"])]
    refused(model(layers, ["ids"], [layers[-1].name]), tmp_path, "masks differently", fragment)


def test_mask_readers_that_run_before_the_mask_source_are_fine(tmp_path: Path) -> None:
    """An LSTM the Masking layer depends on always runs before it, so TF.js gives it no mask either."""
    masking = core.Masking()
    layers = [input_layer("seq", (None, 6, 4)), rnn("early", "seq", units=4, return_sequences=True),
              layer("mask", masking, ["early"]), rnn("late", "mask", units=4, shape=(None, 6, 4))]
    written(model(layers, ["seq"], ["late"]), tmp_path)


# -- rewrites -------------------------------------------------------------------------------------

def test_rewrites_for_classes_and_options_tfjs_lacks(tmp_path: Path) -> None:
    m = chain(noise.SpatialDropout2D(rate=0.3), reshaping.ZeroPadding2D(padding=((0, 0), (0, 0))),
              core.Reshape(target_shape=(-1, 2)), act.ReLU(negative_slope=0.1),
              core.Flatten(), core.Flatten(), shape=(None, 4, 4, 2),
              names=["sdrop", "pad", "reshape", "leaky", "flat", "flat2"])
    configs = {c["config"]["name"]: c for c in layer_configs(written(m, tmp_path))}
    assert configs["sdrop"]["class_name"] == "Dropout"
    assert configs["sdrop"]["config"]["noise_shape"] == [None, 1, 1, 2]
    assert configs["reshape"]["config"]["target_shape"] == [16, 2]
    assert configs["leaky"] == {"class_name": "LeakyReLU", "config": {
        "name": "leaky", "trainable": True, "dtype": "float32", "alpha": 0.1}}
    assert configs["flat"]["class_name"] == "Flatten"
    assert configs["flat2"]["class_name"] == "Reshape" and configs["flat2"]["config"]["target_shape"] == [32]


def test_negative_concatenate_axes_become_positive(tmp_path: Path) -> None:
    layers = [input_layer("a", (None, 2, 3)), input_layer("b", (None, 5, 3)),
              layer("cat", merge.Concatenate(axis=-2), ["a", "b"])]
    (cat,) = [c for c in layer_configs(written(model(layers, ["a", "b"], ["cat"]), tmp_path))
              if c["name"] == "cat"]
    assert cat["config"]["axis"] == 1


def test_training_settings_tfjs_cannot_carry(tmp_path: Path) -> None:
    dense = core.Dense(units=2)
    m = chain(dense, core.ActivityRegularization(l1=0.01), names=["dense", "actreg"])
    m.layers[1].weight_settings = {
        "kernel": WeightSettings(Initializer("LecunNormal", {"seed": 3}), Regularizer.l1l2(l2=0.5),
                                 Constraint("MaxNorm", {"max_value": 2.0, "axis": 0})),
        "bias": WeightSettings(Initializer("VarianceScaling", {"distribution": "untruncated_normal"}))}
    document = written(m, tmp_path)
    dense_config = layer_configs(document)[1]["config"]
    assert dense_config["kernel_initializer"] == {"class_name": "LeCunNormal", "config": {"seed": 3}}
    assert dense_config["kernel_regularizer"] == {"class_name": "L1L2", "config": {"l1": 0.0, "l2": 0.5}}
    assert "kernel_constraint" not in dense_config and "bias_initializer" not in dense_config
    assert layer_configs(document)[2]["class_name"] == "Activation"
    assert any("MaxNorm" in n for n in document["_notes"]) and any("penalty" in n for n in document["_notes"])
    with pytest.raises(UnsupportedKerasConfigurationException, match="MaxNorm|ActivityRegularization"):
        write_tfjs(m, tmp_path / "enforced", enforce_training_config=True)
    assert not (tmp_path / "enforced").exists()


# -- names ----------------------------------------------------------------------------------------

def test_layer_and_weight_names(tmp_path: Path) -> None:
    """tfjs names weights <layer>/<weight>, without enclosing models; Bidirectional adds
    forward_/backward_ scopes; TimeDistributed drops the wrapped layer's name."""
    inner_dense = core.Dense(units=3)
    nested = model([input_layer("inner_in", (None, 4)),
                    layer("shared name", inner_dense, ["inner_in"], weights=zeros_for(inner_dense, [(None, 4)]))],
                   ["inner_in"], ["shared name"], name="tower")
    fwd = recurrent.GRU(units=2, return_sequences=True)
    bi = wrappers.Bidirectional(
        forward=Layer("forward_gru", fwd, weights={k: kconvert.ir.Weight.of(v)
                                                   for k, v in zeros_for(fwd, [(None, 5, 3)]).items()}),
        backward=Layer("backward_gru", recurrent.GRU(units=2, return_sequences=True, go_backwards=True),
                       weights={k: kconvert.ir.Weight.of(v) for k, v in zeros_for(fwd, [(None, 5, 3)]).items()}))
    td_dense = core.Dense(units=3)
    td = wrappers.TimeDistributed(layer=Layer("dense_in_td", td_dense, weights={
        k: kconvert.ir.Weight.of(v) for k, v in zeros_for(td_dense, [(None, 4)]).items()}))
    outer_dense = core.Dense(units=2)
    layers = [input_layer("flat", (None, 4)), input_layer("seq", (None, 5, 3)), input_layer("steps", (None, 5, 4)),
              layer("_tower", NestedModel(model=nested), ["flat"]),
              layer("shared name", outer_dense, ["_tower"], weights=zeros_for(outer_dense, [(None, 3)])),
              layer("bi", bi, ["seq"]), layer("td", td, ["steps"])]
    m = model(layers, ["flat", "seq", "steps"], ["shared name", "bi", "td"])
    document = written(m, tmp_path)
    names = [w["name"] for w in document["weightsManifest"][0]["weights"]]
    assert names == ["shared_name_1/kernel", "shared_name_1/bias", "shared_name/kernel", "shared_name/bias",
                     "bi/forward_gru/kernel", "bi/forward_gru/recurrent_kernel", "bi/forward_gru/bias",
                     "bi/backward_gru/kernel", "bi/backward_gru/recurrent_kernel", "bi/backward_gru/bias",
                     "td/kernel", "td/bias"]
    config = document["modelTopology"]["model_config"]["config"]
    tower = next(c for c in config["layers"] if c["class_name"] == "Sequential")
    assert tower["name"] == "layer_tower" and tower["inbound_nodes"] == [[["flat", 0, 0, {}]]]
    assert next(c for c in config["layers"] if c["name"] == "shared_name")["inbound_nodes"] == [
        [["layer_tower", 1, 0, {}]]]  # a nested model's first call is node 1, as in Keras 2
    assert config["output_layers"] == [["shared_name", 0, 0], ["bi", 0, 0], ["td", 0, 0]]
    assert any("'shared_name_1'" in n for n in document["_notes"])
    # and the written model reads back with the same structure, its layers listed as Keras lists them
    # (by depth from the outputs)
    back = kconvert.load(tmp_path / "out")
    assert [layer.name for layer in back.layers] == ["flat", "layer_tower", "seq", "steps", "shared_name", "bi", "td"]


# -- the file ---------------------------------------------------------------------------------------

def test_model_json_and_shards(tmp_path: Path) -> None:
    m = kconvert.load(Path(__file__).parent / "fixtures" / "generated" / "tfkeras" / "mlp.h5")
    result = write_tfjs(m, tmp_path / "out", shard_size=512, quantize=["uint8:hidden/kernel", "float16"])
    document = json.loads(result.path.read_text())
    assert document["format"] == "layers-model"
    assert document["generatedBy"] == f"keras v{m.provenance.keras_version}"
    assert document["convertedBy"] == f"kconvert v{kconvert.__version__}"
    topology = document["modelTopology"]
    assert topology["keras_version"].startswith("2.") and topology["backend"] == "tensorflow"
    assert topology["training_config"]["loss"] and topology["training_config"]["optimizer_config"]["class_name"]
    assert "trainingConfig" not in document  # tfjs-layers would compile it and fail on Keras losses
    (group,) = document["weightsManifest"]
    weights = {w["name"]: w for w in group["weights"]}
    assert weights["hidden/kernel"]["quantization"]["dtype"] == "uint8"
    assert weights["hidden/bias"]["quantization"] == {"dtype": "float16", "original_dtype": "float32"}
    assert all(w["dtype"] == "float32" for w in weights.values())
    sizes = [(tmp_path / "out" / p).stat().st_size for p in group["paths"]]
    assert all(s == 512 for s in sizes[:-1]) and sum(sizes) == result.weight_bytes
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(["model.json", *group["paths"]])
    back = kconvert.load(tmp_path / "out")
    assert back.report.by_category("approximated")
    np.testing.assert_allclose(back.layer("hidden").weights["kernel"].numpy(),
                               m.layer("hidden").weights["kernel"].numpy(), atol=0.01)


def test_float64_and_int64_weights_are_narrowed(tmp_path: Path) -> None:
    dense = core.Dense(units=2)
    m = chain(dense)
    m.layers[1].weights = {"kernel": kconvert.ir.Weight.of(np.full((8, 2), 0.1, np.float64)),
                           "bias": kconvert.ir.Weight.of(np.arange(2, dtype=np.float64))}
    document = written(m, tmp_path)
    assert [w["dtype"] for w in document["weightsManifest"][0]["weights"]] == ["float32", "float32"]
    data = np.fromfile(tmp_path / "out" / document["weightsManifest"][0]["paths"][0], dtype="<f4")
    assert data.tolist() == [np.float32(0.1)] * 16 + [0.0, 1.0]
    m.layers[1].weights["kernel"] = kconvert.ir.Weight.of(np.full((8, 2), 1e300))
    elsewhere = tmp_path / "too-big"
    elsewhere.mkdir()
    refused(m, elsewhere, "beyond the float32 range")


def test_calls_passing_explicit_masks_are_refused(tmp_path: Path) -> None:
    m = chain(core.Dense(units=2))
    m.layers[1].calls[0] = Call([TensorRef("x")], {"mask": TensorRef("x")})
    refused(m, tmp_path, "explicit padding mask")


def test_a_configuration_without_weights_writes_the_architecture(tmp_path: Path) -> None:
    m = kconvert.load(Path(__file__).parent / "fixtures" / "generated" / "tfkeras" / "mlp.json")
    document = written(m, tmp_path)
    assert document["weightsManifest"] == [] and list((tmp_path / "out").iterdir()) == [tmp_path / "out" /
                                                                                         "model.json"]
    assert any("no weights" in n for n in document["_notes"])
