"""EinsumDense: a dense projection written as an einsum equation."""

from __future__ import annotations

import re

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Dim, Shape, ShapeError, shape_str

_PLAIN = re.compile(r"^([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$")
_LEFT_ELIDED = re.compile(r"^\.\.\.([a-zA-Z]+),([a-zA-Z]+)->\.\.\.([a-zA-Z]+)$")


def parse_equation(equation: str) -> tuple[str, str, str, bool]:
    """``(input, kernel, output, left_elided)`` letters of an equation Keras's EinsumDense accepts
    and kconvert can check: ``ab,bc->ac`` or ``...b,bc->...c`` (ellipsis on the left); each letter
    once per term, every kernel and output letter bound by another term."""
    match = _PLAIN.match(equation) or _LEFT_ELIDED.match(equation)
    if match is None:
        raise ValueError(f"einsum equation {equation!r} is not of the form 'ab,bc->ac' or '...b,bc->...c'")
    inp, ker, out = match.groups()
    for term in (inp, ker, out):
        if len(set(term)) != len(term):
            raise ValueError(f"einsum equation {equation!r} repeats a letter within a term")
    if any(c not in inp and c not in out for c in ker) or any(c not in inp and c not in ker for c in out):
        raise ValueError(f"einsum equation {equation!r} has a kernel or output letter bound by no other term")
    return inp, ker, out, match.re is _LEFT_ELIDED


@layer_kind
@layer_config
class EinsumDense(LayerConfig):
    """``activation(einsum(equation, x, kernel) + bias)``, Keras's EinsumDense.

    ``partial_output_shape`` is Keras's ``output_shape`` (without the batch axis; None where the
    input gives the size); ``bias_axes`` names the output letters the bias spans.
    """

    kind = "EinsumDense"
    equation: str
    partial_output_shape: tuple[Dim, ...]
    bias_axes: str | None = None
    activation: str = "linear"

    def __post_init__(self) -> None:
        _, _, out, _ = parse_equation(self.equation)
        for c in self.bias_axes or "":
            if c not in out:
                raise ValueError(f"bias axis {c!r} is not an output letter of {self.equation!r}")

    def _analyze(self, shape: Shape) -> tuple[Shape, Shape, Shape | None]:
        """(output shape, kernel shape, bias shape), as Keras's ``_analyze_einsum_string``."""
        inp, ker, out, left = parse_equation(self.equation)
        elided = len(shape) - len(inp)
        if elided < 0 or (elided and not left):
            raise ShapeError(f"equation {self.equation!r} does not fit an input of shape {shape_str(shape)}")
        partial = list(self.partial_output_shape)
        if left:
            full = [shape[0], *shape[1:elided], *partial]
            in_at = {c: i + elided for i, c in enumerate(inp)}
            out_at = {c: i + elided for i, c in enumerate(out)}
        else:
            full = [shape[0], *partial]
            in_at = {c: i for i, c in enumerate(inp)}
            out_at = {c: i for i, c in enumerate(out)}
        if len(full) != len(shape) - len(inp) + len(out):
            raise ShapeError(f"output_shape {list(self.partial_output_shape)} does not match the equation's output "
                             f"{out!r}")
        for c, i in out_at.items():
            if c in in_at:
                if full[i] is not None and shape[in_at[c]] is not None and full[i] != shape[in_at[c]]:
                    raise ShapeError(f"output axis {c!r} is {full[i]} but the input's is {shape[in_at[c]]}")
                full[i] = shape[in_at[c]]
        kernel = tuple(full[out_at[c]] if c in out_at else shape[in_at[c]] for c in ker)
        bias: Shape | None = None
        if self.bias_axes:
            first = min(out.find(c) for c in self.bias_axes)
            bias = tuple(full[out_at[c]] if c in self.bias_axes else 1 for c in out[first:])
        return tuple(full), kernel, bias

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        return [self._analyze(inputs[0])[0]]

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        _, kernel, bias = self._analyze(inputs[0])
        return {"kernel": kernel, **({"bias": bias} if bias is not None else {})}
