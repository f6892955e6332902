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
import signal
import sys
import tempfile
import time
import traceback
import warnings
import xml.etree.ElementTree as ET
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

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "log"}


#: the work done for one model, in its child: returns (exit code, one-line message, report)
Work = Callable[[Item], "tuple[int, str, dict[str, Any] | None]"]


# -- which models ----------------------------------------------------------------------------------

def is_batch(paths: Sequence[str], command: Literal["convert", "check"]) -> bool:
    """Several paths, or one directory that is not itself a model (or export), make a batch."""
    if len(paths) != 1:
        return True
    path = Path(paths[0])
    return path.is_dir() and not _is_model_dir(path, command)


def discover(paths: Sequence[str], command: Literal["convert", "check"],
             exclude: Path | None = None) -> tuple[list[tuple[str, Path]], int]:
    """The models under ``paths``, named by their path below the paths' common folder, and how
    many other files were passed over.  Hidden files and ``exclude`` (the output) are skipped."""
    found: list[Path] = []
    ignored = 0
    roots = []
    for given in map(Path, paths):
        if not given.exists():
            raise InputReadError("no such file or directory", file=str(given))
        if given.is_dir() and not _is_model_dir(given, command):
            roots.append(given)
            for path in _walk(given, command, exclude):
                if path.is_dir() or _is_model_file(path, command):
                    found.append(path)
                else:
                    ignored += 1
        else:
            roots.append(given.parent)
            found.append(given)
    base = Path(os.path.commonpath([os.path.abspath(r) for r in roots]))
    named = {Path(os.path.abspath(p)).relative_to(base).as_posix(): p for p in found}
    return sorted(named.items()), ignored


def _walk(folder: Path, command: Literal["convert", "check"], exclude: Path | None,
          seen: set[str] | None = None) -> Iterable[Path]:
    seen = set() if seen is None else seen  # real paths walked: a symbolic link loop ends here
    if os.path.realpath(folder) in seen:
        return
    seen.add(os.path.realpath(folder))
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or (exclude is not None and _same(entry, exclude)):
            continue
        if entry.is_dir():
            yield from [entry] if _is_model_dir(entry, command) else _walk(entry, command, exclude, seen)
        elif entry.is_file():
            yield entry


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
    sources, _ = discover([str(folder)], "convert")
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

def run(items: Sequence[Item], work: Work, jobs: int, on_done: Callable[[Outcome], None],
        cleanup: Callable[[Item], None] = lambda item: None) -> list[Outcome]:
    """Run ``work`` on every item, each in its own forked child, ``jobs`` at a time; ``on_done`` is
    called as each ends.  ``cleanup`` is called for a child that died without finishing (to remove
    what it was writing).  Returns the outcomes in the items' order."""
    outcomes: dict[int, Outcome] = {}
    with tempfile.TemporaryDirectory(prefix="kconvert-batch-") as scratch:
        pending = list(enumerate(items))
        running: dict[int, tuple[int, Item, float]] = {}
        try:
            while pending or running:
                while pending and len(running) < max(1, jobs):
                    index, item = pending.pop(0)
                    running[_spawn(work, item, Path(scratch, str(index)))] = (index, item, time.monotonic())
                pid, status = os.wait()
                if pid not in running:
                    continue
                index, item, started = running.pop(pid)
                outcome = _collect(item, Path(scratch, str(index)), status)
                outcome.seconds = round(time.monotonic() - started, 3)
                if os.WIFSIGNALED(status):
                    cleanup(item)
                outcomes[index] = outcome
                on_done(outcome)
        finally:
            for pid in running:  # interrupted: end what still runs
                os.kill(pid, signal.SIGTERM)
            for pid in running:
                os.waitpid(pid, 0)
            for _, item, _ in running.values():
                cleanup(item)
    return [outcomes[i] for i in sorted(outcomes)]


def _spawn(work: Work, item: Item, scratch: Path) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent ends the batch on Ctrl-C
        log = os.open(scratch.with_suffix(".log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        _finish(item, scratch, *_attempt(work, item))
        code = 0
    finally:
        os._exit(code)


def _attempt(work: Work, item: Item) -> tuple[int, str, dict[str, Any] | None, list[str]]:
    """Run ``work`` (which turns kconvert's own errors into exit codes, as the one-model command
    does), with the kconvert warnings raised meanwhile."""
    from kconvert.errors import KConvertWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", KConvertWarning)
        try:
            code, message, report = work(item)
        except Exception as exc:  # a bug in kconvert: this model's, reported, not the batch's end
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
                outcomes: Sequence[Outcome], ignored: int) -> dict[str, Any]:
    """The JSON report (``schemas/batch-report.schema.json``)."""
    return {"command": command, "target": target, "jobs": jobs, "seconds": round(seconds, 3),
            "ignored_files": ignored, "summary": summary(outcomes), "models": [o.to_dict() for o in outcomes]}


def to_junit(command: str, outcomes: Sequence[Outcome], seconds: float) -> str:
    """JUnit XML: one test case per model; a mismatch is a failure, a model not converted an error."""
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
