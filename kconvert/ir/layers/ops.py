"""Tensor operations that Keras records in a functional graph as if they were layers (Keras 3
``keras.ops`` nodes, tf.keras 2 ``TFOpLambda``/``SlicingOpLambda``): an explicit allowlist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Dim, Shape, ShapeError, broadcast, shape_str


@layer_kind
@layer_config
class NotEqual(LayerConfig):
    """``x != value``, a boolean tensor; Keras 3 records it when it passes an Embedding's padding
    mask (``ids != 0``) to the layers after it."""

    kind = "NotEqual"
    value: float = 0.0

    def output_shape(self, shape: Shape) -> Shape:
        return shape


# -- functional operations (keras.ops calls in Keras 3 graphs, tf.* calls in tf.keras 2 graphs) ----
# One kind per family of computations; each reader maps its own spellings (ops.TrueDivide,
# tf.math.truediv...) onto these.  Reshape, transpose and concatenate that keep the batch axis are
# read into the Reshape, Permute and Concatenate layer kinds instead.

#: binary elementwise operation -> what it computes (numpy broadcasting)
BINARY_OPS: dict[str, str] = {
    "add": "x + y", "subtract": "x - y", "multiply": "x * y", "divide": "x / y",
    "maximum": "max(x, y)", "minimum": "min(x, y)", "power": "x ** y",
}
#: unary elementwise operation -> what it computes
UNARY_OPS: dict[str, str] = {
    "relu": "max(x, 0)", "relu6": "min(max(x, 0), 6)", "sigmoid": "1 / (1 + exp(-x))",
    "hard_sigmoid_relu6": "relu6(x + 3) / 6  (Keras 3 hard_sigmoid)", "hard_silu": "x * relu6(x + 3) / 6",
    "silu": "x * sigmoid(x)", "tanh": "tanh(x)", "exp": "exp(x)", "sqrt": "sqrt(x)", "square": "x * x",
    "abs": "|x|", "negative": "-x", "cast": "x as a float (a cast to the compute dtype)",
}
#: reduction -> what it computes over ``axis``
REDUCTIONS: dict[str, str] = {"mean": "mean", "sum": "sum", "max": "maximum", "min": "minimum"}


def _check(value: str, allowed: dict[str, str], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r} (known: {', '.join(allowed)})")


def _axes(axes: tuple[int, ...], rank: int, what: str) -> list[int]:
    """Axes normalised against ``rank``; the batch axis is refused (per-sample models only)."""
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ShapeError(f"{what} axis {a} is out of range for rank {rank}")
        a = a % rank
        if a == 0:
            raise ShapeError(f"{what} over the batch axis")
        out.append(a)
    return out


@layer_kind
@layer_config
class BinaryOp(LayerConfig):
    """``op(x, y)`` elementwise on two tensors, or on one tensor and a scalar ``constant`` (which
    comes first when ``constant_first``: ``1 - x``); Keras records these for ``x + 2`` or
    ``keras.ops.multiply(a, b)``."""

    kind = "BinaryOp"
    max_inputs = 2
    op: str
    constant: float | None = None
    constant_first: bool = False

    def __post_init__(self) -> None:
        _check(self.op, BINARY_OPS, "binary operation")

    def output_shapes(self, inputs: Sequence[Shape]) -> list[Shape]:
        expected = 1 if self.constant is not None else 2
        if len(inputs) != expected:
            raise ShapeError(f"takes {expected} input tensor(s) with constant={self.constant}, got {len(inputs)}")
        return [broadcast(inputs)]


@layer_kind
@layer_config
class UnaryOp(LayerConfig):
    """``op(x)`` elementwise: an activation or arithmetic function called on a tensor."""

    kind = "UnaryOp"
    op: str

    def __post_init__(self) -> None:
        _check(self.op, UNARY_OPS, "unary operation")

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@layer_kind
@layer_config
class Reduce(LayerConfig):
    """``op`` (mean, sum, max, min) over ``axis`` of each sample, keeping reduced axes as 1 when
    ``keepdims``."""

    kind = "Reduce"
    op: str
    axis: tuple[int, ...]
    keepdims: bool = False

    def __post_init__(self) -> None:
        _check(self.op, REDUCTIONS, "reduction")
        if not self.axis:
            raise ValueError("a reduction needs at least one axis (reducing over the batch is refused)")

    def output_shape(self, shape: Shape) -> Shape:
        axes = set(_axes(self.axis, len(shape), "reduction"))
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(shape))
        return tuple(d for i, d in enumerate(shape) if i not in axes)


@layer_kind
@layer_config
class ExpandDims(LayerConfig):
    """Insert axes of length 1 at ``axis`` (positions in the output, as numpy counts them)."""

    kind = "ExpandDims"
    axis: tuple[int, ...]

    def output_shape(self, shape: Shape) -> Shape:
        rank = len(shape) + len(self.axis)
        axes = set(_axes(self.axis, rank, "expand_dims"))
        rest = iter(shape)
        return tuple(1 if i in axes else next(rest) for i in range(rank))


@layer_kind
@layer_config
class Squeeze(LayerConfig):
    """Remove the axes ``axis``, each of which must have length 1."""

    kind = "Squeeze"
    axis: tuple[int, ...]

    def output_shape(self, shape: Shape) -> Shape:
        axes = set(_axes(self.axis, len(shape), "squeeze"))
        for a in axes:
            if shape[a] not in (1, None):
                raise ShapeError(f"cannot squeeze axis {a} of length {shape[a]} in {shape_str(shape)}")
        return tuple(d for i, d in enumerate(shape) if i not in axes)


@layer_kind
@layer_config
class Cumsum(LayerConfig):
    """The running sum along ``axis`` (``keras.ops.cumsum``); a running count of ones is each
    step's position, which KerasHub's position embeddings look up."""

    kind = "Cumsum"
    axis: int

    def output_shape(self, shape: Shape) -> Shape:
        _axes((self.axis,), len(shape), "cumsum")
        return shape


#: the range of an index or slice bound: runtimes index with signed 64-bit integers
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1


@dataclass(frozen=True)
class Index:
    """One item of a subscript ``x[...]``: an integer (``start``), a slice, ``None`` (a new axis of
    length 1) or ``...``."""

    what: Literal["index", "slice", "newaxis", "ellipsis"]
    start: int | None = None
    stop: int | None = None
    step: int | None = None

    def __post_init__(self) -> None:
        if self.what == "index" and self.start is None:
            raise ValueError("an integer index needs a value")
        for bound in (self.start, self.stop, self.step):
            if bound is not None and not INT64_MIN <= bound <= INT64_MAX:
                raise ValueError(f"a subscript bound must fit in 64 bits (as every runtime indexes), got {bound}")
        if self.step == 0:
            raise ValueError("a slice step cannot be zero")

    @property
    def full(self) -> bool:
        return self.what == "slice" and self.start is None and self.stop is None and self.step in (None, 1)


@layer_kind
@layer_config
class GetItem(LayerConfig):
    """``x[items]`` with numpy's basic indexing (integers, slices, new axes, one ellipsis); the
    batch axis must be taken whole."""

    kind = "GetItem"
    items: tuple[Index, ...]

    def __post_init__(self) -> None:
        if sum(1 for i in self.items if i.what == "ellipsis") > 1:
            raise ValueError("a subscript can hold only one ellipsis")

    def expanded(self, rank: int) -> list[Index]:
        """The items with the ellipsis (or the missing tail) replaced by full slices."""
        consuming = sum(1 for i in self.items if i.what in ("index", "slice"))
        if consuming > rank:
            raise ShapeError(f"too many indices ({consuming}) for a tensor of rank {rank}")
        fill = [Index("slice")] * (rank - consuming)
        items = list(self.items)
        if not any(i.what == "ellipsis" for i in items):
            items.append(Index("ellipsis"))
        at = next(n for n, i in enumerate(items) if i.what == "ellipsis")
        return items[:at] + fill + items[at + 1:]

    def output_shape(self, shape: Shape) -> Shape:
        items = self.expanded(len(shape))
        if not items or not items[0].full:
            raise ShapeError("the subscript does not take the batch axis whole")
        out: list[Dim] = []
        dims = iter(shape)
        for item in items:
            if item.what == "newaxis":
                out.append(1)
                continue
            dim = next(dims)
            if item.what == "index":
                if dim is not None and not -dim <= item.start < dim:  # type: ignore[operator]
                    raise ShapeError(f"index {item.start} is out of range for an axis of length {dim}")
            elif dim is None:
                out.append(None)
            else:
                out.append(len(range(*slice(item.start, item.stop, item.step).indices(dim))))
        return tuple(out)
