"""Benchmark: converting a whole directory of models, in 1 and in 2 worker processes.

    .venv/bin/python bench/batch_throughput.py [--corpus DIR] [--to tfjs]

Runs ``kconvert CORPUS OUT --to TARGET --jobs N --report r.json`` (the installed command, as CI
would) on the real-world Keras corpus (``../shared/fixtures/keras-realworld``: 270 files of every
Keras generation, weights-only files and expected-output files among them, which are reported as
not converted) with 1 and with 2 jobs, and reports models per second and the outcome counts.
Target: 2 jobs convert at least 1.4 times as many models per second as 1 job (each model runs in
its own process, so 2 cores should nearly double it), with the same outcome for every model.
Exit 1 when missed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KCONVERT = Path(sys.executable).with_name("kconvert")
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "keras-realworld"


def run(corpus: Path, target: str, jobs: int, scratch: Path) -> tuple[float, dict]:
    out, report = scratch / f"out-{jobs}", scratch / f"report-{jobs}.json"
    start = time.perf_counter()
    subprocess.run([str(KCONVERT), str(corpus), str(out), "--to", target, "--jobs", str(jobs), "-q",
                    "--report", str(report)], stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start, json.loads(report.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--to", dest="target", default="tfjs")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 1
    rates, outcomes = {}, {}
    with tempfile.TemporaryDirectory(prefix="kconvert-bench-") as scratch:
        for jobs in (1, 2):
            seconds, report = run(args.corpus, args.target, jobs, Path(scratch))
            counts = report["summary"]
            rates[jobs] = counts["total"] / seconds
            outcomes[jobs] = {m["name"]: m["status"] for m in report["models"]}
            print(f"{jobs} job{'s' * (jobs > 1)}: {counts['total']} models in {seconds:.1f} s = {rates[jobs]:.1f} "
                  f"models/s ({counts['passed']} converted to {args.target}, {counts['failed']} failed, "
                  f"{counts['error']} not converted; {report['ignored_files']} other files passed over)")
    speedup = rates[2] / rates[1]
    same = outcomes[1] == outcomes[2]
    print(f"2 jobs / 1 job: {speedup:.2f}x (target >= 1.4x); same outcome for every model: {same}")
    return 0 if speedup >= 1.4 and same else 1


if __name__ == "__main__":
    sys.exit(main())
