"""Batch mode on a real Ray cluster of two nodes on this machine (``--cluster``), against local batch
mode on the same folder: the same outputs (byte for byte), statuses, lines, report and JUnit file,
also when a node's worker is killed mid-task (one retry) or on every attempt (that model's error).

The cluster is started once for the module (two ``ray start`` processes, ports picked free, their
own temporary folders) and the module is one xdist group, so two pytest workers never start two.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import FIXTURES, GENERATED, ROOT, in_ci
from kconvert.verification import harness_server
from tests.test_batch import SCHEMA, files_under, kconvert
from tests.test_harness_server import events

pytestmark = [pytest.mark.xdist_group("ray-cluster"), pytest.mark.slow]

CORPUS = FIXTURES / "bad" / "corpus"
#: the models whose node worker is killed while they run: once (retried, then fine), and on every attempt
KILLED_ONCE, KILLED_ALWAYS = "good/victim.h5", "good/doomed.h5"


@pytest.fixture(scope="module")
def harness_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the nodes' harness servers note each Node or JVM they start (``$KCONVERT_HARNESS_LOG``)."""
    return tmp_path_factory.mktemp("harness") / "harness.log"


@pytest.fixture(scope="module")
def cluster(harness_log: Path) -> Iterator[str]:
    try:
        import ray  # noqa: F401
    except ImportError:
        if in_ci():
            pytest.fail("ray is not installed (pip install -e '.[test]') -- required under CI=true", pytrace=False)
        pytest.skip("ray is not installed: pip install 'kconvert[cluster]' to run the cluster tests")
    from tests.ray_cluster import LocalCluster

    started = LocalCluster.start(env={"PYTHONPATH": str(ROOT), harness_server.LOG: str(harness_log)})
    try:
        yield started.address
    finally:
        started.stop()


def model_folder(root: Path) -> Path:
    models = root / "models"
    for sub in ("good", "broken"):
        (models / sub).mkdir(parents=True)
    shutil.copy(GENERATED / "tfkeras" / "mlp.h5", models / "good" / "mlp.h5")
    shutil.copy(GENERATED / "keras3" / "mlp.keras", models / "good" / "keras3_mlp.keras")
    shutil.copy(GENERATED / "tfkeras" / "cnn2d.h5", models / KILLED_ONCE)
    shutil.copy(GENERATED / "tfkeras" / "cnn1d.h5", models / KILLED_ALWAYS)
    shutil.copy(CORPUS / "hdf5_truncated_at_2048" / "model.h5", models / "broken" / "truncated.h5")
    shutil.copy(CORPUS / "hdf5_that_crashes_the_hdf5_library" / "model.h5", models / "broken" / "crash.h5")
    (models / "notes.txt").write_text("not a model")
    return models


