"""Preprocessing and augmentation layers Keras saves inside models, at inference exactly as Keras
computes them.

Small models are built with Keras 3 and tf_keras around each layer, given random weights, saved
(``.keras`` and ``.h5``) and predicted once per module.  Each must load and run in kconvert's
runtime as Keras predicts, and be written and run in Keras 3 (safe mode), tfjs (Node, all models
in one process) and ONNX Runtime matching Keras -- or be refused naming the layer and why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.verification.tfjs_runner import run_tfjs_many
from tests.conftest import require_tfjs
from tests.helpers import assert_tfjs_run_matches, randomize_weights

ATOL, RTOL = 1e-4, 1e-3
TARGETS = ("keras", "tfjs", "onnx")
Build = Callable[[Any, np.random.Generator], tuple[Any, list[np.ndarray]]]


def _images(rng: np.random.Generator, shape: tuple[int, ...] = (10, 12, 3)) -> np.ndarray:
    return rng.uniform(0, 1, (2, *shape)).astype("float32")


def _augmented(*layers: Callable[[Any], Any]) -> Build:
    """Images through the augmentation layers, then a Conv2D and pooling to check nothing moved."""
    def build(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
        x = k.Input((10, 12, 3))
        y = x
        for make in layers:
            y = make(k)(y)
        y = k.layers.Conv2D(4, 3)(y)
        return k.Model(x, k.layers.GlobalAveragePooling2D()(y)), [_images(rng)]
    return build


def _tutorial(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    """The image-classification tutorial's head: Sequential augmentation, Rescaling, convolutions."""
    model = k.Sequential([k.Input((10, 12, 3)),
                          k.Sequential([k.layers.RandomFlip("horizontal"), k.layers.RandomRotation(0.1),
                                        k.layers.RandomZoom(0.1)]),
                          k.layers.Rescaling(1 / 255), k.layers.Conv2D(4, 3, activation="relu"),
                          k.layers.MaxPooling2D(), k.layers.Dropout(0.2), k.layers.Flatten(), k.layers.Dense(3)])
    return model, [rng.uniform(0, 255, (2, 10, 12, 3)).astype("float32")]


_SHARED = (lambda k: k.layers.RandomFlip(), lambda k: k.layers.RandomRotation(0.2),
           lambda k: k.layers.RandomZoom(0.2, 0.1), lambda k: k.layers.RandomTranslation(0.1, 0.2),
           lambda k: k.layers.RandomContrast(0.3), lambda k: k.layers.RandomBrightness(0.2))
_KERAS3_ONLY = (
    lambda k: k.layers.RandomCrop(6, 8), lambda k: k.layers.RandomGrayscale(),
    lambda k: k.layers.RandomHue(0.2, value_range=(0, 1)), lambda k: k.layers.RandomSaturation(0.2),
    lambda k: k.layers.RandomSharpness(0.2), lambda k: k.layers.RandomShear(0.2, 0.2),
    lambda k: k.layers.RandomColorJitter(value_range=(0, 1), brightness_factor=0.2),
    lambda k: k.layers.RandomColorDegeneration(0.2), lambda k: k.layers.RandomPosterization((1, 8)),
    lambda k: k.layers.RandomErasing(), lambda k: k.layers.RandomGaussianBlur(),
    lambda k: k.layers.RandomInvert(), lambda k: k.layers.RandomPerspective(),
    lambda k: k.layers.RandomElasticTransform(), lambda k: k.layers.Solarization(0.2, 0.2, value_range=(0, 1)),
    lambda k: k.layers.MixUp(), lambda k: k.layers.CutMix(), lambda k: k.layers.RandAugment(value_range=(0, 1)),
    lambda k: k.layers.AugMix(value_range=(0, 1)))
_TF_KERAS_ONLY = (lambda k: k.layers.RandomHeight(0.2), lambda k: k.layers.RandomWidth(0.2))
#: what each target says of tf_keras's RandomCrop (a center crop and bilinear resize at inference)
_RESIZED = {"tfjs": "RandomCrop", "onnx": "Resizing"}

def _ids(rng: np.random.Generator) -> np.ndarray:
    ids = rng.choice([0, 3, 5, 7, 12, 40, 41, -2], (4, 3)).astype("int64")
    ids[0] = [12, 5, 0]
    return ids


