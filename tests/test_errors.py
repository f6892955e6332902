"""Malformed and hostile inputs through ``kconvert.load`` and the CLI.

Each case builds its input in tmp_path and names the exact kconvert exception type and the
fragments its one-line message must contain (always the file; the layer and key where there is
one).  Nothing but a :class:`kconvert.KConvertError` subclass may escape.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, NamedTuple

import h5py
import numpy as np
import pytest

import kconvert
from kconvert.errors import IncompatibleKerasConfigurationException as Incompatible
from kconvert.errors import InputReadError, KConvertError
from kconvert.errors import UnsupportedKerasConfigurationException as Unsupported
from tests.conftest import ROOT
from tests.helpers import (
    dense_model_config,
    dense_weights,
    functional_config,
    keras_layer,
    raises_exactly,
    sequential_config,
    write_keras2_h5,
    write_keras_zip,
    write_small_h5,
)

KERNEL = "model_weights/dense_0/dense_0/kernel:0"  # (4, 3) in write_small_h5's file


class Expect(NamedTuple):
    """What loading ``source`` (with ``weights``) must raise."""

    source: Path
    error: type[KConvertError]
    fragments: tuple[str, ...]
    weights: Path | None = None
    options: dict[str, Any] = {}


CASES: dict[str, Callable[[Path], Expect]] = {}


def case(fn: Callable[[Path], Expect]) -> Callable[[Path], Expect]:
    CASES[fn.__name__] = fn
    return fn


def write(path: Path, content: Any) -> Path:
    """Write bytes, text, or anything else as JSON."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def json_case(tmp: Path, config: Any, error: type[KConvertError], *fragments: str) -> Expect:
    return Expect(write(tmp / "model.json", config), error, fragments)


def replace_kernel(path: Path, make: Callable[[h5py.File], None]) -> Path:
    """Delete dense_0's kernel dataset of a written model file and let ``make`` put something there."""
    with h5py.File(path, "a") as f:
        del f[KERNEL]
        make(f)
    return path


def good_kernel_file(path: Path) -> Path:
    """A file holding a valid (4, 3) kernel at /x: following a link to it would make loading succeed."""
    with h5py.File(path, "w") as f:
        f["x"] = np.ones((4, 3), dtype="float32")
    return path


# -- paths and raw bytes -----------------------------------------------------------------------------

@case
def nonexistent_path(tmp: Path) -> Expect:
    return Expect(tmp / "missing.h5", InputReadError, ("no such file",))


@case
def directory(tmp: Path) -> Expect:
    (tmp / "saved_model").mkdir()
    return Expect(tmp / "saved_model", InputReadError, ("is a directory",))


@case
def empty_file(tmp: Path) -> Expect:
    return Expect(write(tmp / "model.h5", b""), InputReadError, ())


@case
def random_bytes(tmp: Path) -> Expect:
    return Expect(write(tmp / "model.h5", np.random.default_rng(0).bytes(4096)), InputReadError, ("not UTF-8",))


@case
def hdf5_signature_then_garbage(tmp: Path) -> Expect:
    data = b"\x89HDF\r\n\x1a\n" + np.random.default_rng(1).bytes(4096)
    return Expect(write(tmp / "model.h5", data), InputReadError, ("not a readable HDF5 file",))


@case
def plain_hdf5(tmp: Path) -> Expect:
    with h5py.File(tmp / "data.h5", "w") as f:
        f["x"] = np.zeros(3)
    return Expect(tmp / "data.h5", InputReadError, ("not a Keras model",))


# -- HDF5 links, external storage, shape bombs --------------------------------------------------------

@case
def soft_link_to_a_valid_dataset(tmp: Path) -> Expect:
    def make(f: h5py.File) -> None:
        f["stash"] = np.ones((4, 3), dtype="float32")
        f[KERNEL] = h5py.SoftLink("/stash")
    path = replace_kernel(write_small_h5(tmp / "model.h5"), make)
    return Expect(path, InputReadError, ("soft link", "/model_weights/dense_0/dense_0/kernel:0", "dense_0"))


