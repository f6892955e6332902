"""Batch mode on a Ray cluster: each model one Ray task (``--cluster ADDRESS``).

The driver submits the models as tasks (one CPU each, and memory by the model's size), at most as
many at a time as the cluster has CPUs, so that only those models' bytes are in the object store;
Ray places them (spread over the nodes) and retries a task once when its worker or node is lost.
Each task is :func:`kconvert.cluster.worker.run_task`: local batch mode's own per-model work.  The
driver prints each model's line as its task ends and installs what it wrote, so the summary, the
report and the JUnit file are those of local batch mode, plus where each model ran.  Ray is
imported here only: ``kconvert --help`` and local batch mode never load it.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kconvert import batch
from kconvert.batch import ClusterError
from kconvert.cluster import shipping, worker

#: a task's memory request: this, plus this many times its files' size (capped at the largest node's)
BASE_MEMORY = 512 * 1024**2
MEMORY_PER_BYTE = 4
#: a worker or node lost mid-task costs the model this many further attempts, then its own error
RETRIES = 1


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ClusterError("--cluster needs Ray: pip install 'kconvert[cluster]'") from None
    return ray


def connect(ray: Any, address: str) -> None:
    """Join the cluster at ``address`` (``ray://host:port``, ``host:port`` or ``auto``), quietly."""
    if ray.is_initialized():
        return
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR, configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"no Ray cluster at {address}: {' '.join(str(exc).split())}") from None
    _notes_to_stderr()


def _notes_to_stderr() -> None:
    """Send what Ray tells the driver of the cluster (a worker died, a task is retried) to stderr:
    stdout is one line per model.  Ray prints those notes through this one function of its
    driver; should a version lack it, they stay where Ray puts them."""
    from ray._private import worker as driver

    original = getattr(driver, "print_to_stdstream", None)
    if original is None or getattr(original, "kconvert", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        original({**data, "is_err": True}, ignore_prefix)
    to_stderr.kconvert = True  # type: ignore[attr-defined]
    driver.print_to_stdstream = to_stderr


def _node() -> dict[str, str]:
    import ray

    context = ray.get_runtime_context()
    return {"id": context.get_node_id(), "host": socket.gethostname(), "address": ray.util.get_node_ip_address()}


def _task(task: worker.Task, work: batch.Work, cleanup: worker.Cleanup | None,
          sources: bytes | None) -> worker.Finished:
    return worker.run_task(task, work, cleanup, sources, _node())


def _sees(token: tuple[str, str] | None, prints: list[shipping.Fingerprint]) -> bool:
    """On a node: whether it sees the driver's files (the token in the output folder, the inputs)."""
    if token is not None:
        try:
            if Path(token[0]).read_text() != token[1]:
                return False
        except OSError:
            return False
    return all(p.holds() for p in prints)


def shared_files(ray: Any, items: Sequence[batch.Item]) -> bool:
    """Whether every node sees the driver's inputs and output folder as the driver does: then
    no file is copied.  One probe per node; the token is a file of random content the driver
    writes into the output folder (and removes)."""
    outputs = [item.output.parent for item in items if item.output is not None]
    token = None
    try:
        if outputs:
            folder = Path(os.path.commonpath([str(p) for p in outputs]))
            folder.mkdir(parents=True, exist_ok=True)
            token = (str(folder / f".kconvert-cluster-{secrets.token_hex(8)}"), secrets.token_hex(16))
            Path(token[0]).write_text(token[1])
        prints = shipping.fingerprints(
            p for item in items if not item.problem for p in (item.path, item.source) if p is not None)
    except OSError:  # an input or the output folder the driver cannot read or write: each model says so
        return False
    try:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        probe = ray.remote(num_cpus=0, max_retries=RETRIES, name="kconvert probe")(_sees)
        nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        return all(ray.get([probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n, soft=False))
                           .remote(token, prints) for n in nodes]))
    finally:
        if token is not None:
            Path(token[0]).unlink(missing_ok=True)


def window(ray: Any, jobs: int | None) -> int:
    """How many models run at once: ``jobs``, else the cluster's CPUs."""
    return jobs or max(1, int(ray.cluster_resources().get("CPU", 1)))


