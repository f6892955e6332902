"""The ``kconvert`` command line.

Exit codes (stable, for CI pipelines):

====  ============================================================================
0     success
1     a check failed (validation or numeric parity)
2     usage error (bad arguments)
3     an input could not be read (missing, truncated, corrupt, not a model file)
4     the model cannot be converted (incompatible layer or config, unsupported
      training setting with ``--enforce-training-config``)
====  ============================================================================

Errors are printed as one line naming the file, layer and key; ``--debug`` adds the traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import warnings
from pathlib import Path
from typing import Any, Callable

import click

import kconvert
from kconvert import batch, batch_api
from kconvert.batch_api import (  # noqa: F401 (the exit codes are this module's too)
    EXIT_CHECK_FAILED,
    EXIT_INCOMPATIBLE,
    EXIT_OK,
    EXIT_UNREADABLE,
    EXIT_USAGE,
    BatchResult,
    convert_one,
    convert_report,
    exit_code,
)
from kconvert.errors import KConvertError
from kconvert.progress import Progress
from kconvert.progress import for_terminal as progress_for
from kconvert.writers import LAYOUT_IO, LAYOUTS, WRITERS


def run_guarded(debug: bool, fn: Callable[[], Any], verbose: bool = False) -> Any:
    """Run a command body: kconvert errors become one line on stderr and a documented exit code.
    kconvert's warnings go to stderr as one line each: NaN/Inf weights always (they are found as
    weights are read, after the report is made), the others (which the report lists) with --verbose."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", kconvert.KConvertWarning)
            try:
                return fn()
            finally:
                for seen in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, (
                        kconvert.KConvertWarning if verbose else kconvert.NonFiniteWeightWarning))):
                    click.echo(f"kconvert: warning: {seen}", err=True)
    except KConvertError as exc:
        if debug:
            raise
        click.echo(f"kconvert: error: {exc}", err=True)
        sys.exit(exit_code(exc))


def load_options(fn: Callable) -> Callable:
    """Options shared by every command that reads a model."""
    for option in reversed([
        click.option("--weights", "weights", type=click.Path(dir_okay=False), default=None,
                     help="save_weights HDF5 file for a configuration-only MODEL."),
        click.option("--weights-by", type=click.Choice(["order", "name"]), default="order", show_default=True,
                     help="Match saved weights to layers by layer order (as Keras does) or by name."),
        click.option("--enforce-training-config", is_flag=True,
                     help="Fail on training-only settings kconvert does not honour instead of warning."),
        click.option("--backend", type=click.Choice(["tensorflow", "theano", "cntk"]), default=None,
                     help="Backend to assume when the file does not record one (Keras 1)."),
        click.option("--limit", "limits", multiple=True, metavar="NAME=VALUE", callback=parse_limits,
                     help="Raise (or lower) one of kconvert.Limits, e.g. max_intermediate_bytes=16GiB or "
                          "max_rank=64 (repeatable; see the README's 'Untrusted files')."),
        click.option("--inputs-from", "inputs_from", multiple=True, metavar="LAYER",
                     help="Cut the model at LAYER: its output becomes an input, and what only fed it is dropped "
                          "(repeatable; e.g. past string preprocessing)."),
        click.option("--debug", is_flag=True, help="Show tracebacks."),
    ]):
        fn = option(fn)
    return fn