@case
def external_link_to_a_missing_file(tmp: Path) -> Expect:
    target = tmp / "elsewhere" / "missing.h5"
    path = replace_kernel(write_small_h5(tmp / "model.h5"), lambda f: f.__setitem__(
        KERNEL, h5py.ExternalLink(str(target), "/x")))
    return Expect(path, InputReadError, ("external link", "kernel:0"))


@case
def external_link_to_a_valid_file(tmp: Path) -> Expect:
    target = good_kernel_file(tmp / "target.h5")
    path = replace_kernel(write_small_h5(tmp / "model.h5"), lambda f: f.__setitem__(
        KERNEL, h5py.ExternalLink(str(target), "/x")))
    return Expect(path, InputReadError, ("external link", "kernel:0"))


@case
def external_storage(tmp: Path) -> Expect:
    raw = tmp / "kernel.bin"
    np.ones((4, 3), dtype="float32").tofile(raw)  # valid data: reading it would succeed
    path = replace_kernel(write_small_h5(tmp / "model.h5"), lambda f: f.create_dataset(
        KERNEL, shape=(4, 3), dtype="float32", external=[(str(raw), 0, 48)]))
    return Expect(path, InputReadError, ("outside the file", "kernel:0"))


@case
def shape_bomb(tmp: Path) -> Expect:
    """A kernel declaring 4 x 750M float32 (12 GB) of zeros in chunks that were never written."""
    path = replace_kernel(write_small_h5(tmp / "model.h5"), lambda f: f.create_dataset(
        KERNEL, shape=(4, 750_000_000), dtype="float32", chunks=(1, 1 << 20), compression="gzip"))
    assert path.stat().st_size < 100_000
    return Expect(path, InputReadError, ("declares 12000000000 bytes", "shape bomb", "kernel:0"))


@case
def dense_shape_bomb(tmp: Path) -> Expect:
    """The same with every chunk written: zeros compress ~1000:1, so the file stays small."""
    def make(f: h5py.File) -> None:
        ds = f.create_dataset(KERNEL, shape=(4, 1 << 22), dtype="float32", chunks=(1, 1 << 22),
                              compression="gzip", compression_opts=9)
        ds[...] = 0.0
    path = replace_kernel(write_small_h5(tmp / "model.h5"), make)
    assert path.stat().st_size < 1_000_000
    return Expect(path, InputReadError, ("shape bomb", "kernel:0"))


@case
def group_where_a_weight_should_be(tmp: Path) -> Expect:
    path = replace_kernel(write_small_h5(tmp / "model.h5"), lambda f: f.create_group(KERNEL))
    return Expect(path, InputReadError, ("is a group, not a weight array", "kernel:0"))


@case
def strings_where_a_weight_should_be(tmp: Path) -> Expect:
    path = replace_kernel(write_small_h5(tmp / "model.h5"), lambda f: f.create_dataset(
        KERNEL, data=np.array([[b"w"] * 3] * 4)))
    return Expect(path, InputReadError, ("not numbers", "kernel:0"))


@case
def weight_of_the_wrong_shape(tmp: Path) -> Expect:
    weights = dense_weights((3, 2))
    weights["dense_1"]["kernel:0"] = np.zeros((3, 5), dtype="float32")
    path = write_keras2_h5(tmp / "model.h5", dense_model_config((3, 2)), weights)
    return Expect(path, Incompatible, ("layer 'dense_1' (Dense)", "key 'kernel'", "(3, 5)", "(3, 2)"))


@case
def weight_group_without_weight_names(tmp: Path) -> Expect:
    path = write_small_h5(tmp / "model.h5")
    with h5py.File(path, "a") as f:
        del f["model_weights/dense_0"].attrs["weight_names"]
    return Expect(path, InputReadError, ("key 'weight_names'", "/model_weights/dense_0"))


@case
def layer_names_naming_a_missing_group(tmp: Path) -> Expect:
    path = write_small_h5(tmp / "model.h5")
    with h5py.File(path, "a") as f:
        del f["model_weights/dense_1"]
    return Expect(path, InputReadError, ("'/model_weights/dense_1' does not exist",))


