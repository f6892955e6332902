"""Bounded fuzzing of the Keras readers: mutated configurations (JSON and YAML), HDF5 bytes and
``.keras`` archive bytes, each loaded and then pushed through what a user would do next (every
weight read, the summary, a configuration written back).  Only kconvert's typed, one-line errors
may escape.

Seeds are the committed fixtures (Keras 1, tf.keras 2 and Keras 3 files), plus the real-world
configurations in ../shared when present.  The example budget is fixed so CI stays fast.
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
from kconvert.formats.keras3 import ARCHIVE_CONFIG, ARCHIVE_METADATA, ARCHIVE_WEIGHTS
from tests.conftest import FIXTURES, REALWORLD
from tests.fuzzing import (BUDGET, SMALL_BUDGET, crafted_zips, mutated_bytes, mutations, only_typed_errors,
                           operation_configs)

CONFIG_SEEDS = ("keras1/dense.json", "keras1/functional_merges.json", "keras1/gru_per_gate.json",
                "tfkeras/mlp.json", "tfkeras/functional.json", "tfkeras/rnn.json", "tfkeras/cnn2d.json",
                "keras3/functional.json", "keras3/rnn.json", "keras3/extras.json")
HDF5_SEEDS = ("keras1/dense.h5", "tfkeras/mlp.h5", "keras3/mlp.h5", "keras3/mlp.weights.h5")


def fixture(name: str) -> Path:
    return FIXTURES / name if name.startswith("keras1/") else FIXTURES / "generated" / name


@pytest.fixture(scope="module")
def configs() -> list[Any]:
    out = [json.loads(fixture(name).read_text()) for name in CONFIG_SEEDS]
    if REALWORLD.is_dir():
        out += [json.loads(p.read_text()) for p in sorted(REALWORLD.glob("**/*.json"))]
    return out


def exercise(source: Any, tmp_path: Path, weights: Any = None) -> None:
    """Load, then use the model the way the CLI does: read weights, summarise, write a config."""
    def run() -> None:
        with kconvert.load(source, weights) as model:
            for _, weight in model.iter_weights():
                weight.numpy()
            kconvert.summary(model)
            kconvert.write(model, "json", tmp_path / "out.json", overwrite=True)
    only_typed_errors(run)


@BUDGET
@given(data=st.data())
def test_mutated_json_configurations(configs: list, tmp_path: Path, data: st.DataObject) -> None:
    config = data.draw(mutations(data.draw(st.sampled_from(configs))))
    exercise(json.dumps(config, allow_nan=True), tmp_path)


@BUDGET
@given(data=st.data())
def test_mutated_yaml_text(tmp_path: Path, data: st.DataObject) -> None:
    text = fixture(data.draw(st.sampled_from(["tfkeras/mlp.yaml", "keras3/rnn.yaml", "tfkeras/rnn.yaml"]))
                   ).read_bytes()
    exercise(data.draw(mutated_bytes(text)), tmp_path)


@BUDGET
@given(data=st.data())
def test_mutated_hdf5_bytes(tmp_path: Path, data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(HDF5_SEEDS))
    raw = data.draw(mutated_bytes(fixture(name).read_bytes(), window=4096))  # superblock and object headers
    if name.endswith(".weights.h5"):  # weights alone: with their configuration
        exercise(fixture("keras3/mlp.json").read_text(), tmp_path, weights=raw)
    else:
        exercise(raw, tmp_path)


@BUDGET
@given(data=st.data())
def test_mutated_keras_archives(tmp_path: Path, data: st.DataObject) -> None:
    raw = data.draw(mutated_bytes(fixture("keras3/mlp.keras").read_bytes()))
    exercise(raw, tmp_path)


@SMALL_BUDGET
@given(data=st.data())
def test_crafted_keras_archives(tmp_path: Path, data: st.DataObject) -> None:
    """Members by method, name and declared size: a bad method or name, or a read member whose
    size lies, is always refused; nothing else escapes."""
    with zipfile.ZipFile(fixture("keras3/mlp.keras")) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    raw, refuse = data.draw(crafted_zips(members, frozenset({ARCHIVE_CONFIG, ARCHIVE_METADATA, ARCHIVE_WEIGHTS})))
    path = tmp_path / "crafted.keras"
    path.write_bytes(raw)
    error = only_typed_errors(lambda: exercise_strictly(path, tmp_path))
    assert error is not None or not refuse, "a crafted archive was read"


def exercise_strictly(source: Any, tmp_path: Path) -> None:
    with kconvert.load(source) as model:
        for _, weight in model.iter_weights():
            weight.numpy()


@SMALL_BUDGET
@given(config=operation_configs())
def test_operation_nodes(tmp_path: Path, config: dict) -> None:
    """Random modules, classes, subscripts (huge, negative, missing bounds; thousands of new axes),
    ranks and constants: read, and, when read, checked as the runtime checks a run of batch 2."""
    from kconvert.ir.footprint import check_run

    def run() -> None:
        with kconvert.load(json.dumps(config)) as model:
            check_run(model, [(2, *s[1:]) for s in model.input_shapes], 4, kconvert.Limits().max_intermediate_bytes)
    only_typed_errors(run)
    exercise(json.dumps(config), tmp_path)


def test_the_seeds_load(configs: list, tmp_path: Path) -> None:
    """The fuzzers start from valid inputs (else they would only test the first check)."""
    for config in configs[:len(CONFIG_SEEDS)]:
        kconvert.load(json.dumps(config))
    for name in HDF5_SEEDS[:3]:
        kconvert.load(fixture(name).read_bytes())
    kconvert.load(fixture("keras3/mlp.keras").read_bytes())
    kconvert.load(fixture("keras3/mlp.json").read_text(), fixture("keras3/mlp.weights.h5").read_bytes())
    for name in ("tfkeras/mlp.yaml", "keras3/rnn.yaml", "tfkeras/rnn.yaml"):
        kconvert.load(fixture(name).read_bytes())
