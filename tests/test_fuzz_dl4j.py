"""Bounded fuzzing of the Deeplearning4j reader: mutated configurations and ND4J bytes.

Seeds are DL4J zips kconvert writes from Keras 1 fixtures (a dense net, a CNN, a bidirectional
LSTM), plus the real configurations in ../shared/fixtures/dl4j when present (without them the
seeds are kconvert's own, so this test does not need ../shared).  Whatever the
mutation, loading either succeeds or raises one of kconvert's typed exceptions; anything else (a
KeyError, a TypeError, a numpy error) is an escape.  The example budget is fixed so CI stays fast.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kconvert
from kconvert.errors import KConvertError
from kconvert.formats.dl4j import COEFFICIENTS, CONFIGURATION
from tests.conftest import FIXTURES, SHARED_FIXTURES

SEED_MODELS = ("dense", "conv2d_tf", "bidirectional")
BUDGET = settings(max_examples=300, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict[str, Any], bytes | None]]:
    """(configuration, coefficients) pairs; the real configurations come without coefficients."""
    out: list[tuple[dict[str, Any], bytes | None]] = []
    for name in SEED_MODELS:
        written = kconvert.write(kconvert.load(FIXTURES / "keras1" / f"{name}.h5"), "dl4j",
                                 tmp_path_factory.mktemp(name) / "out")
        with zipfile.ZipFile(written.files[-1]) as zf:
            out.append((json.loads(zf.read(CONFIGURATION)), zf.read(COEFFICIENTS)))
    real = SHARED_FIXTURES / "dl4j"
    if real.is_dir():
        out += [(json.loads(path.read_text()), None) for path in sorted(real.glob("**/*.json"))]
    return out


def _load(tmp_path: Path, config: Any, coefficients: bytes | None) -> None:
    """Load the pair as a model zip (or a configuration file) and accept only typed errors."""
    text = json.dumps(config)
    if coefficients is None:
        path = tmp_path / "fuzzed.json"
        path.write_text(text)
    else:
        path = tmp_path / "fuzzed.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr(CONFIGURATION, text)
            zf.writestr(COEFFICIENTS, coefficients)
    try:
        kconvert.load(path)
    except KConvertError as exc:
        assert "\n" not in str(exc), str(exc)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside a JSON document."""
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


@st.composite
def mutations(draw: st.DrawFn, document: Any) -> Any:
    """``document`` with one to three values replaced by arbitrary JSON or removed."""
    document = json.loads(json.dumps(document))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(document) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = document
        for step in path[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return document


@BUDGET
@given(data=st.data())
def test_mutated_configurations_raise_only_typed_errors(seeds: list, tmp_path: Path, data: st.DataObject) -> None:
    config, coefficients = data.draw(st.sampled_from(seeds))
    _load(tmp_path, data.draw(mutations(config)), coefficients)


@BUDGET
@given(data=st.data())
def test_mutated_coefficients_raise_only_typed_errors(seeds: list, tmp_path: Path, data: st.DataObject) -> None:
    config, coefficients = data.draw(st.sampled_from([seed for seed in seeds if seed[1] is not None]))
    raw = bytearray(coefficients)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, min(len(raw), 96) - 1))  # the header and the first values
        raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(raw))))
    _load(tmp_path, config, bytes(raw[:cut] if cut is not None else raw))
