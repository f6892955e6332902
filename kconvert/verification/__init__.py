"""Verification: prove numerically that a model computes what its source computes.

The source is run in kconvert's runtime and compared with whatever references exist:

* stored expected outputs (``--inputs`` file with predictions);
* the source file run by the installed Keras in a subprocess, when Keras can load it safely;
* every target given (a converted model), run by the tool that consumes that format.

On a mismatch the report names the first layer whose activations diverge, when per-layer
references exist.  ``schemas/verify-report.schema.json`` describes the JSON report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal

import numpy as np

from kconvert.ir.graph import Model
from kconvert.verification.compare import Comparison, compare
from kconvert.readers.context import Limits
from kconvert.verification.inputs import Reference, generate_inputs, generated_shapes, read_reference

if TYPE_CHECKING:
    from kconvert.formats.detect import Detected

Status = Literal["passed", "failed", "skipped", "error"]


@dataclass
class Check:
    """One reference compared against the runtime's outputs."""

    name: str  # expected | keras | target
    reference: str
    status: Status
    comparisons: list[Comparison] = field(default_factory=list)
    first_divergence: dict[str, Any] | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "reference": self.reference, "status": self.status, "reason": self.reason,
                "comparisons": [c.to_dict() for c in self.comparisons], "first_divergence": self.first_divergence}


@dataclass
class VerificationReport:
    source: str
    weights: str | None
    inputs: str
    device: str
    dtype: str
    atol: float
    rtol: float
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def compared(self) -> int:
        return sum(1 for c in self.checks if c.status in ("passed", "failed"))

    @property
    def passed(self) -> bool:
        """True when at least one reference was compared and none disagreed or broke."""
        return self.compared > 0 and all(c.status in ("passed", "skipped") for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return _finite({
            "source": self.source, "weights": self.weights, "inputs": self.inputs, "device": self.device,
            "dtype": self.dtype, "atol": self.atol, "rtol": self.rtol, "passed": self.passed,
            "compared": self.compared, "checks": [c.to_dict() for c in self.checks], "notes": self.notes,
        })


def _finite(value: Any) -> Any:
    """JSON has no infinities: write them as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def compare_outputs(model: Model, actual: list[np.ndarray], reference: dict[str, np.ndarray] | list[np.ndarray],
                    atol: float, rtol: float) -> list[Comparison]:
    """The model's outputs beside their references, matched by output name (a dict key of the
    model's, else the layer's name) or, for a list, by position."""
    names = model.output_names
    if isinstance(reference, list):
        reference = dict(zip(names, reference))
    return [compare(name, a, reference[name], atol, rtol) for name, a in zip(names, actual) if name in reference]


def first_divergence(model: Model, activations: dict[str, list[np.ndarray]], reference: dict[str, np.ndarray],
                     atol: float, rtol: float) -> dict[str, Any] | None:
    """The first layer (in graph order) whose output differs from its reference activation."""
    for layer, node in model.nodes():
        if node or layer.name not in reference or layer.name not in activations:
            continue
        result = compare(layer.name, activations[layer.name][0], reference[layer.name], atol, rtol)
        if not result.passed:
            return {"layer": layer.name, "kind": layer.kind, "max_abs_error": result.max_abs_error,
                    "max_rel_error": result.max_rel_error, "reason": result.reason}
    return None


def _check(name: str, reference: str, comparisons: list[Comparison]) -> Check:
    if not comparisons:
        return Check(name, reference, "skipped", reason="no output of the model has a reference value")
    return Check(name, reference, "passed" if all(c.passed for c in comparisons) else "failed", comparisons)


@dataclass
class TargetRun:
    """What a target computed: its outputs and, when asked, the named layers' activations."""

    outputs: list[np.ndarray]
    activations: dict[str, np.ndarray] = field(default_factory=dict)
    implementation: str = ""
    #: the target's names for ``outputs``, where it has them: matched by name to the model's
    output_names: list[str] | None = None

    def by_name(self, model: Model) -> list[np.ndarray]:
        """The outputs in ``model``'s order: by name when the target names each of the model's
        outputs once, else as the target gives them (a target written by kconvert keeps the order)."""
        names = self.output_names or []
        if len(set(names)) == len(names) == len(self.outputs) and set(model.output_names) <= set(names):
            return [self.outputs[names.index(n)] for n in model.output_names]
        return self.outputs


