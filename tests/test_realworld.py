"""The real-world Keras corpus (``../shared/fixtures/keras-realworld``), file by file.

Requirement: every file either loads with weights of the right shapes, or raises one of the two
typed exceptions (:class:`IncompatibleKerasConfigurationException`, of which :class:`InputReadError`
is a subclass, or :class:`UnsupportedKerasConfigurationException`) with a clear reason; no other
exception type escapes.

What each file must do comes from MANIFEST.md (kind, Keras version, layers, companions, DL4J's
verdict and notes) and from the small tables below; what a loaded model must hold is computed from
the files themselves with h5py and from Keras's own semantics, never from kconvert.  The files are
untrusted by design: nothing here imports Keras or unpickles anything.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

import kconvert
from kconvert.errors import (
    IncompatibleKerasConfigurationException,
    InputReadError,
    KConvertError,
    UnsupportedKerasConfigurationException,
)
from tests.conftest import REALWORLD

pytestmark = pytest.mark.shared

# -- MANIFEST.md ---------------------------------------------------------------------------------

KINDS = {
    "full model (model.save)": "full",
    "model config JSON (to_json)": "config",
    "weights only (save_weights)": "weights",
    "expected I/O (inputs/outputs/predictions[/activations])": "io",
    "generator/predict script": "other",
    "text data": "other",
}
MODEL_KINDS = ("full", "config", "weights")


@dataclass(frozen=True)
class Entry:
    """One row of MANIFEST.md's file table."""

    path: str  # relative to the corpus root
    kind: str  # a value of KINDS, or "unknown"
    keras: str | None
    backend: str | None
    model_class: str
    layers: frozenset[str]
    companions: tuple[str, ...]  # relative to the corpus root
    dl4j: str
    note: str


def _version_cell(cell: str) -> tuple[str | None, str | None]:
    keras, _, backend = (part.strip() for part in cell.partition("/"))
    return (keras if keras not in ("", "-") else None), (backend if backend not in ("", "-") else None)


def read_manifest(root: Path) -> list[Entry]:
    """The rows of the ``## Files`` table (10 cells each; none of them contains a '|')."""
    entries: list[Entry] = []
    in_files = False
    for line in (root / "MANIFEST.md").read_text(encoding="utf-8").splitlines():
        in_files = in_files or line.startswith("## Files")
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not (in_files and line.startswith("| `") and len(cells) == 10):
            continue
        path = cells[0].strip("`")
        folder = str(Path(path).parent)

        def companion(name: str, folder: str = folder) -> str:
            return name[len("root:"):] if name.startswith("root:") else f"{folder}/{name}"

        keras, backend = _version_cell(cells[2])
        entries.append(Entry(
            path=path, kind=KINDS.get(cells[1], "unknown"), keras=keras, backend=backend,
            model_class=cells[3], layers=frozenset(c.strip() for c in cells[4].split(",") if c.strip()),
            companions=tuple(companion(c) for c in re.findall(r"`([^`]+)`", cells[6])),
            dl4j=cells[7], note=cells[8]))
    return entries


MANIFEST: list[Entry] = read_manifest(REALWORLD) if (REALWORLD / "MANIFEST.md").is_file() else []
BY_PATH: dict[str, Entry] = {e.path: e for e in MANIFEST}


def cases(predicate: Callable[[Entry], bool]) -> list[Any]:
    """Manifest entries as test parameters; one placeholder when the corpus is absent, so that the
    ``realworld`` fixture skips the test (or fails it under CI) instead of pytest collecting nothing."""
    params = [pytest.param(e, id=e.path) for e in MANIFEST if predicate(e)]
    return params or [pytest.param(None, id="corpus-absent")]


# -- expected outcomes -----------------------------------------------------------------------------

LENET = "kotlindl/tensorflow/src/test/resources/inference/lenet"
TFSCOPE = "dl4j-test-resources/tfscope"
LAMBDA_HINT = ("Lambda", "never runs", "kconvert.register_lambda(")

