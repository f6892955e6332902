"""Benchmark: Ray against Dask distributed as the engine of ``--cluster``, on this machine.

    .venv/bin/python bench/cluster_engines.py [--tasks 200]

For each engine importable here, starts a two-node cluster as separate processes (Ray: ``ray start
--head`` and a second ``ray start``; Dask: ``dask scheduler`` and two ``dask worker``), one CPU a
node, and measures: the seconds until both nodes are up and a driver is connected, the first task's
round trip, and the per-task overhead of ``--tasks`` trivial tasks submitted at once.  Dask is not
a kconvert dependency: install it somewhere of your own (``pip install --target DIR distributed``
and ``PYTHONPATH=DIR``) to compare.  The figures chose the engine (README, "On a cluster").
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.ray_cluster import LocalCluster, free_ports  # noqa: E402


def trivial(x: int) -> int:
    return x


def measure_ray(tasks: int) -> dict[str, float]:
    import ray

    start = time.perf_counter()
    cluster = LocalCluster.start()
    try:
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        up = time.perf_counter() - start
        remote = ray.remote(num_cpus=1)(trivial)
        t = time.perf_counter()
        ray.get(remote.remote(0))
        first = time.perf_counter() - t
        t = time.perf_counter()
        ray.get([remote.options(scheduling_strategy="SPREAD").remote(i) for i in range(tasks)])
        per_task = (time.perf_counter() - t) / tasks
        ray.shutdown()
    finally:
        cluster.stop()
    return {"start-up s": up, "first task s": first, "per task ms": per_task * 1000}


def measure_dask(tasks: int) -> dict[str, float]:
    from distributed import Client

    port, dashboard = free_ports(2)
    folder = tempfile.mkdtemp(prefix="kc-dask-")
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    start = time.perf_counter()
    processes = [subprocess.Popen([*dask, "--port", str(port), "--dashboard-address", f":{dashboard}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    processes += [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", f"tcp://127.0.0.1:{port}",
                                    "--nthreads", "1", "--nworkers", "1", "--memory-limit", "2GiB",
                                    "--local-directory", folder, "--no-dashboard"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]
    try:
        client = Client(f"tcp://127.0.0.1:{port}", timeout=120)
        client.wait_for_workers(2, timeout=120)
        up = time.perf_counter() - start
        t = time.perf_counter()
        client.submit(trivial, 0, pure=False).result()
        first = time.perf_counter() - t
        t = time.perf_counter()
        client.gather(client.map(trivial, range(tasks), pure=False))
        per_task = (time.perf_counter() - t) / tasks
        client.close()
    finally:
        for process in processes:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)
    return {"start-up s": up, "first task s": first, "per task ms": per_task * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, measure, module in (("Ray", measure_ray, "ray"), ("Dask distributed", measure_dask, "distributed")):
        try:
            __import__(module)
        except ImportError:
            print(f"{name}: not installed, skipped")
            continue
        figures = measure(args.tasks)
        print(f"{name}: " + ", ".join(f"{k} {v:.3g}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
