"""Benchmark: converting VGG16 (138M parameters, 553 MB of float32 weights) to TF.js streams its
weights instead of holding the model in memory.

    .venv/bin/python bench/tfjs_streaming.py [--keep DIR]

Builds VGG16 with random weights (Keras, no download), saves it as HDF5, then converts it in a
fresh process and reports that process's peak resident memory above its baseline, and the time.
Target: the peak increase stays below the size of the largest single tensor plus 25% (fc1's
kernel, 411 MB) -- far below the 553 MB a whole-model read would need.  Exit 1 when missed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

# VmHWM, not getrusage: ru_maxrss survives exec, so it would report the parent's Keras-sized peak
MEASURE = r"""
import json, sys, time
import kconvert
from kconvert.writers.tfjs import write_tfjs

def status_mb(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024

model = kconvert.load(sys.argv[1])
sizes = [w.nbytes for _, w in model.iter_weights()]
baseline = status_mb("VmRSS")
start = time.perf_counter()
written = write_tfjs(model, sys.argv[2])
elapsed = time.perf_counter() - start
peak = status_mb("VmHWM")
print(json.dumps({"baseline_mb": baseline, "peak_mb": peak, "seconds": elapsed, "weights_mb": sum(sizes) / 2**20,
                  "largest_tensor_mb": max(sizes) / 2**20, "shards": len(written.files) - 1}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", help="directory to keep the VGG16 file and the TF.js output in")
    args = parser.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="kconvert-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    source = work / "vgg16.h5"
    if not source.exists():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras

        keras.applications.VGG16(weights=None).save(source)
    out = work / "vgg16-tfjs"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    done = subprocess.run([sys.executable, "-c", MEASURE, str(source), str(out)], capture_output=True, text=True,
                          check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    increase = result["peak_mb"] - result["baseline_mb"]
    target = result["largest_tensor_mb"] * 1.25
    print(f"VGG16: {result['weights_mb']:.0f} MB of weights in {result['shards']} shards, "
          f"{result['seconds']:.1f} s; peak memory +{increase:.0f} MB over {result['baseline_mb']:.0f} MB "
          f"(target < {target:.0f} MB: the largest tensor, {result['largest_tensor_mb']:.0f} MB, plus 25%)")
    return 0 if increase < target else 1


if __name__ == "__main__":
    sys.exit(main())