#: files kconvert refuses on their own: (exception type, layer the error names, message fragments)
REFUSED: dict[str, tuple[type[KConvertError], str | None, tuple[str, ...]]] = {
    "dl4j-test-resources/examples/lambda/model_lambda.h5":
        (IncompatibleKerasConfigurationException, "lambda_3", LAMBDA_HINT),
    "dl4j-test-resources/examples/lambda/sequential_lambda.h5":
        (IncompatibleKerasConfigurationException, "lambda_1", LAMBDA_HINT),
    "dl4j-test-resources/weights/space_to_depth_graph_tensorflow_2.h5":
        (IncompatibleKerasConfigurationException, "space_to_depth_x2", LAMBDA_HINT),
    "dl4j-test-resources/weights/space_to_depth_simple_tensorflow_1.h5":
        (IncompatibleKerasConfigurationException, "space_to_depth_x2", LAMBDA_HINT),
    "dl4j-test-resources/weights/space_to_depth_simple_tensorflow_2.h5":
        (IncompatibleKerasConfigurationException, "space_to_depth_x2", LAMBDA_HINT),
    f"{LENET}/wrongJson/model.json": (InputReadError, None, ("encoded twice", "decode it once")),
}
#: training-only settings kconvert does not carry: refused only with enforce_training_config=True
#: (both configs hold a Keras 1 Embedding with dropout=0.2, which Keras 2 dropped)
UNSUPPORTED_WHEN_ENFORCED: dict[str, tuple[str, tuple[str, ...]]] = {
    f"dl4j-test-resources/configs/keras1/imdb_lstm_{be}_keras_1_config.json":
        ("embedding_1", ("key 'dropout'", "Embedding dropout=0.2 is not carried"))
    for be in ("tf", "th")
}
#: DL4J refuses these layers (per MANIFEST); kconvert reads them, so the files must load
BEYOND_DL4J = {"ConvLSTM2D", "LocallyConnected2D", "TensorFlowOpLayer"}
#: a weights file alone is refused, pointing at the right call
WEIGHTS_ALONE = (InputReadError, None, ("weights only", "kconvert.load(config, weights=...)"))
#: configs for weights files whose MANIFEST row names none (tfscope: to_json + save_weights pairs;
#: lenet: the KotlinDL test pairs modelConfig.json with mnist_weights_only.h5)
CONFIG_FOR = {
    f"{TFSCOPE}/model.weight": f"{TFSCOPE}/model.json",
    f"{TFSCOPE}/model.weight.with.tensorflow.scope": f"{TFSCOPE}/model.json.with.tensorflow.scope",
    f"{LENET}/mnist_weights_only.h5": f"{LENET}/modelConfig.json",
}
#: files in which Keras split an over-long name list into ``layer_names0``, ``layer_names1``...:
#: none in this corpus (checked by test_chunked_name_attributes)
CHUNKED_FILES: frozenset[str] = frozenset()


def config_for(entry: Entry) -> str:
    """The to_json config that goes with a save_weights file."""
    if entry.path in CONFIG_FOR:
        return CONFIG_FOR[entry.path]
    (config,) = [c for c in entry.companions if c.endswith("_config.json")]
    return config


def described_by(entry: Entry) -> Entry:
    """The manifest row describing the model a file belongs to (its config for a weights file)."""
    return BY_PATH[config_for(entry)] if entry.kind == "weights" else entry


def keras1_lstm(entry: Entry) -> bool:
    model = described_by(entry)
    return (entry.kind in ("full", "weights") and entry.path not in REFUSED and "LSTM" in model.layers
            and (model.keras or "").startswith("1."))


# -- independent facts, read with h5py -------------------------------------------------------------

#: Keras 1 saved LSTM/GRU gates as separate arrays (``lstm_1_W_i``); Keras 2 concatenates them
KERAS1_GATE = re.compile(r"_([WUb])_[ifcozrh](?=(:\d+)?$)")
LSTM_GATES_KERAS2_ORDER = "ifco"  # keras.engine.saving: Keras 1 (i, c, f, o) -> Keras 2 (i, f, c, o)


