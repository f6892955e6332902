"""Inputs, dense layers, activations applied as layers, and layers that only reshape or mask."""

from __future__ import annotations

from typing import Literal

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape, ShapeError, product, require_rank, shape_str

DataFormat = Literal["channels_last", "channels_first"]


@layer_kind
@layer_config
class InputLayer(LayerConfig):
    """A graph input: the shape (batch included) and dtype a caller must feed."""

    kind = "InputLayer"
    min_inputs = 0
    max_inputs = 0

    batch_shape: Shape
    dtype: str = "float32"
    sparse: bool = False
    ragged: bool = False

    def output_shapes(self, inputs: list[Shape]) -> list[Shape]:
        return [tuple(self.batch_shape)]


@layer_kind
@layer_config
class Dense(LayerConfig):
    """``activation(x @ kernel + bias)`` on the last axis; kernel is (input_dim, units)."""

    kind = "Dense"
    linear_weights = ("kernel", "bias")
    passes_mask = True
    units: int
    activation: str = "linear"
    use_bias: bool = True

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) < 2:
            raise ShapeError(f"needs an input of rank >= 2, got {shape_str(shape)}")
        return (*shape[:-1], self.units)

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        out: dict[str, Shape] = {"kernel": (inputs[0][-1], self.units)}
        if self.use_bias:
            out["bias"] = (self.units,)
        return out


@layer_kind
@layer_config
class Activation(LayerConfig):
    kind = "Activation"
    passes_mask = True
    activation: str

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@layer_kind
@layer_config
class Masking(LayerConfig):
    """Marks timesteps whose features all equal ``mask_value`` as padding for later layers."""

    kind = "Masking"
    mask_value: float = 0.0

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@layer_kind
@layer_config
class ActivityRegularization(LayerConfig):
    """Identity that adds an activity penalty to the training loss."""

    kind = "ActivityRegularization"
    training_only = True
    passes_mask = True
    elementwise = True
    l1: float = 0.0
    l2: float = 0.0

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@layer_kind
@layer_config
class Flatten(LayerConfig):
    """Flattens all but the batch axis.

    With ``channels_first`` the channel axis is first moved last (Keras 2 semantics), so the
    flattened order is the channels-last one.
    """

    kind = "Flatten"
    data_format: DataFormat = "channels_last"

    def output_shape(self, shape: Shape) -> Shape:
        if len(shape) < 2:
            raise ShapeError(f"needs an input of rank >= 2, got {shape_str(shape)}")
        return (shape[0], product(shape[1:]))


@layer_kind
@layer_config
class Reshape(LayerConfig):
    """Reshape the non-batch axes to ``target_shape`` (which may contain one -1)."""

    kind = "Reshape"
    target_shape: tuple[int, ...]

    def output_shape(self, shape: Shape) -> Shape:
        target = list(self.target_shape)
        total = product(shape[1:])
        if target.count(-1) > 1:
            raise ShapeError(f"target shape {self.target_shape} has more than one -1")
        if -1 in target:
            rest = product([d for d in target if d != -1])
            if total is None:
                target[target.index(-1)] = None  # type: ignore[call-overload]
            elif rest == 0 or total % rest:
                raise ShapeError(f"cannot reshape {shape_str(shape)} to {self.target_shape}")
            else:
                target[target.index(-1)] = total // rest
        elif total is not None and product(target) != total:
            raise ShapeError(f"cannot reshape {shape_str(shape)} ({total} values) to {self.target_shape}")
        return (shape[0], *target)


@layer_kind
@layer_config
class Permute(LayerConfig):
    """Permute the non-batch axes; ``dims`` is 1-based as in Keras."""

    kind = "Permute"
    dims: tuple[int, ...]

    def output_shape(self, shape: Shape) -> Shape:
        if sorted(self.dims) != list(range(1, len(shape))):
            raise ShapeError(f"dims {self.dims} are not a permutation of the axes of {shape_str(shape)}")
        return (shape[0], *(shape[d] for d in self.dims))


@layer_kind
@layer_config
class RepeatVector(LayerConfig):
    """(batch, features) -> (batch, n, features)."""

    kind = "RepeatVector"
    n: int

    def output_shape(self, shape: Shape) -> Shape:
        require_rank(shape, 2)
        return (shape[0], self.n, shape[1])


@layer_kind
@layer_config
class Highway(LayerConfig):
    """Keras 1 Highway: ``t * activation(x W + b) + (1 - t) * x`` with ``t = sigmoid(x W_c + b_c)``."""

    kind = "Highway"
    activation: str = "linear"
    use_bias: bool = True

    def output_shape(self, shape: Shape) -> Shape:
        require_rank(shape, 2)
        return shape

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        n = inputs[0][-1]
        out: dict[str, Shape] = {"kernel": (n, n), "carry_kernel": (n, n)}
        if self.use_bias:
            out.update({"bias": (n,), "carry_bias": (n,)})
        return out


@layer_kind
@layer_config
class MaxoutDense(LayerConfig):
    """Keras 1 MaxoutDense: the maximum over ``nb_feature`` dense projections."""

    kind = "MaxoutDense"
    units: int
    nb_feature: int = 4
    use_bias: bool = True

    def output_shape(self, shape: Shape) -> Shape:
        require_rank(shape, 2)
        return (shape[0], self.units)

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        out: dict[str, Shape] = {"kernel": (self.nb_feature, inputs[0][-1], self.units)}
        if self.use_bias:
            out["bias"] = (self.nb_feature, self.units)
        return out


@layer_kind
@layer_config
class Embedding(LayerConfig):
    """Integer ids -> vectors; ids equal to 0 are masked when ``mask_zero``."""

    kind = "Embedding"
    input_dim: int
    output_dim: int
    mask_zero: bool = False

    def output_shape(self, shape: Shape) -> Shape:
        return (*shape, self.output_dim)

    def weight_shapes(self, inputs: list[Shape]) -> dict[str, Shape]:
        return {"embeddings": (self.input_dim, self.output_dim)}


@layer_kind
@layer_config
class Rescaling(LayerConfig):
    """``x * scale + offset``; scale and offset are scalars or per-channel (last axis) tuples."""

    kind = "Rescaling"
    scale: float | tuple[float, ...] = 1.0
    offset: float | tuple[float, ...] = 0.0

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@layer_kind
@layer_config
class Identity(LayerConfig):
    """Returns its input (Keras 3's Identity layer; ConvNeXt's stochastic depth at rate 0)."""

    kind = "Identity"
    elementwise = True

    def output_shape(self, shape: Shape) -> Shape:
        return shape
