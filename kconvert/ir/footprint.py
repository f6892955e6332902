"""The tensors a run of a model makes, for the batch and input sizes being run.

Checked before the runtime asks for any memory: a 2 KB file can declare layers whose tensors are
huge although every weight is small (an attention score matrix over a million steps, a Resizing
to 65535x65535, a convolution with a huge dilation), and a run would die in TensorFlow's allocator
or the kernel's OOM killer.  Each layer kind states the tensors it makes
(:meth:`~kconvert.ir.layer.LayerConfig.intermediate_shapes`); unknown dimensions take the sizes of
the inputs actually given, so that an input too small for a convolution is a typed error naming
the layer, not TensorFlow's "Computed output size would be negative".
"""

from __future__ import annotations

from typing import Iterator, Sequence

from kconvert.errors import IncompatibleKerasConfigurationException, InputReadError, KConvertError
from kconvert.ir.graph import Layer, Model, ShapeMap, infer_shapes
from kconvert.ir.shapes import Shape, shape_str


def run_shapes(model: Model, given: Sequence[Shape]) -> ShapeMap:
    """Every call's output shapes when ``model`` runs on inputs of shapes ``given`` (batch included).

    An input whose rank or a known dimension differs from what the model declares is an
    :class:`InputReadError`; a layer its inputs are too small for is one naming that layer."""
    names = [r.layer for r in model.inputs]
    if len(given) != len(names):
        raise InputReadError(f"the model takes {len(names)} input(s) {names}, got {len(given)}")
    for name, shape, declared in zip(names, given, model.input_shapes):
        if len(shape) != len(declared) or any(d is not None and d != g for d, g in zip(declared[1:], shape[1:])):
            raise InputReadError(f"input '{name}' has shape {shape_str(shape)}, the model expects "
                                 f"{shape_str(declared)}")
    try:
        return infer_shapes(model, [tuple(s) for s in given])
    except IncompatibleKerasConfigurationException as exc:
        raise InputReadError(f"the inputs given do not fit it: {exc.reason}", layer=exc.layer,
                             layer_class=exc.layer_class) from None


def check_run(model: Model, given: Sequence[Shape], itemsize: int, max_bytes: int) -> None:
    """Refuse a run on inputs of shapes ``given`` that would make a tensor over ``max_bytes`` (at
    ``itemsize`` bytes a number), naming the model's file, the layer that makes it and its size."""
    try:
        for layer, shape in made_tensors(model, run_shapes(model, given)):
            size = elements(shape) * itemsize
            if size > max_bytes:
                raise layer.context_error(IncompatibleKerasConfigurationException(
                    over_limit(f"a tensor of shape {shape_str(shape)}", size, max_bytes)))
    except KConvertError as exc:
        raise exc.with_context(file=model.provenance.source if model.provenance else None) from None


def made_tensors(model: Model, shapes: ShapeMap) -> Iterator[tuple[Layer, Shape]]:
    """Every tensor a run makes, with the layer that makes it (the layers of nested models too),
    given every call's shapes."""
    for layer, node in model.nodes():
        inputs = [shapes[(r.layer, r.node)][r.index] for r in layer.calls[node].inputs] if layer.calls else []
        outputs = shapes[(layer.name, node)]
        for shape in layer.config.intermediate_shapes(inputs, outputs) if inputs else outputs:
            yield layer, shape
        nested = getattr(layer.config, "model", None)
        if isinstance(nested, Model):
            inner = layer.config.conformed_inputs(inputs)  # type: ignore[attr-defined]
            yield from made_tensors(nested, infer_shapes(nested, inner))


def elements(shape: Shape) -> int:
    """The numbers a tensor of ``shape`` holds."""
    count = 1
    for d in shape:
        count *= d or 1  # a dimension still unknown (a layer's own, not an input's) counts as 1
    return count


def over_limit(what: str, size: int, max_bytes: int) -> str:
    """Why a run making ``what`` (``size`` bytes) is refused: the one wording every runner uses."""
    return (f"running it makes {what} ({_bytes(size)}), over the limit of {_bytes(max_bytes)} "
            "(Limits.max_intermediate_bytes; raise it with --limit max_intermediate_bytes=SIZE)")


def _bytes(size: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"
