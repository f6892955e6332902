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
import sys
import warnings
from typing import Any, Callable

import click

import kconvert
from kconvert.errors import InputReadError, KConvertError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_USAGE, EXIT_UNREADABLE, EXIT_INCOMPATIBLE = 0, 1, 2, 3, 4


def exit_code(error: KConvertError) -> int:
    return EXIT_UNREADABLE if isinstance(error, InputReadError) else EXIT_INCOMPATIBLE


def run_guarded(debug: bool, fn: Callable[[], Any]) -> Any:
    """Run a command body: kconvert errors become one line on stderr and a documented exit code."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", kconvert.KConvertWarning)  # the report lists them
            return fn()
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
        click.option("--debug", is_flag=True, help="Show tracebacks."),
    ]):
        fn = option(fn)
    return fn


def open_model(model: str, weights: str | None, weights_by: str, enforce_training_config: bool,
               backend: str | None) -> kconvert.Model:
    return kconvert.load(model, weights, weights_by=weights_by,  # type: ignore[arg-type]
                         enforce_training_config=enforce_training_config, backend=backend)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(kconvert.__version__, prog_name="kconvert")
def main() -> None:
    """Read Keras models of every version, convert them, and prove they compute the same."""


@main.command()
@click.argument("model", type=click.Path(dir_okay=False))
@load_options
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable report (schemas/inspect-report.schema.json).")
def inspect(model: str, weights: str | None, weights_by: str, enforce_training_config: bool,
            backend: str | None, debug: bool, as_json: bool) -> None:
    """Summarise MODEL: layers, output shapes, parameters, version, training config, notes."""
    def body() -> None:
        with open_model(model, weights, weights_by, enforce_training_config, backend) as m:
            if as_json:
                click.echo(json.dumps(kconvert.summary_dict(m), indent=2, allow_nan=False))
            else:
                click.echo(kconvert.summary(m))
    run_guarded(debug, body)


@main.command()
@click.argument("source", type=click.Path(dir_okay=False))
@load_options
@click.option("--target", "targets", multiple=True, type=click.Path(), help="A converted model to compare (repeatable).")
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
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None,
              help="Write the JSON report here (schemas/verify-report.schema.json).")
def verify(source: str, weights: str | None, weights_by: str, enforce_training_config: bool, backend: str | None,
           debug: bool, targets: tuple[str, ...], inputs: str | None, atol: float, rtol: float, use_keras: bool,
           device: str | None, dtype: str, batch: int, seed: int, report_path: str | None) -> None:
    """Run SOURCE in kconvert's runtime and compare it with every reference available.

    Exit 0 when at least one reference was compared and all agree; 1 on a mismatch or when there
    was nothing to compare against.
    """
    def body() -> None:
        report = kconvert.verify(source, weights, targets=targets, inputs=inputs, atol=atol, rtol=rtol,
                                 keras="auto" if use_keras else "never", device=device, dtype=dtype, batch=batch,
                                 seed=seed, weights_by=weights_by, enforce_training_config=enforce_training_config,
                                 backend=backend)
        if report_path:
            with open(report_path, "w") as fh:
                json.dump(report.to_dict(), fh, indent=2, allow_nan=False)
        click.echo(render_verification(report))
        sys.exit(EXIT_OK if report.passed else EXIT_CHECK_FAILED)
    run_guarded(debug, body)


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
            lines.append(f"          first diverging layer: {d['layer']} ({d['kind']}), max abs {d['max_abs_error']:.3g}")
    lines += [f"  note: {n}" for n in report.notes]
    if report.compared == 0:
        lines.append("FAILED: nothing to compare against (give --inputs with expected outputs, or --target)")
    else:
        lines.append("PASSED" if report.passed else "FAILED")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    main()
