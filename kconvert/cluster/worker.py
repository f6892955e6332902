"""One model's work on a cluster node: :func:`kconvert.batch.run` on a batch of one.

The node runs the model exactly as local batch mode does (in a forked child, under the same time
limit, its warnings and log collected), so a crash or a time limit means the same thing on both;
the worker process keeps one harness server for all the models it runs (Node and a JVM started
once per worker, not per model).
Where the node sees the driver's files it works on them in place; otherwise on private copies
(sent as bytes) named as the driver's are, and what it wrote goes back as bytes.  Nothing here
imports Ray: the node's place in the cluster is given by the caller.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from kconvert import batch
from kconvert.cluster.shipping import TooLarge, pack, translate, unpack

#: what is at a model's output on the driver when the batch starts: the worker puts a stand-in
#: of the same kind at its private output, so that the writer refuses (or, with --overwrite,
#: replaces) it as it would the driver's
Occupant = Literal["file", "directory", "link"] | None

#: what removes a model's half-written output (see :func:`kconvert.batch.run`)
Cleanup = Callable[[batch.Item], None]

#: a file in a stand-in directory (the writers refuse a directory that is not empty)
STAND_IN = ".kconvert-occupied"


@dataclass(frozen=True)
class Task:
    """What a node is told of one model: the item (the driver's paths), whether it sees them
    (``shared``), what occupies its output, and the time limit."""

    item: batch.Item
    shared: bool
    occupant: Occupant
    time_limit: float | None


@dataclass(frozen=True)
class Finished:
    """What a node gives back: the outcome (its paths the driver's), the files it wrote (a tar,
    when it worked on copies), and where it ran."""

    outcome: batch.Outcome
    outputs: bytes | None
    node: dict[str, str]


def occupant(path: Path | None) -> Occupant:
    if path is None or not os.path.lexists(path):
        return None
    return "link" if path.is_symlink() else "directory" if path.is_dir() else "file"


def run_task(task: Task, work: batch.Work, cleanup: Cleanup | None, sources: bytes | None,
             node: dict[str, str]) -> Finished:
    """Run one model: in place when the node sees the driver's files (``cleanup`` then removes what
    an earlier attempt left), else on the copies in ``sources``."""
    from kconvert.verification import harness_server

    batch.preload()  # once per worker process: each model's child starts with it
    harness_server.keep()  # the worker's Node and JVM, for all the models it runs
    if task.shared:
        cleanup = cleanup or (lambda item: None)
        cleanup(task.item)  # what an earlier attempt, on a worker lost mid-way, left half-written
        outcome = _one(task.item, work, cleanup, task.time_limit)
        return Finished(outcome, None, node)
    with tempfile.TemporaryDirectory(prefix="kconvert-worker-") as scratch:
        local, places = _copies(task, Path(scratch), sources)
        outcome = _one(local, work, lambda item: None, task.time_limit)
        outputs = None
        if local.output is not None and outcome.output is not None:
            written = {p.name: p for p in local.output.parent.iterdir() if p.name != STAND_IN}
            try:
                outputs = pack(written)
            except TooLarge as exc:
                outcome = replace(outcome, status="error", exit_code=3, output=None, report=None,
                                  message=f"{local.output}: written, but not sent back: {exc}")
        outcome = batch.Outcome(**translate(outcome.to_dict(), places), log=translate(outcome.log, places))
        return Finished(outcome, outputs, node)


def _one(item: batch.Item, work: batch.Work, cleanup: Cleanup, time_limit: float | None) -> batch.Outcome:
    return batch.run([item], work, 1, lambda outcome: None, cleanup, time_limit)[0]


def _copies(task: Task, scratch: Path, sources: bytes | None) -> tuple[batch.Item, dict[str, str]]:
    """The item on private copies below ``scratch``, with the driver's path for each of its paths."""
    item, places = task.item, {}
    copies = {"source": item.path, "paired": item.source}
    if sources is not None:
        unpack(sources, scratch / "in")
    local = {}
    for role, path in copies.items():
        if path is not None:
            local[role] = scratch / "in" / role / path.name
            places[str(local[role])] = str(path)
            places[str(local[role].parent)] = str(path.parent)
    output = None
    if item.output is not None:
        output = scratch / "out" / item.output.name
        output.parent.mkdir(parents=True)
        places[str(output)] = str(item.output)
        places[str(output.parent)] = str(item.output.parent)
        _stand_in(output, task.occupant)
    places[str(scratch)] = "<worker>"  # anything else of the worker's: not a path on the driver
    return batch.Item(item.name, local["source"], output=output, source=local.get("paired"), problem=item.problem), \
        places


def _stand_in(path: Path, what: Occupant) -> None:
    if what == "file":
        path.touch()
    elif what == "directory":
        path.mkdir()
        (path / STAND_IN).touch()
    elif what == "link":
        path.symlink_to(path.parent)


def sources_of(item: batch.Item) -> bytes:
    """The tar of what a node working on copies needs of ``item`` (see :func:`_copies`)."""
    roles = {"source": item.path, "paired": item.source}
    return pack({f"{role}/{path.name}": path for role, path in roles.items() if path is not None})


def install(outputs: bytes, output: Path) -> None:
    """Put what a node wrote for ``output`` (its name and any companion beside it) in place on
    the driver, each staged beside its target and renamed over it, as the writers do."""
    from kconvert.writers.output import atomic_directory, atomic_files

    parent = output.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".partial", dir=parent))
    try:
        for name in unpack(outputs, staging):
            arrived, target = staging / name, parent / name
            if arrived.is_dir():
                with atomic_directory(target, overwrite=True) as fresh:
                    for entry in arrived.iterdir():
                        os.rename(entry, fresh / entry.name)
            else:
                with atomic_files([target], overwrite=True) as (fresh,):
                    os.replace(arrived, fresh)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