def parse_limits(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> kconvert.Limits:
    """``--limit NAME=VALUE`` options as a :class:`kconvert.Limits`: NAME is one of its fields,
    VALUE a count or a size (``16GiB``)."""
    from dataclasses import fields, replace

    known = {f.name for f in fields(kconvert.Limits)}
    changed: dict[str, int] = {}
    for value in values:
        name, _, amount = value.partition("=")
        if name not in known or not amount:
            raise click.BadParameter(f"{value!r} is not NAME=VALUE with NAME one of {', '.join(sorted(known))}",
                                     param_hint="--limit")
        changed[name] = parse_size(amount)
    return replace(kconvert.Limits(), **changed)


def parse_input_shapes(ctx: click.Context, param: click.Parameter,
                       values: tuple[str, ...]) -> dict[str, tuple[int, ...]]:
    """``--input-shape NAME=D1,D2,...`` options as ``kconvert.load``'s ``input_shapes``."""
    shapes = {}
    for value in values:
        name, _, dims = value.partition("=")
        try:
            shape = tuple(int(d) for d in dims.split(","))
        except ValueError:
            shape = ()
        if not name or not shape or min(shape) < 1:
            raise click.BadParameter(f"{value!r} is not NAME=D1,D2,... with positive sizes", param_hint="--input-shape")
        shapes[name] = shape
    return shapes


def open_model(model: str, weights: str | None, weights_by: str, enforce_training_config: bool,
               backend: str | None, limits: kconvert.Limits, inputs_from: tuple[str, ...] = ()) -> kconvert.Model:
    return kconvert.load(model, weights, weights_by=weights_by,  # type: ignore[arg-type]
                         enforce_training_config=enforce_training_config, backend=backend, limits=limits,
                         inputs_from=list(inputs_from) or None)


class DefaultCommandGroup(click.Group):
    """A group whose default command is ``convert``: ``kconvert model.h5 --to tfjs out/``."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["convert", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(kconvert.__version__, prog_name="kconvert")
def main() -> None:
    """Read Keras models of every version, convert them, and prove they compute the same.

    \b
    kconvert MODEL --to tfjs OUT_DIR      convert (the default command)
    kconvert MODEL --to keras OUT.keras   (also h5, json, yaml)
    kconvert MODEL --to dl4j OUT_DIR      configuration.json + model.zip
    kconvert MODEL --to onnx OUT.onnx     an ONNX model (--opset N), run by ONNX Runtime
    kconvert inspect MODEL                 summarise a model
    kconvert verify MODEL --target OUT     compare a conversion with its source
    kconvert check OUT [--source MODEL]    validate an export (CI: --report, --junit)
    kconvert formats                       what is read, run and written, per layer kind
    kconvert setup                         install the TF.js and DL4J harnesses (also done on first use)

    \b
    Several models at once: kconvert DIR_OR_MODELS... OUT_DIR --to tfjs [--jobs N]
                            kconvert check OUT_DIR [--source DIR] [--junit r.xml]
    """


def batch_options(fn: Callable) -> Callable:
    """``--jobs``, ``--time-limit`` and ``--follow-links``, for the commands that take several
    models (or a directory of them)."""
    for option in reversed([
        click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
                     help="Several models: how many run at once, each in its own process [default: the CPU count]."),
        click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None, metavar="SECONDS",
                     help=f"Several models: stop a model still running after this long; it counts as not "
                          f"converted (exit code 4) [default: {batch.DEFAULT_TIME_LIMIT:g}]."),
        click.option("--follow-links", is_flag=True,
                     help="Several models: follow symbolic links that lead out of the folders given (by default "
                          "such a link is reported as an error, and not read)."),
        click.option("--cluster", metavar="ADDRESS", default=None,
                     help="Several models: run each as a task of the Ray cluster at ADDRESS (ray://HOST:PORT, or "
                          "auto for the cluster this machine joined); needs pip install 'kconvert[cluster]'."),
        click.option("--cluster-files", type=click.Choice(["auto", "copy"]), default=None,
                     help="With --cluster: copy each model's files to its node and back always (copy), or only "
                          "where a node does not see this machine's (auto) [default: auto]."),
    ]):
        fn = option(fn)
    return fn


def batch_settings(jobs: int | None, time_limit: float | None, follow_links: bool, cluster: str | None,
                   cluster_files: str | None) -> dict[str, Any]:
    """The options of :func:`batch_options` as the keyword arguments of
    :func:`~kconvert.batch_api.convert_many` and :func:`~kconvert.batch_api.check_many`."""
    return {"jobs": jobs, "time_limit": time_limit or batch.DEFAULT_TIME_LIMIT, "follow_links": follow_links,
            "cluster": cluster, "cluster_files": cluster_files}


def batch_only(given: dict[str, Any]) -> None:
    """Refuse, for one model, the options (flag: value) that go with several."""
    for flag, value in given.items():
        if value not in (None, False):
            raise click.BadParameter(f"{flag} goes with several models (or a directory of them)", param_hint=flag)


def verbose_option(fn: Callable) -> Callable:
    """``-v``: every warning, and TensorFlow's own start-up lines (hidden otherwise: see
    :mod:`kconvert.runtime.quiet_start`), which only a user who asks should have to read."""
    def show_tensorflow_lines(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
        if value:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"  # asked for: beats a setting in the environment
        return value
    return click.option("-v", "--verbose", is_flag=True, callback=show_tensorflow_lines, expose_value=True,
                        help="Also print every warning, and TensorFlow's own log lines.")(fn)


def parse_size(value: str) -> int:
    """``4194304``, ``4MiB``, ``512KB``, ``1M`` -> bytes."""
    units = {"": 1, "B": 1, "K": 1024, "KB": 1000, "KIB": 1024, "M": 1024**2, "MB": 1000**2, "MIB": 1024**2,
             "G": 1024**3, "GB": 1000**3, "GIB": 1024**3}
    text = value.strip().upper()
    number = text.rstrip("BGIKM")
    try:
        size = int(float(number) * units[text[len(number):]])
    except (KeyError, ValueError):
        raise click.BadParameter(f"{value!r} is not a size (e.g. 4194304, 4MiB, 512KB)") from None
    if size < 1:
        raise click.BadParameter("must be at least 1 byte")
    return size


@main.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(), metavar="SOURCE...")
@click.argument("output", type=click.Path())
@click.option("--to", "target", type=click.Choice(sorted(WRITERS)), required=True, help="The target format.")
@load_options
@click.option("--input-shape", "input_shapes", multiple=True, metavar="NAME=D1,D2,...", callback=parse_input_shapes,
              help="The shape (batch left out) of the model's input NAME, where the model does not record it: a "
                   "Deeplearning4j network's image height and width (e.g. input=1,28,28 for NCHW). Repeatable.")
@click.option("--overwrite", is_flag=True, help="Replace OUTPUT if it exists and is not empty.")
@click.option("--shard-size", default="4MiB", show_default=True, help="TF.js: bytes per weight shard (4MiB, 512KB...).")
@click.option("--quantize", multiple=True, metavar="DTYPE[:PATTERNS]",
              help="TF.js: store float weights as uint8, uint16 or float16; all of them, or those matching "
                   "comma-separated wildcards (uint8:conv*/kernel,dense/*). Repeatable.")
@click.option("--tfjs-companion", "companion", is_flag=True,
              help="TF.js: keep layers stock TF.js lacks (GRU with reset_after=True, MultiHeadAttention, "
                   "LocallyConnected1D/2D, EinsumDense, Group/UnitNormalization) and write kconvert-layers.js "
                   "beside model.json, which registers them "
                   "(load it after tf.min.js, or require(it).register(tf) in Node).")
@click.option("--opset", type=int, default=None,
              help="onnx: the ONNX opset to write (default 17; 13 up to the installed onnx package's newest).")
@click.option("--onnx-layout", "onnx_layout", type=click.Choice(["source", "channels_first"]), default="source",
              show_default=True,
              help="onnx: the layout of the graph's image inputs and outputs: the source's (channels-last stays "
                   "channels-last), or channels-first (NCHW) as most ONNX pipelines feed them.")
@click.option("--config-only", is_flag=True,
              help="dl4j: write configuration.json alone, without the model zip and its weights.")
@click.option("--save-weights", is_flag=True,
              help="json/yaml: also write the weights beside OUTPUT, as <stem>.weights.h5 (Keras 3 save_weights).")
@click.option("--layout", type=click.Choice(LAYOUTS), default=None,
              help="Rewrite a channels_first model into an equivalent channels_last one before writing it "
                   "(runs on every CPU; inputs and outputs keep their layout).")
@click.option("--layout-io", type=click.Choice(LAYOUT_IO), default="original", show_default=True,
              help="With --layout: also make image inputs and outputs channels-last.")
@click.option("--verify", "check", is_flag=True,
              help="Then run OUTPUT (in TF.js, Keras 3 and tf_keras, as it suits) and compare it with the source.")
@click.option("--atol", type=float, default=1e-4, show_default=True, help="Absolute tolerance for --verify.")
@click.option("--rtol", type=float, default=1e-4, show_default=True, help="Relative tolerance for --verify.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None,
              help="Write a JSON report here (schemas/convert-report.schema.json; for several models "
                   "schemas/batch-report.schema.json).")
@batch_options
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), default=None,
              help="Several models: write JUnit XML here, one test case per model, for CI systems.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors (and no progress bar).")
@verbose_option
def convert(sources: tuple[str, ...], output: str, target: str, weights: str | None, weights_by: str,
            enforce_training_config: bool, backend: str | None, limits: kconvert.Limits, inputs_from: tuple[str, ...],
            debug: bool, input_shapes: dict[str, tuple[int, ...]], overwrite: bool, shard_size: str,
            quantize: tuple[str, ...], companion: bool, opset: int | None, onnx_layout: str, config_only: bool,
            save_weights: bool, layout: str | None, layout_io: str, check: bool, atol: float, rtol: float,
            report_path: str | None, jobs: int | None, time_limit: float | None, follow_links: bool,
            cluster: str | None, cluster_files: str | None, junit_path: str | None, quiet: bool,
            verbose: bool) -> None:
    """Convert SOURCE (any Keras file, or a TF.js model) to OUTPUT in the --to format.

    Nothing is written when the model cannot be expressed in the target; OUTPUT appears only once
    complete.  Exit 0 on success, 1 when --verify finds a mismatch, 2 on bad arguments or an
    occupied OUTPUT, 3 when SOURCE cannot be read, 4 when it cannot be converted.

    Several SOURCEs, or a directory of models, convert each into the directory OUTPUT (a model's
    path below the sources' common folder, with the target's suffix), --jobs at a time, each in
    its own process; one line per model, then a summary.  Exit 0 when every model converted (and
    verified), 1 otherwise.
    """
    options: dict[str, Any] = {}
    if target == "tfjs":
        from kconvert.writers.tfjs.quantization import QuantizationPlan

        options["shard_size"] = parse_size(shard_size)
        try:
            QuantizationPlan.parse(list(quantize))
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--quantize") from None
        options["quantize"] = list(quantize) or None
        if companion:
            options["companion"] = True
    elif quantize or shard_size != "4MiB":
        raise click.BadParameter("only TF.js output has weight shards to size or quantize", param_hint="--to")
    elif companion:
        raise click.BadParameter("--tfjs-companion goes with --to tfjs", param_hint="--tfjs-companion")
    if target == "onnx":
        options["io_layout"] = onnx_layout
        if opset is not None:
            options["opset"] = opset
    elif opset is not None or onnx_layout != "source":
        raise click.BadParameter("--opset and --onnx-layout go with --to onnx", param_hint="--to")
    if config_only:
        if target != "dl4j":
            raise click.BadParameter("--config-only goes with --to dl4j", param_hint="--config-only")
        if check:
            raise click.BadParameter("a configuration alone cannot be run: drop --verify or --config-only",
                                     param_hint="--config-only")
        options["config_only"] = True
    if save_weights:
        if target not in ("json", "yaml"):
            raise click.BadParameter("--save-weights goes with --to json or yaml (the other formats hold the "
                                     "weights themselves)", param_hint="--save-weights")
        options["save_weights"] = True

    if quiet and verbose:
        raise click.BadParameter("--quiet and --verbose contradict each other", param_hint="--quiet")
    if layout_io != "original":
        if layout is None:
            raise click.BadParameter("--layout-io goes with --layout channels_last", param_hint="--layout-io")
        options["layout_io"] = layout_io
    if layout is not None:
        options["layout"] = layout
    load = {"weights_by": weights_by, "backend": backend, "limits": limits, "input_shapes": input_shapes,
            "inputs_from": list(inputs_from) or None}
    if batch.is_batch(sources, "convert"):
        run_batch(lambda show: batch_api.convert_many(
            sources, output, target, **batch_settings(jobs, time_limit, follow_links, cluster, cluster_files),
            check=check, atol=atol, rtol=rtol, overwrite=overwrite, enforce_training_config=enforce_training_config,
            load_options=load, on_done=show, weights=weights, **options), report_path, junit_path, quiet, verbose, debug)
        return
    verification = {"atol": atol, "rtol": rtol, "layout_io": layout_io} if check else None
    batch_only({"--jobs": jobs, "--junit": junit_path, "--time-limit": time_limit, "--follow-links": follow_links,
                "--cluster": cluster, "--cluster-files": cluster_files})
    source = sources[0]

    def body() -> None:
        bar: list[Progress | None] = []

        def on_read(done: int, total: int) -> None:
            if not bar:
                bar.append(progress_for(click.get_text_stream("stderr"), total, "reading weights", quiet=quiet))
            if bar[0] is not None:
                bar[0].update(done - bar[0].done)
        try:
            written, verified = convert_one(source, target, output, weights, verification, on_read=on_read,
                                            overwrite=overwrite, enforce_training_config=enforce_training_config,
                                            load_options=load, **options)
        except ValueError as exc:  # a --quantize pattern matching no weight, an output name Keras would not load
            click.echo(f"kconvert: error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        finally:
            if bar and bar[0] is not None:
                bar[0].close()
        if not quiet:
            click.echo(f"wrote {written.path} ({written.weights} weight tensors, {written.weight_bytes} bytes, "
                       f"{len(written.files)} files)")
            if written.companion is not None:
                from kconvert.writers.tfjs.companion import LOAD_HINT

                click.echo(f"wrote {written.companion}: the model needs it; {LOAD_HINT}")
            for note in written.report.notes:
                click.echo(f"  {note}")
        if verified is not None and (not quiet or not verified.passed):
            click.echo(render_verification(verified))
        if report_path:
            with open(report_path, "w") as fh:
                json.dump(convert_report(source, target, written, verified), fh, indent=2, allow_nan=False)
        if verified is not None and not verified.passed:
            sys.exit(EXIT_CHECK_FAILED)
    run_guarded(debug, body, verbose)


def run_batch(call: Callable[[Callable[[batch.Outcome], None]], BatchResult], report_path: str | None,
              junit_path: str | None, quiet: bool, verbose: bool, debug: bool) -> None:
    """Run a batch (``call(on_done)``: :func:`~kconvert.batch_api.convert_many` or
    :func:`~kconvert.batch_api.check_many`): one line per model as it ends, a summary, the
    reports; exit 0 only if all passed."""
    def show(outcome: batch.Outcome) -> None:
        if quiet and outcome.status == "passed":
            return
        joint = ": " if outcome.status == "error" else " "  # an error's message names the file, and why
        click.echo(f"{BATCH_LABELS[outcome.status]:7} {outcome.name}{joint}{outcome.message} ({outcome.seconds:.1f} s)")
        if verbose:
            for warning in outcome.warnings:
                click.echo(f"        warning: {warning}")
            for line in outcome.log.rstrip().splitlines():
                click.echo(f"        | {line}")
    try:
        result: BatchResult = run_guarded(debug, lambda: call(show))
    except batch.ClusterError as exc:
        raise click.BadParameter(str(exc), param_hint="--cluster") from None
    except batch_api.BatchArgumentError as exc:
        raise click.BadParameter(str(exc), param_hint=BATCH_ARGUMENTS[exc.argument]) from None
    counts, jobs = result.counts, result.jobs
    not_done = "not converted" if result.command == "convert" else "not read"
    click.echo(f"{counts['total']} model{'s' * (counts['total'] != 1)} in {result.seconds:.1f} s ({jobs} "
               f"job{'s' * (jobs > 1)}): {counts['passed']} "
               f"passed, {counts['failed']} failed, {counts['error']} {not_done}"
               + (f"; {result.ignored} other files passed over" if result.ignored else ""))
    if report_path:
        with open(report_path, "w") as fh:
            json.dump(result.to_document(), fh, indent=2, allow_nan=False)
    if junit_path:
        Path(junit_path).write_text(result.to_junit(), encoding="utf-8")
    sys.exit(EXIT_OK if result.passed else EXIT_CHECK_FAILED)


#: the option each argument of the batch functions is given by
BATCH_ARGUMENTS = {"output": "OUTPUT", "source": "--source", "weights": "--weights", "cluster_files": "--cluster-files"}
BATCH_LABELS = {"passed": "ok", "failed": "FAILED", "error": "ERROR"}


@main.command()
@click.argument("model", type=click.Path())
@load_options
@click.option("--json", "as_json", is_flag=True,
              help="Print a machine-readable report (schemas/inspect-report.schema.json).")
@click.option("--graph", "picture", type=click.Path(dir_okay=False), default=None,
              help="Also draw the model (layers, classes, output shapes, data flow) to this .svg or .png file.")
@click.option("--overwrite", is_flag=True, help="Replace the --graph file if it exists.")
def inspect(model: str, weights: str | None, weights_by: str, enforce_training_config: bool,
            backend: str | None, limits: kconvert.Limits, inputs_from: tuple[str, ...], debug: bool, as_json: bool,
            picture: str | None,
            overwrite: bool) -> None:
    """Summarise MODEL: layers, output shapes, parameters, version, training config, notes."""
    from kconvert.picture import FORMATS, draw

    if picture is not None and Path(picture).suffix.lower() not in FORMATS:
        raise click.BadParameter("the picture's name must end in .svg or .png", param_hint="--graph")

    def body() -> None:
        with open_model(model, weights, weights_by, enforce_training_config, backend, limits, inputs_from) as m:
            if as_json:
                click.echo(json.dumps(kconvert.summary_dict(m), indent=2, allow_nan=False))
            else:
                click.echo(kconvert.summary(m))
            if picture is not None:
                click.echo(f"drew {draw(m, picture, overwrite=overwrite)}", err=True)
    run_guarded(debug, body)


@main.command()
@click.argument("source", type=click.Path())
@load_options
@click.option("--target", "targets", multiple=True, type=click.Path(),
              help="A converted model to compare (repeatable).")
@click.option("--inputs", type=click.Path(dir_okay=False), default=None,
              help="Inputs (and expected outputs): .npy, .npz, or a *_inputs_and_outputs.h5 file.")
@click.option("--atol", type=float, default=1e-5, show_default=True, help="Absolute tolerance.")
@click.option("--rtol", type=float, default=1e-4, show_default=True, help="Relative tolerance.")
@click.option("--keras/--no-keras", "use_keras", default=True, show_default=True,
              help="Also compare with the installed Keras (in a subprocess) when it can load the file safely.")
@click.option("--device", default=None, help="cpu, gpu, gpu:N (default: a GPU when present).")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default="float32", show_default=True)
@click.option("--batch", type=int, default=2, show_default=True, help="Batch size of generated inputs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of generated inputs.")
@click.option("--layout-io", type=click.Choice(LAYOUT_IO), default="original", show_default=True,
              help="The targets were converted with --layout-io channels_last: feed them channels-last images.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None,
              help="Write the JSON report here (schemas/verify-report.schema.json).")
@verbose_option
def verify(source: str, weights: str | None, weights_by: str, enforce_training_config: bool, backend: str | None,
           limits: kconvert.Limits, inputs_from: tuple[str, ...], debug: bool, targets: tuple[str, ...], inputs: str | None, atol: float, rtol: float, use_keras: bool,
           device: str | None, dtype: str, batch: int, seed: int, layout_io: str, report_path: str | None,
           verbose: bool) -> None:
    """Run SOURCE in kconvert's runtime and compare it with every reference available.

    Exit 0 when at least one reference was compared and all agree; 1 on a mismatch or when there
    was nothing to compare against.
    """
    def body() -> None:
        report = kconvert.verify(source, weights, targets=targets, inputs=inputs, atol=atol, rtol=rtol,
                                 keras="auto" if use_keras else "never", device=device, dtype=dtype, batch=batch,
                                 seed=seed, weights_by=weights_by, enforce_training_config=enforce_training_config,
                                 backend=backend, layout_io=layout_io, limits=limits,
                                 inputs_from=list(inputs_from) or None)
        if report_path:
            with open(report_path, "w") as fh:
                json.dump(report.to_dict(), fh, indent=2, allow_nan=False)
        click.echo(render_verification(report))
        sys.exit(EXIT_OK if report.passed else EXIT_CHECK_FAILED)
    run_guarded(debug, body, verbose)


@main.command()
@click.option("--markdown", "fmt", flag_value="markdown", help="A Markdown table (what the README embeds).")
@click.option("--json", "fmt", flag_value="json", help="Machine-readable.")
def formats(fmt: str | None) -> None:
    """The coverage matrix: every IR layer kind, the Keras classes read into it, and whether the
    runtime and the TF.js, DL4J and Keras writers handle it (from kconvert's registries)."""
    from kconvert import coverage

    render = {"markdown": coverage.render_markdown, "json": coverage.to_json}.get(fmt or "", coverage.render_text)
    click.echo(render(coverage.matrix()))


@main.command()
def setup() -> None:
    """Install what checking TF.js and DL4J output needs (the pinned @tensorflow/tfjs, with npm; the
    Deeplearning4j harness, with Maven; each into a per-user cache; it also happens on first use).
    Exit 4 when Node.js or npm is missing or fails; a missing Java or Maven is said in one line."""
    from kconvert.verification import dl4j_install, tfjs_install

    def body() -> None:
        if shutil.which("node") is None:
            raise tfjs_install.TfjsUnavailable("Node.js is not installed (TF.js models are run with node)")
        click.echo(f"TF.js harness: {tfjs_install.harness() or tfjs_install.install()}")
        reason = dl4j_install.missing()
        click.echo(f"Deeplearning4j harness: {reason}" if reason else
                   f"Deeplearning4j harness: {dl4j_install.harness() or dl4j_install.install()}")
    run_guarded(False, body)


@main.command("check")
@click.argument("artifacts", nargs=-1, required=True, type=click.Path(), metavar="ARTIFACT...")
@click.option("--source", type=click.Path(), default=None,
              help="The model ARTIFACT was converted from: also check that both compute the same. For several "
                   "artifacts, the directory of their sources (paired by the names `kconvert convert` gave them).")
@load_options
@click.option("--atol", type=float, default=1e-4, show_default=True, help="Absolute tolerance of the parity check.")
@click.option("--rtol", type=float, default=1e-4, show_default=True, help="Relative tolerance of the parity check.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None,
              help="Write a JSON report here (schemas/check-report.schema.json; for several artifacts "
                   "schemas/batch-report.schema.json).")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False), default=None,
              help="Write JUnit XML here, one test case per check (per artifact for several), for CI systems.")