def weights_root(f: h5py.File) -> h5py.Group:
    """``model_weights`` for model.save files, the root for save_weights files."""
    return f["model_weights"] if "model_config" in f.attrs else f


def saved_datasets(path: Path) -> dict[str, tuple[int, ...]]:
    """Every dataset under the file's weight groups, by absolute HDF5 path."""
    found: dict[str, tuple[int, ...]] = {}
    with h5py.File(path, "r") as f:
        weights_root(f).visititems(
            lambda _, obj: found.__setitem__(obj.name, obj.shape) if isinstance(obj, h5py.Dataset) else None)
    return found


def element_count(datasets: dict[str, tuple[int, ...]]) -> int:
    return sum(int(np.prod(shape, dtype=np.int64)) for shape in datasets.values())


def merged_count(datasets: dict[str, tuple[int, ...]]) -> int:
    """How many weights the datasets make once Keras 1 per-gate arrays are concatenated."""
    return len({KERAS1_GATE.sub(r"_\1", name) for name in datasets})


def as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


# -- checks on loaded models -----------------------------------------------------------------------

def datasets_read(weights: Any, weights_file: Path) -> list[str]:
    """The HDF5 datasets some weights read, from their origins (``file:/path``, joined by ' + ')."""
    pattern = re.compile(re.escape(os.fspath(weights_file)) + r":(/\S+)")
    return [p for w in weights for p in pattern.findall(w.origin)]


def check_loaded(model: kconvert.Model, weights_file: Path | None) -> None:
    """Valid graph; every saved dataset bound exactly once, at the shape the config calls for."""
    model.validate()  # checks each weight's shape against the one its layer's config calls for
    bound = list(model.iter_weights())
    for name, weight in bound:
        assert weight.numpy().shape == weight.shape, name
    if weights_file is None:
        assert not bound
        assert isinstance(model.param_count(), int)
        return
    saved = saved_datasets(weights_file)
    read = datasets_read((w for _, w in bound), weights_file)
    assert sorted(read) == sorted(saved), "datasets not consumed exactly once"
    assert len(bound) == merged_count(saved)
    assert sum(w.size for _, w in bound) == element_count(saved)
    assert model.param_count() == element_count(saved)


def source_classes(model: kconvert.Model) -> set[str | None]:
    """The Keras classes of the model's layers and of the layers Keras wrappers hold."""
    found = set()
    for layer in model.layers:
        found.add(layer.source_class)
        if layer.source_class in ("Bidirectional", "TimeDistributed"):
            found |= {sub.source_class for sub in layer.sublayers()}
    return found


def check_clear_error(err: KConvertError, path: Path, layer: str | None, fragments: tuple[str, ...]) -> None:
    """A one-line message that names the file, the layer when there is one, and the reason."""
    message = str(err)
    assert "\n" not in message and err.reason
    assert err.file == os.fspath(path)
    if layer is not None:
        assert err.layer == layer and f"'{layer}'" in message
    for fragment in fragments:
        assert fragment in message


def load_and_check(path: Path, **options: Any) -> kconvert.Model:
    """Load a model.save file and run :func:`check_loaded`; the caller closes the model."""
    model = kconvert.load(path, **options)
    try:
        check_loaded(model, path)
    except BaseException:
        model.close()
        raise
    return model


# -- the corpus and its manifest -------------------------------------------------------------------

def test_manifest_lists_the_whole_corpus(realworld: Path) -> None:
    on_disk = {str(p.relative_to(realworld)) for p in realworld.rglob("*") if p.is_file()} - {"MANIFEST.md"}
    assert set(BY_PATH) == on_disk
    assert len(MANIFEST) == len(BY_PATH) == 275
    counts = {kind: sum(e.kind == kind for e in MANIFEST) for kind in set(KINDS.values()) | {"unknown"}}
    assert counts == {"full": 126, "config": 70, "weights": 31, "io": 27, "other": 21, "unknown": 0}
    assert all(e.path.endswith("_inputs_and_outputs.h5") == (e.kind == "io") for e in MANIFEST)


