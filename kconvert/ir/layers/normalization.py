"""Normalisation layers."""

from __future__ import annotations

from typing import Iterable

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape, ShapeError, norm_axis


def _axes_shape(shape: Shape, axes: tuple[int, ...]) -> Shape:
    dims = tuple(shape[norm_axis(a, len(shape))] for a in axes)
    if any(d is None for d in dims):
        raise ShapeError(f"normalised axes {axes} of the input must be known")
    if 0 in [norm_axis(a, len(shape)) for a in axes]:
        raise ShapeError("cannot normalise over the batch axis")
    return dims


@layer_kind
@layer_config
class BatchNormalization(LayerConfig):
    """Inference: ``gamma * (x - moving_mean) / sqrt(moving_variance + epsilon) + beta``.

    ``axis`` lists the feature axes (batch included in the numbering); parameters have the
    shape of those axes.  ``gamma`` is absent when ``scale`` is false, ``beta`` when ``center`` is.
    """

    kind = "BatchNormalization"
    passes_mask = True
    axis: tuple[int, ...] = (-1,)
    momentum: float = 0.99
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True

    def output_shape(self, shape: Shape) -> Shape:
        _axes_shape(shape, self.axis)
        return shape

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        shape = _axes_shape(inputs[0], self.axis)
        out: dict[str, Shape] = {}
        if self.scale:
            out["gamma"] = shape
        if self.center:
            out["beta"] = shape
        out["moving_mean"] = shape
        out["moving_variance"] = shape
        return out


@layer_kind
@layer_config
class LayerNormalization(LayerConfig):
    """Per-sample normalisation over ``axis``.

    ``rms_scaling`` (Keras 3) computes ``gamma * x / sqrt(variance(x) + epsilon)``: the input is
    scaled by its variance but not centred -- what Keras computes, though its name promises a root
    mean square (Keras deprecated the flag for that reason).  It always has ``gamma``.
    """

    kind = "LayerNormalization"
    passes_mask = True
    axis: tuple[int, ...] = (-1,)
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True
    rms_scaling: bool = False

    def output_shape(self, shape: Shape) -> Shape:
        _axes_shape(shape, self.axis)
        return shape

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        shape = _axes_shape(inputs[0], self.axis)
        out: dict[str, Shape] = {}
        if self.scale or self.rms_scaling:
            out["gamma"] = shape
        if self.center and not self.rms_scaling:
            out["beta"] = shape
        return out


Statistic = float | tuple[float, ...]


@layer_kind
@layer_config
class Normalization(LayerConfig):
    """Feature-wise standardisation: ``(x - mean) / max(sqrt(variance), 1e-7)``, or with ``invert``
    ``mean + x * max(sqrt(variance), 1e-7)`` (Keras's preprocessing layer).

    ``axis`` lists the axes that keep their own statistics (batch included in the numbering; empty:
    one mean for everything).  ``mean`` and ``variance`` are constants from the configuration, or
    None when they are weights: adapted statistics of the kept axes' shape, with the sample
    ``count`` Keras keeps beside them (it does not enter the computation).
    """

    kind = "Normalization"
    axis: tuple[int, ...] = (-1,)
    invert: bool = False
    mean: Statistic | None = None
    variance: Statistic | None = None

    def __post_init__(self) -> None:
        if (self.mean is None) != (self.variance is None):
            raise ValueError("mean and variance must both be given, or neither")
        if self.variance is not None:
            self.check_variance(self.variance if isinstance(self.variance, tuple) else (self.variance,))

    @staticmethod
    def check_variance(values: Iterable[float]) -> None:
        """A variance is a mean square: a negative one has no square root to divide by (Keras would
        compute NaN everywhere), so it is refused.  NaN and infinite ones are converted as they are,
        with a :class:`~kconvert.errors.NonFiniteWeightWarning`, as weights are."""
        values = list(values)
        negative = [v for v in values if v < 0]
        if negative:
            raise ValueError(f"variance {negative[0]:g} is negative ({len(negative)} of {len(values)} values); "
                             "a variance is never below 0")

    def kept_shape(self, shape: Shape) -> Shape:
        return _axes_shape(shape, tuple(sorted(norm_axis(a, len(shape)) for a in self.axis)))

    def output_shape(self, shape: Shape) -> Shape:
        kept = self.kept_shape(shape)
        for name in ("mean", "variance"):
            value = getattr(self, name)
            size = 1
            for d in kept:
                size *= d  # type: ignore[operator]
            if isinstance(value, tuple) and len(value) not in (1, size):
                raise ShapeError(f"{len(value)} {name} values for the {size} features of axes {self.axis}")
        return shape

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        if self.mean is not None:
            return {}
        kept = self.kept_shape(inputs[0])
        return {"mean": kept, "variance": kept, "count": ()}


@layer_kind
@layer_config
class GroupNormalization(LayerConfig):
    """Per-sample normalisation over groups of channels: the channels of ``axis`` are split into
    ``groups`` groups, each standardised over its channels and every other non-batch axis
    (``(x - mean) * rsqrt(variance + epsilon)``), then scaled and shifted per channel."""

    kind = "GroupNormalization"
    passes_mask = True
    groups: int
    axis: int = -1
    epsilon: float = 1e-3
    center: bool = True
    scale: bool = True

    def output_shape(self, shape: Shape) -> Shape:
        (channels,) = _axes_shape(shape, (self.axis,))
        if channels % self.groups:  # type: ignore[operator]
            raise ShapeError(f"{channels} channels cannot be split into {self.groups} groups")
        return shape

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        channels = _axes_shape(inputs[0], (self.axis,))
        return {**({"gamma": channels} if self.scale else {}), **({"beta": channels} if self.center else {})}


@layer_kind
@layer_config
class UnitNormalization(LayerConfig):
    """``x * rsqrt(max(sum(x^2 over axis), floor))``: unit L2 norm along ``axis``.  Keras 3 floors the
    norm at 1e-12 (``floor`` 1e-24), tf.keras the squared norm at 1e-12."""

    kind = "UnitNormalization"
    passes_mask = True
    axis: tuple[int, ...] = (-1,)
    floor: float = 1e-24

    def output_shape(self, shape: Shape) -> Shape:
        for a in self.axis:
            if norm_axis(a, len(shape)) == 0:
                raise ShapeError("cannot normalise over the batch axis")
        return shape
