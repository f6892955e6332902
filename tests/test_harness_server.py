"""The harness server (``kconvert/verification/harness_server.py``): Node and the JVM started once per
batch worker, not once per model, with the results a process per model gives.

The batch tests run ``kconvert check OUT --source SRC`` through the installed command both ways
(``KCONVERT_RESIDENT_HARNESS=0``: a process per model, as before) and count the harnesses the server
started from its log.  The others make this test process the server's owner and its client (as a
batch's forked child is) and break the real Node or JVM under it: killed mid-list, frozen past the
list's time, its client killed mid-list, retired after N lists, and the owner killed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import kconvert
from kconvert.formats.tfjs import COMPANION_FILE
from kconvert.verification import harness_server
from kconvert.verification.dl4j_runner import run_dl4j
from kconvert.verification.tfjs_runner import run_tfjs
from tests.conftest import GENERATED, ROOT, require_dl4j, require_tfjs
from tests.helpers import dense_weights, keras_layer, sequential_config, write_keras2_h5

KCONVERT = Path(sys.executable).with_name("kconvert")
X = [np.linspace(-1, 1, 8, dtype="float32").reshape(2, 4)]
#: the generated fixtures each target's batch checks (those it converts)
BATCHES = {"tfjs": ["tfkeras/mlp.h5", "tfkeras/cnn1d.h5", "keras3/cnn2d.keras"],
           "dl4j": ["tfkeras/mlp.h5", "keras3/cnn2d.keras"]}


def events(log: Path, kind: str | None = None) -> list[dict]:
    found = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return [e for e in found if kind is None or e["event"] == kind]


def until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def comparable(report: dict) -> dict[str, tuple]:
    """Each model's outcome, less its time."""
    return {m["name"]: (m["status"], m["exit_code"], m["message"], m["warnings"], json.dumps(m["report"]))
            for m in report["models"]}


