"""The format-detection table: what each input kconvert reads or writes is taken for, that it is
opened once, and that every command taking a converted model takes whatever ``convert`` wrote
(a DL4J output folder included: issue 31)."""

from __future__ import annotations

import builtins
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import kconvert
from kconvert.cli import EXIT_OK, main
from kconvert.errors import InputReadError
from kconvert.formats.detect import detect
from kconvert.verification import verify
from kconvert.verification.check import check
from tests.conftest import GENERATED, require_dl4j

SOURCE = GENERATED / "tfkeras" / "mlp.h5"
KERAS3 = GENERATED / "keras3"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``convert`` writes, for every target."""
    out = tmp_path_factory.mktemp("written")
    for target, name in (("tfjs", "web"), ("dl4j", "dl4j"), ("keras", "model.keras"), ("h5", "model.h5"),
                         ("json", "model.json"), ("yaml", "model.yaml")):
        kconvert.convert(str(SOURCE), target, out / name)
    return out


@pytest.mark.parametrize("name, expected", [
    ("web", "tfjs"), ("web/model.json", "tfjs"), ("dl4j", "dl4j-zip"), ("dl4j/model.zip", "dl4j-zip"),
    ("dl4j/configuration.json", "dl4j-json"), ("model.keras", "keras-v3"), ("model.h5", "keras-h5"),
    ("model.json", "keras-json"), ("model.yaml", "keras-yaml"),
])
def test_every_output_is_recognised_by_its_content(name: str, expected: str, written: Path, tmp_path: Path) -> None:
    assert detect(written / name).format == expected
    if (written / name).is_file():  # the content decides, not the name
        renamed = shutil.copy(written / name, tmp_path / "model.bin")
        assert detect(renamed).format == expected


def test_text_and_bytes_are_recognised_too(written: Path) -> None:
    text = (written / "dl4j" / "configuration.json").read_text()
    assert detect(text).format == "dl4j-json" and detect(text.encode()).format == "dl4j-json"
    assert detect((KERAS3 / "mlp.yaml").read_text()).format == "keras-yaml"


def test_a_dl4j_output_folder_prefers_its_zip_and_loads(written: Path) -> None:
    found = detect(written / "dl4j")
    assert found.path == str(written / "dl4j" / "model.zip")
    with kconvert.load(written / "dl4j") as model, kconvert.load(SOURCE) as source:
        assert model.provenance.source_format == "dl4j-zip" and not model.lacks_weights
        assert len(list(model.iter_weights())) == len(list(source.iter_weights()))


def count_opens(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[str]:
    """Every opening of ``path``, by ``open`` or by ``os.open`` (what kconvert's input opener uses)."""
    opened: list[str] = []
    for module, name in ((builtins, "open"), (os, "open")):
        def counting(file: Any, *args: Any, real: Any = getattr(module, name), **kwargs: Any) -> Any:
            if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) == os.path.abspath(path):
                opened.append(str(file))
            return real(file, *args, **kwargs)
        monkeypatch.setattr(module, name, counting)
    return opened


@pytest.mark.parametrize("name", ["web/model.json", "dl4j/configuration.json", "model.yaml"])
def test_a_configuration_is_opened_once_on_its_way_to_the_reader(name: str, written: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    opened = count_opens(monkeypatch, written / name)
    with kconvert.load(written / name) as model:
        assert model.layers
    assert len(opened) == 1


def test_check_opens_the_model_json_once(written: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Schema, load and kind all come from one read."""
    opened = count_opens(monkeypatch, written / "web" / "model.json")
    report = check(written / "web")
    assert report.passed and report.kind == "tfjs" and len(opened) == 1


def test_a_broken_model_json_in_a_tfjs_folder_is_still_a_tfjs_export(written: Path, tmp_path: Path) -> None:
    web = Path(shutil.copytree(written / "web", tmp_path / "web"))
    (web / "model.json").write_text('{"modelTopology": ')
    report = check(web)
    assert report.kind == "tfjs"
    assert {f.name: f.status for f in report.findings} == {"schema": "failed", "loads": "failed",
                                                           "finite": "skipped"}
    assert "malformed JSON" in report.findings[0].detail
    with pytest.raises(InputReadError, match="malformed JSON"):
        kconvert.load(web)


def test_a_damaged_zip_in_a_dl4j_folder_is_still_a_dl4j_export(written: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(written / "dl4j", tmp_path / "dl4j"))
    (folder / "model.zip").write_bytes((folder / "model.zip").read_bytes()[:-200])
    report = check(folder)
    assert report.kind == "dl4j-zip" and not report.passed
    assert {f.name: f.status for f in report.findings}["loads"] == "failed"


def test_a_folder_of_no_model_and_weights_for_a_dl4j_model_are_refused(written: Path, tmp_path: Path) -> None:
    with pytest.raises(InputReadError, match="is a directory without a TF.js model.json or a Deeplearning4j "
                                             "model.zip or configuration.json"):
        kconvert.load(tmp_path)
    with pytest.raises(InputReadError, match="holds its own weights") as raised:
        kconvert.load(written / "dl4j", weights=str(SOURCE))
    assert str(SOURCE) in str(raised.value)


def test_verify_takes_a_dl4j_output_folder_where_dl4j_cannot_run(written: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Without Java the folder's zip is read back by kconvert, and the reference says so."""
    from kconvert.verification import dl4j_runner

    monkeypatch.setattr(dl4j_runner, "unavailable_reason", lambda: "Java is not installed")
    report = verify(str(SOURCE), targets=(str(written / "dl4j"),), keras="never")
    (target,) = report.checks
    assert target.status == "passed" and report.passed
    assert "kconvert's reader, not Deeplearning4j: Java is not installed" in target.reference


def test_verify_command_runs_a_dl4j_output_folder_in_dl4j(written: Path, tmp_path: Path) -> None:
    """Issue 31: ``kconvert verify MODEL --target out/`` on what ``--to dl4j out/`` wrote."""
    require_dl4j()
    report_path = tmp_path / "report.json"
    result = CliRunner().invoke(main, ["verify", str(SOURCE), "--target", str(written / "dl4j"), "--no-keras",
                                       "--report", str(report_path)])
    assert result.exit_code == EXIT_OK, result.output
    (target,) = json.loads(report_path.read_text())["checks"]
    assert target["status"] == "passed" and "Deeplearning4j 1.0.0" in target["reference"]


@pytest.mark.parametrize("name", ["web", "model.keras", "model.h5"])
def test_verify_takes_every_other_output_convert_writes(name: str, written: Path) -> None:
    if name == "web":
        from tests.conftest import require_tfjs

        require_tfjs()
    report = verify(str(SOURCE), targets=(str(written / name),), keras="never")
    assert report.passed, [c.to_dict() for c in report.checks]


def test_verify_names_why_a_target_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    report = verify(str(SOURCE), targets=(str(tmp_path / "empty"),), keras="never")
    (target,) = report.checks
    assert target.status == "error" and "is a directory without a TF.js model.json" in target.reason
    with pytest.raises(InputReadError, match="is a directory without a TF.js model.json"):
        check(tmp_path / "empty")