@case
def model_config_that_is_not_json(tmp: Path) -> Expect:
    path = write_small_h5(tmp / "model.h5")
    with h5py.File(path, "a") as f:
        f.attrs["model_config"] = "{class_name: oops"
    return Expect(path, InputReadError, ("malformed JSON",))


@case
def model_config_that_is_not_a_string(tmp: Path) -> Expect:
    path = write_small_h5(tmp / "model.h5")
    with h5py.File(path, "a") as f:
        f.attrs["model_config"] = np.arange(3)
    return Expect(path, InputReadError, ("attribute 'model_config'", "not a string"))


@case
def weights_only_file_given_as_the_model(tmp: Path) -> Expect:
    path = write_keras2_h5(tmp / "weights.h5", None, dense_weights())
    return Expect(path, InputReadError, ("weights only", "kconvert.load(config, weights=...)"))


@case
def weights_with_a_different_layer_count(tmp: Path) -> Expect:
    weights = write_keras2_h5(tmp / "weights.h5", None, dense_weights((3, 2)))
    config = write(tmp / "model.json", dense_model_config((3, 2, 2)))
    return Expect(config, Incompatible, ("weights for 2 layer(s) [dense_0, dense_1]",
                                         "the model has 3 layer(s) with weights [dense_0, dense_1, dense_2]"),
                  weights=weights)


@case
def weights_by_name_with_a_missing_layer(tmp: Path) -> Expect:
    weights = write_keras2_h5(tmp / "weights.h5", None, dense_weights((3, 2)))
    config = write(tmp / "model.json", dense_model_config((3, 2, 2)))
    return Expect(config, Incompatible, ("no saved weights for layer(s) dense_2",), weights=weights,
                  options={"weights_by": "name"})


@case
def weights_that_are_json(tmp: Path) -> Expect:
    config = write(tmp / "model.json", dense_model_config())
    return Expect(config, InputReadError, ("weights must be an HDF5 file",), weights=config)


# -- configurations -----------------------------------------------------------------------------------

@case
def unknown_layer_class(tmp: Path) -> Expect:
    return json_case(tmp, sequential_config(keras_layer("Dence", "d", units=3)), Incompatible,
                     "layer 'd' (Dence)", "unknown layer class 'Dence'", "did you mean 'Dense'")


@case
def refused_layer_class(tmp: Path) -> Expect:
    return json_case(tmp, sequential_config(keras_layer("TFOpLambda", "tf.math.add", function="math.add")),
                     Incompatible, "layer 'tf.math.add'", "TensorFlow function")


@case
def layer_without_class_name(tmp: Path) -> Expect:
    return json_case(tmp, sequential_config({"config": {"name": "d", "units": 3}}), Incompatible,
                     "must be an object with a 'class_name'")


@case
def model_without_class_name(tmp: Path) -> Expect:
    return json_case(tmp, {"config": {"layers": []}}, Incompatible, "key 'class_name'", "no 'class_name'")


@case
def layer_without_config(tmp: Path) -> Expect:
    return json_case(tmp, sequential_config({"class_name": "Dense", "name": "d"}), Incompatible,
                     "layer 'd'", "key 'config'", "no 'config' object")


@case
def negative_units(tmp: Path) -> Expect:
    return json_case(tmp, sequential_config(keras_layer("Dense", "d", units=-3)), Incompatible,
                     "layer 'd' (Dense)", "key 'units'", "got -3")


@case
def units_as_a_string(tmp: Path) -> Expect:
    return json_case(tmp, sequential_config(keras_layer("Dense", "d", units="3")), Incompatible,
                     "layer 'd' (Dense)", "key 'units'", "expected an integer, got '3'")


@case
def units_infinite(tmp: Path) -> Expect:
    text = json.dumps(sequential_config(keras_layer("Dense", "d", units=0))).replace('"units": 0', '"units": Infinity')
    return json_case(tmp, text, Incompatible, "layer 'd' (Dense)", "key 'units'", "got inf")