class TargetSkipped(Exception):
    """A runner accepts the target but cannot compare it meaningfully; the message says why."""


@dataclass(frozen=True)
class TargetRunner:
    """How to run one kind of converted target: ``run(target, inputs, layers, device, dtype, limits)``,
    the target as the format table detected it.  Every runner that accepts a target runs it; a
    ``fallback`` only when no other one does."""

    name: str
    accepts: Callable[[Detected], bool]
    run: Callable[[Detected, list[np.ndarray], list[str], str | None, str, Limits], TargetRun]
    fallback: bool = False


def _run_tfjs(target: Detected, inputs: list[np.ndarray], layers: list[str], device: str | None,
              dtype: str, limits: Limits) -> TargetRun:
    from kconvert.errors import KConvertError
    from kconvert.schemas import validate
    from kconvert.verification.tfjs_runner import run_tfjs

    validate(target.config(), "tfjs-layers-model", target.display)
    run = run_tfjs(target.display, inputs, layers)
    if run.error:
        raise KConvertError(run.error, file=target.display)
    return TargetRun(run.outputs, run.activations, run.implementation or "TF.js", run.output_names)


def _run_kconvert_readable(target: Detected, inputs: list[np.ndarray], layers: list[str], device: str | None,
                           dtype: str, limits: Limits) -> TargetRun:
    import kconvert
    from kconvert.runtime import Runtime

    with kconvert.load(target, limits=limits) as model:
        runtime = Runtime(model, device=device, dtype=dtype, limits=limits)
        activations = {k: v[0] for k, v in runtime.activations(inputs).items() if k in layers} if layers else {}
        return TargetRun(runtime(inputs), activations, "kconvert's runtime", model.output_names)


def _run_dl4j(target: Detected, inputs: list[np.ndarray], layers: list[str], device: str | None,
              dtype: str, limits: Limits) -> TargetRun:
    """The zip in the real Deeplearning4j; where it cannot run (no Java, no harness), in kconvert's
    own reader and runtime instead, which the reference string then says."""
    from kconvert.errors import KConvertError
    from kconvert.verification.dl4j_runner import run_dl4j, unavailable_reason

    reason = unavailable_reason()
    if reason:
        run = _run_kconvert_readable(target, inputs, layers, device, dtype, limits)
        run.implementation = f"kconvert's reader, not Deeplearning4j: {reason}"
        return run
    done = run_dl4j(target.display, inputs, layers)
    if done.error:
        raise KConvertError(done.error, file=target.display)
    return TargetRun(done.outputs, done.activations, done.implementation or "Deeplearning4j", done.output_names)


def _run_onnx(target: Detected, inputs: list[np.ndarray], layers: list[str], device: str | None,
              dtype: str, limits: Limits) -> TargetRun:
    from kconvert.verification.onnx_runner import run_onnx

    return run_onnx(target, inputs, layers, device, dtype, limits)


def _keras_target(name: str) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        from kconvert.verification import keras_target

        return getattr(keras_target, name)(*args)
    return call


#: verifiers of converted targets
TARGET_RUNNERS: list[TargetRunner] = [
    TargetRunner("TF.js (@tensorflow/tfjs in Node)", lambda t: t.format == "tfjs" and t.path is not None, _run_tfjs),
    TargetRunner("Deeplearning4j (on the JVM)", lambda t: t.format == "dl4j-zip" and t.path is not None, _run_dl4j),
    TargetRunner("ONNX Runtime (CPU)", lambda t: t.format == "onnx" and t.path is not None, _run_onnx),
    TargetRunner("Keras 3", _keras_target("accepts_keras3"), _keras_target("run_keras3")),
    TargetRunner("tf_keras", _keras_target("accepts_tf_keras"), _keras_target("run_tf_keras")),
    TargetRunner("kconvert's runtime", lambda t: t.path is not None, _run_kconvert_readable, fallback=True),
]


