"""Configurations without weights (``to_json`` / ``to_yaml`` files, DL4J configuration JSONs) written
with ``--config-only``: every one is written or refused naming the layer, never a traceback; a
DL4J ``configuration.json`` is restored by the real Deeplearning4j (``fromJson``, ``init()``,
``output()`` on zeros) and is the configuration written for the same model with its weights.

The inputs are every configuration-only model file of ``tests/fixtures`` and, when present, of the
real-world corpus (``../shared/fixtures``); a file kconvert does not read at all is test_bad_corpus's
and test_realworld's concern, not this one's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import kconvert
from kconvert.cli import EXIT_OK, main
from kconvert.errors import IncompatibleKerasConfigurationException, KConvertError
from kconvert.verification.inputs import generate_inputs
from tests.conftest import FIXTURES, SHARED_FIXTURES, require_dl4j

CONFIG_SUFFIXES = (".json", ".yaml", ".yml")


def _config_files() -> list[Path]:
    """The model configurations of the project's fixtures (bad/ aside) and of the shared corpus."""
    roots = [FIXTURES] + ([SHARED_FIXTURES] if SHARED_FIXTURES.exists() else [])
    return sorted(p for root in roots for p in root.glob("**/*") if p.suffix in CONFIG_SUFFIXES
                  and "bad" not in p.relative_to(root).parts[:1])


def _twin(path: Path) -> Path | None:
    """The same model saved with its weights, where the fixture has one beside it."""
    stem = path.stem.removesuffix("_config")
    return next((p for p in (path.with_suffix(".h5"), path.with_name(f"{stem}_model.h5")) if p.exists()), None)


def _name(path: Path) -> str:
    """The file below the checkout (tests/fixtures/...) or the shared folder (shared/fixtures/...)."""
    return f"tests/fixtures/{path.relative_to(FIXTURES)}" if path.is_relative_to(FIXTURES) else \
        f"shared/fixtures/{path.relative_to(SHARED_FIXTURES)}"


@dataclass
class Written:
    """What writing every configuration-only input to DL4J gave."""

    models: dict[str, kconvert.Model] = field(default_factory=dict)  # written: the model read
    configurations: dict[str, Path] = field(default_factory=dict)  # written: its configuration.json
    refused: dict[str, str] = field(default_factory=dict)
    twins: dict[str, Path] = field(default_factory=dict)  # written: its weighted twin's file


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    tmp = tmp_path_factory.mktemp("config-only")
    out = Written()
    for i, path in enumerate(_config_files()):
        try:
            model = kconvert.load(path)
        except KConvertError:
            continue  # not a model kconvert reads
        if model.has_weights:
            continue
        name = _name(path)
        try:
            done = kconvert.write(model, "dl4j", tmp / str(i), config_only=True)
        except IncompatibleKerasConfigurationException as exc:
            assert exc.layer or "output" in exc.reason, (name, exc.reason)
            out.refused[name] = exc.reason
            continue
        assert done.files == [tmp / str(i) / "configuration.json"] and done.weights == 0, name
        assert sorted(p.name for p in (tmp / str(i)).iterdir()) == ["configuration.json"], name
        out.models[name], out.configurations[name] = model, done.files[0]
        twin = _twin(path)
        if twin is not None:
            out.twins[name] = twin
    return out


def test_every_configuration_is_written_or_refused_naming_the_layer(written: Written) -> None:
    print(f"\nconfig-only to DL4J: {len(written.configurations)} written, {len(written.refused)} refused")
    for name, reason in sorted(written.refused.items()):
        print(f"  refused {name}: {reason}")
    # the project's fixtures alone: 35 written (tfkeras and Keras 3 generated models, Keras 1 fixtures)
    assert sum(n.startswith("tests/") for n in written.configurations) >= 35, written.refused
    assert "tests/fixtures/keras1/dense.json" in written.configurations
    assert "tests/fixtures/keras1/batchnorm.json" in written.configurations  # moving statistics: parameters only
    assert "tests/fixtures/keras1/highway_maxout.json" in written.configurations  # rewritten from the weights' shapes


def test_written_configuration_is_the_weighted_twins(written: Written, tmp_path: Path) -> None:
    """A model written with its weights has the configuration its configuration alone is written with."""
    compared = 0
    for name, twin in written.twins.items():
        try:
            done = kconvert.write(kconvert.load(twin), "dl4j", tmp_path / str(compared))
        except KConvertError:
            continue  # the weighted file is refused or not read: only the configuration-only one is checked
        with_weights = json.loads(done.files[0].read_text())
        alone = json.loads(written.configurations[name].read_text())
        assert alone == with_weights, name
        compared += 1
    print(f"\nconfig-only configurations equal to their weighted twins': {compared} of {len(written.twins)}")
    assert compared >= 20, compared