def _lookups(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    """IntegerLookup in every output mode it reads, with and without a mask, OOV slots and inverted."""
    x, one = k.Input((3,), dtype="int64"), k.Input((1,), dtype="int64")
    vocab = [12, 5, 7, 40]
    outputs = [k.layers.IntegerLookup(vocabulary=vocab)(x),
               k.layers.IntegerLookup(vocabulary=vocab, mask_token=0, num_oov_indices=2)(x),
               k.layers.IntegerLookup(vocabulary=vocab, mask_token=0, num_oov_indices=2, output_mode="multi_hot")(x),
               k.layers.IntegerLookup(vocabulary=vocab, output_mode="count")(x),
               k.layers.IntegerLookup(vocabulary=vocab, output_mode="one_hot")(one),
               k.layers.IntegerLookup(vocabulary=vocab, mask_token=0, invert=True)(x)]
    return k.Model([x, one], outputs), [_ids(rng), _ids(rng)[:, :1]]


def _encodings(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    """Discretization and CategoryEncoding after a Dense layer, so that weights feed them."""
    x = k.Input((4,))
    h = k.layers.Dense(3)(x)
    buckets = k.layers.Discretization([-0.5, 0.0, 0.5, 1.0])(h)
    outputs = [buckets, k.layers.Discretization([-0.5, 0.0, 0.5], output_mode="count")(h),
               k.layers.Discretization([-0.5, 0.0, 0.5], output_mode="multi_hot")(h),
               k.layers.CategoryEncoding(6, output_mode="count")(buckets),
               k.layers.CategoryEncoding(5, output_mode="multi_hot")(buckets),
               k.layers.CategoryEncoding(5, output_mode="one_hot")(k.layers.Discretization([0.0, 0.5])(
                   k.layers.Dense(1)(x)))]
    return k.Model(x, outputs), [rng.normal(0, 1, (5, 4)).astype("float32")]


def _hashing(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    """Hashing of integers (FarmHash of their digits, or SipHash keyed by a salt) in every output
    mode, with and without a mask value among the inputs."""
    x, one = k.Input((3,), dtype="int64"), k.Input((1,), dtype="int64")
    outputs = [k.layers.Hashing(7)(x), k.layers.Hashing(7, mask_value=0)(x), k.layers.Hashing(5, salt=133)(x),
               k.layers.Hashing(6, salt=[1, 2**40], mask_value=5, output_mode="multi_hot")(x),
               k.layers.Hashing(4, output_mode="count")(x), k.layers.Hashing(1)(x),
               k.layers.Hashing(5, mask_value=-2, output_mode="one_hot")(one)]
    ids = _ids(rng)
    return k.Model([x, one], outputs), [ids, ids[:, :1].copy()]


def _hashing_strings(k: Any, rng: np.random.Generator) -> tuple[Any, list[np.ndarray]]:
    x = k.Input((2,), dtype="string")
    outputs = [k.layers.Hashing(9)(x), k.layers.Hashing(9, mask_value="")(x),
               k.layers.Hashing(5, salt=7, output_mode="count")(x)]
    words = np.array([["cat", ""], ["dog", "a fish"], ["", "Éléphant"], ["cat", "cat"]])
    return k.Model(x, outputs), [words]


#: the targets that refuse the index-encoding layers, by a fragment of their refusal
_NO_LOOKUP: dict[str, str] = {}
_NO_DISCRETIZATION: dict[str, str] = {}

#: (flavour, name) -> (builder, {target: a fragment of its refusal} for the targets that refuse it)
MODELS: dict[tuple[str, str], tuple[Build, dict[str, str]]] = {
    **{(f, "tutorial"): (_tutorial, {}) for f in ("keras", "tf_keras")},
    **{(f, "augmentations"): (_augmented(*_SHARED), {}) for f in ("keras", "tf_keras")},
    ("keras", "augmentations-keras3"): (_augmented(*_KERAS3_ONLY), {}),
    ("tf_keras", "augmentations-tf-keras"): (_augmented(*_TF_KERAS_ONLY), {}),
    ("tf_keras", "random-crop"): (_augmented(lambda k: k.layers.RandomCrop(6, 8)), _RESIZED),
    ("tf_keras", "random-crop-upscaled"): (_augmented(lambda k: k.layers.RandomCrop(13, 9)), _RESIZED),
    **{(f, "lookups"): (_lookups, _NO_LOOKUP) for f in ("keras", "tf_keras")},
    **{(f, "encodings"): (_encodings, _NO_DISCRETIZATION) for f in ("keras", "tf_keras")},
    **{(f, "hashing"): (_hashing, {"tfjs": "Hashing", "onnx": "Hashing"}) for f in ("keras", "tf_keras")},
    ("keras", "resizing-cropped"): (_augmented(lambda k: k.layers.Resizing(7, 5, crop_to_aspect_ratio=True)),
                                    _RESIZED | {"tfjs": "Resizing"}),
}


def _keras(flavour: str) -> Any:
    return pytest.importorskip("tf_keras" if flavour == "tf_keras" else "keras")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], tuple[Path, list, list]]:
    """Every model saved (tf_keras as .h5, Keras 3 as .keras) with its inputs and Keras's predictions."""
    tmp = tmp_path_factory.mktemp("preprocessing")
    rng = np.random.default_rng(5)
    out = {}
    for (flavour, name), (build, _) in MODELS.items():
        model, xs = build(_keras(flavour), rng)
        randomize_weights(model, rng)
        source = tmp / f"{flavour}-{name}.{'h5' if flavour == 'tf_keras' else 'keras'}"
        model.save(source)
        fed = [_tensor(x) for x in xs]
        ys = model.predict(fed if len(fed) > 1 else fed[0], verbose=0)
        out[(flavour, name)] = (source, xs, ys if isinstance(ys, list) else [ys])
    return out


def _tensor(x: np.ndarray) -> Any:
    """Strings as a TensorFlow tensor (Keras 3's predict takes no numpy strings)."""
    return pytest.importorskip("tensorflow").constant(x) if x.dtype.kind == "U" else x


def _close(got: list, want: list) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, atol=ATOL, rtol=RTOL)


