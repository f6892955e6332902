"""Batch convert and check as Python functions: :func:`convert_many` and :func:`check_many`.

They are what ``kconvert SRC... OUT --to T`` and ``kconvert check OUT... --source SRC`` do, so that a
pipeline driving thousands of models from Python (a nightly registry check, on a cluster or not)
gets the same outcomes, report and JUnit file as the command; the command itself is only their
options, its one line per model (``on_done``), the summary and the exit code.  Here the models are
found and paired, each model's work and cleanup are built (module-level callables, so that Ray
sends them to its workers by reference), and :func:`kconvert.batch.run_all` runs them.  Nothing
heavy is imported at module level: the command imports this for ``--help`` too.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from kconvert import batch
from kconvert.errors import InputReadError, KConvertError
from kconvert.writers.output import OutputError

#: the command's exit codes (see :mod:`kconvert.cli`): one model's outcome carries the one it would exit with
EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_UNREADABLE, EXIT_INCOMPATIBLE = 0, 1, 2, 3, 4

PathLike = str | os.PathLike[str]


def exit_code(error: KConvertError) -> int:
    """The exit code of a kconvert error: a taken output is a usage error, an unreadable input 3, the rest 4."""
    if isinstance(error, OutputError):
        return EXIT_USAGE
    return EXIT_UNREADABLE if isinstance(error, InputReadError) else EXIT_INCOMPATIBLE


class BatchArgumentError(ValueError):
    """An argument of :func:`convert_many` or :func:`check_many` that cannot be used, found before any
    model runs; ``argument`` names it (the command turns it into a usage error on that option)."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument


