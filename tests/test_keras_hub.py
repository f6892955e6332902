"""KerasHub backbones (text and image) and tasks, read from their constructor arguments (``.keras``
archives and ``save_to_preset`` folders), run by kconvert's runtime against KerasHub's own predict
with padding that matters, written back as plain Keras 3 (loaded in safe mode, without KerasHub),
for TF.js with its companion module (run in tfjs in Node), to ONNX (run in ONNX Runtime) and, for
the image backbones, to DL4J (run in its JVM); the targets that cannot express them refuse, naming
the layer and why.  Tiny sizes, built once."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.readers.keras.hub import KerasHubClassError

keras_hub = pytest.importorskip("keras_hub")
keras = pytest.importorskip("keras")

ATOL = 1e-4
VOCAB, STEPS, HIDDEN = 40, 7, 8
TEXT = dict(num_layers=2, num_heads=2, hidden_dim=HIDDEN, intermediate_dim=16, max_sequence_length=10)


def _text_inputs(segments: bool) -> dict[str, np.ndarray]:
    """Token ids with trailing padding of different lengths, so the padding mask changes results."""
    rng = np.random.default_rng(3)
    ids = rng.integers(1, VOCAB, (3, STEPS)).astype("int32")
    padding = np.ones_like(ids)
    padding[0, 5:] = 0
    padding[1, 2:] = 0
    ids[padding == 0] = 0
    out = {"token_ids": ids, "padding_mask": padding}
    if segments:
        out["segment_ids"] = (np.arange(STEPS)[None, :] >= 3).astype("int32").repeat(3, 0) * padding
    return out


def _images(shape: tuple[int, ...] = (16, 16, 3)) -> dict[str, np.ndarray]:
    return {"images": np.random.default_rng(5).normal(size=(2, *shape)).astype("float32")}


def _randomised(model: Any) -> Any:
    """``model`` with every variable drawn afresh (fixed seed): BatchNormalization's statistics
    and ViT's near-zero class token and biases then matter."""
    rng = np.random.default_rng(11)
    for v in model.weights:
        values = rng.normal(0, 0.3, v.shape)
        v.assign((np.abs(values) + 0.5 if "variance" in v.path else values).astype(v.dtype))
    return model


#: name -> (the backbone, built with KerasHub, and its inputs)
BACKBONES: dict[str, Callable[[], tuple[Any, dict[str, np.ndarray]]]] = {
    "bert": lambda: (keras_hub.models.BertBackbone(vocabulary_size=VOCAB, num_segments=2, **TEXT),
                     _text_inputs(True)),
    "electra": lambda: (keras_hub.models.ElectraBackbone(vocab_size=VOCAB, embedding_dim=6, **TEXT),
                        _text_inputs(True)),
    "distil_bert": lambda: (keras_hub.models.DistilBertBackbone(vocabulary_size=VOCAB, **TEXT), _text_inputs(False)),
    "roberta": lambda: (keras_hub.models.RobertaBackbone(vocabulary_size=VOCAB, **TEXT), _text_inputs(False)),
    "gpt2": lambda: (keras_hub.models.GPT2Backbone(vocabulary_size=VOCAB, **TEXT), _text_inputs(False)),
    "vit": lambda: (_randomised(keras_hub.models.ViTBackbone(
        image_shape=(16, 16, 3), patch_size=8, num_layers=2, num_heads=2, hidden_dim=HIDDEN, mlp_dim=16,
        attention_dropout=0.1)), _images()),
    # v1 with the "vd" bottleneck (average-pooled shortcut); v2 pre-activation (its -inf-padded pooling)
    "resnet_vd": lambda: (_randomised(keras_hub.models.ResNetBackbone(
        input_conv_filters=[8], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 4],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="bottleneck_block_vd",
        image_shape=(16, 16, 3))), _images()),
    "resnet_v2": lambda: (_randomised(keras_hub.models.ResNetBackbone(
        input_conv_filters=[8, 64], input_conv_kernel_sizes=[3, 3], stackwise_num_filters=[64, 4],
        stackwise_num_blocks=[2, 1], stackwise_num_strides=[1, 2], block_type="basic_block", use_pre_activation=True,
        image_shape=(16, 16, 3))), _images()),
    # grouped (depthwise) convolutions, hard-swish, squeeze-and-excite gated by Keras 3's hard_sigmoid
    "mobilenet": lambda: (_randomised(keras_hub.models.MobileNetBackbone(
        stackwise_expansion=[[16, 24], [32]], stackwise_num_blocks=[2, 1], stackwise_num_filters=[[8, 8], [16]],
        stackwise_kernel_size=[[3, 3], [5]], stackwise_num_strides=[[2, 1], [1]],
        stackwise_se_ratio=[[None, 0.25], [0.5]], stackwise_activation=[["relu", "hard_swish"], ["hard_swish"]],
        stackwise_padding=[[1, 1], [2]], output_num_filters=None, depthwise_filters=8, depthwise_stride=1,
        depthwise_residual=True, last_layer_filter=16, squeeze_and_excite=0.5, image_shape=(16, 16, 3),
        input_activation="hard_swish", input_num_filters=8)), _images()),
    # each block type: v1 (top-level layers), MBConv (depthwise 'same'), FusedMBConv, CBA; num_features is
    # KerasHub's default 1280 (it does not save another)
    "efficientnet": lambda: (_randomised(keras_hub.models.EfficientNetBackbone(
        stackwise_kernel_sizes=[3] * 5, stackwise_num_repeats=[1, 1, 2, 1, 2],
        stackwise_input_filters=[8, 8, 8, 16, 16],
        stackwise_output_filters=[8, 8, 16, 16, 16], stackwise_expansion_ratios=[1, 2, 2, 1, 2],
        stackwise_squeeze_and_excite_ratios=[0.25, 0.25, 0.0, 0.25, 0.5], stackwise_strides=[1, 2, 1, 1, 1],
        stackwise_block_types=["v1", "unfused", "fused", "cba", "fused"], stackwise_width_coefficients=[1.0] * 5,
        stackwise_depth_coefficients=[1.0] * 5, projection_activation="relu", input_shape=(16, 16, 3))), _images()),
}