@case
def units_nan(tmp: Path) -> Expect:
    text = json.dumps(sequential_config(keras_layer("Dense", "d", units=0))).replace('"units": 0', '"units": NaN')
    return json_case(tmp, text, Incompatible, "layer 'd' (Dense)", "key 'units'", "got nan")


@case
def kernel_too_big_for_the_input(tmp: Path) -> Expect:
    config = sequential_config(keras_layer("Conv1D", "c", filters=2, kernel_size=30), input_shape=(None, 8, 2))
    return json_case(tmp, config, Incompatible, "layer 'c' (Conv1D)", "does not fit an input of length 8")


@case
def initializer_with_a_malformed_class_name(tmp: Path) -> Expect:
    dense = keras_layer("Dense", "d", units=2, kernel_initializer={"class_name": ["GlorotUniform"], "config": {}})
    return Expect(write(tmp / "model.json", sequential_config(dense)), Unsupported, (
        "layer 'd' (Dense)", "key 'kernel_initializer'", "unknown initializer"),
        options={"enforce_training_config": True})


@case
def inbound_node_naming_an_unknown_layer(tmp: Path) -> Expect:
    config = functional_config([(keras_layer("InputLayer", "x", batch_input_shape=[None, 4]), []),
                                (keras_layer("Dense", "d", units=2), ["ghost"])], ["x"], ["d"])
    return json_case(tmp, config, Incompatible, "layer 'd' (Dense)", "unknown layer 'ghost'")


@case
def nested_model_naming_an_unknown_layer(tmp: Path) -> Expect:
    inner = functional_config([(keras_layer("InputLayer", "ix", batch_input_shape=[None, 4]), []),
                               (keras_layer("Dense", "idense", units=2), ["ghost"])], ["ix"], ["idense"], name="inner")
    inner_entry = {"class_name": "Functional", "config": inner["config"]}
    config = functional_config([(keras_layer("InputLayer", "x", batch_input_shape=[None, 4]), []),
                                (inner_entry, ["x"])], ["x"], ["inner"])
    return json_case(tmp, config, Incompatible, "layer 'idense'", "unknown layer 'ghost'")


@case
def output_index_out_of_range(tmp: Path) -> Expect:
    config = functional_config([(keras_layer("InputLayer", "x", batch_input_shape=[None, 4]), []),
                                (keras_layer("Dense", "d", units=2), ["x"])], ["x"], ["d"])
    config["config"]["output_layers"] = [["d", 0, 7]]
    return json_case(tmp, config, Incompatible, "output 'd.7'", "produces 1")


@case
def inbound_nodes_not_a_list(tmp: Path) -> Expect:
    config = functional_config([(keras_layer("InputLayer", "x", batch_input_shape=[None, 4]), []),
                                (keras_layer("Dense", "d", units=2), ["x"])], ["x"], ["d"])
    config["config"]["layers"][1]["inbound_nodes"] = 3
    return json_case(tmp, config, Incompatible, "layer 'd'", "key 'inbound_nodes'")


@case
def keras3_node_with_malformed_args(tmp: Path) -> Expect:
    config = functional_config([(keras_layer("InputLayer", "x", batch_input_shape=[None, 4]), []),
                                (keras_layer("Dense", "d", units=2), ["x"])], ["x"], ["d"])
    config["config"]["layers"][1]["inbound_nodes"] = [{"args": 5, "kwargs": []}]
    return json_case(tmp, config, Incompatible, "layer 'd' (Dense)", "key 'inbound_nodes'", "malformed inbound node")


@case
def keras3_tensor_with_malformed_config(tmp: Path) -> Expect:
    config = functional_config([(keras_layer("InputLayer", "x", batch_input_shape=[None, 4]), []),
                                (keras_layer("Dense", "d", units=2), ["x"])], ["x"], ["d"])
    config["config"]["layers"][1]["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__", "config": 1.5}]}]
    return json_case(tmp, config, Incompatible, "layer 'd' (Dense)", "malformed tensor reference")


