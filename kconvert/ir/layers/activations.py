"""Activation functions that are layers (some with learned parameters)."""

from __future__ import annotations


from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape, ShapeError, norm_axis


class _Elementwise(LayerConfig):
    """An activation function applied to each value: Keras passes masks through it."""

    passes_mask = True

    def output_shape(self, shape: Shape) -> Shape:
        return shape


def _per_unit_shape(shape: Shape, shared_axes: tuple[int, ...]) -> Shape:
    """Shape of a learned per-unit parameter: the input shape without batch, 1 on shared axes."""
    out = list(shape[1:])
    for axis in shared_axes:
        if not 1 <= axis < len(shape):
            raise ShapeError(f"shared axis {axis} is out of range for input rank {len(shape)}")
        out[axis - 1] = 1
    if any(d is None for d in out):
        raise ShapeError("needs a fully known input shape (or shared_axes over unknown axes)")
    return tuple(out)


@layer_kind
@layer_config
class ReLU(_Elementwise):
    """``min(max_value, x)`` for ``x >= threshold``, ``negative_slope * (x - threshold)`` below."""

    kind = "ReLU"
    elementwise = True
    max_value: float | None = None
    negative_slope: float = 0.0
    threshold: float = 0.0


@layer_kind
@layer_config
class LeakyReLU(_Elementwise):
    kind = "LeakyReLU"
    elementwise = True
    negative_slope: float = 0.3


@layer_kind
@layer_config
class ELU(_Elementwise):
    kind = "ELU"
    elementwise = True
    alpha: float = 1.0


@layer_kind
@layer_config
class ThresholdedReLU(_Elementwise):
    """``x if x > theta else 0``."""

    kind = "ThresholdedReLU"
    elementwise = True
    theta: float = 1.0


@layer_kind
@layer_config
class Softmax(LayerConfig):
    kind = "Softmax"
    passes_mask = True
    axis: int | tuple[int, ...] = -1

    def output_shape(self, shape: Shape) -> Shape:
        for a in self.axis if isinstance(self.axis, tuple) else (self.axis,):
            norm_axis(a, len(shape))
        return shape


@layer_kind
@layer_config
class PReLU(_Elementwise):
    """``x if x > 0 else alpha * x`` with a learned ``alpha`` per unit (shared along ``shared_axes``)."""

    kind = "PReLU"
    shared_axes: tuple[int, ...] = ()

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        return {"alpha": _per_unit_shape(inputs[0], self.shared_axes)}


@layer_kind
@layer_config
class ParametricSoftplus(_Elementwise):
    """Keras 1: ``alpha * log(1 + exp(beta * x))`` with learned ``alpha`` and ``beta`` per unit."""

    kind = "ParametricSoftplus"
    shared_axes: tuple[int, ...] = ()

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        shape = _per_unit_shape(inputs[0], self.shared_axes)
        return {"alpha": shape, "beta": shape}


@layer_kind
@layer_config
class SReLU(_Elementwise):
    """Keras 1 S-shaped ReLU with learned thresholds and slopes per unit.

    With ``tr = t_left + |t_right|``: ``x`` between the thresholds, ``t_left + a_left (x - t_left)``
    below ``t_left`` and ``tr + a_right (x - tr)`` above ``tr``.
    """

    kind = "SReLU"
    shared_axes: tuple[int, ...] = ()

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        shape = _per_unit_shape(inputs[0], self.shared_axes)
        return {"t_left": shape, "a_left": shape, "t_right": shape, "a_right": shape}
