"""``kconvert check``: an exported model validated as a CI step would, through click's runner and a
real process, with its JSON and JUnit reports parsed back.  Every kind of breakage a pipeline can
meet is made from a good export: a missing or short shard, a manifest entry of the wrong dtype,
NaN in a shard, a document that breaks its schema, tampered weights (parity)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

import kconvert
from kconvert.cli import EXIT_CHECK_FAILED, EXIT_OK, EXIT_UNREADABLE, main
from kconvert.verification.check import check
from tests.conftest import GENERATED, ROOT, require_tfjs

SOURCE = str(GENERATED / "tfkeras" / "mlp.h5")
SCHEMA = json.loads((ROOT / "schemas" / "check-report.schema.json").read_text())


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("exports")
    kconvert.convert(SOURCE, "tfjs", out / "web")
    kconvert.convert(SOURCE, "dl4j", out / "dl4j")
    kconvert.convert(SOURCE, "keras", out / "model.keras")
    kconvert.convert(SOURCE, "h5", out / "model.h5")
    return {"tfjs": out / "web", "dl4j": out / "dl4j", "keras": out / "model.keras", "h5": out / "model.h5"}


@pytest.fixture
def web(exports: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of the TF.js export, to break."""
    return Path(shutil.copytree(exports["tfjs"], tmp_path / "web"))


def run_check(*args: str, tmp_path: Path) -> tuple[int, str, dict, ET.Element]:
    report, junit = tmp_path / "report.json", tmp_path / "report.xml"
    result = CliRunner().invoke(main, ["check", *args, "--report", str(report), "--junit", str(junit)])
    document = json.loads(report.read_text())
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    return result.exit_code, result.stdout, document, ET.parse(junit).getroot()


def status(document: dict) -> dict[str, str]:
    return {c["name"]: c["status"] for c in document["checks"]}


def manifest(web: Path) -> dict:
    return json.loads((web / "model.json").read_text())


# -- sound exports -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["dl4j", "keras", "h5"])
def test_a_sound_export_passes_every_check(kind: str, exports: dict[str, Path], tmp_path: Path) -> None:
    code, out, document, junit = run_check(str(exports[kind]), "--source", SOURCE, tmp_path=tmp_path)
    assert code == EXIT_OK, out
    assert document["passed"] is True and document["source"] == SOURCE
    checks = status(document)
    assert checks["loads"] == checks["finite"] == "passed"
    assert all(s == "passed" for name, s in checks.items() if name.startswith("parity"))
    assert checks["schema"] == ("passed" if kind == "dl4j" else "skipped")
    assert int(junit.get("tests")) == len(document["checks"]) and junit.get("failures") == "0"
    assert out.rstrip().endswith("PASSED")


def test_a_configuration_alone_is_checked_without_parity(exports: dict[str, Path], tmp_path: Path) -> None:
    code, _, document, _ = run_check(str(exports["dl4j"] / "configuration.json"), "--source", SOURCE,
                                     tmp_path=tmp_path)
    assert code == EXIT_OK
    assert status(document) == {"schema": "passed", "loads": "passed", "finite": "passed", "parity": "skipped"}


# -- broken TF.js exports (no parity: these fail before anything runs) ----------------------------------

def test_a_missing_shard_fails(web: Path, tmp_path: Path) -> None:
    shard = manifest(web)["weightsManifest"][0]["paths"][0]
    (web / shard).unlink()
    code, out, document, junit = run_check(str(web), tmp_path=tmp_path)
    assert code == EXIT_CHECK_FAILED and document["passed"] is False
    assert status(document) == {"schema": "passed", "loads": "failed", "finite": "skipped"}
    failure = junit.find("testcase[@name='loads']/failure")
    assert failure is not None and shard in failure.get("message") and "missing" in failure.get("message")
    assert "FAILED  loads" in out


def test_a_short_shard_fails(web: Path, tmp_path: Path) -> None:
    shard = web / manifest(web)["weightsManifest"][0]["paths"][0]
    shard.write_bytes(shard.read_bytes()[:-8])
    code, _, document, _ = run_check(str(web), tmp_path=tmp_path)
    assert code == EXIT_CHECK_FAILED
    assert status(document)["loads"] == "failed"
    assert "truncated or mismatched shards" in document["checks"][1]["detail"]


