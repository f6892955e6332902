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
from hypothesis import given
from hypothesis import strategies as st

import kconvert
from kconvert.formats.dl4j import COEFFICIENTS, CONFIGURATION
from tests.conftest import FIXTURES, SHARED_FIXTURES
from tests.fuzzing import BUDGET, SMALL_BUDGET, crafted_zips, mutated_bytes, mutations, only_typed_errors

SEED_MODELS = ("dense", "conv2d_tf", "bidirectional")


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
    only_typed_errors(lambda: kconvert.load(path))


@BUDGET
@given(data=st.data())
def test_mutated_configurations_raise_only_typed_errors(seeds: list, tmp_path: Path, data: st.DataObject) -> None:
    config, coefficients = data.draw(st.sampled_from(seeds))
    _load(tmp_path, data.draw(mutations(config)), coefficients)


@BUDGET
@given(data=st.data())
def test_mutated_coefficients_raise_only_typed_errors(seeds: list, tmp_path: Path, data: st.DataObject) -> None:
    config, coefficients = data.draw(st.sampled_from([seed for seed in seeds if seed[1] is not None]))
    _load(tmp_path, config, data.draw(mutated_bytes(coefficients, window=96)))  # the header and first values


@SMALL_BUDGET
@given(data=st.data())
def test_crafted_model_zips(seeds: list, tmp_path: Path, data: st.DataObject) -> None:
    """Members by method, name and declared size: a bad method or name, or a lying size, is always
    refused; nothing else escapes."""
    config, coefficients = data.draw(st.sampled_from([seed for seed in seeds if seed[1] is not None]))
    members = {CONFIGURATION: json.dumps(config).encode(), COEFFICIENTS: coefficients}
    raw, refuse = data.draw(crafted_zips(members, frozenset(members)))
    path = tmp_path / "crafted.zip"
    path.write_bytes(raw)
    error = only_typed_errors(lambda: kconvert.load(path))
    assert error is not None or not refuse, "a crafted zip was read"