@case
def duplicate_layer_names(tmp: Path) -> Expect:
    config = functional_config([(keras_layer("InputLayer", "x", batch_input_shape=[None, 4]), []),
                                (keras_layer("Dense", "d", units=2), ["x"]),
                                (keras_layer("Dense", "d", units=2), ["d"])], ["x"], ["d"])
    return json_case(tmp, config, Incompatible, "layer 'd'", "duplicate layer name 'd'")


@case
def sequential_of_non_objects(tmp: Path) -> Expect:
    return json_case(tmp, [1, 2, 3], Incompatible, "never built")


@case
def tfjs_model_json_without_its_shard(tmp: Path) -> Expect:
    tfjs = {"format": "layers-model", "generatedBy": "keras v2.15.0", "convertedBy": "TensorFlow.js Converter",
            "modelTopology": {"model_config": dense_model_config()},
            "weightsManifest": [{"paths": ["group1-shard1of1.bin"],
                                 "weights": [{"name": "d/kernel", "shape": [4, 2], "dtype": "float32"}]}]}
    return json_case(tmp, tfjs, InputReadError, "group1-shard1of1.bin", "missing", "weightsManifest[0].paths")


@case
def double_encoded_json(tmp: Path) -> Expect:
    return json_case(tmp, json.dumps(json.dumps(dense_model_config())), InputReadError, "encoded twice")


@case
def subclassed_model(tmp: Path) -> Expect:
    return json_case(tmp, {"class_name": "MyModel", "config": {}}, Incompatible, "key 'class_name'", "'MyModel'")


# -- .keras archives ---------------------------------------------------------------------------------

@case
def keras_zip_without_config(tmp: Path) -> Expect:
    path = write_keras_zip(tmp / "model.keras", {"metadata.json": "{}", "model.weights.h5": b""})
    return Expect(path, InputReadError, ("no config.json",))


@case
def keras_zip_member_declaring_a_huge_size(tmp: Path) -> Expect:
    """The central directory claims config.json expands to ~4 GB from a few hundred bytes."""
    path = write_keras_zip(tmp / "model.keras", {"config.json": json.dumps(dense_model_config()),
                                                 "metadata.json": "{}"})
    data = bytearray(path.read_bytes())
    entry = data.find(b"PK\x01\x02")
    while entry != -1:
        name_length = struct.unpack_from("<H", data, entry + 28)[0]
        if data[entry + 46:entry + 46 + name_length] == b"config.json":
            struct.pack_into("<I", data, entry + 24, 0xFFFF_FFF0)  # uncompressed size
        entry = data.find(b"PK\x01\x02", entry + 4)
    return Expect(write(path, bytes(data)), InputReadError, ("'config.json' declares 4294967280 bytes",))


@case
def keras_zip_that_is_not_a_zip(tmp: Path) -> Expect:
    path = write(tmp / "model.keras", b"PK\x03\x04" + np.random.default_rng(2).bytes(2048))
    return Expect(path, InputReadError, ("not a readable .keras archive",))


@case
def keras_zip_with_an_encrypted_member(tmp: Path) -> Expect:
    path = write_keras_zip(tmp / "model.keras", {"config.json": json.dumps(dense_model_config()),
                                                 "metadata.json": "{}"})
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the "encrypted" flag bit
        at = data.find(signature)
        while at != -1:
            struct.pack_into("<H", data, at + offset, struct.unpack_from("<H", data, at + offset)[0] | 1)
            at = data.find(signature, at + 4)
    return Expect(write(path, bytes(data)), InputReadError, ("not a readable .keras archive", "encrypted"))


@case
def keras_zip_with_corrupt_weights(tmp: Path) -> Expect:
    path = write_keras_zip(tmp / "model.keras", {"config.json": json.dumps(dense_model_config()),
                                                 "metadata.json": "{}",
                                                 "model.weights.h5": b"\x89HDF\r\n\x1a\n" + bytes(100)})
    return Expect(path, InputReadError, ("model.weights.h5", "not a readable HDF5 file"))


# -- the tests ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_input_raises_a_typed_one_line_error(name: str, tmp_path: Path) -> None:
    expect = CASES[name](tmp_path)
    weights = str(expect.weights) if expect.weights else None
    raises_exactly(expect.error, lambda: kconvert.load(str(expect.source), weights, **expect.options),
                   str(expect.source), *expect.fragments)