def test_a_manifest_dtype_that_does_not_match_the_shard_fails(web: Path, tmp_path: Path) -> None:
    document = manifest(web)
    document["weightsManifest"][0]["weights"][0]["dtype"] = "float16"  # the shard holds float32
    (web / "model.json").write_text(json.dumps(document))
    code, _, report, _ = run_check(str(web), tmp_path=tmp_path)
    assert code == EXIT_CHECK_FAILED and status(report)["loads"] == "failed"


def test_a_model_json_breaking_its_schema_fails(web: Path, tmp_path: Path) -> None:
    document = manifest(web)
    document["weightsManifest"][0]["weights"][0]["shape"] = "4x8"
    (web / "model.json").write_text(json.dumps(document))
    code, _, report, junit = run_check(str(web), tmp_path=tmp_path)
    assert code == EXIT_CHECK_FAILED and status(report)["schema"] == "failed"
    assert "tfjs-layers-model schema" in junit.find("testcase[@name='schema']/failure").get("message")


def test_a_dl4j_configuration_breaking_its_schema_fails(exports: dict[str, Path], tmp_path: Path) -> None:
    config = json.loads((exports["dl4j"] / "configuration.json").read_text())
    config["confs"] = "none"
    (tmp_path / "configuration.json").write_text(json.dumps(config))
    code, _, report, _ = run_check(str(tmp_path / "configuration.json"), tmp_path=tmp_path)
    assert code == EXIT_CHECK_FAILED and status(report)["schema"] == "failed"


def test_nan_the_source_lacks_fails(web: Path, tmp_path: Path) -> None:
    shard = web / manifest(web)["weightsManifest"][0]["paths"][0]
    values = np.frombuffer(shard.read_bytes(), dtype="<f4").copy()
    values[3] = np.nan
    shard.write_bytes(values.tobytes())
    result = check(web)
    finite = next(f for f in result.findings if f.name == "finite")
    assert finite.status == "failed" and finite.detail.startswith("1 NaN/infinite values in ")
    assert not result.passed


# -- what cannot be checked ------------------------------------------------------------------------

@pytest.mark.parametrize("what", ["missing", "empty directory", "unreadable source"])
def test_unreadable_input_exits_3_without_a_report(what: str, exports: dict[str, Path], tmp_path: Path) -> None:
    artifact, source = str(exports["keras"]), SOURCE
    if what == "missing":
        artifact = str(tmp_path / "nowhere")
    elif what == "empty directory":
        (tmp_path / "empty").mkdir()
        artifact = str(tmp_path / "empty")
    else:
        source = str(tmp_path / "no_source.h5")
    result = CliRunner().invoke(main, ["check", artifact, "--source", source, "--report", str(tmp_path / "r.json")])
    assert result.exit_code == EXIT_UNREADABLE, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("kconvert: error: ")
    assert not (tmp_path / "r.json").exists()


# -- parity in the real TF.js, through the installed command -------------------------------------------

def test_tampered_weights_fail_parity_in_tfjs(web: Path, tmp_path: Path) -> None:
    """Weights changed consistently (sizes right, values finite): only running the model shows it."""
    require_tfjs()
    good = subprocess.run([sys.executable, "-m", "kconvert", "check", str(web), "--source", SOURCE,
                           "--junit", str(tmp_path / "good.xml")], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert good.returncode == EXIT_OK, good.stdout + good.stderr
    assert ET.parse(tmp_path / "good.xml").getroot().get("failures") == "0"
    shard = web / manifest(web)["weightsManifest"][0]["paths"][0]
    values = np.frombuffer(shard.read_bytes(), dtype="<f4").copy()
    values[:8] += 0.5
    shard.write_bytes(values.tobytes())
    bad = subprocess.run([sys.executable, "-m", "kconvert", "check", str(web), "--source", SOURCE,
                          "--junit", str(tmp_path / "bad.xml"), "--report", str(tmp_path / "bad.json")],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert bad.returncode == EXIT_CHECK_FAILED, bad.stdout + bad.stderr
    report = json.loads((tmp_path / "bad.json").read_text())
    assert status(report) == {"schema": "passed", "loads": "passed", "finite": "passed", "parity": "failed"}
    failure = ET.parse(tmp_path / "bad.xml").getroot().find("testcase[@name='parity']/failure")
    assert failure is not None and "element(s) off" in failure.get("message")