KEYS = sorted(MODELS)
IDS = ["-".join(k) for k in KEYS]


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_runs_as_keras_predicts(saved: dict, key: tuple[str, str]) -> None:
    source, xs, ys = saved[key]
    _close(kconvert.run(kconvert.load(source), xs, device="cpu"), ys)


def _write(source: Path, target: str, out: Path, refusal: str | None) -> bool:
    """Write ``source`` for ``target`` (TF.js with its companion module); a refusal must name the
    layer and the fragment."""
    options = {"companion": True} if target == "tfjs" else {}
    if refusal is None:
        kconvert.convert(source, target, out, **options)
        return True
    with pytest.raises(IncompatibleKerasConfigurationException) as err:
        kconvert.convert(source, target, out, **options)
    assert refusal in str(err.value) and "layer '" in str(err.value), str(err.value)
    assert not out.exists()
    return False


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_written_for_keras_3_runs_in_safe_mode(saved: dict, key: tuple[str, str], tmp_path: Path) -> None:
    keras = _keras("keras")
    source, xs, ys = saved[key]
    if _write(source, "keras", tmp_path / "m.keras", MODELS[key][1].get("keras")):
        back = keras.saving.load_model(tmp_path / "m.keras", compile=False, safe_mode=True)
        fed = [_tensor(x) for x in xs]
        got = back.predict(fed if len(fed) > 1 else fed[0], verbose=0)
        _close(got if isinstance(got, list) else [got], ys)


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_written_for_onnx_runs_in_onnx_runtime(saved: dict, key: tuple[str, str], tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    source, xs, ys = saved[key]
    if _write(source, "onnx", tmp_path / "m.onnx", MODELS[key][1].get("onnx")):
        session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
        _close(session.run(None, {i.name: x for i, x in zip(session.get_inputs(), xs)}), ys)


@pytest.fixture(scope="module")
def tfjs_runs(saved: dict, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Any]:
    """Every model tfjs writes, run in one Node process; refused ones map to None."""
    require_tfjs()
    tmp = tmp_path_factory.mktemp("preprocessing-tfjs")
    jobs, keys, runs = [], [], {}
    for key in KEYS:
        source, xs, _ = saved[key]
        out = tmp / "-".join(key)
        if _write(source, "tfjs", out, MODELS[key][1].get("tfjs")):
            jobs.append((out, xs, []))
            keys.append(key)
        else:
            runs[key] = None
    return runs | dict(zip(keys, run_tfjs_many(jobs)))


@pytest.mark.parametrize("key", KEYS, ids=IDS)
def test_written_for_tfjs_runs_in_node(saved: dict, tfjs_runs: dict, key: tuple[str, str]) -> None:
    run = tfjs_runs[key]
    if run is not None:
        assert_tfjs_run_matches(run, saved[key][2], ATOL, RTOL)


def test_the_dropped_augmentation_is_reported(saved: dict, tmp_path: Path) -> None:
    written = kconvert.convert(saved[("keras", "tutorial")][0], "tfjs", tmp_path / "out")
    dropped = [str(n) for n in written.report.notes if "augmentation is dropped" in str(n)]
    assert len(dropped) == 3 and any("RandomFlip" in n for n in dropped)


@pytest.mark.parametrize("flavour", ["keras", "tf_keras"])
def test_hashed_strings_are_written_for_keras_and_refused_by_numeric_targets(flavour: str, tmp_path: Path) -> None:
    """Strings hash in Keras only (the runtime and the numeric targets take numbers): the Keras 3
    model written back hashes them as Keras did; TF.js and ONNX refuse the layer by name."""
    keras = _keras("keras")
    model, (words,) = _hashing_strings(_keras(flavour), np.random.default_rng(0))
    source = tmp_path / ("m.h5" if flavour == "tf_keras" else "m.keras")
    model.save(source)
    expected = model.predict(_tensor(words), verbose=0)
    assert _write(source, "keras", tmp_path / "out.keras", None)
    back = keras.saving.load_model(tmp_path / "out.keras", compile=False, safe_mode=True)
    _close(back.predict(_tensor(words), verbose=0), expected)
    for target, out in (("tfjs", tmp_path / "tfjs"), ("onnx", tmp_path / "m.onnx")):
        _write(source, target, out, "Hashing")


@pytest.mark.parametrize("layer,why", [("AutoContrast", "per-channel value range")])
def test_layers_kconvert_cannot_express_are_refused_saying_why(tmp_path: Path, layer: str, why: str) -> None:
    keras = _keras("keras")
    x = keras.Input((6, 6, 3))
    keras.Model(x, keras.layers.AutoContrast()(x)).save(tmp_path / "m.keras")
    with pytest.raises(IncompatibleKerasConfigurationException, match=why) as err:
        kconvert.load(tmp_path / "m.keras")
    assert layer in str(err.value)
