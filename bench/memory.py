"""Benchmark: converting VGG16 (138M parameters, 528 MiB of float32 weights) to every output
format streams its weights in bounded slices instead of holding whole tensors in memory, and
TF.js output (the source's own bytes, resharded) goes at the speed of copying the file.

    .venv/bin/python bench/memory.py [--keep DIR] [--formats tfjs,dl4j,keras,h5,onnx] [--runs N]

Builds VGG16 with random weights (Keras, no download), saves it as HDF5, then converts it to each
format in a fresh process (importing kconvert from the current directory: run it from the
repository root) and reports that process's peak resident memory above its baseline
(taken after the model is read, before writing starts), and the time of writing; beside each
conversion, in the same run, ``cp`` copies the source file into the same directory (the anchor:
the copy limit).  With ``--runs N`` each is measured N times, alternating, and the medians are
reported.  Targets: each peak increase stays under 100 MiB -- well below VGG16's largest single
tensor (fc1's kernel, 392 MiB), so no tensor is ever held whole; TF.js also within
2x the time of ``cp`` and under 64 MiB of peak memory in all.  Exit 1 when any is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_MIB = 100.0
#: TF.js writes the source's float32 bytes as they are: its time against cp's, its peak in all (MiB)
TFJS_COPY_RATIO, TFJS_PEAK_MIB = 2.0, 64.0
#: format -> output name
OUTPUTS = {"tfjs": "vgg16-tfjs", "dl4j": "vgg16-dl4j", "keras": "vgg16.keras", "h5": "vgg16-out.h5",
           "onnx": "vgg16.onnx"}

# VmHWM, not getrusage: ru_maxrss survives exec, so it would report the parent's Keras-sized peak
MEASURE = r"""
import json, sys, time
import kconvert
from kconvert.writers import write

def status_mib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024

source, fmt, out = sys.argv[1:]
model = kconvert.load(source)
sizes = [w.nbytes for _, w in model.iter_weights()]
baseline = status_mib("VmRSS")
start = time.perf_counter()
write(model, fmt, out)
elapsed = time.perf_counter() - start
print(json.dumps({"baseline": baseline, "peak": status_mib("VmHWM"), "seconds": elapsed,
                  "weights": sum(sizes) / 2**20, "largest": max(sizes) / 2**20}))
"""


def measure(source: Path, fmt: str, out: Path) -> dict[str, float]:
    """Convert ``source`` to ``fmt`` in a fresh process; its figures (MiB, seconds)."""
    for old in out.parent.glob(out.name + "*"):  # the output and what it wrote beside it (ONNX's .data)
        if old.is_dir():
            shutil.rmtree(old)
        else:
            old.unlink()
    done = subprocess.run([sys.executable, "-c", MEASURE, str(source), fmt, str(out)], capture_output=True,
                          text=True)
    if done.returncode:
        raise RuntimeError(f"converting to {fmt} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def copy_seconds(source: Path, work: Path) -> float:
    """Wall time of ``cp`` copying ``source`` into ``work`` (then removed)."""
    target = work / "copy-of-source"
    start = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


def vgg16(work: Path) -> Path:
    """VGG16 with random weights saved as legacy HDF5 (built once, kept with --keep)."""
    source = work / "vgg16.h5"
    if not source.exists():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras

        keras.applications.VGG16(weights=None).save(source)
    return source


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="directory to keep the VGG16 file and the outputs in")
    parser.add_argument("--formats", default=",".join(OUTPUTS), help="comma-separated formats to measure")
    parser.add_argument("--runs", type=int, default=1, help="measure each N times, alternating with cp; medians")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="kconvert-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    source = vgg16(work)
    missed = []
    for fmt in args.formats.split(","):
        runs, copies = [], []
        for _ in range(args.runs):
            copies.append(copy_seconds(source, work))
            runs.append(measure(source, fmt, work / OUTPUTS[fmt]))
        result = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        copy = statistics.median(copies)
        increase = result["peak"] - result["baseline"]
        print(f"VGG16 -> {fmt}: {result['seconds']:.2f} s, cp {copy:.2f} s ({result['seconds'] / copy:.1f}x); "
              f"peak memory +{increase:.0f} MiB over {result['baseline']:.0f} MiB = {result['peak']:.0f} MiB "
              f"(target < {TARGET_MIB:.0f} MiB more; largest tensor {result['largest']:.0f} MiB of "
              f"{result['weights']:.0f} MiB); median of {args.runs}", flush=True)
        if increase >= TARGET_MIB:
            missed.append(fmt)
        if fmt == "tfjs" and (result["seconds"] > TFJS_COPY_RATIO * copy or result["peak"] > TFJS_PEAK_MIB):
            print(f"  tfjs targets: at most {TFJS_COPY_RATIO:.0f}x cp's time and {TFJS_PEAK_MIB:.0f} MiB in all")
            missed.append(fmt)
    if missed:
        print(f"missed the target: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