@pytest.mark.parametrize("cut", [0, 4, 8, 64, 512, 2048, 7000, -100, -1])
def test_truncated_hdf5(cut: int, tmp_path: Path) -> None:
    data = write_small_h5(tmp_path / "full.h5").read_bytes()
    path = write(tmp_path / "model.h5", data[:cut])
    raises_exactly(InputReadError, lambda: kconvert.load(str(path)), str(path))


@pytest.mark.parametrize("cut", [-8, -2000, 9000, 6000, 3000])
def test_truncated_hdf5_with_a_consistent_superblock(cut: int, tmp_path: Path) -> None:
    """Truncated, with the superblock's end-of-file address rewritten so that HDF5 opens it."""
    data = bytearray(write_small_h5(tmp_path / "full.h5").read_bytes())
    assert data[8] == 0  # superblock version 0: end-of-file address at byte 40
    cut = cut % len(data)
    data = data[:cut]
    struct.pack_into("<Q", data, 40, cut)
    path = write(tmp_path / "model.h5", bytes(data))
    raises_exactly(InputReadError, lambda: kconvert.load(str(path)), str(path))


def test_the_external_link_target_is_never_opened(tmp_path: Path) -> None:
    """The target is a FIFO: opening it blocks (h5py holds the GIL meanwhile) until a writer comes,
    so a load that tried to follow the link would hang; it runs in a child process with a timeout."""
    target = tmp_path / "fifo.h5"
    os.mkfifo(target)
    path = replace_kernel(write_small_h5(tmp_path / "model.h5"), lambda f: f.__setitem__(
        KERNEL, h5py.ExternalLink(str(target), "/x")))
    code = ("import sys, kconvert\n"
            "try:\n    kconvert.load(sys.argv[1])\n"
            "except kconvert.KConvertError as exc:\n    print(type(exc).__name__, exc)\n")
    try:
        result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                                timeout=30, cwd=ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail("kconvert opened the external link's target file")
    assert result.stdout.startswith("InputReadError ") and "external link" in result.stdout, result.stderr


def test_a_weight_replaced_after_loading_is_checked_when_read(tmp_path: Path) -> None:
    """Weights are read lazily: a file changed under a loaded model fails with a typed error."""
    path = write_small_h5(tmp_path / "model.h5")
    m = kconvert.load(str(path))
    m.close()
    with h5py.File(path, "a") as f:
        del f[KERNEL]
        f[KERNEL] = np.zeros((2, 2), dtype="float32")
    kernel = dict(m.iter_weights())["dense_0/kernel"]
    raises_exactly(Incompatible, kernel.numpy, str(path), "kernel:0", "(2, 2)", "expected (4, 3)")


def test_the_error_context_keeps_the_innermost_details() -> None:
    err = Incompatible("bad value", key="units").with_context(file="m.h5", layer="d", layer_class="Dense", key="x")
    assert str(err) == "m.h5: layer 'd' (Dense): key 'units': bad value"
    assert err.to_dict()["message"] == str(err)
    assert str(Incompatible("two\nlines")) == "two lines"


# -- the command line ---------------------------------------------------------------------------------

KCONVERT = Path(sys.executable).with_name("kconvert")


@pytest.mark.parametrize("name,code", [("hdf5_signature_then_garbage", 3), ("external_link_to_a_valid_file", 3),
                                       ("unknown_layer_class", 4), ("weights_with_a_different_layer_count", 4)])
def test_cli_prints_one_line_and_exits_with_the_documented_code(name: str, code: int, tmp_path: Path) -> None:
    expect = CASES[name](tmp_path)
    args = [str(KCONVERT), "inspect", str(expect.source)]
    if expect.weights:
        args += ["--weights", str(expect.weights)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kconvert: error: "), result.stderr
    assert str(expect.source) in lines[0] and "Traceback" not in result.stderr
    assert all(f in lines[0] for f in expect.fragments)