def verify(source: str, weights: str | None = None, *, targets: tuple[str, ...] = (), inputs: str | None = None,
           atol: float = 1e-5, rtol: float = 1e-4, keras: Literal["auto", "never"] = "auto",
           device: str | None = None, dtype: str = "float32", batch: int = 2, seed: int = 0,
           layout_io: Literal["original", "channels_last"] = "original", **load_options: Any) -> VerificationReport:
    """Run ``source`` in the runtime and compare it with every available reference.

    ``layout_io="channels_last"``: the targets were written with ``layout_io="channels_last"``, so
    they take and give channels-last images where the source takes and gives channels-first ones."""
    import kconvert
    from kconvert.runtime import Runtime

    limits = load_options.get("limits") or Limits()
    model = kconvert.load(source, weights, **load_options)
    with model:
        strings = None if inputs else _through_keras_preprocessing(model, str(source) if weights is None else None,
                                                                   batch, seed)
        if strings is not None:
            model, ref = strings
            keras = "never"  # Keras's outputs are the reference already
        runtime = Runtime(model, device=device, dtype=dtype, limits=limits)
        if inputs:
            ref = read_reference(inputs, model)
        elif strings is None:  # bounded before a byte of them is made
            runtime.check(generated_shapes(model, batch))
            ref = Reference(generate_inputs(model, batch, seed))
        described = ref.source if inputs or strings else f"generated (batch {batch}, seed {seed})"
        report = VerificationReport(str(source), weights, described, runtime.device, dtype, atol, rtol,
                                    notes=list(ref.notes))
        arrays = runtime.prepare(ref.inputs)
        actual = runtime(arrays)
        activations: dict[str, list[np.ndarray]] | None = None

        def divergence(reference_acts: dict[str, np.ndarray]) -> dict[str, Any] | None:
            nonlocal activations
            if activations is None:
                activations = runtime.activations(arrays)
            return first_divergence(model, activations, reference_acts, atol, rtol)

        if ref.outputs:
            check = _check("expected", ref.source, compare_outputs(model, actual, ref.outputs, atol, rtol))
            if check.status == "failed" and ref.activations:
                check.first_divergence = divergence(ref.activations)
            report.checks.append(check)
        if keras == "auto":
            from kconvert.verification.keras_reference import run_in_keras

            run = run_in_keras(model, str(source) if weights is None else None, arrays)
            if run.skipped or run.error:
                report.checks.append(Check("keras", "the installed Keras", "error" if run.error else "skipped",
                                           reason=run.error or run.skipped))
            else:
                reference = run.implementation or "Keras"
                writer = model.provenance.keras_version if model.provenance else None
                if writer and reference.startswith("Keras 3") and not writer.startswith("3"):
                    reference += (f" (the file was written by Keras {writer}; Keras 3 changed what some layers "
                                  "compute, e.g. hard_sigmoid)")
                check = _check("keras", reference, compare_outputs(model, actual, run.outputs, atol, rtol))
                if check.status == "failed":
                    check.first_divergence = divergence(run.activations)
                report.checks.append(check)
        moved = _moved_io(model, layout_io) if targets else None
        for target in targets:
            report.checks += _verify_target(model, target, arrays, actual, atol, rtol, device, dtype, divergence,
                                            moved, limits)
    return report


def _through_keras_preprocessing(model: Model, path: str | None, batch: int,
                                 seed: int) -> tuple[Model, Reference] | None:
    """For a model that starts with string preprocessing: its numeric part (what the targets hold),
    and as the reference Keras's own run of the source on generated strings, whose preprocessing
    layers' outputs are the numeric part's inputs.  None for a model that takes no strings."""
    from kconvert.errors import KConvertError
    from kconvert.ir.cut import cut
    from kconvert.verification.inputs import generate_strings
    from kconvert.verification.keras_reference import run_in_keras
    from kconvert.writers.text_state import string_layers

    layers = string_layers(model)
    if not layers:
        return None
    texts = generate_strings(model, batch, seed)
    run = run_in_keras(model, path, texts, preprocess=layers)
    if run.skipped or run.error:
        raise KConvertError(f"a model that takes strings is verified through Keras's own preprocessing, which did "
                            f"not run: {run.skipped or run.error}", file=path)
    numeric = cut(model, layers)
    ref = Reference([run.preprocessed[name] for name in layers], dict(zip(model.output_names, run.outputs)),
                    source=f"{run.implementation}'s preprocessing ({', '.join(layers)}) of generated strings "
                           f"(batch {batch}, seed {seed}), and its outputs for them",
                    notes=[f"the model takes strings: the numeric model after {', '.join(layers)} is run on what "
                           f"{run.implementation}'s preprocessing made of {texts[0].ravel()[:2].tolist()}..."])
    return numeric, ref


