"""Layers that combine several tensors."""

from __future__ import annotations


from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape, ShapeError, broadcast, norm_axis, shape_str


class _Elementwise(LayerConfig):
    """Element-wise combination with numpy-style broadcasting."""

    min_inputs = 2
    max_inputs = None

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        return [broadcast(inputs)]


@layer_kind
@layer_config
class Add(_Elementwise):
    kind = "Add"


@layer_kind
@layer_config
class Subtract(_Elementwise):
    """First input minus the second."""

    kind = "Subtract"
    max_inputs = 2


@layer_kind
@layer_config
class Multiply(_Elementwise):
    kind = "Multiply"


@layer_kind
@layer_config
class Average(_Elementwise):
    kind = "Average"


@layer_kind
@layer_config
class Maximum(_Elementwise):
    kind = "Maximum"


@layer_kind
@layer_config
class Minimum(_Elementwise):
    kind = "Minimum"


@layer_kind
@layer_config
class Concatenate(LayerConfig):
    kind = "Concatenate"
    min_inputs = 2
    max_inputs = None
    axis: int = -1

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        rank = len(inputs[0])
        if any(len(s) != rank for s in inputs):
            raise ShapeError("inputs have different ranks: " + ", ".join(shape_str(s) for s in inputs))
        axis = norm_axis(self.axis, rank)
        if axis == 0:
            raise ShapeError("cannot concatenate along the batch axis")
        out = list(inputs[0])
        for i in range(rank):
            dims = [s[i] for s in inputs]
            if i == axis:
                out[i] = None if any(d is None for d in dims) else sum(dims)  # type: ignore[arg-type]
            else:
                concrete = {d for d in dims if d is not None}
                if len(concrete) > 1:
                    raise ShapeError(f"inputs differ on axis {i}: " + ", ".join(shape_str(s) for s in inputs))
                out[i] = concrete.pop() if concrete else None
        return [tuple(out)]


@layer_kind
@layer_config
class Dot(LayerConfig):
    """Batched dot product over ``axes`` (one per input); ``normalize`` gives cosine similarity."""

    kind = "Dot"
    min_inputs = 2
    max_inputs = 2
    axes: tuple[int, int]
    normalize: bool = False

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        a, b = (list(s) for s in inputs)
        ax = norm_axis(self.axes[0], len(a))
        bx = norm_axis(self.axes[1], len(b))
        if 0 in (ax, bx):
            raise ShapeError("cannot reduce over the batch axis")
        if a[ax] is not None and b[bx] is not None and a[ax] != b[bx]:
            raise ShapeError(f"dimensions {a[ax]} and {b[bx]} on axes {self.axes} differ")
        a.pop(ax)
        b.pop(bx)
        out = a + b[1:]
        if len(out) == 1:
            out.append(1)
        return [tuple(out)]