@batch_options
@click.option("-q", "--quiet", is_flag=True, help="Several artifacts: print only those that fail, and the summary.")
@verbose_option
def check_command(artifacts: tuple[str, ...], source: str | None, weights: str | None, weights_by: str,
                  enforce_training_config: bool, backend: str | None, limits: kconvert.Limits,
                  inputs_from: tuple[str, ...], debug: bool, atol: float, rtol: float, report_path: str | None, junit_path: str | None, jobs: int | None,
                  time_limit: float | None, follow_links: bool, cluster: str | None, cluster_files: str | None,
                  quiet: bool, verbose: bool) -> None:
    """Validate an exported model ARTIFACT (TF.js directory, DL4J zip/configuration/directory,
    .keras/.h5/.json/.yaml): its schema, that it reads back with every weight, no NaN/Inf weights
    the source lacks, and with --source, that it computes what the source computes.

    Exit 0 when every check passes, 1 when one fails, 3 when ARTIFACT or SOURCE cannot be read
    (no report is written then).  Several ARTIFACTs, or a directory of them (what `kconvert
    convert` wrote for a directory of models), are checked --jobs at a time: exit 0 when all pass,
    1 otherwise.
    """
    from kconvert.verification.check import check, write_json

    options = {"weights": weights, "atol": atol, "rtol": rtol, "weights_by": weights_by,
               "enforce_training_config": enforce_training_config, "backend": backend, "limits": limits,
               "inputs_from": list(inputs_from) or None}
    if batch.is_batch(artifacts, "check"):
        run_batch(lambda show: batch_api.check_many(
            artifacts, source=source, **batch_settings(jobs, time_limit, follow_links, cluster, cluster_files),
            on_done=show, **options), report_path, junit_path, quiet, verbose, debug)
        return
    batch_only({"--jobs": jobs, "--time-limit": time_limit, "--follow-links": follow_links, "--cluster": cluster,
                "--cluster-files": cluster_files})
    artifact = artifacts[0]

    def body() -> None:
        report = check(artifact, source, **options)
        if report_path:
            write_json(report, report_path)
        if junit_path:
            Path(junit_path).write_text(report.to_junit(), encoding="utf-8")
        click.echo(f"Checking {artifact} ({report.kind})" + (f" against {source}" if source else ""))
        for finding in report.findings:
            click.echo(f"  {finding.status.upper():7} {finding.name}: {finding.detail}")
        click.echo("PASSED" if report.passed else "FAILED")
        sys.exit(EXIT_OK if report.passed else EXIT_CHECK_FAILED)
    run_guarded(debug, body, verbose)