def _moved_io(model: Model, layout_io: str) -> tuple[list[bool], list[bool]] | None:
    """Which inputs and outputs a target written with ``layout_io`` holds channels-last."""
    if layout_io == "original":
        return None
    from kconvert.ir.layout import channels_last_io

    return channels_last_io(model)


def _verify_target(model: Model, target: str, arrays: list[np.ndarray], actual: list[np.ndarray], atol: float,
                   rtol: float, device: str | None, dtype: str,
                   divergence: Callable[[dict[str, np.ndarray]], dict[str, Any] | None],
                   moved: tuple[list[bool], list[bool]] | None = None, limits: Limits | None = None) -> list[Check]:
    """Run ``target`` on the same inputs in every runner that accepts it, once kconvert has read it
    and bounded what a run of it on them makes (every runner, Node and the JVM included, would ask
    for that memory); on a mismatch run it again for its activations to name the first layer that
    diverges."""
    from kconvert.errors import KConvertError
    from kconvert.formats.detect import detect

    limits = limits or Limits()
    try:
        detected = detect(target)
        _bound_target(detected, arrays, moved, dtype, limits)
    except KConvertError as exc:
        return [Check("target", target, "error", reason=str(exc))]
    accepting = [r for r in TARGET_RUNNERS if r.accepts(detected)]
    runners = [r for r in accepting if not r.fallback] or accepting[:1]
    if not runners:
        return [Check("target", target, "error", reason=f"no verifier runs a {detected.format} given as text")]
    return [_run_target(runner, model, target, detected, arrays, actual, atol, rtol, device, dtype, divergence,
                        moved, limits) for runner in runners]


def _bound_target(detected: Detected, arrays: list[np.ndarray], moved: tuple[list[bool], list[bool]] | None,
                  dtype: str, limits: Limits) -> None:
    """Refuse a target whose run on ``arrays`` would make a tensor over the limits (a target kconvert
    does not read, ONNX, is bounded by its runner, from the format's own shape inference)."""
    import kconvert
    from kconvert.ir.footprint import check_run

    if not detected.entry.readable:
        return

    shapes = [a.shape if not (moved and m) else (a.shape[0], *a.shape[2:], a.shape[1])
              for a, m in zip(arrays, moved[0] if moved else [False] * len(arrays))]
    with kconvert.load(detected, limits=limits) as target_model:
        check_run(target_model, shapes, np.dtype(dtype).itemsize, limits.max_intermediate_bytes)


def _run_target(runner: TargetRunner, model: Model, target: str, detected: Detected, arrays: list[np.ndarray],
                actual: list[np.ndarray], atol: float, rtol: float, device: str | None, dtype: str,
                divergence: Callable[[dict[str, np.ndarray]], dict[str, Any] | None],
                moved: tuple[list[bool], list[bool]] | None = None, limits: Limits | None = None) -> Check:
    from kconvert.errors import ForeignCodeError, KConvertError

    if moved is not None:  # the target takes and gives channels-last images
        arrays = [np.moveaxis(x, 1, -1) if m else x for x, m in zip(arrays, moved[0])]
    try:
        run = runner.run(detected, arrays, [], device, dtype, limits or Limits())
        outputs = run.by_name(model)
        outputs = outputs if moved is None else [np.moveaxis(y, -1, 1) if m else y for y, m in zip(outputs, moved[1])]
        check = _check("target", f"{target} ({run.implementation})", compare_outputs(model, outputs, actual,
                                                                                       atol, rtol))
        if check.status == "failed":
            layers = [layer.name for layer, node in model.nodes() if node == 0]
            try:
                probed = runner.run(detected, arrays, layers, device, dtype, limits or Limits())
                check.first_divergence = divergence(probed.activations)
            except KConvertError as exc:  # the mismatch stands; only the layer that causes it is unknown
                check.reason = f"the target's layers could not be probed ({exc})"
    except TargetSkipped as exc:
        return Check("target", f"{target} ({runner.name})", "skipped", reason=str(exc))
    except ForeignCodeError:
        raise  # a target carrying code kconvert would have to run is refused, not a check that failed
    except KConvertError as exc:
        return Check("target", f"{target} ({runner.name})", "error", reason=str(exc))
    return check


__all__ = ["Check", "Comparison", "VerificationReport", "compare", "first_divergence", "verify"]
