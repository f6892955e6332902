"""Running Deeplearning4j models in the real Deeplearning4j (1.0.0-M2.1, on the JVM) as a
verification target.

The harness (``dl4j_harness/``, see :mod:`kconvert.verification.dl4j_install`) restores each
ModelSerializer zip as the MultiLayerNetwork or ComputationGraph its configuration describes and
calls ``output()``; arrays travel as float32 ``.npy`` files.  Starting the JVM and ND4J's native
backend costs seconds, so many models share one JVM (in batch mode, every model of a worker:
:mod:`kconvert.verification.harness_server`); a model that fails is reported with DL4J's
exception and the others still run (should the JVM itself die, it is restarted after that model).

A zip written by kconvert takes the arrays its source takes (Keras's channels-last layouts are
written as DL4J's NHWC / NWC formats), so inputs are passed as they are.  The JVM never opens a
caller's zip or configuration, only the checked copy :mod:`kconvert.verification.dl4j_staging` makes.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kconvert.errors import ForeignCodeError, KConvertError
from kconvert.verification import dl4j_install
from kconvert.verification.dl4j_install import IMPLEMENTATION, Dl4jUnavailable
from kconvert.verification.dl4j_staging import staged_configuration, staged_zip
from kconvert.verification.harness import SCRATCH, HarnessRun, run_jobs

#: seconds one model may take (DL4J's Keras import can loop forever on some files)
PER_MODEL_TIMEOUT = 300.0
_TIMED_OUT = "a model ran past its time"

__all__ = ["IMPLEMENTATION", "Dl4jRun", "Dl4jUnavailable", "import_keras_many", "run_configurations_many", "run_dl4j",
           "run_dl4j_many", "unavailable_reason"]


@dataclass
class Dl4jRun(HarnessRun):
    """``implementation``: "Deeplearning4j 1.0.0-M2.1"."""

    RUNTIME = "Deeplearning4j"

    network: str | None = field(default=None, kw_only=True)  # MultiLayerNetwork | ComputationGraph

    @classmethod
    def read(cls, data: dict[str, Any]) -> Dl4jRun:
        return cls([np.load(p) for p in data["outputs"]], {k: np.load(p) for k, p in data["activations"].items()},
                   data["dl4j"], network=data["network"])


def unavailable_reason() -> str | None:
    """None when models can be run (the harness builds itself on first use where Maven is);
    otherwise what is missing and how to install it."""
    return dl4j_install.missing()


def run_dl4j(path: str | os.PathLike[str], inputs: list[np.ndarray], layers: list[str] = (),
             timeout: float = PER_MODEL_TIMEOUT, dtype: str = "float") -> Dl4jRun:
    """Run one DL4J model zip on ``inputs``; ``layers`` asks for those layers' activations."""
    return run_dl4j_many([(path, inputs, list(layers))], timeout, dtype)[0]


def run_dl4j_many(jobs: list[tuple[str | os.PathLike[str], list[np.ndarray], list[str]]],
                  timeout: float = PER_MODEL_TIMEOUT, dtype: str = "float") -> list[Dl4jRun]:
    """Run several DL4J model zips, each on its inputs (none: only restore it), in one JVM;
    ``timeout`` bounds each model's time.  ``dtype="double"`` has DL4J compute in double precision
    (results still come back as float32): what tells float32 rounding a network amplifies from a
    difference in what is computed."""
    return _run([{"kind": "zip", "model": str(Path(path).resolve()), "layers": list(layers), "dtype": dtype}
                 for path, _, layers in jobs], [inputs for _, inputs, _ in jobs], timeout)


def run_configurations_many(jobs: list[tuple[str | os.PathLike[str], list[np.ndarray]]],
                            timeout: float = PER_MODEL_TIMEOUT,
                            save: list[str | os.PathLike[str]] | None = None,
                            layers: list[list[str]] | None = None) -> list[Dl4jRun]:
    """Restore ``configuration.json`` files alone (``MultiLayerConfiguration`` or
    ``ComputationGraphConfiguration.fromJson``), initialise each network with DL4J's own random parameters
    and run it on its inputs, in one JVM: what a configuration written without weights is good for.
    ``save`` (one path per job) has DL4J write each network so initialised as a ModelSerializer zip:
    a model DL4J itself made, parameters and all, for kconvert to read and compare with its output.
    ``layers`` (one list per job) asks for those layers' activations."""
    specs = [{"kind": "configuration", "model": str(Path(path).resolve()), "layers": list(names)}
             for (path, _), names in zip(jobs, layers or [[]] * len(jobs))]
    for spec, target in zip(specs, save or []):
        spec["save"] = str(Path(target).resolve())
    return _run(specs, [inputs for _, inputs in jobs], timeout)


def run_zoo_many(jobs: list[tuple[str, dict[str, Any], list[np.ndarray]]], save: list[str | os.PathLike[str]],
                 timeout: float = PER_MODEL_TIMEOUT) -> list[Dl4jRun]:
    """Build deeplearning4j-zoo models (class name, builder settings: numClasses, seed, inputShape...) with
    DL4J's own random parameters, run each on its inputs and save it as a ModelSerializer zip, in one JVM:
    models DL4J itself made, for kconvert to read and compare with DL4J's output."""
    specs = [{"kind": "zoo", "model": name, "zoo": settings, "layers": [], "save": str(Path(target).resolve())}
             for (name, settings, _), target in zip(jobs, save)]
    return _run(specs, [inputs for *_, inputs in jobs], timeout)


