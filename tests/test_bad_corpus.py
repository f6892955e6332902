"""The corpus of broken and hostile inputs (``tests/fixtures/bad/``) through the API and the CLI.

Every case runs on a copy of its directory, from inside that copy (so that a payload that ran
would leave its marker file there), and must raise exactly the kconvert exception its manifest
entry names, with a one-line message naming a file of the case and containing every fragment.
Conversions that fail must leave the output location as they found it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import pytest
from click.testing import CliRunner

import kconvert
from kconvert import errors
from kconvert.cli import EXIT_INCOMPATIBLE, EXIT_UNREADABLE, EXIT_USAGE, main
from kconvert.writers.output import OutputError
from tests.conftest import ROOT
from tests.fixtures.bad import make_bad_corpus as corpus
from tests.helpers import raises_exactly

MANIFEST = json.loads(corpus.MANIFEST.read_text())
CASES = {entry["name"]: entry for entry in MANIFEST["cases"]}
ERRORS: dict[str, type[Any]] = {name: getattr(errors, name) for name in dir(errors)
                                if isinstance(getattr(errors, name), type)} | {"OutputError": OutputError}


def staged(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], Path]:
    """The case's entry and a private copy of its directory, which becomes the working directory."""
    entry = CASES[name]
    here = tmp_path / name
    if (corpus.CORPUS / name).is_dir():
        shutil.copytree(corpus.CORPUS / name, here, symlinks=True)
    else:  # a case with no files (a missing path): git keeps no empty directories
        here.mkdir()
    monkeypatch.chdir(here)
    return entry, here


def load_kwargs(entry: dict[str, Any], here: Path) -> dict[str, Any]:
    options = dict(entry["options"])
    if "limits" in options:
        options["limits"] = kconvert.Limits(**options["limits"])
    if entry["weights"]:
        options["weights"] = str(here / entry["weights"])
    return options


def run_case(entry: dict[str, Any], here: Path) -> Callable[[], Any]:
    source, kwargs = str(here / entry["source"]), load_kwargs(entry, here)
    if entry["action"] == "load":
        def load_and_read() -> None:
            with kconvert.load(source, **kwargs) as model:
                for _, weight in model.iter_weights():
                    weight.numpy()
        return load_and_read
    _, target, output = entry["action"].split(":")
    weights = kwargs.pop("weights", None)
    return lambda: kconvert.convert(source, target, str(here / output), weights=weights, load_options=kwargs)


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() if p.is_file() else b""
            for p in sorted(directory.rglob("*"))}


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_raises_its_typed_one_line_error(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry, here = staged(name, tmp_path, monkeypatch)
    if entry["action"] == "cli":
        pytest.skip("this input crashes the HDF5 C library: it runs only in the command's child process")
    expected = ERRORS[entry["error"]]
    before = snapshot(here)
    if issubclass(expected, Warning):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run_case(entry, here)()
        messages = [str(w.message) for w in caught if w.category is expected]
        assert messages, f"no {expected.__name__} among {[str(w.message) for w in caught]}"
        assert all(f in messages[0] for f in entry["fragments"]), messages[0]
    else:
        raised = raises_exactly(expected, run_case(entry, here), *entry["fragments"])
        assert str(here) in str(raised), f"the message names no file of the case: {raised}"
    assert snapshot(here) == before, "the case's directory changed (partial output, or a payload ran)"


@pytest.mark.parametrize("name", sorted(CASES))
def test_case_through_the_cli(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One line on stderr, no traceback, the documented exit code."""
    entry, here = staged(name, tmp_path, monkeypatch)
    if issubclass(ERRORS[entry["error"]], Warning):
        pytest.skip("warnings are not errors")
    args = ["inspect", entry["source"]] if entry["action"] in ("load", "cli") else \
        [entry["source"], "--to", entry["action"].split(":")[1], entry["action"].split(":")[2]]
    if entry["weights"]:
        args += ["--weights", entry["weights"]]
    if entry["options"].get("weights_by"):
        args += ["--weights-by", entry["options"]["weights_by"]]
    if entry["options"].get("enforce_training_config"):
        args += ["--enforce-training-config"]
    for name, value in entry["options"].get("limits", {}).items():
        args += ["--limit", f"{name}={value}"]
    expected = ERRORS[entry["error"]]
    code = EXIT_USAGE if expected is OutputError else \
        EXIT_UNREADABLE if issubclass(expected, errors.InputReadError) else EXIT_INCOMPATIBLE
    if entry["action"] == "cli":  # the installed command, whose work runs in a child process
        process = subprocess.run([sys.executable, "-m", "kconvert", *args], capture_output=True, text=True,
                                 cwd=here, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
        exit_code, stderr = process.returncode, process.stderr
    else:
        result = CliRunner().invoke(main, args)
        exit_code, stderr = result.exit_code, result.stderr
    assert exit_code == code, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kconvert: error: "), stderr
    assert all(f in lines[0] for f in entry["fragments"]), lines[0]


def test_the_corpus_covers_every_part_of_the_contract() -> None:
    categories = {entry["category"] for entry in CASES.values()}
    assert len(CASES) >= 200
    assert categories == {"paths and bytes", "hdf5", "keras archive", "config syntax", "graph", "sizes",
                          "classes and code", "wrong types", "weights", "tfjs", "dl4j", "output"}
    assert {entry["error"] for entry in CASES.values()} == {
        "InputReadError", "IncompatibleKerasConfigurationException", "UnsupportedKerasConfigurationException",
        "OutputError", "NonFiniteWeightWarning"}


def test_the_script_still_describes_the_committed_corpus(tmp_path: Path) -> None:
    entries = corpus.build_all(tmp_path / "corpus")
    assert json.loads(json.dumps(entries)) == MANIFEST["cases"], "run tests/fixtures/bad/make_bad_corpus.py"
    def files(root: Path) -> list[str]:
        return sorted(str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir())
    assert files(tmp_path / "corpus") == files(corpus.CORPUS), "run tests/fixtures/bad/make_bad_corpus.py"
