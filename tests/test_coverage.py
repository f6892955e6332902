"""The coverage matrix (``kconvert formats``) follows the registries, agrees with what the writers
actually do, and is what the README embeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import kconvert
from kconvert import coverage
from kconvert.cli import main
from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.ir.layer import LAYER_KINDS
from tests.conftest import FIXTURES, ROOT

ROWS = {row.kind: row for row in coverage.matrix()}


def test_every_kind_has_a_row() -> None:
    assert set(ROWS) == set(LAYER_KINDS)
    assert all(getattr(r, t) in ("yes", "no", "rewritten", "preprocessor", "companion") for r in ROWS.values()
               for t in ("runtime", *coverage.TARGETS))
    assert {r.kind for r in ROWS.values() if r.tfjs == "companion"} == {
        "MultiHeadAttention", "LocallyConnected1D", "LocallyConnected2D", "EinsumDense", "GroupNormalization",
        "UnitNormalization", "BinaryOp", "UnaryOp", "Reduce", "ExpandDims", "Squeeze", "GetItem", "Cumsum",
        "Discretization", "CategoryEncoding", "IntegerLookup"}


def test_the_readme_embeds_the_current_matrix(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text())
    assert not coverage.update_readme(readme), "the README's matrix is stale: python -m kconvert.coverage README.md"


def test_the_matrix_is_computed_from_the_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    from kconvert.readers.keras.layer import KERAS_LAYERS
    from kconvert.runtime import inventory
    from kconvert.writers.tfjs.dialect import CHECKS

    assert ROWS["Dense"].runtime == ROWS["Dense"].tfjs == "yes"
    kinds = inventory.kernel_kinds() - {"Dense"}
    monkeypatch.setattr(inventory, "kernel_kinds", lambda: kinds)
    monkeypatch.delitem(CHECKS, "Dense")
    monkeypatch.setitem(KERAS_LAYERS, "DenseAlias", KERAS_LAYERS["Dense"])
    row = {r.kind: r for r in coverage.matrix()}["Dense"]
    assert (row.runtime, row.tfjs, row.keras_classes) == ("no", "no", ("Dense", "DenseAlias"))


def test_aliases_are_the_classes_registered_together() -> None:
    assert ROWS["Conv2D"].keras_classes == ("Conv2D", "Convolution2D", "AtrousConvolution2D")
    assert ROWS["PeepholeLSTM"].keras_classes == ()  # GravesLSTM, read from Deeplearning4j only
    assert "GravesLSTM" in coverage.dl4j_classes() and "Lambda" in coverage.other_keras_classes(list(ROWS.values()))


@pytest.mark.parametrize("target", coverage.TARGETS)
def test_the_writers_do_what_the_matrix_says(target: str, tmp_path: Path) -> None:
    """Every Keras 1 fixture written to ``target``: one holding a kind the matrix marks "no" there is
    refused (one holding none may still be, for a setting the target cannot express)."""
    out = {"tfjs": "web", "dl4j": "dl4j", "keras": "model.keras", "onnx": "model.onnx"}[target]
    checked = 0
    for path in sorted((FIXTURES / "keras1").glob("*.h5")):
        try:
            model = kconvert.load(path)
        except IncompatibleKerasConfigurationException:
            continue  # not readable (a Keras 1 setting no later Keras has): nothing to write
        with model:
            kinds = {layer.kind for layer in model.iter_layers()}
            refused_kinds = {k for k in kinds if getattr(ROWS[k], target) == "no"}
            try:
                kconvert.write(model, target, tmp_path / path.stem / out)
            except IncompatibleKerasConfigurationException:
                continue  # a kind marked "no", or a setting of a written kind the target cannot express
            assert not refused_kinds, f"{path.name}: written to {target} with {refused_kinds} marked 'no'"
            checked += 1
    assert checked >= 10


def test_the_command_prints_the_matrix() -> None:
    text = CliRunner().invoke(main, ["formats"]).stdout
    assert all(kind in text for kind in LAYER_KINDS)
    markdown = CliRunner().invoke(main, ["formats", "--markdown"]).stdout
    assert markdown.strip() == coverage.render_markdown(list(ROWS.values())).strip()
    document = json.loads(CliRunner().invoke(main, ["formats", "--json"]).stdout)
    assert {k["kind"] for k in document["kinds"]} == set(LAYER_KINDS)


def test_the_runtime_inventory_read_from_source_is_the_kernel_registry() -> None:
    """``kconvert formats`` lists the runtime's kinds without starting TensorFlow, from the
    kernels' source; the registry the runtime really uses must say the same."""
    import kconvert.runtime.kernels  # noqa: F401  (registers them)
    from kconvert.runtime.inventory import kernel_kinds
    from kconvert.runtime.registry import KERNELS

    assert kernel_kinds() == frozenset(KERNELS)


def test_an_inventory_registration_that_is_not_literal_is_an_error(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from kconvert.runtime import inventory

    (tmp_path / "made_up.py").write_text('KINDS = ("A", "B")\n@kernel(*KINDS)\ndef f(step): ...\n'
                                         '@kernel("C", mask="keep")\ndef g(step): ...\n')
    monkeypatch.setattr(inventory, "KERNELS_DIR", tmp_path)
    assert inventory.kernel_kinds.__wrapped__() == {"A", "B", "C"}
    (tmp_path / "computed.py").write_text('@kernel(*[k.upper() for k in "de"])\ndef h(step): ...\n')
    with pytest.raises(ValueError, match=r"computed\.py:2: a kernel registered with kinds that are not literal"):
        inventory.kernel_kinds.__wrapped__()