def _text_task_inputs() -> dict[str, np.ndarray]:
    return {k: v for k, v in _text_inputs(True).items() if k != "segment_ids"}


def _tiny_resnet(**extra: Any) -> Any:
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64], stackwise_num_blocks=[1],
        stackwise_num_strides=[1], block_type="basic_block", image_shape=(16, 16, 3), **extra)


#: KerasHub task models (the backbone and its head; no preprocessor: the numeric model), saved as .keras
TASKS: dict[str, Callable[[], tuple[Any, dict[str, np.ndarray]]]] = {
    "bert_text_classifier": lambda: (_randomised(keras_hub.models.BertTextClassifier(
        keras_hub.models.BertBackbone(vocabulary_size=VOCAB, **TEXT), num_classes=3, preprocessor=None)),
        _text_inputs(True)),
    "gpt2_causal_lm": lambda: (_randomised(keras_hub.models.GPT2CausalLM(
        keras_hub.models.GPT2Backbone(vocabulary_size=VOCAB, **TEXT), preprocessor=None)), _text_task_inputs()),
    "vit_image_classifier": lambda: (_randomised(keras_hub.models.ViTImageClassifier(
        keras_hub.models.ViTBackbone(image_shape=(16, 16, 3), patch_size=8, num_layers=1, num_heads=2,
                                     hidden_dim=HIDDEN, mlp_dim=16),
        num_classes=3, pooling="gap", intermediate_dim=5, preprocessor=None)), _images()),
    "resnet_image_classifier": lambda: (_randomised(keras_hub.models.ResNetImageClassifier(
        _tiny_resnet(), num_classes=3, pooling="max", activation="softmax")), _images()),
}
MODELS = {**BACKBONES, **TASKS}
#: (model, form) pairs read: each from its .keras file and its preset
READS = [(name, form) for name in sorted(MODELS) for form in ("keras", "preset")]


def _fed(xs: dict[str, np.ndarray]) -> Any:
    """Inputs as a Keras model takes them: a dict, or the one array of a single-input model."""
    return next(iter(xs.values())) if len(xs) == 1 else xs


