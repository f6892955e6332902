"""Benchmark: kconvert against the other ways to ONNX, on the same real-world files, in one run.

    .venv/bin/python bench/onnx_peers.py [--corpus DIR] [--peers-python PY] [--opset N] [--vgg16] [--keep DIR]

The files are the real-world corpus's full models with known outputs (``../shared/fixtures/
keras-realworld``: each ``*_model.h5`` with a ``*_inputs_and_outputs.h5`` holding Keras's
predictions). Each tool converts every file in one process of its own (imports paid once):

* ``kconvert``: ``kconvert.load`` + ``kconvert.write(..., "onnx")``;
* ``tf2onnx``: ``tf_keras.models.load_model`` (where tf_keras loads the file), then
  ``tf2onnx.convert.from_keras`` with the model's input signature;
* ``keras3``: ``keras.models.load_model`` (where Keras 3 loads the file), then
  ``model.export(format="onnx")`` (which calls tf2onnx under the TensorFlow backend).

The peers run under ``--peers-python`` (default ``/work/venv-peers/bin/python`` or
``$KCONVERT_PEERS_PYTHON``): a virtual environment with tf2onnx 1.17 beside TensorFlow and Keras;
the bench says so when it lacks tf2onnx or Keras 3 instead of counting the peer as failing.
Each written model then runs in ONNX Runtime (CPU) on the stored inputs and is compared with the
stored predictions at atol = rtol = 1e-4.

Per file and tool: seconds from reading the file to the ONNX model written, and the process's peak
resident memory during that (``VmHWM``, reset before each file through ``/proc/self/clear_refs``;
it includes what the tool imported). Medians are over the files the tool converted.

``--vgg16`` also converts VGG16 (random weights, 528 MiB, saved as legacy HDF5) to ONNX and to
TF.js with ``bench/memory.py``'s measure (fresh process each, peak above the baseline after
reading). Not a test: the peers are measured, not judged; exit 1 only when kconvert writes a model
that does not match.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "fixtures" / "keras-realworld"
PEERS_PYTHON = os.environ.get("KCONVERT_PEERS_PYTHON", "/work/venv-peers/bin/python")
ATOL = RTOL = 1e-4
TOOLS = ("kconvert", "tf2onnx", "keras3")
#: what each peer needs importable in the peers' environment
PEER_MODULES = {"tf2onnx": ("tf2onnx", "tf_keras"), "keras3": ("tf2onnx", "keras")}


# -- the worker: one process per tool converts every file ----------------------------------------------

def _status_mib(field_name: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field_name} in /proc/self/status")


def _reset_peak() -> None:
    """Start a new peak: Linux resets VmHWM to the current RSS when 5 is written to clear_refs."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _converter(tool: str, opset: int) -> tuple[Callable[[Path], Any], Callable[[Any, Path], None]]:
    """The tool's reading of a file and its writing of ONNX (imports done here, before any file is timed)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if tool == "kconvert":  # its readers and writer imported before timing, as the peers import TensorFlow
        import kconvert
        import kconvert.readers.keras.legacy_h5  # noqa: F401
        import kconvert.writers.onnx.writer  # noqa: F401

        return kconvert.load, lambda model, out: kconvert.write(model, "onnx", out, opset=opset)
    import numpy as np
    import tensorflow as tf
    import tf2onnx

    if tool == "tf2onnx":
        import tf_keras

        def by_tf2onnx(model: Any, out: Path) -> None:
            spec = [tf.TensorSpec(t.shape, t.dtype, name=f"input_{i}") for i, t in enumerate(model.inputs)]
            tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, output_path=str(out))
            tf_keras.backend.clear_session()
        return lambda src: tf_keras.models.load_model(src, compile=False), by_tf2onnx
    import keras

    def by_keras3(model: Any, out: Path) -> None:
        # export() refuses a model never called, as a Sequential model read from legacy HDF5 is: one call
        # on zeros first, as its user would
        zeros = [np.zeros([d or 1 for d in t.shape], t.dtype) for t in model.inputs]
        model(zeros[0] if len(zeros) == 1 else zeros)
        model.export(str(out), format="onnx", verbose=False, opset_version=opset)
        keras.backend.clear_session()
    return lambda src: keras.models.load_model(src, compile=False), by_keras3


def worker(tool: str, opset: int, out_dir: Path, files: list[Path]) -> None:
    """Convert each file; one JSON line per file on stdout."""
    load, convert = _converter(tool, opset)
    for i, src in enumerate(files):
        out = out_dir / f"{i}.onnx"
        _reset_peak()
        before = _status_mib("VmRSS")
        start = time.perf_counter()
        status, error = "not loaded", ""
        try:
            model = load(src)
            status = "failed"
            convert(model, out)
            status = "converted"
        except Exception as exc:  # noqa: BLE001  (a peer's failure is a result here)
            error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
        seconds = time.perf_counter() - start
        print(json.dumps({"file": str(src), "out": str(out), "status": status, "error": error,
                          "seconds": seconds, "peak": _status_mib("VmHWM"), "before": before}), flush=True)


# -- the parent: run the workers, check every written model in ONNX Runtime ----------------------------

@dataclass
class Result:
    file: str
    status: str  # not loaded | failed (to convert) | matches | wrong
    seconds: float = 0.0
    peak: float = 0.0
    error: str = ""


@dataclass
class Tally:
    tool: str
    note: str = ""
    results: list[Result] = field(default_factory=list)

    def count(self, *statuses: str) -> int:
        return sum(r.status in statuses for r in self.results)


def known_output_files(corpus: Path) -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from tests.helpers import stored_predictions

    return [p for p in sorted(corpus.glob("**/*_model.h5")) if stored_predictions(p) is not None]


def peer_missing(python: str, tool: str) -> str:
    """Why ``tool`` cannot run under ``python`` ("" when it can)."""
    if not Path(python).exists():
        return f"not installed: no {python} (a venv with tf2onnx 1.17, see bench/README.md)"
    probe = "; ".join(f"import {m}" for m in PEER_MODULES[tool])
    done = subprocess.run([python, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    if done.returncode:
        return f"not installed in {python}: {done.stderr.strip().splitlines()[-1]}"
    return ""


def matches(onnx_path: Path, source: Path) -> tuple[bool, str]:
    """Whether the ONNX model computes the stored predictions on the stored inputs."""
    import numpy as np
    import onnxruntime as ort

    from kconvert.verification.onnx_runner import INPUT_TYPES
    from tests.helpers import stored_predictions

    xs, want = stored_predictions(source)
    try:
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
        got = session.run(None, {i.name: x.astype(INPUT_TYPES.get(i.type, np.float32))
                                 for i, x in zip(session.get_inputs(), xs)})
    except Exception as exc:  # noqa: BLE001
        return False, f"ONNX Runtime: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
    if len(got) != len(want):
        return False, f"{len(got)} outputs for {len(want)}"
    for g, w in zip(got, want):
        if g.size != w.size or not np.allclose(g, w.reshape(g.shape), atol=ATOL, rtol=RTOL):
            worst = float(np.max(np.abs(g - w.reshape(g.shape)))) if g.size == w.size else float("nan")
            return False, f"max abs error {worst:.2e}"
    return True, ""


def run_tool(tool: str, python: str, files: list[Path], opset: int, work: Path, corpus: Path) -> Tally:
    tally = Tally(tool)
    if tool != "kconvert":
        tally.note = peer_missing(python, tool)
        if tally.note:
            return tally
    out_dir = work / tool
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([python, str(Path(__file__).resolve()), "--worker", tool, "--opset", str(opset),
                           str(out_dir), *map(str, files)], capture_output=True, text=True, env=env)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or len(lines) != len(files):
        tally.note = f"worker stopped after {len(lines)} of {len(files)} files: {done.stderr.strip()[-300:]}"
    for line in lines:
        name = str(Path(line["file"]).relative_to(corpus))
        result = Result(name, line["status"], line["seconds"], line["peak"], line["error"])
        if result.status == "converted":
            ok, why = matches(Path(line["out"]), Path(line["file"]))
            result.status, result.error = ("matches", "") if ok else ("wrong", why)
        tally.results.append(result)
    return tally


def median(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def report(tallies: list[Tally], files: int, verbose: bool) -> None:
    print(f"\n{files} real-world files with known outputs; opset as given; match = atol/rtol {ATOL:g} in "
          "ONNX Runtime against the stored Keras predictions\n")
    print("| tool | converted | matching | wrong | not read | read, not converted | median s | median peak MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for t in tallies:
        done = [r for r in t.results if r.status in ("matches", "wrong")]
        if t.note and not t.results:
            print(f"| {t.tool} | - | - | - | - | - | - | - |  {t.note}")
            continue
        print(f"| {t.tool} | {len(done)} | {t.count('matches')} | {t.count('wrong')} | {t.count('not loaded')} | "
              f"{t.count('failed')} | "
              f"{median([r.seconds for r in done])} | {median([r.peak for r in done])} |"
              + (f"  {t.note}" if t.note else ""))
    for t in tallies:
        for r in t.results:
            if verbose or r.status == "wrong":
                print(f"  {t.tool} {r.file}: {r.status} {r.seconds:.2f} s {r.peak:.0f} MiB {r.error}")
        failures = Counter(f"{r.status}: {r.error[:120]}" for r in t.results if r.status in ("failed", "not loaded"))
        for why, n in failures.most_common():
            print(f"  {t.tool}, {n} file(s) {why}")


def vgg16_figures(work: Path, runs: int) -> None:
    """VGG16 to ONNX and to TF.js, measured as bench/memory.py measures every format."""
    sys.path.insert(0, str(ROOT / "bench"))
    import memory

    source = memory.vgg16(work)
    for fmt in ("onnx", "tfjs"):
        figures = [memory.measure(source, fmt, work / memory.OUTPUTS[fmt]) for _ in range(runs)]
        med = {key: statistics.median(f[key] for f in figures) for key in figures[0]}
        print(f"VGG16 ({med['weights']:.0f} MiB of weights) -> {fmt}: {med['seconds']:.2f} s, peak "
              f"{med['peak']:.0f} MiB (+{med['peak'] - med['baseline']:.0f} MiB over {med['baseline']:.0f} MiB "
              f"after reading); median of {runs}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path(os.environ.get("KCONVERT_SHARED", ROOT.parent / "shared"))
                        / "fixtures" / "keras-realworld")
    parser.add_argument("--peers-python", default=PEERS_PYTHON)
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--vgg16", action="store_true", help="also VGG16 to ONNX and TF.js (time, peak memory)")
    parser.add_argument("--runs", type=int, default=1, help="VGG16 measured N times; medians")
    parser.add_argument("--keep", type=Path, help="directory to keep the outputs in")
    parser.add_argument("--verbose", action="store_true", help="one line per file and tool")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.opset, args.paths[0], args.paths[1:])
        return 0
    sys.path.insert(0, str(ROOT))
    work = args.keep or Path(tempfile.mkdtemp(prefix="kconvert-onnx-peers-"))
    files = known_output_files(args.corpus)
    if not files:
        print(f"no real-world files with known outputs under {args.corpus}")
        return 1
    tallies = [run_tool(tool, sys.executable if tool == "kconvert" else args.peers_python, files, args.opset,
                        work, args.corpus) for tool in args.tools.split(",")]
    report(tallies, len(files), args.verbose)
    if args.vgg16:
        vgg16_figures(work, args.runs)
    return 1 if any(t.tool == "kconvert" and t.count("wrong") for t in tallies) else 0


if __name__ == "__main__":
    sys.exit(main())
