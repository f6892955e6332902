"""Many models in one command: ``kconvert convert models/ out/ --to tfjs`` and ``kconvert check out/``.

Users validate whole model directories in CI.  Each model runs in a child process forked for it
alone, up to ``jobs`` at a time: a C library crashing on a crafted file, or a model exhausting
memory, costs that model and not the batch, and each model's memory goes back when it ends.  A
child leaves its outcome as a JSON file in a private temporary directory and its own output (and
TensorFlow's) in a log beside it; the parent prints one line per model as it ends, then a
summary, and renders one JSON report (``schemas/batch-report.schema.json``) and one JUnit file.
The parent never imports TensorFlow, which cannot survive a fork.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import stat
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from kconvert.errors import InputReadError
from kconvert.formats.detect import KERAS, TABLE, marked_format, suffixes

Status = Literal["passed", "failed", "error"]

#: what each command picks up in a folder: the formats of the detection table it takes
FORMATS = {"convert": KERAS, "check": TABLE}
#: files read as Keras models (a TF.js model is a directory holding model.json)
MODEL_SUFFIXES = suffixes(KERAS)
#: what each target writes for one model: a directory ("") or a file with this suffix
TARGET_SUFFIXES = {"tfjs": "", "dl4j": "", "keras": ".keras", "h5": ".h5", "json": ".json", "yaml": ".yaml",
                   "onnx": ".onnx"}
#: companions that are never models of their own: the weights ``--to json --save-weights`` writes
COMPANION_SUFFIXES = (".weights.h5",)


@dataclass(frozen=True)
class Item:
    """One model of the batch: its name (the path below the inputs' common folder) and files."""

    name: str
    path: Path
    output: Path | None = None  # convert: where it is written
    source: Path | None = None  # check: the model it was converted from
    problem: str | None = None  # why it cannot be done, found before it runs (no source to pair it with)


@dataclass
class Outcome:
    """What became of one model; ``exit_code`` is what the one-model command would have exited with."""

    name: str
    path: str
    status: Status
    exit_code: int
    message: str
    seconds: float = 0.0
    output: str | None = None
    warnings: list[str] = field(default_factory=list)
    report: dict[str, Any] | None = None
    log: str = ""
    node: dict[str, str] | None = None  # on a cluster: where it ran (node id, host name, address)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "log" and (k != "node" or v is not None)}


@dataclass(frozen=True)
class Settings:
    """How a batch runs: models at once (None: the CPU count, or the cluster's CPUs), seconds each
    may take, whether symbolic links leading out of the folders given are followed, and the Ray
    cluster to run on (None: this machine; see :mod:`kconvert.cluster`), copying each model's files
    to it and back always (True), never (False) or where a node does not see the driver's (None)."""

    jobs: int | None = None
    time_limit: float = 600.0
    follow_links: bool = False
    cluster: str | None = None
    copy_files: bool | None = None


#: seconds one model may take, reading to verifying, before its worker is killed (``--time-limit``)
DEFAULT_TIME_LIMIT = Settings.time_limit

#: the work done for one model, in its child: returns (exit code, one-line message, report)
Work = Callable[[Item], "tuple[int, str, dict[str, Any] | None]"]


# -- which models ----------------------------------------------------------------------------------

def is_batch(paths: Sequence[str], command: Literal["convert", "check"]) -> bool:
    """Several paths, or one directory that is not itself a model (or export), make a batch."""
    if len(paths) != 1:
        return True
    path = Path(paths[0])
    return path.is_dir() and not _is_model_dir(path, command)


@dataclass(frozen=True)
class Found:
    """What discovery found: the models (named by their path below the inputs' common folder),
    the entries that could not be taken, with why (each its own error in the report, never the
    run's), and how many other files were passed over."""

    models: list[tuple[str, Path]]
    problems: dict[str, str]
    ignored: int


def discover(paths: Sequence[str], command: Literal["convert", "check"], exclude: Path | None = None,
             follow_links: bool = False) -> Found:
    """The models under ``paths``.  Hidden files and ``exclude`` (the output) are skipped; a
    symbolic link leading out of the folder it was found in is not followed unless
    ``follow_links`` (it is that entry's error); links never make the walk loop."""
    found: list[tuple[Path, str | None]] = []
    ignored = 0
    roots = []
    for given in map(Path, paths):
        if not given.exists():
            raise InputReadError("no such file or directory", file=str(given))
        if given.is_dir() and not _is_model_dir(given, command):
            roots.append(given)
            walk = _Walk(command, exclude, None if follow_links else os.path.realpath(given), given)
            found += walk.entries(given)
            ignored += walk.ignored
        else:
            roots.append(given.parent)
            found.append((given, None))
    base = Path(os.path.commonpath([os.path.abspath(r) for r in roots]))
    named = {Path(os.path.abspath(p)).relative_to(base).as_posix(): (p, problem) for p, problem in found}
    return Found(sorted((name, path) for name, (path, _) in named.items()),
                 {name: problem for name, (_, problem) in named.items() if problem}, ignored)


@dataclass
class _Walk:
    """One folder's walk: model files and directories, or why an entry cannot be taken."""

    command: Literal["convert", "check"]
    exclude: Path | None
    inside: str | None  # the real path entries must stay in (None: links are followed anywhere)
    root: Path
    ignored: int = 0
    seen: set[str] = field(default_factory=set)  # real paths walked: a symbolic link loop ends here

    def entries(self, folder: Path) -> Iterable[tuple[Path, str | None]]:
        real = os.path.realpath(folder)
        if real in self.seen:
            return
        self.seen.add(real)
        try:
            listed = sorted(folder.iterdir())
        except OSError as exc:
            yield folder, f"{folder}: cannot list the directory ({exc.strerror or type(exc).__name__})"
            return
        for entry in listed:
            if entry.name.startswith(".") or (self.exclude is not None and _same(entry, self.exclude)):
                continue
            yield from self._entry(entry)

    def _entry(self, entry: Path) -> Iterable[tuple[Path, str | None]]:
        try:
            is_dir = stat.S_ISDIR(os.stat(entry).st_mode)
        except OSError as exc:  # a broken link, a link loop, a folder it may not look into
            if _is_model_file(entry, self.command):
                yield entry, f"{entry}: cannot read it ({exc.strerror or type(exc).__name__})"
            else:
                self.ignored += 1
            return
        if not (is_dir or _is_model_file(entry, self.command)):
            self.ignored += 1
            return
        if self.inside is not None and not _within(os.path.realpath(entry), self.inside):
            yield entry, (f"{entry}: a symbolic link to {os.path.realpath(entry)}, outside {self.root}: "
                          "not followed (--follow-links follows it)")
        elif is_dir and not _is_model_dir(entry, self.command):
            yield from self.entries(entry)
        else:
            yield entry, None  # a special file is refused when it is read, as a named input is


def _within(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def _same(a: Path, b: Path) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def _is_model_dir(path: Path, command: Literal["convert", "check"]) -> bool:
    """Whether ``path`` is one model (a TF.js model) or one export (also a DL4J output directory),
    not a folder of them."""
    return marked_format(path, FORMATS[command]) is not None


def _is_model_file(path: Path, command: Literal["convert", "check"]) -> bool:
    name = path.name.lower()
    return not name.endswith(COMPANION_SUFFIXES) and name.endswith(suffixes(FORMATS[command]))


def output_names(names: Sequence[str], target: str) -> dict[str, str]:
    """Where each model is written below the output folder: its name without its suffix, plus the
    target's (``a/mlp.h5`` -> ``a/mlp`` for TF.js, ``a/mlp.keras`` for Keras); models whose names
    differ only by suffix (``mlp.h5``, ``mlp.json``) keep theirs (``mlp.h5.keras``)."""
    stems = [_strip(name, MODEL_SUFFIXES) for name in names]
    clashing = {s for s in stems if stems.count(s) > 1}
    return {name: (name if stem in clashing else stem) + TARGET_SUFFIXES[target] for name, stem in zip(names, stems)}


def _strip(name: str, suffixes: Iterable[str]) -> str:
    for suffix in suffixes:
        if suffix and name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return name


def pair_sources(names: Sequence[str], folder: Path) -> dict[str, Path | str]:
    """For ``check out/ --source models/``: each export's source, found by the name ``convert``
    gave it (see :func:`output_names`), or why none is (a message)."""
    sources = discover([str(folder)], "convert").models
    by_name = {name: path for name, path in sources}
    by_stem: dict[str, list[Path]] = {}
    for name, path in sources:
        by_stem.setdefault(_strip(name, MODEL_SUFFIXES), []).append(path)
    paired: dict[str, Path | str] = {}
    for name in names:
        key = _strip(name, [*TARGET_SUFFIXES.values(), ".zip"])
        exact = [by_name[k] for k in (name, key) if k in by_name]  # mlp.h5/ from mlp.h5, mlp.h5.keras
        candidates = exact[:1] or by_stem.get(key, [])
        paired[name] = candidates[0] if len(candidates) == 1 else (
            f"no source named {key}.* in {folder}" if not candidates else
            f"{len(candidates)} sources named {key}.* in {folder}: {', '.join(sorted(p.name for p in candidates))}")
    return paired


# -- running them ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Worker:
    """A running child: its process (the leader of its own process group, so that what it started
    goes with it), the pipe whose end it holds until it ends, and when it started."""

    pid: int
    pipe: int
    index: int
    item: Item
    started: float


class ClusterError(Exception):
    """The cluster asked for cannot be used (Ray is not installed, no cluster at the address)."""


def preload() -> None:
    """Import what converting a model needs, once, in the process that forks the models (here, or
    a cluster node's worker), so that every model's child starts with it (none imports TensorFlow)."""
    import kconvert.readers.keras.layers  # noqa: F401
    import kconvert.writers.dl4j.writer  # noqa: F401
    import kconvert.writers.keras.writer  # noqa: F401
    import kconvert.writers.tfjs  # noqa: F401


def run_all(items: Sequence[Item], work: Work, settings: Settings, on_done: Callable[[Outcome], None],
            cleanup: Callable[[Item], None] = lambda item: None) -> tuple[list[Outcome], int]:
    """:func:`run` on this machine, or each model as a task of the cluster ``settings.cluster``
    (:mod:`kconvert.cluster.ray_batch`, which raises :class:`ClusterError`): the outcomes in the
    items' order, and how many models ran at once."""
    if settings.cluster is not None:
        from kconvert.cluster.ray_batch import run as on_cluster

        return on_cluster(items, work, settings, on_done, cleanup)
    jobs = settings.jobs or os.cpu_count() or 1
    return run(items, work, jobs, on_done, cleanup, settings.time_limit), jobs


def run(items: Sequence[Item], work: Work, jobs: int, on_done: Callable[[Outcome], None],
        cleanup: Callable[[Item], None] = lambda item: None,
        time_limit: float | None = DEFAULT_TIME_LIMIT) -> list[Outcome]:
    """Run ``work`` on every item, each in its own forked child, ``jobs`` at a time (sharing a harness
    server: :mod:`kconvert.verification.harness_server`); ``on_done`` is called as each ends.  A child still running after ``time_limit`` seconds is killed, with all it
    started: that model's error (exit code 4).  An item found unreadable before it ran (its
    ``problem``) is its error (exit code 3) without a child.  ``cleanup`` is called for a child that
    died without finishing (to remove what it was writing).  Returns the outcomes in the items' order."""
    import tempfile  # here, as the other imports below: the command imports this module for one model too

    from kconvert.verification import harness_server

    outcomes: dict[int, Outcome] = {}

    def done(index: int, outcome: Outcome) -> None:
        outcomes[index] = outcome
        on_done(outcome)
    # the children verifying in Node or a JVM share one per slot, started on first use
    with harness_server.serving(max(1, jobs)), tempfile.TemporaryDirectory(prefix="kconvert-batch-") as scratch, \
            selectors.DefaultSelector() as ends:
        pending = list(enumerate(items))
        running: dict[int, _Worker] = {}
        try:
            while pending or running:
                while pending and len(running) < max(1, jobs):
                    index, item = pending.pop(0)
                    if item.problem:
                        done(index, Outcome(item.name, str(item.path), "error", 3, item.problem))
                        continue
                    worker = _spawn(work, item, Path(scratch, str(index)), index)
                    running[worker.pid] = worker
                    ends.register(worker.pipe, selectors.EVENT_READ, worker)
                if not running:
                    continue
                first = min(w.started for w in running.values())
                wait = None if time_limit is None else max(0.0, first + time_limit - time.monotonic())
                ended = [key.data for key, _ in ends.select(wait)]
                now = time.monotonic()
                late = [w for w in running.values() if time_limit is not None and w not in ended
                        and now - w.started >= time_limit]
                for worker in [*ended, *late]:
                    if worker in late:
                        _kill(worker.pid, signal.SIGKILL)
                    ends.unregister(worker.pipe)
                    os.close(worker.pipe)
                    del running[worker.pid]
                    _, status = os.waitpid(worker.pid, 0)
                    outcome = _late(worker.item, time_limit) if worker in late else \
                        _collect(worker.item, Path(scratch, str(worker.index)), status)
                    outcome.seconds = round(now - worker.started, 3)
                    if os.WIFSIGNALED(status):
                        cleanup(worker.item)
                    done(worker.index, outcome)
        finally:
            for worker in running.values():  # interrupted: end what still runs
                _kill(worker.pid, signal.SIGTERM)
            for worker in running.values():
                os.waitpid(worker.pid, 0)
                os.close(worker.pipe)
                cleanup(worker.item)
    return [outcomes[i] for i in sorted(outcomes)]


def _kill(pid: int, number: int) -> None:
    """Signal a worker's process group (the worker and what it started)."""
    try:
        os.killpg(pid, number)
    except (ProcessLookupError, PermissionError):
        pass


def _late(item: Item, time_limit: float | None) -> Outcome:
    return Outcome(item.name, str(item.path), "error", 4,
                   f"{item.path}: not done after {time_limit:g} s, the time limit per model "
                   "(--time-limit): stopped")


def _spawn(work: Work, item: Item, scratch: Path, index: int) -> _Worker:
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()  # the child holds the write end until it ends: its end is EOF here
    started = time.monotonic()
    parent = os.getpid()
    pid = os.fork()
    if pid:
        os.close(write_end)
        try:
            os.setpgid(pid, pid)  # also done by the child: whichever runs first
        except OSError:
            pass
        return _Worker(pid, read_end, index, item, started)
    code = 1
    try:
        os.close(read_end)
        _end_with(parent)
        os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends the batch on Ctrl-C
        log = os.open(scratch.with_suffix(".log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        _finish(item, scratch, *_attempt(work, item))
        code = 0
    finally:
        os._exit(code)


def _end_with(parent: int) -> None:
    """In a child: be killed when ``parent`` dies (Linux), so that a batch (or cluster worker)
    killed mid-way leaves no model running on its own, writing its output."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before that took effect
        os._exit(1)


def _attempt(work: Work, item: Item) -> tuple[int, str, dict[str, Any] | None, list[str]]:
    """Run ``work`` (which turns kconvert's own errors into exit codes, as the one-model command
    does), with the kconvert warnings raised meanwhile."""
    from kconvert.errors import KConvertWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", KConvertWarning)
        try:
            code, message, report = work(item)
        except Exception as exc:  # a bug in kconvert: this model's, reported, not the batch's end
            import traceback

            traceback.print_exc()
            code, message, report = 1, f"internal error: {type(exc).__name__}: {exc}", None
    seen = [str(w.message) for w in caught if issubclass(w.category, KConvertWarning)]
    return code, message, report, list(dict.fromkeys(seen))


def _finish(item: Item, scratch: Path, code: int, message: str, report: dict[str, Any] | None,
            seen: list[str]) -> None:
    status: Status = "passed" if code == 0 else "failed" if code == 1 and report is not None else "error"
    outcome = Outcome(item.name, str(item.path), status, code, " ".join(message.split()),
                      output=str(item.output) if item.output and report is not None else None, warnings=seen,
                      report=report)
    staged = scratch.with_suffix(".partial")
    staged.write_text(json.dumps(outcome.to_dict(), allow_nan=False), encoding="utf-8")
    staged.rename(scratch.with_suffix(".json"))


#: signals a C library dies of on a corrupt or crafted file (libhdf5 on a bad datatype: SIGSEGV)
CRASH_SIGNALS = (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGFPE, signal.SIGILL)


def crash_message(what: str, number: int) -> str | None:
    """The one-line error for a process that died of signal ``number`` reading ``what``, when
    that is a C library crashing; None for other signals."""
    if number not in CRASH_SIGNALS:
        return None
    return f"{what}: reading it crashed a C library ({signal.Signals(number).name}): the file is corrupt or crafted"


def _collect(item: Item, scratch: Path, status: int) -> Outcome:
    log_path = scratch.with_suffix(".log")
    log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    result = scratch.with_suffix(".json")
    if result.exists():
        outcome = Outcome(**json.loads(result.read_text(encoding="utf-8")))
    elif os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        outcome = Outcome(item.name, str(item.path), "error", 3, crash_message(str(item.path), number)
                          or f"{item.path}: killed by {signal.Signals(number).name}")
    else:
        outcome = Outcome(item.name, str(item.path), "error", 1,
                          f"{item.path}: the worker ended without a result (exit status {os.WEXITSTATUS(status)})")
    outcome.log = log
    return outcome


# -- reporting -------------------------------------------------------------------------------------

def summary(outcomes: Sequence[Outcome]) -> dict[str, int]:
    return {"total": len(outcomes), **{s: sum(o.status == s for o in outcomes) for s in ("passed", "failed", "error")}}


def to_document(command: str, target: str | None, jobs: int, seconds: float,
                outcomes: Sequence[Outcome], ignored: int, cluster: str | None = None) -> dict[str, Any]:
    """The JSON report (``schemas/batch-report.schema.json``); ``cluster``: the address it ran on."""
    return {"command": command, "target": target, "jobs": jobs, "seconds": round(seconds, 3),
            **({"cluster": cluster} if cluster is not None else {}),
            "ignored_files": ignored, "summary": summary(outcomes), "models": [o.to_dict() for o in outcomes]}


def to_junit(command: str, outcomes: Sequence[Outcome], seconds: float) -> str:
    """JUnit XML: one test case per model; a mismatch is a failure, a model not converted an error."""
    import xml.etree.ElementTree as ET

    counts = summary(outcomes)
    suite = ET.Element("testsuite", name=f"kconvert {command}", tests=str(counts["total"]),
                       failures=str(counts["failed"]), errors=str(counts["error"]), skipped="0",
                       time=f"{seconds:.3f}")
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=f"kconvert.{command}", name=o.name, time=f"{o.seconds:.3f}")
        if o.status != "passed":
            ET.SubElement(case, "failure" if o.status == "failed" else "error", message=o.message,
                          type=f"exit {o.exit_code}").text = o.message
        else:
            ET.SubElement(case, "system-out").text = "\n".join([o.message, *o.warnings])
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)