def test_outcome_table_agrees_with_dl4j_column(realworld: Path) -> None:
    """Refused here exactly where DL4J fails too, except for the layers kconvert supports."""
    dl4j_fails = {e.path for e in MANIFEST if e.dl4j.startswith(("Lambda", "unsupported", "fails"))}
    beyond = {e.path for e in MANIFEST if e.dl4j.startswith("unsupported") and e.layers & BEYOND_DL4J}
    assert set(REFUSED) == dl4j_fails - beyond
    assert len(beyond) == 4
    assert all(e.kind in MODEL_KINDS for e in map(BY_PATH.get, REFUSED))


@pytest.mark.parametrize("entry", cases(lambda e: e.kind in MODEL_KINDS))
def test_file_outcome(realworld: Path, entry: Entry) -> None:
    """Each model file alone: loads and checks out, or is refused as the tables say."""
    path = realworld / entry.path
    refused = REFUSED.get(entry.path) or (WEIGHTS_ALONE if entry.kind == "weights" else None)
    if refused is not None:
        error, layer, fragments = refused
        with pytest.raises(error) as info:
            kconvert.load(path).close()
        check_clear_error(info.value, path, layer, fragments)
        return
    with kconvert.load(path) as model:
        check_loaded(model, path if entry.kind == "full" else None)
        assert model.provenance.keras_version == entry.keras
        assert model.provenance.model_class == entry.model_class
        if entry.kind == "full" and entry.backend is not None:
            assert model.provenance.backend == entry.backend and not model.provenance.backend_assumed
        elif entry.kind == "full":  # not recorded (Keras 1): inferred, and said to be
            assert model.provenance.backend in ("tensorflow", "theano") and model.provenance.backend_assumed
        # the layer classes MANIFEST lists, plus the InputLayer Keras adds to a Sequential model
        assert entry.layers <= source_classes(model) <= entry.layers | {"InputLayer"}
        full_model = [c for c in entry.companions if c.endswith("_model.h5")]
        if entry.kind == "config" and full_model:
            assert model.param_count() == element_count(saved_datasets(realworld / full_model[0]))
    if entry.path in UNSUPPORTED_WHEN_ENFORCED:
        layer, fragments = UNSUPPORTED_WHEN_ENFORCED[entry.path]
        with pytest.raises(UnsupportedKerasConfigurationException) as info:
            kconvert.load(path, enforce_training_config=True)
        check_clear_error(info.value, path, layer, fragments)
    else:
        kconvert.load(path, enforce_training_config=True).close()


@pytest.mark.parametrize("by", ["order", "name"])
@pytest.mark.parametrize("entry", cases(lambda e: e.kind == "weights"))
def test_weights_file_with_its_config(realworld: Path, entry: Entry, by: str) -> None:
    weights = realworld / entry.path
    with kconvert.load(realworld / config_for(entry), weights=weights, weights_by=by) as model:
        check_loaded(model, weights)
        assert model.provenance.weights_source == os.fspath(weights)


def test_mismatched_layer_names_fail_by_name(realworld: Path) -> None:
    """KotlinDL's negative case: conv2d_12 (config) against conv2d (weights file)."""
    config, weights = realworld / LENET / "mismatchModelConfig.json", realworld / LENET / "mnist_weights_only.h5"
    with pytest.raises(IncompatibleKerasConfigurationException) as info:
        kconvert.load(config, weights=weights, weights_by="name")
    check_clear_error(info.value, config, None, (
        "no saved weights for layer(s) conv2d_12", "saved weights for layer(s) not in the model: conv2d",
        "matching by layer name"))
    # like Keras's load_weights, matching by order ignores the names: same architecture, so it loads
    with kconvert.load(config, weights=weights, weights_by="order") as model:
        check_loaded(model, weights)


