"""The safe JSON/YAML loaders (kconvert/readers/text.py): what Keras writes is read, nothing in the
text is ever executed, and hostile structure (cycles, alias bombs, deep nesting, size) is refused."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

import kconvert
from kconvert.errors import InputReadError
from kconvert.readers.context import Limits
from kconvert.readers.text import parse_json, parse_yaml
from tests.helpers import dense_model_config, raises_exactly, write_small_h5

LIMITS = Limits()
Parser = Callable[[str, str, Limits], Any]


def yaml_config_with(value: str) -> str:
    """A loadable Keras YAML config whose Dense layer has ``value`` (raw YAML) as its activation."""
    text = yaml.safe_dump(dense_model_config())
    return text.replace("activation: linear", f"activation: {value}", 1)


def payloads(marker: Path) -> dict[str, str]:
    """YAML that creates ``marker`` if the loader constructs Python objects."""
    return {
        "os.system": f"!!python/object/apply:os.system ['touch {marker}']",
        "subprocess.Popen": f"!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
        "subprocess.call": f"!!python/object/apply:subprocess.call [['touch', '{marker}']]",
    }


# -- what Keras's to_yaml writes -------------------------------------------------------------------

def test_python_tuples_become_lists() -> None:
    text = "shape: !!python/tuple [null, !!python/tuple [1, 2]]\nempty: !!python/tuple []\n"
    assert parse_yaml(text, "m.yaml", LIMITS) == {"shape": [None, [1, 2]], "empty": []}


def test_python2_scalar_tags_are_plain_values() -> None:
    text = ("name: !!python/unicode 'dense_1'\nunits: !!python/long '12'\nrate: !!python/float '0.5'\n"
            "flag: !!python/bool 'True'\nnothing: !!python/none ''\nold: !!python/str 'x'\nn: !!python/int '3'\n")
    assert parse_yaml(text, "m.yaml", LIMITS) == {
        "name": "dense_1", "units": 12, "rate": 0.5, "flag": True, "nothing": None, "old": "x", "n": 3}


def test_a_keras_yaml_config_loads() -> None:
    text = yaml_config_with("!!python/unicode 'relu'").replace("- null", "- !!python/long '2'", 1)
    assert kconvert.load(text).input_shapes == [(2, 4)]


# -- refused tags ----------------------------------------------------------------------------------

@pytest.mark.parametrize("tag", [
    "!!python/object/apply:os.system ['echo hi']",
    "!!python/object/new:subprocess.Popen [['echo', 'hi']]",
    "!!python/object:argparse.Namespace {x: 1}",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/complex 1+2j",
    "!foo 1",
    "!foo {x: 1}",
    "!<tag:example.com,2000:app/foo> bar",
])
def test_object_building_and_unknown_tags_are_refused_with_the_line(tag: str) -> None:
    text = "class_name: Sequential\nconfig:\n  layers:\n  - " + tag + "\n"
    raises_exactly(InputReadError, lambda: parse_yaml(text, "m.yaml", LIMITS), "m.yaml", "refused YAML", "line 4")


def test_a_bad_python_scalar_is_refused_with_the_line() -> None:
    raises_exactly(InputReadError, lambda: parse_yaml("a: 1\nunits: !!python/long 'many'\n", "m.yaml", LIMITS),
                   "m.yaml", "line 2", "'many' is not a valid long")


def test_the_payloads_are_live(tmp_path: Path) -> None:
    """Control: an unsafe loader does run this payload, so the tests below would see a marker."""
    marker = tmp_path / "control"
    yaml.load(payloads(marker)["os.system"], Loader=yaml.UnsafeLoader)  # noqa: S506 (the point)
    assert marker.exists()


@pytest.mark.parametrize("name", ["os.system", "subprocess.Popen", "subprocess.call"])
def test_nothing_runs_when_parsing(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "pwned"
    text = yaml_config_with(payloads(marker)[name])
    raises_exactly(InputReadError, lambda: parse_yaml(text, "evil.yaml", LIMITS), "evil.yaml", "refused YAML", "line ")
    time.sleep(0.05)  # a spawned process would have touched the file by now
    assert not marker.exists()


@pytest.mark.parametrize("name", ["os.system", "subprocess.Popen", "subprocess.call"])
def test_nothing_runs_when_loading_a_yaml_file(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(yaml_config_with(payloads(marker)[name]))
    raises_exactly(InputReadError, lambda: kconvert.load(str(path)), str(path), "refused YAML", "line ")
    raises_exactly(InputReadError, lambda: kconvert.load(path.read_text()), "<string>", "refused YAML")
    time.sleep(0.05)
    assert not marker.exists()


# -- hostile structure -----------------------------------------------------------------------------

@pytest.mark.parametrize("text,where", [("a: &x [1, *x]\n", "a[1]"), ("a: &x {b: *x}\n", "a.b"),
                                        ("&top {layers: [*top]}\n", "layers[0]")])
def test_self_referencing_aliases_are_refused(text: str, where: str) -> None:
    raises_exactly(InputReadError, lambda: parse_yaml(text, "m.yaml", LIMITS), "m.yaml", "refers to itself", where)


def test_shared_aliases_are_fine() -> None:
    """PyYAML writes anchors for objects Keras shares; they read as equal copies."""
    data = parse_yaml("a: &x {p: [1, 2]}\nb: *x\nc: [*x, *x]\n", "m.yaml", LIMITS)
    assert data["a"] == data["b"] == data["c"][0] == {"p": [1, 2]}


def alias_bomb(levels: int) -> str:
    """A "billion laughs": each level lists the previous one nine times (9**levels values)."""
    lines = ["l0: &l0 [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly() -> None:
    text = alias_bomb(12)  # 9**12 values from a ~600-byte document
    start = time.perf_counter()
    raises_exactly(InputReadError, lambda: parse_yaml(text, "bomb.yaml", LIMITS), "bomb.yaml", "expands",
                   "aliases")
    assert time.perf_counter() - start < 2.0


def test_an_alias_bomb_is_measured_against_the_size_limit() -> None:
    small = Limits(max_config_bytes=5_000)
    assert parse_yaml(alias_bomb(3), "ok.yaml", small)["l2"][0][0] == [1] * 9  # 9**3 values: fine
    raises_exactly(InputReadError, lambda: parse_yaml(alias_bomb(4), "b.yaml", small), "more than 5000 values")


def test_an_alias_reused_deeper_than_the_nesting_limit_is_refused() -> None:
    limits = Limits(max_nesting=20)
    deep = "[" * 10 + "1" + "]" * 10
    assert parse_yaml(f"a: &d {deep}\nb: *d\n", "m.yaml", limits)["b"] == parse_yaml(deep, "m.yaml", limits)
    text = f"a: &d {deep}\nb: {'[' * 15}*d{']' * 15}\n"  # 25 levels through the alias
    raises_exactly(InputReadError, lambda: parse_yaml(text, "m.yaml", limits), "nested more than 20 levels")


@pytest.mark.parametrize("parse,fmt", [(parse_json, "JSON"), (parse_yaml, "YAML")])
@pytest.mark.parametrize("depth,message", [(300, "nested more than 200 levels deep"),
                                           (100_000, "nested too deeply")])
def test_deep_nesting_is_refused(parse: Parser, fmt: str, depth: int, message: str) -> None:
    text = "[" * depth + "]" * depth
    err = raises_exactly(InputReadError, lambda: parse(text, "deep", LIMITS), "deep", message)
    if depth == 100_000:
        assert fmt in err.reason


def test_deep_nesting_is_refused_through_load(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"class_name": "Sequential", "config": ' + "[" * 5000 + "]" * 5000 + "}")
    raises_exactly(InputReadError, lambda: kconvert.load(str(path)), str(path), "nested")


@pytest.mark.parametrize("parse,text", [(parse_json, json.dumps({"a": "x" * 300})), (parse_yaml, "a: " + "x" * 300)])
def test_oversized_text_is_refused(parse: Parser, text: str) -> None:
    raises_exactly(InputReadError, lambda: parse(text, "big", Limits(max_config_bytes=256)), "big",
                   "over the limit of 256")


def test_oversized_files_are_refused_through_load(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text(json.dumps(dense_model_config()))
    small = kconvert.Limits(max_config_bytes=100)
    assert kconvert.load(str(path)).output_shapes == [(None, 3)]
    raises_exactly(InputReadError, lambda: kconvert.load(str(path), limits=small), str(path), "100-byte limit")
    h5 = write_small_h5(tmp_path / "model.h5")
    raises_exactly(InputReadError, lambda: kconvert.load(str(h5), limits=small), str(h5), "over the limit")


# -- tf.keras JSON value encodings ---------------------------------------------------------------

def test_tuple_and_tensorshape_encodings_are_decoded() -> None:
    text = json.dumps({
        "kernel_size": {"class_name": "__tuple__", "items": [3, {"class_name": "__tuple__", "items": [1]}]},
        "shape": {"class_name": "TensorShape", "items": [None, 28, 28]},
        "unknown_rank": {"class_name": "TensorShape", "items": None},
        "__passive_serialization__": True, "plain": {"class_name": "Dense", "items": 1}})
    assert parse_json(text, "m.json", LIMITS) == {"kernel_size": [3, [1]], "shape": [None, 28, 28],
                                                  "unknown_rank": [], "plain": {"class_name": "Dense", "items": 1}}


@pytest.mark.parametrize("encoded,what", [
    ({"class_name": "TypeSpec", "type_spec": "tf.TensorSpec", "serialized": [[None], "float32", None]},
     "TypeSpec"),
    ({"class_name": "CompositeTensor", "spec": {}}, "composite"),
    ({"class_name": "__bytes__", "value": "aGk="}, "bytes"),
])
def test_runtime_object_encodings_are_refused_with_their_path(encoded: dict[str, Any], what: str) -> None:
    text = json.dumps({"config": {"layers": [{"config": {"slice": encoded}}]}})
    raises_exactly(InputReadError, lambda: parse_json(text, "m.json", LIMITS), "m.json", what,
                   "config.layers[0].config.slice")


# -- malformed text --------------------------------------------------------------------------------

@pytest.mark.parametrize("parse,text,fragment", [
    (parse_json, '{"a": [1, 2}', "malformed JSON"),
    (parse_json, b"\xff\xfe{}", "malformed JSON"),
    (parse_yaml, "a: [1,\nb: 2\n", "malformed YAML at line"),
    (parse_yaml, "a: 'unterminated\n", "malformed YAML at line"),
    (parse_yaml, "? [1, 2]\n: 3\n", "line 1"),
])
def test_malformed_text_is_refused(parse: Parser, text: str | bytes, fragment: str) -> None:
    raises_exactly(InputReadError, lambda: parse(text, "bad", LIMITS), "bad", fragment)