def render_verification(report: Any) -> str:
    lines = [f"Verifying {report.source} (inputs: {report.inputs}; {report.device}, {report.dtype}, "
             f"atol {report.atol:g}, rtol {report.rtol:g})"]
    for check in report.checks:
        lines.append(f"  {check.status.upper():7} {check.name}: {check.reference}" +
                     (f" -- {check.reason}" if check.reason else ""))
        for c in check.comparisons:
            verdict = "ok" if c.passed else f"{c.mismatched} element(s) off"
            lines.append(f"          output {c.name} {list(c.shape)}: max abs {c.max_abs_error:.3g}, "
                         f"max rel {c.max_rel_error:.3g} ({verdict})" + (f": {c.reason}" if c.reason else ""))
        if check.first_divergence:
            d = check.first_divergence
            lines.append(f"          first diverging layer: {d['layer']} ({d['kind']}), "
                         f"max abs {d['max_abs_error']:.3g}")
    lines += [f"  note: {n}" for n in report.notes]
    if report.compared == 0:
        lines.append("FAILED: nothing to compare against (give --inputs with expected outputs, or --target)")
    else:
        lines.append("PASSED" if report.passed else "FAILED")
    return "\n".join(lines)


def entry() -> None:
    """The installed command.  Where the OS can fork, the command runs in a child process: the HDF5
    C library can crash (a segmentation fault, which Python cannot catch) on a corrupt or crafted
    file, and a pipeline deserves a one-line error and exit 3 rather than a dead process."""
    if not hasattr(os, "fork") or os.environ.get("KCONVERT_IN_PROCESS"):
        main(prog_name="kconvert")
        return
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _run_child()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the child, which ends the command
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        inputs = [a for a in sys.argv[1:] if not a.startswith("-") and os.path.isfile(a)]
        crash = batch.crash_message(", ".join(inputs) or "the input", number)
        if crash:
            click.echo(f"kconvert: error: {crash}", err=True)
            sys.exit(EXIT_UNREADABLE)
        sys.exit(128 + number)
    sys.exit(os.WEXITSTATUS(status))


def _run_child() -> None:
    code = 1
    try:
        main(prog_name="kconvert")
        code = 0
    except SystemExit as exc:
        if isinstance(exc.code, int) or exc.code is None:
            code = exc.code or 0
        else:
            click.echo(exc.code, err=True)
    except BaseException:  # --debug: the traceback, as an uncaught exception would print it
        import traceback  # here: only a crash needs it (start-up)

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    entry()