class Killer(threading.Thread):
    """Kills the node worker running a model (the process Ray titles ``ray::kconvert NAME``, not
    the child it forked for the model), ``times`` times: as the OOM killer or a lost node would."""

    def __init__(self, times: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.left, self.killed, self.stopping = dict(times), {name: 0 for name in times}, threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set() and any(self.left.values()):
            titles, struck = _titles(), set()
            for pid, (title, parent) in titles.items():
                name = title.removeprefix("ray::kconvert ").strip()
                # one worker per model and look: Ray may title two workers alike for a moment, but runs one
                if title.startswith("ray::kconvert ") and self.left.get(name) and name not in struck and \
                        titles.get(parent, ("", 0))[0] != title:
                    struck.add(name)
                    os.kill(pid, signal.SIGKILL)
                    self.left[name] -= 1
                    self.killed[name] += 1
            time.sleep(0.02)


def _titles() -> dict[int, tuple[str, int]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            found[int(entry.name)] = (title, parent)
    return found


def comparable(report: dict, out: str) -> dict[str, tuple]:
    """Each model's outcome, less what differs between runs (time, where, the output folder's name)."""
    return {m["name"]: (m["status"], m["exit_code"], re.sub(rf"\b{out}\b", "OUT", m["message"]),
                        m["warnings"], json.dumps(m["report"]).replace(out, "OUT"))
            for m in report["models"]}


def lines(stdout: str, out: str) -> set[str]:
    return {re.sub(r"\(\d+\.\d s\)$", "", line).replace(out, "OUT") for line in stdout.splitlines()[:-1]}


def test_convert_and_check_on_a_two_node_cluster_match_local_batch_mode(tmp_path: Path, cluster: str,
                                                                       harness_log: Path) -> None:
    models = model_folder(tmp_path)
    local = kconvert(str(models), "out-local", "--to", "tfjs", "-j", "2", "--report", "local.json", "--junit",
                     "local.xml", cwd=tmp_path)
    assert local.returncode == 1, local.stderr
    expected = json.loads((tmp_path / "local.json").read_text())
    assert {m["name"]: m["status"] for m in expected["models"]} == {
        "good/mlp.h5": "passed", "good/keras3_mlp.keras": "passed", KILLED_ONCE: "passed", KILLED_ALWAYS: "passed",
        "broken/truncated.h5": "error", "broken/crash.h5": "error"}

    for out, files in (("out-shared", "auto"), ("out-copied", "copy")):  # the nodes see this folder; or not
        killer = Killer({KILLED_ONCE: 1, KILLED_ALWAYS: 2})
        killer.start()
        done = kconvert(str(models), out, "--to", "tfjs", "--cluster", cluster, "--cluster-files", files,
                        "--report", f"{out}.json", "--junit", f"{out}.xml", cwd=tmp_path)
        killer.stopping.set()
        killer.join()
        assert killer.killed == {KILLED_ONCE: 1, KILLED_ALWAYS: 2}, done.stdout
        assert done.returncode == 1, done.stderr
        assert all(line.startswith("\x1b[33m(raylet)") or line.startswith(" ") for line in done.stderr.splitlines())
        report = json.loads((tmp_path / f"{out}.json").read_text())
        jsonschema.validate(report, SCHEMA)
        assert report["cluster"] == cluster and report["summary"] == {"total": 6, "passed": 3, "failed": 0,
                                                                      "error": 3}
        assert report["ignored_files"] == expected["ignored_files"] == 1

        # the model killed on every attempt is its own error; every other model is as local batch mode made it
        got, want = comparable(report, out), comparable(expected, "out-local")
        doomed = got.pop(KILLED_ALWAYS)
        want.pop(KILLED_ALWAYS)
        assert got == want
        assert doomed[:2] == ("error", 3) and "its cluster worker was lost on 2 attempts" in doomed[2]
        assert str(models / KILLED_ALWAYS) in doomed[2]
        assert lines(done.stdout, out) - lines(local.stdout, "out-local") == {
            next(line for line in lines(done.stdout, out) if KILLED_ALWAYS in line)}
        assert len({m["node"]["id"] for m in report["models"] if "node" in m}) == 2  # both nodes worked

        # byte-identical outputs, and nothing half-written by the killed workers
        local_files = {f for f in files_under(tmp_path / "out-local") if not f.startswith("good/doomed/")}
        assert files_under(tmp_path / out) == local_files
        assert all((tmp_path / out / f).read_bytes() == (tmp_path / "out-local" / f).read_bytes() for f in local_files)
        assert not [p for p in (tmp_path / out).rglob(".*")]

        suite, local_suite = (ET.parse(tmp_path / f).getroot() for f in (f"{out}.xml", "local.xml"))
        assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("6", "0", "3")
        assert {c.get("name"): [e.tag for e in c] for c in suite} == {
            c.get("name"): ["error"] if c.get("name") == KILLED_ALWAYS else [e.tag for e in c] for c in local_suite}

    # the exports, checked against their sources (in Node) on the cluster (copied to the nodes) as locally: a
    # damaged one among them fails
    damaged = tmp_path / "out-copied" / "good" / "mlp" / "model.json"
    damaged.write_text(damaged.read_text().replace('"weightsManifest"', '"weightsManifesto"'))
    checks = {}
    for where in ([], ["--cluster", cluster, "--cluster-files", "copy"]):
        done = kconvert("check", str(tmp_path / "out-copied"), "--source", str(models), *where, "--report",
                        "check.json", cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        checks[bool(where)] = comparable(json.loads((tmp_path / "check.json").read_text()), "out-copied")
    assert checks[True] == checks[False]
    # the models the cluster checked ran in Node on its workers: one Node per Ray worker, for all its models
    noted = events(harness_log)
    owners = {e["owner"] for e in noted if e["event"] == "list"}
    assert owners and all(sum(e["event"] == "start" and e["owner"] == owner for e in noted) == 1 for owner in owners)
    assert {name: outcome[0] for name, outcome in checks[True].items()} == {
        "good/keras3_mlp": "passed", "good/mlp": "failed", "good/victim": "passed"}


def test_convert_many_on_the_cluster_says_where_each_model_ran(tmp_path: Path, cluster: str) -> None:
    """The Python API's ``cluster=``: the command's cluster batch, from a pipeline's own interpreter."""
    (tmp_path / "models").mkdir()
    shutil.copy(GENERATED / "tfkeras" / "mlp.h5", tmp_path / "models" / "mlp.h5")
    shutil.copy(CORPUS / "hdf5_truncated_at_2048" / "model.h5", tmp_path / "models" / "truncated.h5")
    script = ("import json, sys, kconvert\n"
              "done = kconvert.convert_many('models', 'out', 'tfjs', cluster=sys.argv[1], cluster_files='copy')\n"
              "print(json.dumps([done.cluster, done.to_document()['cluster'], "
              "[[o.name, o.status, o.exit_code, sorted(o.node or {})] for o in done.outcomes]]))\n")
    done = subprocess.run([sys.executable, "-c", script, cluster], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [cluster, cluster, [
        ["mlp.h5", "passed", 0, ["address", "host", "id"]], ["truncated.h5", "error", 3, ["address", "host", "id"]]]]
    assert files_under(tmp_path / "out") == {"mlp/model.json", "mlp/group1-shard1of1.bin"}


def test_local_batch_mode_and_help_never_import_ray(tmp_path: Path) -> None:
    script = ("import sys\nfrom click.testing import CliRunner\nfrom kconvert.cli import main\n"
              "from kconvert import batch\n"
              "CliRunner().invoke(main, ['--help'])\n"
              "done, jobs = batch.run_all([batch.Item('a', sys.argv[1])], lambda item: (0, 'fine', {}), "
              "batch.Settings(jobs=1), lambda outcome: None)\n"
              "assert done[0].status == 'passed' and jobs == 1, done\n"
              "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stderr