def _as_list(outputs: Any) -> list[np.ndarray]:
    """KerasHub's outputs in the backbone's order (sequence, then pooled)."""
    if isinstance(outputs, dict):
        return [np.asarray(outputs[k]) for k in ("sequence_output", "pooled_output") if k in outputs]
    return [np.asarray(o) for o in outputs] if isinstance(outputs, list) else [np.asarray(outputs)]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, dict, list[np.ndarray]]]:
    """Each backbone saved both ways, with its inputs and KerasHub's predictions."""
    tmp = tmp_path_factory.mktemp("keras-hub")
    out = {}
    for name, build in MODELS.items():
        backbone, xs = build()
        archive, preset = tmp / f"{name}.keras", tmp / f"{name}-preset"
        backbone.save(archive)
        backbone.save_to_preset(str(preset))  # a task's preset: tested below
        out[name] = (archive, preset, xs, _as_list(backbone.predict(_fed(xs), verbose=0)))
    return out


def _load(saved: dict, name: str, form: str) -> kconvert.Model:
    archive, preset, _, _ = saved[name]
    if form == "keras":
        return kconvert.load(archive)
    if name in TASKS:  # the head's weights (the backbone's are read from model.weights.h5 beside them); a
        # head without weights of its own (GPT-2's, tied to the token embedding) saves none
        head = preset / "task.weights.h5"
        return kconvert.load(preset / "task.json", weights=head if head.exists() else preset / "model.weights.h5")
    return kconvert.load(preset / "config.json", weights=preset / "model.weights.h5")


def _matches(got: Any, expected: list[np.ndarray]) -> None:
    got = got if isinstance(got, list) else [got]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert np.ptp(e) > 1e-3, "degenerate reference"
        np.testing.assert_allclose(np.asarray(g), e, atol=ATOL)


@pytest.mark.parametrize(("name", "form"), READS)
def test_runtime_matches_keras_hub(saved: dict, name: str, form: str) -> None:
    model = _load(saved, name, form)
    _, _, xs, expected = saved[name]
    _matches(kconvert.run(model, xs, device="cpu"), expected)


def test_padding_matters(saved: dict) -> None:
    """The check above would not see a padding mask ignored: with it all ones, BERT's outputs change."""
    model = _load(saved, "bert", "keras")
    _, _, xs, expected = saved["bert"]
    unpadded = kconvert.run(model, {**xs, "padding_mask": np.ones_like(xs["padding_mask"])}, device="cpu")
    assert np.abs(np.asarray(unpadded[0]) - expected[0]).max() > 1e-3


@pytest.mark.parametrize("name", sorted(MODELS))
def test_plain_keras_3_file_matches(saved: dict, name: str, tmp_path: Path) -> None:
    """Written as a functional Keras 3 model of Keras's own classes: it loads in safe mode."""
    kconvert.write(_load(saved, name, "preset"), "keras", tmp_path / "out.keras")
    with zipfile.ZipFile(tmp_path / "out.keras") as archive:
        assert b"keras_hub" not in archive.read("config.json")
    reloaded = keras.saving.load_model(tmp_path / "out.keras", safe_mode=True)
    _, _, xs, expected = saved[name]
    _matches(_as_list(reloaded.predict(_fed({i.name: xs[i.name] for i in reloaded.inputs}), verbose=0)), expected)