@pytest.mark.parametrize("entry", cases(lambda e: e.kind == "io"))
def test_expected_io_files_are_not_models(realworld: Path, entry: Entry) -> None:
    path = realworld / entry.path
    with h5py.File(path, "r") as f:  # DL4J's convention, per MANIFEST
        assert {"inputs", "outputs"} <= set(f.attrs) and "model_config" not in f.attrs
        assert json.loads(as_str(f.attrs["inputs"]))["inputs"]
    with pytest.raises(InputReadError) as info:
        kconvert.load(path)
    check_clear_error(info.value, path, None, ("not a Keras model",))


def test_no_untyped_exception_escapes(realworld: Path) -> None:
    """Every file of the corpus, passed alone: a model or a KConvertError, nothing else."""
    escaped: list[str] = []
    double_encoded: set[str] = set()
    files = sorted(p for p in realworld.rglob("*") if p.is_file())
    for path in files:
        rel = str(path.relative_to(realworld))
        try:
            kconvert.load(path).close()
        except KConvertError as exc:
            if not exc.reason or exc.file != os.fspath(path):
                escaped.append(f"{rel}: unclear error {exc!r}")
            if "encoded twice" in exc.reason:
                double_encoded.add(rel)
        except Exception as exc:  # noqa: BLE001 -- what the test is looking for
            escaped.append(f"{rel}: {type(exc).__name__}: {exc}")
    assert len(files) == 276
    assert not escaped, "\n".join(escaped)
    # a clear reason: only the really double-encoded JSON is called so (not scripts or text data)
    assert double_encoded == {f"{LENET}/wrongJson/model.json"}


# -- Lambda layers load once a replacement is registered -------------------------------------------

TIMES_3 = {"class_name": "Rescaling", "config": {"scale": 3.0}}


def square(width: int) -> dict[str, Any]:
    """x * x as a Keras functional config: Multiply applied to the input twice."""
    return {"class_name": "Model", "config": {
        "name": "square",
        "layers": [
            {"class_name": "InputLayer", "name": "x", "inbound_nodes": [],
             "config": {"name": "x", "batch_input_shape": [None, width]}},
            {"class_name": "Multiply", "name": "xx", "config": {"name": "xx"},
             "inbound_nodes": [[["x", 0, 0, {}], ["x", 0, 0, {}]]]}],
        "input_layers": [["x", 0, 0]], "output_layers": [["xx", 0, 0]]}}


#: tf.nn.space_to_depth(x, 2) on NHWC (6, 6, 4): split each spatial axis into (3, 2), move the two
#: block axes next to the channels, merge them: output channel (bi * 2 + bj) * 4 + c, as TF does
SPACE_TO_DEPTH = {"class_name": "Sequential", "config": {"name": "space_to_depth", "layers": [
    {"class_name": "Reshape", "config": {"name": "split", "target_shape": [3, 2, 3, 2, 4],
                                         "batch_input_shape": [None, 6, 6, 4]}},
    {"class_name": "Permute", "config": {"name": "blocks_last", "dims": [1, 3, 2, 4, 5]}},
    {"class_name": "Reshape", "config": {"name": "merge", "target_shape": [3, 3, 16]}}]}}

#: DL4J's stand-ins: x * x and x * 3 (lambda_1/2 sequential, lambda_3/4 functional; Dense(64) before)
LAMBDA_CASES = {
    "dl4j-test-resources/examples/lambda/sequential_lambda.h5":
        ({"lambda_1": square(64), "lambda_2": TIMES_3}, [(None, 32)]),
    "dl4j-test-resources/examples/lambda/model_lambda.h5":
        ({"lambda_3": square(64), "lambda_4": TIMES_3}, [(None, 10)]),
    "dl4j-test-resources/weights/space_to_depth_simple_tensorflow_1.h5":
        ({"space_to_depth_x2": SPACE_TO_DEPTH}, [(None, 3, 3, 16)]),
    "dl4j-test-resources/weights/space_to_depth_simple_tensorflow_2.h5":
        ({"space_to_depth_x2": SPACE_TO_DEPTH}, [(None, 3, 3, 16)]),  # MANIFEST: [10,3,3,16]
    "dl4j-test-resources/weights/space_to_depth_graph_tensorflow_2.h5":
        ({"space_to_depth_x2": SPACE_TO_DEPTH}, [(None, 3, 3, 32)]),  # concatenated with a (3,3,16) input
}