def import_keras_many(jobs: list[tuple[str | os.PathLike[str], str | None, bool, list[np.ndarray]]],
                      timeout: float = PER_MODEL_TIMEOUT) -> list[Dl4jRun]:
    """Import Keras files with DL4J's own ``KerasModelImport`` (enforceTrainingConfig=false) and run
    them: each job is (model file, weights file or None, Sequential?, inputs)."""
    specs = [{"kind": "keras", "model": str(Path(path).resolve()), "sequential": sequential,
              "weights": str(Path(weights).resolve()) if weights else None}
             for path, weights, sequential, _ in jobs]
    return _run(specs, [inputs for *_, inputs in jobs], timeout)


def _run(specs: list[dict[str, Any]], inputs: list[list[np.ndarray]], timeout: float) -> list[Dl4jRun]:
    reason = unavailable_reason()
    if reason:
        raise Dl4jUnavailable(reason)
    harness = dl4j_install.harness() or dl4j_install.install()
    env = {"CLASSPATH": dl4j_install.classpath(harness)}
    with tempfile.TemporaryDirectory(prefix="kconvert-dl4j-") as tmp:
        unreadable = {i: why for i, spec in enumerate(specs)
                      if (why := _stage(spec, Path(tmp, f"job{i}-model"))) is not None}
        runnable = [i for i in range(len(specs)) if i not in unreadable]
        for i in runnable:
            spec = specs[i]
            spec["inputs"] = []
            for j, x in enumerate(inputs[i]):
                spec["inputs"].append(os.path.join(tmp, f"job{i}-input{j}.npy"))
                np.save(spec["inputs"][-1], np.ascontiguousarray(x, dtype="<f4"))  # DL4J takes indices as floats
            spec["out"] = os.path.join(tmp, f"job{i}")
            spec["timeout_s"] = max(1, int(timeout))
            spec["result"] = os.path.join(tmp, f"result{i}.json")
        jobs = [specs[i] for i in runnable]
        crashes = _run_in_jvm(jobs, tmp, env, timeout)
        runs = {i: Dl4jRun.collect(spec["result"], crashes.get(k)) for k, (i, spec) in enumerate(zip(runnable, jobs))}
        return [runs[i] if i in runs else Dl4jRun(error=unreadable[i]) for i in range(len(specs))]


def _run_in_jvm(specs: list[dict[str, Any]], tmp: str, env: dict[str, str], timeout: float) -> dict[int, str]:
    """Run the jobs in as few JVMs as they allow: after a JVM dies on a model, a new one goes on with
    the next.  Returns why each job the JVM died on has no result."""
    crashes: dict[int, str] = {}
    start, stalled = 0, False
    while start < len(specs):
        # a JVM that crashes writes its hs_err file into a scratch directory, not the caller's
        crash = run_jobs(["java", "-Xss4m", f"-XX:ErrorFile={SCRATCH}/hs_err_%p.log", dl4j_install.MAIN_CLASS],
                         specs[start:], tmp, timeout * (len(specs) - start) + 120, "Deeplearning4j", _crash, env)
        done = [os.path.exists(s["result"]) for s in specs]
        if crash is None or all(done[start:]):
            break
        failed = done.index(False, start)
        if crash == _TIMED_OUT:  # the harness reported the model that ran too long: go on after it
            start, stalled = failed, False
            continue
        # the model the JVM died on: go on after it
        if failed == start and stalled:  # twice no model at all: the JVM itself cannot run
            crashes.update((i, crash) for i in range(start, len(specs)))
            break
        stalled = failed == start
        crashes[failed] = crash
        start = failed + 1
    return crashes


def _stage(spec: dict[str, Any], staged: Path) -> str | None:
    """Point ``spec`` at the checked copy of its model (``staged``) the JVM may open; why not, for a
    model that cannot be read.  A model naming classes that are not Deeplearning4j's is refused outright."""
    stage = {"zip": staged_zip, "configuration": staged_configuration}.get(spec["kind"])
    if stage is None:  # a Keras file for DL4J's own Keras import, a zoo model's class: nothing of kconvert's to stage
        return None
    try:
        spec["model"] = str(stage(spec["model"], staged.with_suffix(".zip" if spec["kind"] == "zip" else ".json")))
    except ForeignCodeError:
        raise
    except KConvertError as exc:  # that model's error; the JVM is not given what kconvert could not read
        return f"kconvert could not read the model, so Deeplearning4j was not given it: {exc}"
    return None


def _crash(done: subprocess.CompletedProcess[str]) -> str | None:
    """None when the JVM ended normally, :data:`_TIMED_OUT` when the harness stopped a model that ran past
    its time, else the JVM's status and last message."""
    if done.returncode in (0, 3):
        return None if done.returncode == 0 else _TIMED_OUT
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("SLF4J:")]
    return f"the JVM running Deeplearning4j ended with status {done.returncode}: " + \
        (lines[-1].strip() if lines else "no message")
