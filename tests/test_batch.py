"""Many models at once: ``kconvert convert DIR OUT`` and ``kconvert check OUT`` through the installed
command, each model in its own forked process (so these run the command in a subprocess: forking
a pytest worker that has imported TensorFlow is not safe)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from kconvert import batch
from tests.conftest import FIXTURES, GENERATED, ROOT
from tests.test_no_code_runs import hostile_files, markers_in

KCONVERT = Path(sys.executable).with_name("kconvert")
SCHEMA = json.loads((ROOT / "schemas" / "batch-report.schema.json").read_text())
CORPUS = FIXTURES / "bad" / "corpus"


def kconvert(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KCONVERT), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def model_folder(root: Path) -> Path:
    """Two good models, two broken files (one crashes libhdf5), two live code payloads, a file
    that is no model, and a hidden model that is skipped."""
    models = root / "models"
    for sub in ("good", "broken", "hostile"):
        (models / sub).mkdir(parents=True)
    shutil.copy(GENERATED / "tfkeras" / "mlp.h5", models / "good" / "mlp.h5")
    shutil.copy(GENERATED / "keras3" / "mlp.keras", models / "good" / "keras3_mlp.keras")
    shutil.copy(CORPUS / "hdf5_truncated_at_2048" / "model.h5", models / "broken" / "truncated.h5")
    shutil.copy(CORPUS / "hdf5_that_crashes_the_hdf5_library" / "model.h5", models / "broken" / "crash.h5")
    hostile = hostile_files(root / "payloads")
    shutil.copy(hostile["yaml"], models / "hostile" / "model.yaml")
    shutil.copy(hostile["lambda json"], models / "hostile" / "lambda.json")
    (models / "README.txt").write_text("not a model")
    shutil.copy(GENERATED / "tfkeras" / "mlp.h5", models / ".backup.h5")
    return models


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_a_directory_with_good_broken_and_hostile_models(tmp_path: Path) -> None:
    models = model_folder(tmp_path)
    done = kconvert(str(models), "out", "--to", "tfjs", "--jobs", "2", "--report", "r.json", "--junit", "r.xml",
                    cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 7 and not done.stderr  # one line per model and the summary
    assert lines[-1].startswith("6 models in ") and lines[-1].endswith(
        "(2 jobs): 2 passed, 0 failed, 4 not converted; 1 other files passed over")
    by_name = {line.split()[1].rstrip(":"): line for line in lines[:-1]}
    assert by_name["good/mlp.h5"].startswith("ok      good/mlp.h5 -> out/good/mlp (9 weight tensors")
    assert by_name["broken/crash.h5"].startswith("ERROR   broken/crash.h5: ")
    assert "crashed a C library (SIGSEGV)" in by_name["broken/crash.h5"]

    # every good model written whole, nothing else: no partial output, no payload ran
    assert files_under(tmp_path / "out") == {"good/mlp/model.json", "good/mlp/group1-shard1of1.bin",
                                             "good/keras3_mlp/model.json", "good/keras3_mlp/group1-shard1of1.bin"}
    assert markers_in(tmp_path) == [] and markers_in(models / "hostile") == []

    report = json.loads((tmp_path / "r.json").read_text())
    jsonschema.validate(report, SCHEMA)
    outcomes = {m["name"]: m for m in report["models"]}
    assert list(outcomes) == sorted(outcomes)
    assert {n: (m["status"], m["exit_code"]) for n, m in outcomes.items()} == {
        "good/keras3_mlp.keras": ("passed", 0), "good/mlp.h5": ("passed", 0),
        "broken/crash.h5": ("error", 3), "broken/truncated.h5": ("error", 3),
        "hostile/lambda.json": ("error", 4), "hostile/model.yaml": ("error", 3)}
    for name, outcome in outcomes.items():
        assert outcome["path"] == str(models / name)
        if outcome["status"] == "error":
            assert str(models / name) in outcome["message"] and "\n" not in outcome["message"]
            assert outcome["output"] is None and outcome["report"] is None
        else:
            assert outcome["report"]["output"]["weights"] == 9
    assert "python/object/apply" in outcomes["hostile/model.yaml"]["message"]
    assert report["summary"] == {"total": 6, "passed": 2, "failed": 0, "error": 4} and report["ignored_files"] == 1

    suite = ET.parse(tmp_path / "r.xml").getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "0", "4")
    errors = {case.get("name") for case in suite if case.find("error") is not None}
    assert errors == {n for n, m in outcomes.items() if m["status"] == "error"}


def test_exports_are_checked_as_a_batch_and_paired_with_their_sources(tmp_path: Path) -> None:
    models = tmp_path / "models"
    (models / "a").mkdir(parents=True)
    for name in ("mlp.h5", "mlp.json"):  # differ only by suffix: both keep it in their output's name
        shutil.copy(GENERATED / "tfkeras" / name, models / "a" / name)
    shutil.copy(GENERATED / "keras3" / "mlp.keras", models / "keras3_mlp.keras")
    done = kconvert(str(models), str(models / "out"), "--to", "dl4j", "-j", "1", cwd=tmp_path)
    assert done.returncode == 1 and "ERROR   a/mlp.json: " in done.stdout and "use --config-only" in done.stdout
    assert files_under(models / "out") == {"a/mlp.h5/configuration.json", "a/mlp.h5/model.zip",
                                           "keras3_mlp/configuration.json", "keras3_mlp/model.zip"}

    # the output inside the models' folder is not taken for models on a second run
    again = kconvert(str(models), str(models / "out"), "--to", "dl4j", "--overwrite", "-q", cwd=tmp_path)
    assert again.returncode == 1 and again.stdout.splitlines()[-1].startswith("3 models in ")
    assert [line.split()[0] for line in again.stdout.splitlines()[:-1]] == ["ERROR"]  # -q: failures only

    checked = kconvert("check", str(models / "out"), "--source", str(models), "--report", "c.json", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout
    report = json.loads((tmp_path / "c.json").read_text())
    jsonschema.validate(report, SCHEMA)
    assert {m["name"]: m["report"]["source"] for m in report["models"]} == {
        "a/mlp.h5": str(models / "a" / "mlp.h5"), "keras3_mlp": str(models / "keras3_mlp.keras")}
    assert all(any(c["name"] == "parity" and c["status"] == "passed" for c in m["report"]["checks"])
               for m in report["models"])

    coefficients = models / "out" / "keras3_mlp" / "model.zip"
    coefficients.write_bytes(coefficients.read_bytes()[:-200])  # a damaged export among sound ones
    checked = kconvert("check", str(models / "out"), "--junit", "c.xml", cwd=tmp_path)
    assert checked.returncode == 1
    assert checked.stdout.splitlines()[-1].endswith("1 passed, 1 failed, 0 not read")
    assert "FAILED  keras3_mlp (dl4j-zip) schema: " in checked.stdout
    suite = ET.parse(tmp_path / "c.xml").getroot()
    assert [case.get("name") for case in suite if case.find("failure") is not None] == ["keras3_mlp"]


def test_a_worker_that_dies_or_breaks_costs_only_its_model(tmp_path: Path) -> None:
    """Killed mid-write (as by the kernel's OOM killer), or an unexpected exception: that model is
    an error, what it was writing is removed, and the other models go on."""
    script = textwrap.dedent(f"""
        import json, os, signal, sys
        from pathlib import Path
        from kconvert import batch

        out = Path({str(tmp_path)!r})
        def work(item):
            if item.name == "dies":
                (out / ".dies.x1.partial").write_text("half")
                os.kill(os.getpid(), signal.SIGKILL)
            if item.name == "breaks":
                raise RuntimeError("a bug")
            if item.name == "differs":
                return 1, "verification FAILED", {{"n": 2}}
            return 0, "fine", {{"n": 1}}
        items = [batch.Item(n, out / n, output=out / n) for n in ("dies", "fine", "breaks", "differs")]
        from kconvert.writers.output import remove_staged
        done = batch.run(items, work, 2, lambda o: None, cleanup=lambda item: remove_staged(item.output))
        print(json.dumps([o.to_dict() for o in done]))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    outcomes = json.loads(result.stdout)
    assert [(o["name"], o["status"], o["exit_code"]) for o in outcomes] == [
        ("dies", "error", 3), ("fine", "passed", 0), ("breaks", "error", 1), ("differs", "failed", 1)]
    assert outcomes[0]["message"].endswith("killed by SIGKILL")
    assert outcomes[2]["message"] == "internal error: RuntimeError: a bug"
    assert outcomes[1]["report"] == {"n": 1} and outcomes[1]["output"] == str(tmp_path / "fine")
    assert outcomes[3]["output"] == str(tmp_path / "differs")  # written, though it did not verify
    assert outcomes[0]["output"] is None and outcomes[2]["output"] is None
    assert not list(tmp_path.glob("*.partial"))


def test_output_names_keep_suffixes_only_where_they_tell_models_apart() -> None:
    names = ["a/mlp.h5", "a/mlp.json", "b/cnn.keras", "c/web"]
    assert batch.output_names(names, "tfjs") == {"a/mlp.h5": "a/mlp.h5", "a/mlp.json": "a/mlp.json",
                                                 "b/cnn.keras": "b/cnn", "c/web": "c/web"}
    assert batch.output_names(names, "keras")["b/cnn.keras"] == "b/cnn.keras"
    assert batch.output_names(names, "h5")["a/mlp.h5"] == "a/mlp.h5.h5"


def test_discovery_skips_hidden_files_the_output_and_link_loops(tmp_path: Path) -> None:
    (tmp_path / "m" / "sub").mkdir(parents=True)
    for name in ("a.h5", "sub/b.keras", ".hidden.h5", "notes.md", "sub/b.weights.h5"):
        (tmp_path / "m" / name).write_bytes(b"")
    (tmp_path / "m" / "web").mkdir()
    (tmp_path / "m" / "web" / "model.json").write_text("{}")
    (tmp_path / "m" / "sub" / "loop").symlink_to(tmp_path / "m")
    (tmp_path / "m" / "out").mkdir()
    (tmp_path / "m" / "out" / "c.h5").write_bytes(b"")
    found = batch.discover([str(tmp_path / "m")], "convert", exclude=tmp_path / "m" / "out")
    assert [name for name, _ in found.models] == ["a.h5", "sub/b.keras", "web"] and found.ignored == 2
    assert not found.problems
    assert batch.is_batch([str(tmp_path / "m")], "convert") and not batch.is_batch([str(tmp_path / "m" / "web")],
                                                                                  "convert")


def test_sources_are_paired_by_name_and_ambiguity_is_reported(tmp_path: Path) -> None:
    for name in ("x.h5", "x.json", "y.keras"):
        shutil.copy(GENERATED / "tfkeras" / "mlp.h5", tmp_path / name)
    paired = batch.pair_sources(["x.h5", "x", "y", "y.keras", "z"], tmp_path)
    assert paired["x.h5"] == tmp_path / "x.h5" and paired["y"] == paired["y.keras"] == tmp_path / "y.keras"
    assert paired["x"] == f"2 sources named x.* in {tmp_path}: x.h5, x.json"
    assert paired["z"] == f"no source named z.* in {tmp_path}"


@pytest.mark.parametrize("args,exit_code,fragment", [
    (["{models}", "out", "--to", "tfjs", "--weights", "w.h5"], 2, "--weights goes with one model"),
    (["{mlp}", "out", "--to", "tfjs", "--jobs", "2"], 2, "--jobs goes with several models"),
    (["{models}", "{mlp}", "--to", "tfjs"], 2, "OUTPUT is a file"),
    (["{empty}", "out", "--to", "tfjs"], 3, "no model files"),
    (["check", "{models}", "--source", "{mlp}"], 2, "--source is the directory of their sources"),
])
def test_batch_usage_errors(tmp_path: Path, args: list[str], exit_code: int, fragment: str) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "empty").mkdir()
    mlp = shutil.copy(GENERATED / "tfkeras" / "mlp.h5", tmp_path / "models" / "mlp.h5")
    values = {"models": str(tmp_path / "models"), "mlp": str(mlp), "empty": str(tmp_path / "empty")}
    done = kconvert(*(a.format(**values) for a in args), cwd=tmp_path)
    assert done.returncode == exit_code and fragment in done.stderr
    assert not (tmp_path / "out").exists()
