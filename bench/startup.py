"""Benchmark: how fast the installed command starts, and converts a small model.

    .venv/bin/python bench/startup.py [--runs N] [--tfjs-converter PATH]

Runs ``kconvert --help``, ``--version``, a usage error, ``kconvert formats`` and the conversion of
a small MLP (``tests/fixtures/generated/tfkeras/mlp.h5 --to tfjs``, start-up bound) N times each
as a user would (the installed command, a fresh process each time) and reports the median wall
time and the peak resident memory of the command's processes.  The anchor, measured alternating
with it in the same run: ``tensorflowjs_converter --input_format keras`` on the same file, from
the venv ``--tfjs-converter`` names (tensorflowjs 4.22.0 on TensorFlow 2.19, see
bench/README.md; skipped, saying so, when absent).  Targets: --help, --version and usage errors
answer in under 0.2 s (a command line tool's budget; importing numpy alone takes 0.1 s here),
``formats`` (which lists the runtime's kernels without starting TensorFlow, itself a 3 s start) in
under 1.5 s, the MLP in under 0.3 s and at least 15x faster than the anchor.  Exit 1 when one is
missed.  Beside the MLP, the floor it stands on: Python importing h5py (and so numpy) and click.

Python modules are run as installed: the environment's ``PYTHONDONTWRITEBYTECODE`` is dropped and
compiled bytecode kept in a scratch ``PYTHONPYCACHEPREFIX`` (warmed by a first run), since an
installed package has its ``.pyc`` files and a checkout run without them recompiles every module.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KCONVERT = Path(sys.executable).with_name("kconvert")
MLP = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "generated" / "tfkeras" / "mlp.h5"
SCRATCH = Path(tempfile.mkdtemp(prefix="kconvert-startup-"))
OUT = SCRATCH / "out"
CASES = {  # name -> (arguments, target seconds)
    "--help": (["--help"], 0.2),
    "--version": (["--version"], 0.2),
    "usage error": (["model.h5", "out", "--to", "nowhere"], 0.2),
    "formats": (["formats"], 1.5),
    "mlp to tfjs": ([str(MLP), "--to", "tfjs", str(OUT), "-q"], 0.3),
}
#: the MLP's conversion against tensorflowjs_converter's on the same file, in the same run
ANCHOR_RATIO = 15.0
#: what any Python reader of an HDF5 file pays before its own code runs: the interpreter, h5py (which
#: imports numpy) and the command line parser -- timed beside the MLP, so that its figure splits in two
FLOOR = [sys.executable, "-c", "import h5py, click"]
#: as installed: with compiled bytecode (in a scratch folder, not the checkout)
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
       "PYTHONPYCACHEPREFIX": str(SCRATCH / "pycache"), "TF_CPP_MIN_LOG_LEVEL": "3"}


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of ``command``, its forked worker included."""
    shutil.rmtree(OUT, ignore_errors=True)
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, for its resource usage
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def anchor(venv: str | None) -> list[str] | None:
    """tensorflowjs_converter's command for the MLP, or None (said why) without the venv."""
    converter = Path(venv or "/nonexistent") / "bin" / "tensorflowjs_converter"
    if not converter.exists():
        print(f"anchor skipped: no {converter} (give --tfjs-converter VENV; bench/README.md says how to build it)")
        return None
    return [str(converter), "--input_format", "keras", str(MLP), str(OUT)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--tfjs-converter", metavar="VENV", default=os.environ.get("KCONVERT_TFJS_VENV"),
                        help="the venv holding tensorflowjs_converter (the anchor) [$KCONVERT_TFJS_VENV]")
    args = parser.parse_args()
    missed = []
    reference = anchor(args.tfjs_converter)
    medians = {}
    for name, (argv, target) in CASES.items():
        command = [str(KCONVERT), *argv]
        timed(command)  # warm the file cache and write the bytecode
        compared = reference is not None and name == "mlp to tfjs"
        runs, anchors, floors = [], [], []
        for _ in range(args.runs):  # alternating with the anchor: both see the same machine
            runs.append(timed(command))
            if name == "mlp to tfjs":
                floors.append(timed(FLOOR)[0])
            if compared:
                anchors.append(timed(reference)[0])  # type: ignore[arg-type]
        seconds = medians[name] = statistics.median(r[0] for r in runs)
        memory = max(r[1] for r in runs)
        verdict = "ok" if seconds < target else "MISSED"
        print(f"kconvert {name:12} median {seconds * 1000:6.0f} ms over {args.runs} runs, peak {memory:5.1f} MiB "
              f"(target < {target * 1000:.0f} ms: {verdict})")
        if seconds >= target:
            missed.append(name)
        if floors:
            floor = statistics.median(floors)
            print(f"  of which Python importing h5py (numpy) and click: median {floor * 1000:.0f} ms; kconvert's own "
                  f"imports and work: {(seconds - floor) * 1000:.0f} ms")
        if compared:
            ratio = statistics.median(anchors) / seconds
            print(f"  tensorflowjs_converter on the same file: median {statistics.median(anchors):.2f} s, "
                  f"{ratio:.1f}x kconvert's (target >= {ANCHOR_RATIO:.0f}x: {'ok' if ratio >= ANCHOR_RATIO else 'MISSED'})")
            if ratio < ANCHOR_RATIO:
                missed.append("mlp against the anchor")
    shutil.rmtree(SCRATCH, ignore_errors=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