@pytest.mark.slow
@pytest.mark.parametrize("target", sorted(BATCHES))
def test_a_batch_check_starts_the_harness_once_per_worker_with_the_same_results(tmp_path: Path, target: str) -> None:
    (require_tfjs if target == "tfjs" else require_dl4j)()
    (tmp_path / "src").mkdir()
    for name in BATCHES[target]:
        shutil.copy(GENERATED / name, tmp_path / "src" / name.replace("/", "_"))
    base = {k: v for k, v in os.environ.items() if k not in (harness_server.SWITCH, harness_server.ADDRESS)}
    written = subprocess.run([str(KCONVERT), "src", "out", "--to", target, "-q"], cwd=tmp_path, timeout=300,
                             env={**base, harness_server.LOG: str(tmp_path / "convert.log")})
    assert written.returncode == 0
    assert not (tmp_path / "convert.log").exists()  # a batch that never verifies starts no harness

    reports, logs = {}, {}
    for resident, jobs in (("0", "2"), ("1", "1")):
        logs[resident] = tmp_path / f"harness{resident}.log"
        checking = subprocess.Popen(
            [str(KCONVERT), "check", "out", "--source", "src", "-j", jobs, "-q", "--report", f"r{resident}.json"],
            cwd=tmp_path, env={**base, harness_server.SWITCH: resident, harness_server.LOG: str(logs[resident])},
            stdout=subprocess.PIPE, text=True)
        said, _ = checking.communicate(timeout=600)
        assert checking.returncode == 0, said
        reports[resident] = json.loads((tmp_path / f"r{resident}.json").read_text())
    assert comparable(reports["1"]) == comparable(reports["0"])
    assert reports["1"]["summary"] == {"total": len(BATCHES[target]), "passed": len(BATCHES[target]), "failed": 0,
                                       "error": 0}
    assert not logs["0"].exists()  # turned off: no server
    started, lists = events(logs["1"], "start"), events(logs["1"], "list")
    assert len(started) == 1 and started[0]["runtime"] == ("node" if target == "tfjs" else "java")
    assert len({e["owner"] for e in events(logs["1"])}) == 1  # the batch's parent's, once, for all its models
    assert len(lists) == len(BATCHES[target]) and {e["pid"] for e in lists} == {started[0]["pid"]}
    assert [e["event"] for e in events(logs["1"])][-1] == "server ended"


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``plain/`` (TF.js), ``unit/`` (TF.js with kconvert's companion module) and ``zip/`` (DL4J)."""
    root = tmp_path_factory.mktemp("exports")
    dense = keras_layer("Dense", "dense_0", units=4, activation="tanh", use_bias=True)
    plain = write_keras2_h5(root / "plain.h5", sequential_config(dense), dense_weights((4,)))
    unit = write_keras2_h5(root / "unit.h5", sequential_config(dense, keras_layer("UnitNormalization", "unit",
                                                                                    axis=-1)), dense_weights((4,)))
    kconvert.convert(plain, "tfjs", root / "plain")
    kconvert.convert(unit, "tfjs", root / "unit", companion=True)
    kconvert.convert(plain, "dl4j", root / "zip")
    return root


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """This process as a batch's owner (and its own client) with a server of one slot; its log."""
    monkeypatch.delenv(harness_server.SWITCH, raising=False)
    monkeypatch.setenv(harness_server.LOG, str(tmp_path / "harness.log"))
    with harness_server.serving(1):
        yield tmp_path / "harness.log"


RUNTIMES = {"tfjs": (require_tfjs, lambda root, **kw: run_tfjs(root / "plain", X, **kw),
                     "Node ended with status -9"),
            "dl4j": (require_dl4j, lambda root, **kw: run_dl4j(root / "zip" / "model.zip", X, **kw),
                     "the JVM running Deeplearning4j ended with status -9: no message")}


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_a_harness_killed_mid_list_costs_that_list_only(exports: Path, server: Path, runtime: str) -> None:
    require, run, lost_message = RUNTIMES[runtime]
    require()
    first = run(exports)
    assert first.error is None
    pid = events(server, "start")[0]["pid"]
    os.kill(pid, signal.SIGSTOP)  # so that the next list is surely mid-way when it is killed
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(run, exports)
        until(lambda: len(events(server, "list")) == 2)
        os.kill(pid, signal.SIGKILL)
        lost = pending.result(timeout=120)
    assert lost.error == lost_message
    after = run(exports)  # a fresh harness for the next model
    assert after.error is None and np.array_equal(after.outputs[0], first.outputs[0])
    assert [e["event"] for e in events(server) if e["event"] != "list"] == ["start", "ended", "start"]


def test_a_harness_past_its_time_is_killed_and_replaced(exports: Path, server: Path) -> None:
    require_tfjs()
    assert run_tfjs(exports / "plain", X).error is None
    os.kill(events(server, "start")[0]["pid"], signal.SIGSTOP)  # a hang
    assert run_tfjs(exports / "plain", X, timeout=2).error == "Node did not finish within 2 s"
    assert run_tfjs(exports / "plain", X).error is None
    assert [e["event"] for e in events(server) if e["event"] != "list"] == ["start", "timed out", "start"]


def test_a_client_killed_mid_list_does_not_wedge_the_server(exports: Path, server: Path) -> None:
    """A model's child killed at its time limit while its list runs: the harness it held is ended,
    and the next model gets a fresh one at once."""
    require_tfjs()
    assert run_tfjs(exports / "plain", X).error is None
    os.kill(events(server, "start")[0]["pid"], signal.SIGSTOP)
    client = subprocess.Popen([sys.executable, "-c", "import sys, numpy as np\n"
                               "from kconvert.verification.tfjs_runner import run_tfjs\n"
                               "run_tfjs(sys.argv[1], [np.zeros((2, 4), 'float32')])", str(exports / "plain")],
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    until(lambda: len(events(server, "list")) == 2)
    client.kill()
    client.wait()
    until(lambda: bool(events(server, "its child went away")))
    started = time.monotonic()
    assert run_tfjs(exports / "plain", X, timeout=120).error is None
    assert time.monotonic() - started < 60
    assert len(events(server, "start")) == 2


def test_harnesses_are_retired_after_their_lists_and_each_job_sees_a_fresh_tfjs(
        exports: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Retired after N lists (memory stays bounded); within one Node, a model that needs the companion
    module but has none beside it fails as in a fresh Node, though the one before registered it."""
    require_tfjs()
    log = tmp_path / "harness.log"
    monkeypatch.delenv(harness_server.SWITCH, raising=False)
    monkeypatch.setenv(harness_server.LOG, str(log))
    bare = tmp_path / "bare"
    shutil.copytree(exports / "unit", bare)
    (bare / COMPANION_FILE).unlink()
    with harness_server.serving(1, recycle_jobs=3):
        runs = [run_tfjs(exports / "unit", X), run_tfjs(bare, X), run_tfjs(exports / "plain", X),
                run_tfjs(exports / "plain", X)]
    assert runs[0].error is None and runs[2].error is None and runs[3].error is None
    assert runs[1].error is not None and "stock TF.js has no UnitNormalization" in runs[1].error
    assert [e["event"] for e in events(log) if e["event"] != "list"] == ["start", "retired", "start", "server ended"]


def test_the_server_and_its_harnesses_end_with_their_owner(exports: Path, tmp_path: Path) -> None:
    require_tfjs()
    log = tmp_path / "harness.log"
    owner = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, numpy as np\n"
         "from kconvert.verification import harness_server\n"
         "from kconvert.verification.tfjs_runner import run_tfjs\n"
         "with harness_server.serving(1):\n"
         "    assert run_tfjs(sys.argv[1], [np.zeros((2, 4), 'float32')]).error is None\n"
         "    time.sleep(600)\n", str(exports / "plain")],
        env={**os.environ, "PYTHONPATH": str(ROOT), harness_server.LOG: str(log)})
    try:
        until(lambda: bool(events(log, "list")), 120)
        time.sleep(1)  # the list done
        started = events(log, "start")[0]
    finally:
        owner.kill()  # no chance to stop anything
        owner.wait()
    until(lambda: not _alive(started["server"]) and not _alive(started["pid"]), 30)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