@pytest.mark.parametrize("entry", cases(lambda e: e.path in LAMBDA_CASES))
def test_lambda_files_load_with_replacements(realworld: Path, entry: Entry) -> None:
    lambdas, output_shapes = LAMBDA_CASES[entry.path]
    with load_and_check(realworld / entry.path, lambdas=lambdas) as model:
        assert model.output_shapes == output_shapes
        for name, replacement in lambdas.items():
            layer = model.layer(name)
            kind = {"Sequential": "Model"}.get(replacement["class_name"], replacement["class_name"])
            assert (layer.source_class, layer.kind) == ("Lambda", kind)
        assert [n.layer for n in model.report.by_category("rewritten")] == list(lambdas)


def test_lambda_registry_with_a_callable(realworld: Path) -> None:
    """register_lambda (global, callable form) sees the Lambda's fingerprint, never its code."""
    path = realworld / "dl4j-test-resources/weights/space_to_depth_simple_tensorflow_2.h5"
    seen: list[kconvert.LambdaInfo] = []

    def replace(info: kconvert.LambdaInfo) -> dict[str, Any]:
        seen.append(info)
        return SPACE_TO_DEPTH

    kconvert.register_lambda("space_to_depth_x2", replace)
    try:
        with load_and_check(path) as model:
            assert model.output_shapes == [(None, 3, 3, 16)]
    finally:
        kconvert.unregister_lambda("space_to_depth_x2")
    (info,) = seen
    assert info.name == "space_to_depth_x2" and info.function_type == "lambda"
    assert re.fullmatch(r"[0-9a-f]{64}", info.code_sha256 or "") and info.code_bytes > 0
    with pytest.raises(IncompatibleKerasConfigurationException):
        kconvert.load(path)  # unregistered again


# -- cross-cutting facts MANIFEST documents --------------------------------------------------------

@pytest.mark.parametrize("entry", cases(lambda e: e.kind == "full" and (e.keras or "").startswith("1.")
                                        and e.path not in REFUSED))
def test_keras1_files_record_no_backend(realworld: Path, entry: Entry) -> None:
    path = realworld / entry.path
    with h5py.File(path, "r") as f:
        assert "backend" not in f.attrs and "backend" not in weights_root(f).attrs
        assert as_str(f.attrs["keras_version"]) == entry.keras
    with load_and_check(path) as model:
        assert model.provenance.backend_assumed and model.provenance.keras_version == entry.keras
        # TensorFlow named variables "dense_1_W:0"; Theano kept "dense_1_W"
        theano = "theano" in entry.path or "_th_" in entry.path
        assert model.provenance.backend == ("theano" if theano else "tensorflow")


@pytest.mark.parametrize("entry", cases(lambda e: e.keras == "2.2.4-tf" and e.path not in REFUSED))
def test_tf_keras_version_strings(realworld: Path, entry: Entry) -> None:
    """tf.keras wrote '2.2.4-tf', not a plain version number; such files load as Keras 2."""
    path = realworld / entry.path
    if entry.kind == "config":
        assert json.loads(path.read_text(encoding="utf-8"))["keras_version"] == "2.2.4-tf"
        model = kconvert.load(path)
    else:
        with h5py.File(path, "r") as f:
            assert as_str(f.attrs["keras_version"]) == "2.2.4-tf"
        if entry.kind == "weights":
            model = kconvert.load(realworld / config_for(entry), weights=path)
        else:
            model = kconvert.load(path)
    with model:
        check_loaded(model, path if entry.kind != "config" else None)
        assert model.provenance.keras_version == "2.2.4-tf"


def _groups(group: h5py.Group) -> Iterator[h5py.Group]:
    """The group and every group below it."""
    yield group
    for child in group.values():
        if isinstance(child, h5py.Group):
            yield from _groups(child)


