"""Benchmark: converting a whole directory of models, in 1 and in 2 worker processes, and on a Ray
cluster of two nodes on this machine.

    .venv/bin/python bench/batch_throughput.py [--corpus DIR] [--to tfjs] [--no-cluster]

Runs ``kconvert CORPUS OUT --to TARGET --jobs N --report r.json`` (the installed command, as CI
would) on the real-world Keras corpus (``$KCONVERT_SHARED/fixtures/keras-realworld``, else ``../shared/...``: 270 files of every
Keras generation, weights-only files and expected-output files among them, which are reported as
not converted) with 1 and with 2 jobs, and reports models per second and the outcome counts.
Target: 2 jobs convert at least 1.4 times as many models per second as 1 job (each model runs in
its own process, so 2 cores should nearly double it), with the same outcome for every model.

With Ray installed (``kconvert[cluster]``), it then starts a two-node Ray cluster here (one CPU
each, ``tests/ray_cluster.py``) and runs the same with ``--cluster``, the nodes seeing this file
system and with ``--cluster-files copy``: the same cores as 2 jobs, so the figure is the engine's
overhead, not a speed-up.  From the cluster run's per-model seconds and the driver's own CPU time
it projects what N machines would give (past a run's fixed cost, measured on one model).  Those runs must give every model the outcome 2 jobs gave.
Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KCONVERT = Path(sys.executable).with_name("kconvert")
ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("KCONVERT_SHARED", ROOT.parent / "shared")) / "fixtures" / "keras-realworld"


def run(corpus: Path, target: str, name: str, scratch: Path, *options: str) -> tuple[float, float, dict]:
    """Wall seconds, the command's own CPU seconds (the driver, without its children) and the report."""
    out, report = scratch / f"out-{name}", scratch / f"report-{name}.json"
    start = time.perf_counter()
    process = subprocess.Popen([str(KCONVERT), str(corpus), str(out), "--to", target, "-q", "--report", str(report),
                                *options], stdout=subprocess.DEVNULL)
    _, _, usage = os.wait4(process.pid, 0)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime, json.loads(report.read_text())


def describe(label: str, seconds: float, report: dict, target: str) -> float:
    counts = report["summary"]
    rate = counts["total"] / seconds
    print(f"{label}: {counts['total']} models in {seconds:.1f} s = {rate:.1f} models/s ({counts['passed']} converted "
          f"to {target}, {counts['failed']} failed, {counts['error']} not converted; {report['ignored_files']} other "
          f"files passed over); {sum(m['seconds'] for m in report['models']) / counts['total']:.3f} s per model in "
          "its process")
    return rate


def on_cluster(corpus: Path, target: str, scratch: Path, expected: dict[str, str]) -> bool:
    """The cluster runs; whether they gave every model the outcome local batch mode gave."""
    sys.path.insert(0, str(ROOT))
    from tests.ray_cluster import LocalCluster

    started = time.perf_counter()
    cluster = LocalCluster.start(env={"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                                                   os.environ.get("PYTHONPATH")]))})
    print(f"two-node Ray cluster started in {time.perf_counter() - started:.1f} s")
    same = True
    try:
        # one model first: what a run costs whatever its size (connecting, the probes, the nodes'
        # first imports), kept apart from the per-model costs below
        one = scratch / "one"
        one.mkdir()
        shutil.copy(ROOT / "tests" / "fixtures" / "generated" / "tfkeras" / "mlp.h5", one)
        warm, _, _ = run(one, target, "warm-up", scratch, "--cluster", cluster.address)
        fixed, fixed_cpu, _ = run(one, target, "fixed", scratch, "--cluster", cluster.address)
        print(f"one model on the cluster: {warm:.1f} s on fresh nodes, then {fixed:.1f} s, {fixed_cpu:.2f} s of the "
              "driver's CPU (a run's fixed cost)")
        for name, options in (("cluster", ()), ("cluster-copy", ("--cluster-files", "copy"))):
            seconds, driver_cpu, report = run(corpus, target, name, scratch, "--cluster", cluster.address, *options)
            describe(f"2-node cluster{' (files copied)' * bool(options)}", seconds, report, target)
            outcomes = {m["name"]: m["status"] for m in report["models"]}
            same &= outcomes == expected
            nodes = {m["node"]["id"] for m in report["models"] if "node" in m}
            models = report["summary"]["total"]
            per_model = sum(m["seconds"] for m in report["models"]) / models
            slots = report["jobs"]
            overhead = max(0.0, (seconds - fixed) * slots / models - per_model)
            driver = max(0.0, driver_cpu - fixed_cpu) / models
            print(f"  ran on {len(nodes)} nodes; per model: {per_model:.3f} s of work in its node's slot, "
                  f"{overhead:.3f} s of engine and file overhead per slot, {driver * 1000:.1f} ms of the driver's CPU")
            for machines in (1, 4, 16, 64):
                cores = machines * 2
                rate = min(cores / (per_model + overhead), 1 / driver if driver else float("inf"))
                print(f"  projected, {machines} machines x 2 cores: {rate:.0f} models/s")
    finally:
        cluster.stop()
    return same


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--to", dest="target", default="tfjs")
    parser.add_argument("--no-cluster", action="store_true", help="Leave out the Ray cluster runs.")
    args = parser.parse_args()
    if not args.corpus.is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 1
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    rates, outcomes = {}, {}
    with tempfile.TemporaryDirectory(prefix="kconvert-bench-") as scratch:
        for jobs in (1, 2):
            seconds, _, report = run(args.corpus, args.target, f"{jobs}", Path(scratch), "--jobs", str(jobs))
            rates[jobs] = describe(f"{jobs} job{'s' * (jobs > 1)}", seconds, report, args.target)
            outcomes[jobs] = {m["name"]: m["status"] for m in report["models"]}
        speedup = rates[2] / rates[1]
        same = outcomes[1] == outcomes[2]
        print(f"2 jobs / 1 job: {speedup:.2f}x (target >= 1.4x); same outcome for every model: {same}")
        try:
            import ray  # noqa: F401
        except ImportError:
            args.no_cluster = True
            print("Ray is not installed: no cluster runs (pip install 'kconvert[cluster]')")
        if not args.no_cluster:
            clustered = on_cluster(args.corpus, args.target, Path(scratch), outcomes[2])
            print(f"same outcome for every model on the cluster as with 2 jobs: {clustered}")
            same &= clustered
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0 if speedup >= 1.4 and same else 1


if __name__ == "__main__":
    sys.exit(main())