@pytest.fixture(scope="module")
def tfjs_runs(saved: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every backbone written for TF.js with the companion module (MultiHeadAttention, the position
    running sum) and run in one Node process with its padding."""
    from kconvert.verification.tfjs_runner import run_tfjs_many
    from tests.conftest import require_tfjs

    require_tfjs()
    tmp = tmp_path_factory.mktemp("keras-hub-tfjs")
    jobs = []
    for name in sorted(MODELS):
        model = _load(saved, name, "keras")
        kconvert.write(model, "tfjs", tmp / name, companion=True)
        jobs.append((tmp / name, [saved[name][2][n] for n in model.input_names], []))
    return dict(zip(sorted(MODELS), run_tfjs_many(jobs)))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_tfjs_matches_keras_hub(saved: dict, tfjs_runs: dict, name: str) -> None:
    run = tfjs_runs[name]
    assert run.error is None, run.error
    _matches(run.outputs, saved[name][3])


def test_tfjs_without_the_module_is_refused_naming_the_layer(saved: dict, tmp_path: Path) -> None:
    with pytest.raises(IncompatibleKerasConfigurationException, match="--tfjs-companion") as info:
        kconvert.write(_load(saved, "bert", "keras"), "tfjs", tmp_path / "web")
    assert info.value.layer and not (tmp_path / "web").exists()


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_onnx_matches_keras_hub(saved: dict, name: str, tmp_path: Path) -> None:
    """Written to ONNX (integer token ids and positions stay integers), run in ONNX Runtime."""
    ort = pytest.importorskip("onnxruntime")
    from kconvert.verification.onnx_runner import INPUT_TYPES

    kconvert.write(_load(saved, name, "preset"), "onnx", tmp_path / "model.onnx")
    _, _, xs, expected = saved[name]
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    _matches(session.run(None, {i.name: xs[i.name].astype(INPUT_TYPES[i.type]) for i in session.get_inputs()}),
             expected)


#: the image backbones Deeplearning4j expresses (grouped convolutions as DepthwiseConvolution2D)
DL4J_MODELS = ("efficientnet", "mobilenet", "resnet_v2", "resnet_vd")


@pytest.fixture(scope="module")
def dl4j_runs(saved: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each of :data:`DL4J_MODELS` written to a DL4J zip from its preset, all run in one JVM."""
    from kconvert.verification.dl4j_runner import run_dl4j_many
    from tests.conftest import require_dl4j

    require_dl4j()
    tmp = tmp_path_factory.mktemp("keras-hub-dl4j")
    zips = [Path(kconvert.write(_load(saved, name, "preset"), "dl4j", tmp / name).files[-1]) for name in DL4J_MODELS]
    return dict(zip(DL4J_MODELS, run_dl4j_many([(path, [saved[name][2]["images"]], [])
                                                 for name, path in zip(DL4J_MODELS, zips)])))


@pytest.mark.parametrize("name", DL4J_MODELS)
def test_dl4j_matches_keras_hub(saved: dict, dl4j_runs: dict, name: str) -> None:
    run = dl4j_runs[name]
    assert run.error is None, run.error
    _matches(run.outputs, saved[name][3])


#: the targets that cannot express these backbones yet, and the layer each refuses first
REFUSED = {"dl4j": ("model.zip", "BinaryOp")}


@pytest.mark.parametrize("target", sorted(REFUSED))
def test_other_targets_refuse_naming_the_layer(saved: dict, target: str, tmp_path: Path) -> None:
    out, kind = REFUSED[target]
    with pytest.raises(IncompatibleKerasConfigurationException, match=kind) as info:
        kconvert.write(_load(saved, "bert", "keras"), target, tmp_path / out)
    assert info.value.layer and "\n" not in str(info.value)
    assert not (tmp_path / out).exists()


def test_a_task_preset_without_its_backbone_weights_is_refused_saying_where_they_are(saved: dict,
                                                                                     tmp_path: Path) -> None:
    """A task preset saves the head's weights (task.weights.h5) apart from the backbone's."""
    preset = saved["bert_text_classifier"][1]
    for part in ("task.json", "task.weights.h5"):
        (tmp_path / part).write_bytes((preset / part).read_bytes())
    with pytest.raises(IncompatibleKerasConfigurationException, match="bert_backbone.*model.weights.h5"):
        kconvert.load(tmp_path / "task.json", weights=tmp_path / "task.weights.h5")


def test_a_tokenizer_is_refused_naming_it(tmp_path: Path) -> None:
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"])
    tokenizer.save_to_preset(str(tmp_path))
    with pytest.raises(KerasHubClassError, match="BertTokenizer.*backbone") as info:
        kconvert.load(tmp_path / "tokenizer.json")
    assert info.value.hub_class == "BertTokenizer"


@pytest.mark.parametrize("hub_class", ["SAMBackbone", "DenseNetBackbone",
                                       "DistilBertTextClassifier"])
def test_another_keras_hub_class_is_refused_naming_it(hub_class: str) -> None:
    config = {"module": "keras_hub.src.models.x", "class_name": hub_class, "config": {},
              "registered_name": f"keras_hub>{hub_class}"}
    with pytest.raises(KerasHubClassError, match=f"{hub_class} is not one kconvert rebuilds .*BertBackbone") as info:
        kconvert.load(json.dumps(config))
    assert info.value.hub_class == hub_class