def test_chunked_name_attributes(realworld: Path) -> None:
    """Keras splits name lists over 64 KiB into numbered chunks; no file here is that large."""
    chunked = re.compile(r"(layer|weight)_names\d+")
    found: set[str] = set()
    for entry in MANIFEST:
        if h5py.is_hdf5(realworld / entry.path):
            with h5py.File(realworld / entry.path, "r") as f:
                if any(chunked.fullmatch(a) for g in _groups(f) for a in g.attrs):
                    found.add(entry.path)
    assert found == CHUNKED_FILES
    for path in found:  # a future file with chunks: it must load and bind everything
        load_and_check(realworld / path).close()


def test_top_level_model_weights_group(realworld: Path) -> None:
    """Keras >= 2.7 writes model_weights/top_level_model_weights; it belongs to no layer."""
    path = realworld / "dl4j-test-resources/weights/keras-attention.h5"
    with h5py.File(path, "r") as f:
        root = f["model_weights"]
        assert root.attrs["layer_names"].dtype.kind == "O"  # variable-length strings
        layer_names = [as_str(n) for n in root.attrs["layer_names"]]
        assert "top_level_model_weights" in root and "top_level_model_weights" not in layer_names
    with load_and_check(path) as model:
        assert [layer.name for layer in model.layers] == layer_names
        assert model.layer("attention").kind == "Attention" and not model.layer("attention").has_weights()
        assert model.param_count() == 2849


@pytest.mark.parametrize("source", [
    pytest.param((f"{TFSCOPE}/model.h5.with.tensorflow.scope", None), id="model.h5"),
    pytest.param((f"{TFSCOPE}/model.json.with.tensorflow.scope", f"{TFSCOPE}/model.weight.with.tensorflow.scope"),
                 id="model.json+model.weight"),
])
def test_name_scoped_groups(realworld: Path, source: tuple[str, str | None]) -> None:
    """A layer named 'dense_1/xxx/yyy' and weight names under 'global/shared/...': nested groups."""
    config, weights = source
    weights_file = realworld / (weights or config)
    with h5py.File(weights_file, "r") as f:
        group = weights_root(f)["dense_1/xxx/yyy"]
        names = [as_str(n) for n in group.attrs["weight_names"]]
        expected = {f"{group.name}/{n}": group[n].shape for n in names}
    assert len(expected) == 2 and all("global/shared/" in n for n in expected)
    model = kconvert.load(realworld / config, weights=weights_file if weights else None, weights_by="name")
    with model:
        check_loaded(model, weights_file)
        scoped = model.layer("dense_1/xxx/yyy")
        assert scoped.kind == "Dense"
        assert set(datasets_read(scoped.weights.values(), weights_file)) == set(expected)
        assert scoped.weights["kernel"].shape == (70, 256)


@pytest.mark.parametrize("entry", cases(lambda e: e.kind == "full" and "Bidirectional" in e.layers
                                        and e.path not in REFUSED))
def test_bidirectional_forward_and_backward_groups(realworld: Path, entry: Entry) -> None:
    path = realworld / entry.path
    with load_and_check(path) as model:
        wrappers = [layer for layer in model.layers if layer.kind == "Bidirectional"]
        assert wrappers
        for wrapper in wrappers:
            directions = {sub.name.split("_")[0]: sub for sub in wrapper.sublayers()}
            assert set(directions) == {"forward", "backward"}
            for direction, sub in directions.items():
                read = datasets_read(sub.weights.values(), path)
                assert read and all(f"/{direction}_" in p for p in read), (direction, read)
            shapes = [{k: w.shape for k, w in sub.weights.items()} for sub in directions.values()]
            assert shapes[0] == shapes[1] and set(shapes[0]) == {"kernel", "recurrent_kernel", "bias"}


