"""Benchmark: how fast the installed command answers what needs no model.

    .venv/bin/python bench/startup.py [--runs N]

Runs ``kconvert --help``, ``--version``, a usage error and ``kconvert formats`` N times each as a
user would (the installed command, a fresh process each time) and reports the median wall time
and the peak resident memory of the command's processes.  Targets: --help, --version and usage
errors answer in under 0.2 s (a command line tool's budget; importing numpy alone takes 0.1 s
here), and ``formats`` (which lists the runtime's kernels without starting TensorFlow, itself a
3 s start) in under 1.5 s.  Exit 1 when one is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

KCONVERT = Path(sys.executable).with_name("kconvert")
CASES = {  # name -> (arguments, target seconds)
    "--help": (["--help"], 0.2),
    "--version": (["--version"], 0.2),
    "usage error": (["model.h5", "out", "--to", "nowhere"], 0.2),
    "formats": (["formats"], 1.5),
}


def timed(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of the command, its forked worker included."""
    start = time.perf_counter()
    process = subprocess.Popen([str(KCONVERT), *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, for its resource usage
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    missed = []
    for name, (argv, target) in CASES.items():
        timed(argv)  # warm the file cache
        runs = [timed(argv) for _ in range(args.runs)]
        seconds = statistics.median(r[0] for r in runs)
        memory = max(r[1] for r in runs)
        verdict = "ok" if seconds < target else "MISSED"
        print(f"kconvert {name:12} median {seconds * 1000:6.0f} ms over {args.runs} runs, peak {memory:5.1f} MiB "
              f"(target < {target * 1000:.0f} ms: {verdict})")
        if seconds >= target:
            missed.append(name)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
