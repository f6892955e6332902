"""Benchmark: converting VGG16 (138M parameters, 528 MiB of float32 weights) to every output
format streams its weights in bounded slices instead of holding whole tensors in memory.

    .venv/bin/python bench/memory.py [--keep DIR] [--formats tfjs,dl4j,keras,h5]

Builds VGG16 with random weights (Keras, no download), saves it as HDF5, then converts it to each
format in a fresh process (importing kconvert from the current directory: run it from the
repository root) and reports that process's peak resident memory above its baseline
(taken after the model is read, before writing starts), and the time.  Target: each peak increase
stays under 100 MiB -- well below VGG16's largest single tensor (fc1's kernel, 392 MiB), so no
tensor is ever held whole.  Exit 1 when any format misses it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TARGET_MIB = 100.0
#: format -> output name
OUTPUTS = {"tfjs": "vgg16-tfjs", "dl4j": "vgg16-dl4j", "keras": "vgg16.keras", "h5": "vgg16-out.h5"}

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
    if out.is_dir():
        shutil.rmtree(out)
    elif out.exists():
        out.unlink()
    done = subprocess.run([sys.executable, "-c", MEASURE, str(source), fmt, str(out)], capture_output=True,
                          text=True)
    if done.returncode:
        raise RuntimeError(f"converting to {fmt} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="kconvert-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    source = vgg16(work)
    missed = []
    for fmt in args.formats.split(","):
        result = measure(source, fmt, work / OUTPUTS[fmt])
        increase = result["peak"] - result["baseline"]
        print(f"VGG16 -> {fmt}: {result['seconds']:.1f} s; peak memory +{increase:.0f} MiB over "
              f"{result['baseline']:.0f} MiB (target < {TARGET_MIB:.0f} MiB; largest tensor "
              f"{result['largest']:.0f} MiB of {result['weights']:.0f} MiB)", flush=True)
        if increase >= TARGET_MIB:
            missed.append(fmt)
    if missed:
        print(f"missed the target: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
