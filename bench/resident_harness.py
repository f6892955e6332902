"""Benchmark: ``kconvert check OUT/ --source SRC/`` on TF.js and DL4J exports, with Node and the JVM
started once per model (``KCONVERT_RESIDENT_HARNESS=0``, as before the harness server) and once per
batch worker (the harness server, the default).

    .venv/bin/python bench/resident_harness.py [--to tfjs dl4j] [--jobs 2]

The sources are the generated fixtures (``tests/fixtures/generated``: every Keras model file of
both Keras generations, about 27); each is converted once with the installed command, and the
exports that were written are checked against their sources, both ways, with the same ``--jobs``.
Reports models per second each way, how many harness processes each started (the server's log,
``$KCONVERT_HARNESS_LOG``; a process per model otherwise, which is counted from the reports), and
whether every model got the same status and message both ways.  Exit 1 when a way differs, or
when the server started more harnesses than there are jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KCONVERT = Path(sys.executable).with_name("kconvert")
GENERATED = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "generated"


def sources(folder: Path) -> int:
    """Copy every generated Keras model file (not weights alone) into ``folder``; how many."""
    folder.mkdir()
    for generation in ("tfkeras", "keras3"):
        for path in sorted(GENERATED.joinpath(generation).iterdir()):
            if path.suffix in (".h5", ".keras") and "weights" not in path.name:
                shutil.copy(path, folder / f"{generation}_{path.name}")
    return len(list(folder.iterdir()))


def check(exports: Path, source: Path, jobs: int, resident: bool, scratch: Path) -> tuple[float, dict, int]:
    """Wall seconds, the report, and the harness processes the server started (0: none ran)."""
    log, report = scratch / "harness.log", scratch / "report.json"
    log.unlink(missing_ok=True)
    env = {**os.environ, "KCONVERT_RESIDENT_HARNESS": "1" if resident else "0", "KCONVERT_HARNESS_LOG": str(log)}
    start = time.perf_counter()
    subprocess.run([str(KCONVERT), "check", str(exports), "--source", str(source), "--jobs", str(jobs), "-q",
                    "--report", str(report)], env=env, stdout=subprocess.DEVNULL, check=False)
    seconds = time.perf_counter() - start
    events = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return seconds, json.loads(report.read_text()), sum(e["event"] == "start" for e in events)


def outcomes(report: dict) -> dict[str, tuple[str, str]]:
    return {m["name"]: (m["status"], re.sub(r"\d+\.\d+ s", "", m["message"])) for m in report["models"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", nargs="+", default=["tfjs", "dl4j"])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    fine = True
    with tempfile.TemporaryDirectory(prefix="kconvert-bench-") as scratch:
        source = Path(scratch) / "src"
        print(f"{sources(source)} source models")
        for target in args.to:
            exports = Path(scratch) / target
            subprocess.run([str(KCONVERT), str(source), str(exports), "--to", target, "-q"],
                           stdout=subprocess.DEVNULL, check=False)
            rates, seen = {}, {}
            for resident in (False, True):
                seconds, report, started = check(exports, source, args.jobs, resident, Path(scratch))
                models = report["summary"]["total"]
                rates[resident], seen[resident] = models / seconds, outcomes(report)
                harnesses = started if resident else sum(m["status"] != "error" for m in report["models"])
                print(f"{target}, {'harness server' if resident else 'a harness per model'}: {models} models in "
                      f"{seconds:.1f} s = {rates[resident]:.2f} models/s ({args.jobs} jobs; "
                      f"{report['summary']['passed']} passed); harness processes started: {harnesses}")
                if resident and started > args.jobs:
                    fine = False
            same = seen[False] == seen[True]
            fine &= same
            print(f"{target}: server / per model: {rates[True] / rates[False]:.2f}x; same outcome for every model: "
                  f"{same}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0 if fine else 1


if __name__ == "__main__":
    sys.exit(main())