@dataclass(frozen=True)
class BatchResult:
    """What a batch did: each model's :class:`~kconvert.batch.Outcome` (name, status, exit code,
    message, seconds, ``node``: where it ran on a cluster) in name order, how many ran at once, how
    long the run took, and how many other files were passed over.  ``to_document()`` and
    ``to_junit()`` are what the command's ``--report`` and ``--junit`` write."""

    command: Literal["convert", "check"]
    target: str | None
    outcomes: list[batch.Outcome]
    jobs: int
    seconds: float
    ignored: int
    cluster: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Models in all, and how many passed, failed (a check or verification) or were errors."""
        return batch.summary(self.outcomes)

    @property
    def passed(self) -> bool:
        return all(o.status == "passed" for o in self.outcomes)

    def to_document(self) -> dict[str, Any]:
        """The JSON report (``schemas/batch-report.schema.json``)."""
        return batch.to_document(self.command, self.target, self.jobs, self.seconds, self.outcomes, self.ignored,
                                 self.cluster)

    def to_junit(self) -> str:
        """JUnit XML, one test case per model."""
        return batch.to_junit(self.command, self.outcomes, self.seconds)


def settings(jobs: int | None = None, time_limit: float = batch.DEFAULT_TIME_LIMIT, follow_links: bool = False,
             cluster: str | None = None, cluster_files: Literal["auto", "copy"] | None = None) -> batch.Settings:
    """The batch settings both functions (and the command's options) take, checked."""
    if cluster_files not in (None, "auto", "copy"):
        raise BatchArgumentError("cluster_files", f"{cluster_files!r} is not 'auto' or 'copy'")
    if cluster_files is not None and cluster is None:
        raise BatchArgumentError("cluster_files", "--cluster-files goes with --cluster")
    return batch.Settings(jobs, time_limit, follow_links, cluster, True if cluster_files == "copy" else None)


# -- one model's work (in its forked child, here or on a cluster node) ----------------------------

def convert_one(source: str, target: str, output: str, weights: str | None,
                verification: dict[str, Any] | None, **options: Any) -> tuple[Any, Any]:
    """Convert one model and, given ``verification`` tolerances, run the result against its source:
    what the written files are, and the verification report (or None)."""
    import kconvert

    written = kconvert.convert(source, target, output, weights=weights, **options)
    if verification is None:
        return written, None
    load = options.get("load_options", {})
    return written, kconvert.verify(source, weights, targets=(output,), **verification, **load)


def convert_report(source: str, target: str, written: Any, verified: Any) -> dict[str, Any]:
    """The document one model's ``--report`` holds (``schemas/convert-report.schema.json``)."""
    return {"source": source, "target": target, "output": written.to_dict(),
            "verification": verified.to_dict() if verified else None}


def verification_line(report: Any) -> str:
    """A verification in a few words, for one model's line in a batch."""
    errors = [c.max_abs_error for check in report.checks for c in check.comparisons]
    worst = f", max abs error {max(errors):.2g}" if errors else ""
    if report.passed:
        return f"verified against {report.compared} reference(s){worst}"
    broken = [f"{c.name}: {c.reason or c.status}" for c in report.checks if c.status not in ("passed", "skipped")]
    return f"verification FAILED ({'; '.join(broken) or 'nothing to compare against'}){worst}"


@dataclass(frozen=True)
class ConvertWork:
    """Convert (and verify) one model of the batch: :data:`kconvert.batch.Work`."""

    target: str
    verification: dict[str, Any] | None
    options: dict[str, Any]

    def __call__(self, item: batch.Item) -> tuple[int, str, dict[str, Any] | None]:
        try:
            written, verified = convert_one(str(item.path), self.target, str(item.output), None, self.verification,
                                            **self.options)
        except (KConvertError, ValueError) as exc:  # ValueError: a --quantize pattern matching no weight...
            return (exit_code(exc) if isinstance(exc, KConvertError) else EXIT_USAGE), str(exc), None
        message = f"-> {item.output} ({written.weights} weight tensors, {written.weight_bytes} bytes)"
        if written.companion is not None:
            message += f", with {written.companion.name}"
        if verified is not None:
            message += f"; {verification_line(verified)}"
        failed = verified is not None and not verified.passed
        return (EXIT_CHECK_FAILED if failed else EXIT_OK), message, convert_report(
            str(item.path), self.target, written, verified)


@dataclass(frozen=True)
class RestoreOutput:
    """For a model whose child died mid-way: put its output back as it was before the batch."""

    before: dict[Path, Any]

    def __call__(self, item: batch.Item) -> None:
        from kconvert.writers.output import remove_unfinished

        if item.output is not None:
            remove_unfinished(item.output, self.before[item.output])


@dataclass(frozen=True)
class CheckWork:
    """Check one exported model (against its source, when paired): :data:`kconvert.batch.Work`."""

    options: dict[str, Any]

    def __call__(self, item: batch.Item) -> tuple[int, str, dict[str, Any] | None]:
        from kconvert.verification.check import check

        try:
            report = check(item.path, str(item.source) if item.source else None, **self.options)
        except KConvertError as exc:
            return exit_code(exc), str(exc), None
        failed = [f"{f.name}: {f.detail}" for f in report.findings if f.status == "failed"]
        message = (f"({report.kind}) " + ("; ".join(failed) if failed else ", ".join(
            f.name for f in report.findings if f.status == "passed") + " passed"))
        return (EXIT_OK if report.passed else EXIT_CHECK_FAILED), message, report.to_dict()


# -- the batches ------------------------------------------------------------------------------------

def convert_many(sources: PathLike | Sequence[PathLike], output: PathLike, to: str, *, jobs: int | None = None,
                 time_limit: float = batch.DEFAULT_TIME_LIMIT, follow_links: bool = False, cluster: str | None = None,
                 cluster_files: Literal["auto", "copy"] | None = None, check: bool = False, atol: float = 1e-4,
                 rtol: float = 1e-4, overwrite: bool = False, enforce_training_config: bool = False,
                 load_options: Mapping[str, Any] | None = None,
                 on_done: Callable[[batch.Outcome], None] | None = None, **options: Any) -> BatchResult:
    """Convert every model in ``sources`` (model files, TF.js models, folders of them) into the
    folder ``output`` as ``to``, each model in its own process, ``jobs`` at a time, or each a task of
    the Ray ``cluster`` (``ray://host:port``, ``auto``); ``cluster_files="copy"`` copies files to
    nodes and back even where they see this machine's.  ``check`` verifies each output against its
    source (``atol``, ``rtol``).  ``load_options`` go to :func:`kconvert.load`, ``options`` to
    :func:`kconvert.write` (``shard_size``, ``quantize``, ``companion``, ``opset``, ``io_layout``,
    ``layout``, ``layout_io``...).  ``on_done(outcome)`` is called as each model ends.

    A model that cannot be read or converted is its outcome, never the batch's end; raises
    :class:`InputReadError` when ``sources`` hold no model, :class:`BatchArgumentError` for an
    ``output`` that is a file, and :class:`kconvert.batch.ClusterError` for a cluster that cannot be used.
    """
    _one_model_only(options, "model")
    given = _paths(sources)
    root = Path(output)
    if root.exists() and not root.is_dir():
        raise BatchArgumentError("output", "several models are written into a directory; OUTPUT is a file")
    how = settings(jobs, time_limit, follow_links, cluster, cluster_files)
    batch.preload()
    found = batch.discover(given, "convert", exclude=root, follow_links=follow_links)
    if not found.models:
        raise InputReadError(f"no model files ({', '.join(batch.MODEL_SUFFIXES)}) or TF.js models in it",
                             file=", ".join(given))
    from kconvert.writers.output import identity

    names = batch.output_names([name for name, _ in found.models], to)
    items = [batch.Item(name, path, output=root / names[name], problem=found.problems.get(name))
             for name, path in found.models]
    restore = RestoreOutput({item.output: identity(item.output) for item in items if item.output is not None})
    verification = ({"atol": atol, "rtol": rtol, "layout_io": options.get("layout_io", "original")} if check
                    else None)
    work = ConvertWork(to, verification, dict(options, overwrite=overwrite,
                                              enforce_training_config=enforce_training_config,
                                              load_options=dict(load_options or {})))
    return _run("convert", to, items, found.ignored, work, how, on_done, restore)


def check_many(artifacts: PathLike | Sequence[PathLike], *, source: PathLike | None = None, jobs: int | None = None,
               time_limit: float = batch.DEFAULT_TIME_LIMIT, follow_links: bool = False, cluster: str | None = None,
               cluster_files: Literal["auto", "copy"] | None = None, atol: float = 1e-4, rtol: float = 1e-4,
               on_done: Callable[[batch.Outcome], None] | None = None, **check_options: Any) -> BatchResult:
    """Check every exported model in ``artifacts`` (what :func:`convert_many` wrote, or any
    TF.js/DL4J/Keras/ONNX exports) as ``kconvert check`` does, and with ``source`` (the folder of
    their sources, paired by the names ``convert`` gave them) that each computes what its source
    does.  The batch settings and ``on_done`` are :func:`convert_many`'s; ``check_options`` go to
    :func:`kconvert.verification.check.check` (``weights_by``, ``backend``, ``limits``, ``inputs_from``...)."""
    _one_model_only(check_options, "artifact")
    given = _paths(artifacts)
    how = settings(jobs, time_limit, follow_links, cluster, cluster_files)
    found = batch.discover(given, "check", follow_links=follow_links)
    if not found.models:
        raise InputReadError("a directory without model.json, model.zip, configuration.json or Keras "
                             "files: no exported models in it", file=", ".join(given))
    if source is not None and not Path(source).is_dir():
        raise BatchArgumentError("source", "for several artifacts, --source is the directory of their sources")
    paired = batch.pair_sources([name for name, _ in found.models], Path(source)) if source is not None else {}
    items = [batch.Item(name, path, source=paired[name], problem=found.problems.get(name))
             if isinstance(paired.get(name), Path) else
             batch.Item(name, path, problem=found.problems.get(name) or paired.get(name))  # type: ignore[arg-type]
             for name, path in found.models]
    work = CheckWork(dict(check_options, atol=atol, rtol=rtol))
    return _run("check", None, items, found.ignored, work, how, on_done)


def _one_model_only(options: dict[str, Any], what: str) -> None:
    """Refuse a ``weights`` file: it belongs to one configuration-only model, not to a batch."""
    if options.pop("weights", None) is not None:
        raise BatchArgumentError("weights", f"--weights goes with one {what}, not several")


def _paths(given: PathLike | Sequence[PathLike]) -> list[str]:
    return [os.fspath(given)] if isinstance(given, (str, os.PathLike)) else [os.fspath(p) for p in given]


def _run(command: Literal["convert", "check"], target: str | None, items: list[batch.Item], ignored: int,
         work: batch.Work, how: batch.Settings, on_done: Callable[[batch.Outcome], None] | None,
         cleanup: Callable[[batch.Item], None] = lambda item: None) -> BatchResult:
    start = time.monotonic()
    outcomes, jobs = batch.run_all(items, work, how, on_done or (lambda outcome: None), cleanup)
    return BatchResult(command, target, outcomes, jobs, time.monotonic() - start, ignored, how.cluster)