def run(items: Sequence[batch.Item], work: batch.Work, settings: batch.Settings,
        on_done: Callable[[batch.Outcome], None],
        cleanup: Callable[[batch.Item], None]) -> tuple[list[batch.Outcome], int]:
    """Run ``work`` on every item as a task on the cluster at ``settings.cluster``, as
    :func:`kconvert.batch.run` does locally (same outcomes, ``on_done`` as each ends, in the items'
    order), and how many ran at once."""
    ray = import_ray()
    connect(ray, str(settings.cluster))
    shared = settings.copy_files is False or (settings.copy_files is None and shared_files(ray, items))
    largest = max((n["Resources"].get("memory", 0) for n in ray.nodes() if n["Alive"]), default=0)
    remote = ray.remote(max_retries=RETRIES, retry_exceptions=False)(_task)
    work_ref, cleanup_ref = ray.put(work), ray.put(cleanup if shared else None)
    outcomes: dict[int, batch.Outcome] = {}
    pending = list(enumerate(items))
    running: dict[Any, tuple[int, batch.Item]] = {}
    at_once = window(ray, settings.jobs)

    def done(index: int, outcome: batch.Outcome) -> None:
        outcomes[index] = outcome
        on_done(outcome)
    try:
        while pending or running:
            while pending and len(running) < at_once:
                index, item = pending.pop(0)
                submitted = _submit(ray, remote, item, settings, shared, largest, work_ref, cleanup_ref)
                if isinstance(submitted, batch.Outcome):
                    done(index, submitted)
                else:
                    running[submitted] = (index, item)
            if running:
                ready, _ = ray.wait(list(running), num_returns=1)
                index, item = running.pop(ready[0])
                done(index, _collect(ray, ready[0], item, shared, cleanup))
    finally:
        for ref, (_, item) in running.items():  # interrupted: end what still runs
            ray.cancel(ref, force=True)
            if shared:
                cleanup(item)
    return [outcomes[i] for i in sorted(outcomes)], at_once


def _submit(ray: Any, remote: Any, item: batch.Item, settings: batch.Settings, shared: bool, largest: float,
            work_ref: Any, cleanup_ref: Any) -> Any:
    """The task's reference, or the item's outcome where it cannot be sent."""
    if item.problem:
        return batch.Outcome(item.name, str(item.path), "error", 3, item.problem)
    try:
        size = sum(f.stat().st_size for p in (item.path, item.source) if p is not None for f in shipping.files_of(p))
        sources = None if shared else ray.put(worker.sources_of(item))
    except (OSError, shipping.TooLarge) as exc:
        return batch.Outcome(item.name, str(item.path), "error", 3,
                             f"{item.path}: cannot be sent to a cluster worker ({exc})")
    memory = min(BASE_MEMORY + MEMORY_PER_BYTE * size, largest) if largest else None
    task = worker.Task(item, shared, None if shared else worker.occupant(item.output), settings.time_limit)
    return remote.options(num_cpus=1, memory=memory, scheduling_strategy="SPREAD",
                          name=f"kconvert {item.name}").remote(task, work_ref, cleanup_ref, sources)


def _collect(ray: Any, ref: Any, item: batch.Item, shared: bool,
             cleanup: Callable[[batch.Item], None]) -> batch.Outcome:
    """The outcome of a finished task, its outputs put in place; a task whose worker was lost
    on every attempt is the model's error, as a killed model is in local batch mode."""
    from kconvert.writers.output import OutputError

    try:
        finished: worker.Finished = ray.get(ref)
    except ray.exceptions.RayTaskError as exc:  # a bug in kconvert's cluster code: this model's
        return batch.Outcome(item.name, str(item.path), "error", 1,
                             f"internal error on a cluster worker: {type(exc.cause).__name__}: {exc.cause}")
    except ray.exceptions.RayError as exc:
        if shared:
            cleanup(item)
        why = " ".join(str(exc).split())[:200]
        return batch.Outcome(item.name, str(item.path), "error", 3,
                             f"{item.path}: its cluster worker was lost on {RETRIES + 1} attempts "
                             f"({type(exc).__name__}: {why})")
    outcome = finished.outcome
    if finished.outputs is not None and item.output is not None:
        try:
            worker.install(finished.outputs, item.output)
        except (OSError, OutputError) as exc:
            outcome = batch.Outcome(item.name, str(item.path), "error", 2,
                                    f"{item.output}: written on a cluster worker, but not put in place ({exc})")
    outcome.node = finished.node
    return outcome