@pytest.mark.parametrize("entry", cases(keras1_lstm))
def test_keras1_lstm_gates_concatenated(realworld: Path, entry: Entry) -> None:
    """Keras 1 per-gate arrays become Keras 2's fused kernels, gates in Keras 2 order (i, f, c, o)."""
    path = realworld / entry.path
    config = realworld / described_by(entry).path
    weights = path if entry.kind == "weights" else None
    with h5py.File(path, "r") as f:
        arrays = {}
        weights_root(f).visititems(
            lambda name, obj: arrays.__setitem__(name.rsplit("/", 1)[-1].split(":")[0], obj[()])
            if isinstance(obj, h5py.Dataset) else None)
    cells = {m.group(1) for n in arrays if (m := re.fullmatch(r"(.+)_[WUb]_[ifco]", n))}
    assert cells
    with kconvert.load(config, weights=weights) as model:
        check_loaded(model, path)
        bound = dict(model.iter_weights())
        for cell in cells:
            (prefix,) = {p.rsplit("/", 1)[0] for p in bound if p.rsplit("/", 2)[-2] == cell}
            for ours, theirs in (("kernel", "W"), ("recurrent_kernel", "U"), ("bias", "b")):
                expected = np.concatenate([arrays[f"{cell}_{theirs}_{g}"] for g in LSTM_GATES_KERAS2_ORDER], -1)
                np.testing.assert_array_equal(bound[f"{prefix}/{ours}"].numpy(), expected)


# -- known figures ---------------------------------------------------------------------------------

#: weights set to np.arange by weights/scripts/{dense,conv2d,sepconv}.py; Theano kernels are
#: convolution kernels, flipped on load as Keras's convert_kernel does (the backend is recorded
#: from Keras 2 on; Keras 1 files betray it by weight names without TensorFlow's ':0')
ARANGE = {
    "dense": {"kernel": (4, 6), "bias": (6,)},
    "conv2d": {"kernel": (3, 3, 5, 6), "bias": (6,)},
    "sepconv2d": {"depthwise_kernel": (3, 3, 5, 2), "pointwise_kernel": (1, 1, 10, 6)},
}
DETERMINISTIC = [
    *[(f"dense_{be}_{v}.h5", None, False) for be in ("tensorflow", "theano") for v in (1, 2)],
    ("conv2d_tensorflow_1.h5", None, False), ("conv2d_tensorflow_2.h5", None, False),
    ("conv2d_theano_1.h5", None, True),  # no backend recorded: its weight names lack ':0', so Theano
    ("conv2d_theano_1.h5", "tensorflow", False),  # the caller's word wins over the guess
    ("conv2d_theano_1.h5", "theano", True), ("conv2d_theano_2.h5", None, True),
    ("conv2d_theano_2.h5", "tensorflow", True),  # the recorded backend wins over the assumption
    ("sepconv2d_tensorflow_2.h5", None, False),
]


@pytest.mark.parametrize("name,backend,flipped", DETERMINISTIC)
def test_deterministic_weights(realworld: Path, name: str, backend: str | None, flipped: bool) -> None:
    path = realworld / "dl4j-test-resources/weights" / name
    with load_and_check(path, backend=backend) as model:
        (layer,) = [layer for layer in model.layers if layer.has_weights()]
        for weight, shape in ARANGE[name.split("_")[0]].items():
            expected = np.arange(np.prod(shape)).reshape(shape)
            if flipped and weight == "kernel":
                expected = expected[::-1, ::-1]
            np.testing.assert_array_equal(layer.weights[weight].numpy(), expected, err_msg=weight)


#: figures MANIFEST's notes quote from DL4J's tests: (params, input shapes, output shapes, quote)
KNOWN_FIGURES = {
    "dl4j-test-resources/weights/issue_9560.h5": (267590, [(None, 2048, 1)], [(None, 10)], "267590 params"),
    "dl4j-test-resources/weights/sepconv2d_tensorflow_2.h5": (156, [(None, 3, 4, 5)], [(None, 1, 2, 6)], "[1,1,2,6]"),
}


@pytest.mark.parametrize("entry", cases(lambda e: e.path in KNOWN_FIGURES))
def test_known_figures(realworld: Path, entry: Entry) -> None:
    params, inputs, outputs, quote = KNOWN_FIGURES[entry.path]
    assert quote in entry.note
    with load_and_check(realworld / entry.path) as model:
        assert model.param_count() == params
        assert (model.input_shapes, model.output_shapes) == (inputs, outputs)

