"""The differential run of a batch of random models.

The parent (:func:`run_batch`) lays each model out in a directory (its description and seeded
inputs), has the frameworks build them (Keras 3 and tf_keras in one subprocess,
:mod:`tests.differential.keras_build`; DL4J in one JVM through the harness's configuration job),
then starts a worker (``python -m tests.differential.runner``) that reads each model with kconvert,
runs it in kconvert's runtime against the framework's outputs, writes it to every target and runs
those in their real runtimes, many models per Node/JVM/Keras start (the verification runners'
batch functions).  The worker records each outcome as it goes; a worker that dies or runs past its
time is restarted after the model it was on, which becomes a ``crash`` or ``timeout`` finding, so a
batch always ends and memory is given back with each worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from tests.differential.outcomes import TARGETS, Outcome, reason_key
from tests.differential.spec import ModelSpec

BATCH = 2  # examples per input
ATOL, RTOL = 1e-4, 1e-3
#: seconds a model may take in the worker's kconvert stage (reading, runtime, writing every target)
PER_MODEL_SECONDS = 60
ROOT = Path(__file__).resolve().parents[2]


def make_inputs(spec: ModelSpec) -> list[np.ndarray]:
    rng = np.random.default_rng(spec.seed)
    return [rng.integers(0, i.high, size=(BATCH, *i.shape)).astype("int32") if i.dtype == "int32"
            else rng.normal(0, 1, size=(BATCH, *i.shape)).astype("float32") for i in spec.inputs]


def prepare(spec: ModelSpec, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "spec.json").write_text(json.dumps(spec.to_dict(), indent=1))
    np.savez(directory / "inputs.npz", **{f"x{i}": x for i, x in enumerate(make_inputs(spec))})


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "3"}


def build(directories: list[Path]) -> None:
    """Have the frameworks build, save and run each model (skipping those built already)."""
    specs = {d: ModelSpec.from_dict(json.loads((d / "spec.json").read_text())) for d in directories}
    keras = [d for d, s in specs.items() if s.framework != "dl4j"]
    _build_keras(keras)
    dl4j = [d for d, s in specs.items() if s.framework == "dl4j" and not (d / "built").exists()]
    if dl4j:
        from tests.differential.dl4j_build import build_dl4j

        build_dl4j([(d, specs[d]) for d in dl4j])


def _build_keras(directories: list[Path]) -> None:
    """One Keras process for all; one that dies is restarted after the model it died on."""
    from tests.differential.keras_build import PER_MODEL_SECONDS as BUILD_SECONDS

    while True:
        left = [d for d in directories if not (d / "built").exists()]
        if not left:
            return
        jobs = left[0] / "keras_jobs.json"
        jobs.write_text(json.dumps([str(d) for d in left]))
        try:
            subprocess.run([sys.executable, "-m", "tests.differential.keras_build", str(jobs)], cwd=ROOT,
                           env=_env(), capture_output=True, timeout=BUILD_SECONDS * len(left) + 120)
        except subprocess.TimeoutExpired:
            pass
        now = [d for d in left if not (d / "built").exists()]
        if now and now[0] == left[0]:  # the process died on it (or never started)
            (left[0] / "build_error.txt").write_text("the Keras process died building it")
            (left[0] / "built").touch()


def source_of(directory: Path, spec: ModelSpec) -> tuple[Path, Path | None]:
    """The saved model and, for a configuration saved alone, its weights."""
    if spec.save_as in ("json", "yaml"):
        return directory / f"model.{spec.save_as}", directory / "model.weights.h5"
    return directory / f"model.{spec.save_as}", None


# -- the worker ----------------------------------------------------------------------------------------------

def _load_arrays(path: Path, prefix: str) -> list[np.ndarray]:
    with np.load(path) as data:
        return [data[f"{prefix}{i}"] for i in range(len(data.files))]


def _compare(got: list[np.ndarray], want: list[np.ndarray]) -> str | None:
    """None when every output agrees within tolerance (scaled by the reference's magnitude); else what differs."""
    from kconvert.verification.compare import compare

    if len(got) != len(want):
        return f"{len(got)} outputs, the reference has {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        finite = np.abs(w[np.isfinite(w)]) if np.size(w) else np.zeros(1)
        scale = max(1.0, float(finite.max()) if finite.size else 1.0)
        result = compare(f"output {i}", g, w, ATOL * scale, RTOL)
        if not result.passed:
            return f"output {i}: {result.reason or f'{result.mismatched} element(s) off, max abs error {result.max_abs_error:.3g}'}"
    return None


class _Timeout(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Timeout()


class Worker:
    """Runs each model's stages, appending each outcome to ``results`` (one JSON line each) and a
    ``started`` line before each step that could crash the process."""

    def __init__(self, jobs: list[tuple[int, Path]], targets: tuple[str, ...], results: Path) -> None:
        self.jobs, self.targets, self.results = jobs, targets, results
        self.written: dict[str, list[tuple[int, Path, list[np.ndarray], list[np.ndarray]]]] = {t: [] for t in targets}

    def record(self, outcome: Outcome) -> None:
        with self.results.open("a") as fh:
            fh.write(json.dumps(outcome.to_dict()) + "\n")

    def started(self, index: int, stage: str) -> None:
        with self.results.open("a") as fh:
            fh.write(json.dumps({"started": index, "stage": stage}) + "\n")

    def run(self) -> None:
        signal.signal(signal.SIGALRM, _alarm)
        for index, directory in self.jobs:
            self.started(index, "read")
            signal.alarm(PER_MODEL_SECONDS)
            try:
                self.kconvert_stage(index, directory)
            except _Timeout:
                self.record(Outcome(index, "runtime", "finding", "timeout", f"over {PER_MODEL_SECONDS} s"))
            finally:
                signal.alarm(0)
        for target in self.targets:
            if self.written[target]:
                self.target_stage(target)

    def kconvert_stage(self, index: int, directory: Path) -> None:
        import kconvert
        from kconvert.errors import KConvertError

        spec = ModelSpec.from_dict(json.loads((directory / "spec.json").read_text()))
        if (directory / "build_error.txt").exists():
            self.record(Outcome(index, "read", "skipped", "not built", (directory / "build_error.txt").read_text()))
            return
        inputs = _load_arrays(directory / "inputs.npz", "x")
        reference = _load_arrays(directory / "outputs.npz", "y") if (directory / "outputs.npz").exists() else None
        path, weights = source_of(directory, spec)
        try:
            model = kconvert.load(path, weights, **({"input_shapes": {"input": spec.inputs[0].shape}}
                                                    if spec.framework == "dl4j" else {}))
        except KConvertError as exc:
            self.record(Outcome(index, "read", "refused", reason_key(exc.reason), str(exc)))
            return
        except _Timeout:
            raise
        except Exception as exc:
            self.record(Outcome(index, "read", "finding", "untyped", _one_line(exc)))
            return
        self.record(Outcome(index, "read", "matched"))
        with model:
            try:
                ours = [np.asarray(y) for y in kconvert.run(model, inputs, device="cpu")]
            except KConvertError as exc:
                self.record(Outcome(index, "runtime", "refused", reason_key(exc.reason), str(exc)))
                ours = None
            except _Timeout:
                raise
            except Exception as exc:
                self.record(Outcome(index, "runtime", "finding", "untyped", _one_line(exc)))
                ours = None
            if ours is not None and reference is not None:
                differs = _compare(ours, reference)
                self.record(Outcome(index, "runtime", "finding" if differs else "matched",
                                    "mismatch" if differs else "", differs or ""))
            elif ours is not None:
                self.record(Outcome(index, "runtime", "skipped", "the framework could not run it here",
                                    (directory / "reference_error.txt").read_text()
                                    if (directory / "reference_error.txt").exists() else ""))
            want = reference if reference is not None else ours
            for target in self.targets:
                self.write_target(index, directory, model, target, inputs, want)

    def write_target(self, index: int, directory: Path, model: Any, target: str, inputs: list[np.ndarray],
                     want: list[np.ndarray] | None) -> None:
        import kconvert
        from kconvert.errors import KConvertError

        out = directory / {"tfjs": "tfjs", "dl4j": "dl4j", "keras": "written.keras", "onnx": "model.onnx"}[target]
        try:
            kconvert.write(model, target, out, overwrite=True)
        except KConvertError as exc:
            self.record(Outcome(index, target, "refused", reason_key(exc.reason), str(exc)))
            return
        except _Timeout:
            raise
        except Exception as exc:
            self.record(Outcome(index, target, "finding", "untyped", _one_line(exc)))
            return
        if want is None:
            self.record(Outcome(index, target, "skipped", "no reference to compare with"))
            return
        self.written[target].append((index, out / "model.zip" if target == "dl4j" else out, inputs, want))

    def target_stage(self, target: str) -> None:
        jobs = self.written[target]
        if target == "onnx":  # in process: a crash here is this model's
            runs = []
            for index, out, inputs, _ in jobs:
                self.started(index, "onnx")
                runs.append(_onnx(out, inputs))
        else:
            runs = _RUNNERS[target]([(out, inputs) for _, out, inputs, _ in jobs])
        for (index, _, _, want), (outputs, error) in zip(jobs, runs):
            if error is not None:
                skip = _skip_reason(error)
                self.record(Outcome(index, target, "skipped" if skip else "finding",
                                    skip or "target-error", error[:500]))
                continue
            differs = _compare(outputs, want)
            self.record(Outcome(index, target, "finding" if differs else "matched", "mismatch" if differs else "",
                                differs or ""))


Run = tuple[list[np.ndarray], "str | None"]


def _tfjs(jobs: list[tuple[Path, list[np.ndarray]]]) -> list[Run]:
    from kconvert.verification.tfjs_runner import run_tfjs_many

    return [(r.outputs, r.error) for r in run_tfjs_many([(p, xs, []) for p, xs in jobs], timeout=30.0 * len(jobs) + 60)]


def _dl4j(jobs: list[tuple[Path, list[np.ndarray]]]) -> list[Run]:
    from kconvert.verification.dl4j_runner import run_dl4j_many

    return [(r.outputs, r.error) for r in run_dl4j_many([(p, xs, []) for p, xs in jobs], timeout=120)]


def _keras(jobs: list[tuple[Path, list[np.ndarray]]]) -> list[Run]:
    from kconvert.verification.keras_reference import KerasFile, run_files

    runs = run_files([KerasFile(str(p), "keras", xs) for p, xs in jobs], timeout=60.0 * len(jobs) + 120)
    return [(r.outputs, r.error or r.skipped) for r in runs]


def _onnx(path: Path, inputs: list[np.ndarray]) -> Run:
    from kconvert.errors import KConvertError
    from kconvert.formats.detect import detect
    from kconvert.verification.onnx_runner import run_onnx

    try:
        run = run_onnx(detect(str(path)), inputs, [], "cpu", "float32")
    except KConvertError as exc:
        return [], str(exc)
    return list(run.outputs), None


_RUNNERS: dict[str, Callable[[list[tuple[Path, list[np.ndarray]]]], list[Run]]] = {
    "tfjs": _tfjs, "dl4j": _dl4j, "keras": _keras}


def _skip_reason(error: str) -> str | None:
    """A target run that failed for this machine, not for the model: what TensorFlow's CPU kernels lack
    (channels_first convolutions without oneDNN, depthwise ones with unequal strides)."""
    from kconvert.verification.keras_reference import CANNOT_RUN_HERE

    if "NHWC" in error or "channels_first" in error:
        return "the runtime cannot run channels_first here"
    if error.startswith(CANNOT_RUN_HERE):
        return "the runtime cannot run it on this CPU"
    return None


def _one_line(exc: BaseException) -> str:
    """The exception's type, kconvert's last frame and its message, without what names this model's
    graph (so that a shrunk model showing the same failure has the same signature)."""
    from kconvert.verification.keras_reference import tensorflow_message

    frames = traceback.extract_tb(exc.__traceback__)
    where = next((f"{Path(f.filename).name}:{f.lineno}" for f in reversed(frames) if "kconvert" in f.filename), "")
    return f"{type(exc).__name__} at {where}: {' '.join(tensorflow_message(str(exc)).split())[:300]}"


# -- the parent ------------------------------------------------------------------------------------------

def run_batch(specs: list[ModelSpec], work: Path, targets: tuple[str, ...] = TARGETS,
              budget: float | None = None) -> list[Outcome]:
    """Every outcome of every model in ``specs`` (``Outcome.model`` indexes ``specs``)."""
    directories = []
    for i, spec in enumerate(specs):
        prepare(spec, work / f"m{i}")
        directories.append(work / f"m{i}")
    build(directories)
    outcomes: list[Outcome] = []
    pending = list(range(len(specs)))
    attempt = 0
    while pending:
        attempt += 1
        results, jobs = work / f"results{attempt}.jsonl", work / f"jobs{attempt}.json"
        jobs.write_text(json.dumps({"jobs": [[i, str(directories[i])] for i in pending], "targets": list(targets)}))
        limit = budget or (PER_MODEL_SECONDS * len(pending) + 300)
        died = None
        try:
            done = subprocess.run([sys.executable, "-m", "tests.differential.runner", str(jobs), str(results)],
                                  cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=limit)
            if done.returncode:
                died = "crash", f"the worker ended with status {done.returncode}: " + \
                    (done.stderr.strip().splitlines() or ["no message"])[-1][:300]
        except subprocess.TimeoutExpired:
            died = "timeout", f"the worker ran past {limit:.0f} s"
        lines = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else []
        got = [Outcome(**line) for line in lines if "started" not in line]
        if died is None:
            outcomes += got
            break
        # the model the worker was on is a finding; the others go again in a new worker
        started = [line for line in lines if "started" in line]
        last = started[-1] if started else {"started": pending[0], "stage": "read"}
        culprit = last["started"]
        outcomes += [o for o in got if o.model == culprit and o.stage not in TARGETS]
        outcomes.append(Outcome(culprit, "runtime" if last["stage"] == "read" else last["stage"], "finding",
                                died[0], died[1]))
        pending = [i for i in pending if i != culprit]
    return outcomes


def main(jobs_file: str, results: str) -> None:
    document = json.loads(Path(jobs_file).read_text())
    Worker([(i, Path(d)) for i, d in document["jobs"]], tuple(document["targets"]), Path(results)).run()


if __name__ == "__main__":
    main(*sys.argv[1:3])