def test_weighted_twins_written_are_written_alone_too(written: Written, tmp_path: Path) -> None:
    """Every configuration whose weighted file DL4J's writer writes is written alone as well, except
    where a rewrite computes the written layers from the weights' values (Keras 1 SReLU's thresholds
    become constants), which the refusal says."""
    for i, path in enumerate(_config_files()):
        twin, name = _twin(path), _name(path)
        if twin is None or name not in written.refused or "needs the values of weight" in written.refused[name]:
            continue
        try:
            kconvert.write(kconvert.load(twin), "dl4j", tmp_path / str(i))
        except KConvertError:
            continue
        pytest.fail(f"{name} is refused alone ({written.refused[name]}) but written with its weights")


def test_configurations_restore_and_run_in_dl4j(written: Written) -> None:
    """Each configuration.json is read by MultiLayerConfiguration / ComputationGraphConfiguration.fromJson,
    initialised and run on zeros in Deeplearning4j 1.0.0-M2.1."""
    require_dl4j()
    from kconvert.verification.dl4j_runner import IMPLEMENTATION, run_configurations_many

    names = sorted(written.configurations)
    inputs = [[np.zeros_like(x) for x in generate_inputs(written.models[n], 2, 0)] for n in names]
    runs = run_configurations_many([(written.configurations[n], xs) for n, xs in zip(names, inputs)])
    failed = {n: run.error for n, run in zip(names, runs) if run.error is not None}
    print(f"\nrestored and run by {IMPLEMENTATION}: {len(names) - len(failed)} of {len(names)}")
    assert not failed, failed
    for name, run in zip(names, runs):
        model = written.models[name]
        assert run.implementation == IMPLEMENTATION, name
        assert len(run.outputs) == len(model.outputs), name
        for got, want in zip(run.outputs, model.output_shapes):
            assert got.shape[0] == 2 and np.isfinite(got).all(), name
            if all(d is not None for d in want[1:]):
                assert got.size == 2 * int(np.prod(want[1:])), (name, got.shape, want)


@pytest.mark.parametrize("target", ["tfjs", "json"])
def test_other_targets_write_or_refuse_configurations(tmp_path: Path, target: str) -> None:
    """TF.js (model.json without weights) and Keras JSON write a configuration alone or refuse it naming
    the layer; none fails with a traceback."""
    written = 0
    for i, path in enumerate(p for p in _config_files() if p.is_relative_to(FIXTURES)):
        try:
            model = kconvert.load(path)
        except KConvertError:
            continue
        if model.has_weights:
            continue
        try:
            kconvert.write(model, target, tmp_path / (f"{i}.json" if target == "json" else str(i)))
        except IncompatibleKerasConfigurationException as exc:
            assert exc.layer, (path, exc.reason)
            continue
        written += 1
    assert written >= 40


def test_tfjs_refuses_a_configuration_attention_scale_naming_the_layer(tmp_path: Path) -> None:
    """TF.js writes Attention(use_scale=True) with its learned scale in a Rescaling's configuration."""
    model = kconvert.load(FIXTURES / "generated" / "keras3" / "functional.json")
    with pytest.raises(IncompatibleKerasConfigurationException, match="none loaded") as info:
        kconvert.write(model, "tfjs", tmp_path / "out")
    assert info.value.layer == "attention" and not (tmp_path / "out").exists()


def test_cli_writes_a_keras_config_with_config_only(tmp_path: Path) -> None:
    """The flag kconvert's own refusal recommends for a configuration without weights."""
    runner = CliRunner()
    source = str(FIXTURES / "keras1" / "dense.json")
    refused = runner.invoke(main, [source, "--to", "dl4j", str(tmp_path / "weighted")])
    assert refused.exit_code != EXIT_OK and "--config-only" in refused.output
    result = runner.invoke(main, [source, "--to", "dl4j", str(tmp_path / "out"), "--config-only"])
    assert result.exit_code == EXIT_OK, result.output
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["configuration.json"]
    layers = [c["layer"]["@class"].rsplit(".", 1)[-1] for c in
              json.loads((tmp_path / "out" / "configuration.json").read_text())["confs"]]
    assert layers and all(la == "DenseLayer" for la in layers), layers
