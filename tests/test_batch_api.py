"""``kconvert.convert_many`` and ``kconvert.check_many``: batch mode from Python gives what the command
gives (the same outcomes, and ``to_document()`` / ``to_junit()`` equal to ``--report`` / ``--junit``).
The batches run in a fresh interpreter, as a pipeline calls them: they fork a process per model, which
a pytest worker that has imported TensorFlow must not do."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import kconvert
from kconvert.batch_api import BatchArgumentError
from tests.conftest import FIXTURES, GENERATED
from tests.test_batch import SCHEMA, files_under, kconvert as command

#: both batches from Python, each model's line as it ends, and what their results hold
API = """
import json, sys
import kconvert

models, out = sys.argv[1:]
ended = []
converted = kconvert.convert_many(models, out, "tfjs", jobs=2, on_done=lambda o: ended.append(o.name))
checked = kconvert.check_many([out], source=models, jobs=2)
print(json.dumps({
    "type": type(converted).__name__, "ended": ended, "passed": [converted.passed, checked.passed],
    "counts": [converted.counts, checked.counts], "jobs": [converted.jobs, checked.jobs],
    "outcomes": [[o.name, o.status, o.exit_code, o.message, o.node] for o in converted.outcomes],
    "documents": [converted.to_document(), checked.to_document()],
    "junit": [converted.to_junit(), checked.to_junit()]}))
"""


def model_folder(root: Path) -> Path:
    """Two good models, one truncated file, and a file that is no model."""
    models = root / "models"
    (models / "good").mkdir(parents=True)
    shutil.copy(GENERATED / "tfkeras" / "mlp.h5", models / "good" / "mlp.h5")
    shutil.copy(GENERATED / "keras3" / "mlp.keras", models / "good" / "keras3_mlp.keras")
    shutil.copy(FIXTURES / "bad" / "corpus" / "hdf5_truncated_at_2048" / "model.h5", models / "broken.h5")
    (models / "notes.txt").write_text("not a model")
    return models


def untimed(document: Any) -> Any:
    """A report without its timings (the only part two runs of the same batch may differ in)."""
    if isinstance(document, dict):
        return {k: untimed(v) for k, v in document.items() if k != "seconds"}
    return [untimed(v) for v in document] if isinstance(document, list) else document


def untimed_junit(xml: str) -> str:
    return re.sub(r' time="[0-9.]+"', "", xml)


def test_convert_many_and_check_many_give_what_the_command_gives(tmp_path: Path) -> None:
    model_folder(tmp_path)
    done = subprocess.run([sys.executable, "-c", API, "models", "out"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    api = json.loads(done.stdout)
    assert api["type"] == "BatchResult" and api["passed"] == [False, True] and api["jobs"] == [2, 2]
    assert sorted(api["ended"]) == ["broken.h5", "good/keras3_mlp.keras", "good/mlp.h5"]
    assert [o[:3] for o in api["outcomes"]] == [["broken.h5", "error", 3], ["good/keras3_mlp.keras", "passed", 0],
                                                ["good/mlp.h5", "passed", 0]]
    assert api["outcomes"][0][3].startswith("models/broken.h5") and api["outcomes"][0][4] is None  # ran here
    assert api["outcomes"][2][3].startswith("-> out/good/mlp (9 weight tensors")
    assert api["counts"] == [{"total": 3, "passed": 2, "failed": 0, "error": 1},
                             {"total": 2, "passed": 2, "failed": 0, "error": 0}]
    for document in api["documents"]:
        jsonschema.validate(document, SCHEMA)
    written = {name: (tmp_path / "out" / name).read_bytes() for name in files_under(tmp_path / "out")}
    shutil.rmtree(tmp_path / "out")

    # the command on the same folder: the same outputs, reports and JUnit files, timings aside
    converted = command("models", "out", "--to", "tfjs", "--jobs", "2", "--report", "c.json", "--junit", "c.xml",
                        cwd=tmp_path)
    checked = command("check", "out", "--source", "models", "--jobs", "2", "--report", "k.json", "--junit", "k.xml",
                      cwd=tmp_path)
    assert (converted.returncode, checked.returncode) == (1, 0), converted.stderr + checked.stderr
    assert {name: (tmp_path / "out" / name).read_bytes() for name in files_under(tmp_path / "out")} == written
    for document, report in zip(api["documents"], ("c.json", "k.json")):
        assert untimed(document) == untimed(json.loads((tmp_path / report).read_text()))
    for junit, report in zip(api["junit"], ("c.xml", "k.xml")):
        assert untimed_junit(junit) == untimed_junit((tmp_path / report).read_text())


def test_arguments_that_cannot_be_used_are_refused_before_anything_runs(tmp_path: Path) -> None:
    models = model_folder(tmp_path)
    (tmp_path / "file").write_text("")
    refused = [
        (lambda: kconvert.convert_many(models, tmp_path / "file", "tfjs"), "output", "OUTPUT is a file"),
        (lambda: kconvert.convert_many(models, tmp_path / "out", "tfjs", cluster_files="copy"), "cluster_files",
         "goes with --cluster"),
        (lambda: kconvert.convert_many(models, tmp_path / "out", "tfjs", weights="w.h5"), "weights",
         "goes with one model"),
        (lambda: kconvert.check_many(models, source=models / "broken.h5"), "source", "the directory of their sources"),
    ]
    for call, argument, fragment in refused:
        with pytest.raises(BatchArgumentError, match=fragment) as raised:
            call()
        assert raised.value.argument == argument
    (tmp_path / "empty").mkdir()
    with pytest.raises(kconvert.InputReadError, match="no model files"):
        kconvert.convert_many(tmp_path / "empty", tmp_path / "out", "tfjs")
    assert not (tmp_path / "out").exists()


def test_a_cluster_that_cannot_be_used_is_a_cluster_error(tmp_path: Path) -> None:
    """No cluster needed: an address Ray cannot parse is refused at once (Ray imported in a child)."""
    model_folder(tmp_path)
    script = ("import sys, kconvert\nfrom kconvert.batch import ClusterError\n"
              "try:\n    kconvert.convert_many('models', 'out', 'tfjs', cluster='nowhere://127.0.0.1:9')\n"
              "except ClusterError as exc:\n    print('ClusterError:', exc)\n")
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    if "Ray is not installed" in done.stdout or "needs Ray" in done.stdout:
        assert "pip install 'kconvert[cluster]'" in done.stdout
    else:
        assert done.stdout.startswith("ClusterError: no Ray cluster at nowhere://127.0.0.1:9"), done.stderr
    assert not (tmp_path / "out").exists()
