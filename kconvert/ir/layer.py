"""The layer-kind registry: one typed attribute class per kind of layer.

A layer kind is defined once, here in the IR: a frozen dataclass holding its normalised
attributes, the shapes it produces, and the canonical names and shapes of its weights.  Readers,
writers and the runtime each keep their own registry keyed by the same kind name; adding a layer
kind means adding one class here and one function in each format that supports it.
"""

from __future__ import annotations

from dataclasses import MISSING, FrozenInstanceError, dataclass, fields
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, Sequence, TypeVar, dataclass_transform

from kconvert.ir.shapes import Shape, ShapeError

if TYPE_CHECKING:
    from kconvert.ir.graph import Layer


_Config = TypeVar("_Config", bound=type)


@dataclass_transform(kw_only_default=True, frozen_default=True)
def layer_config(cls: _Config) -> _Config:
    """A layer kind's attribute class: a frozen, keyword-only dataclass whose ``__init__``,
    ``__repr__``, ``__eq__``, ``__hash__`` and frozen ``__setattr__`` are :class:`LayerConfig`'s,
    written once, instead of being generated per class -- they behave the same, and compiling
    generated methods for the hundred-odd kinds was the largest part of the command's start-up
    (``bench/startup.py``)."""
    return dataclass(kw_only=True, init=False, repr=False, eq=False)(cls)  # type: ignore[return-value]


@layer_config
class LayerConfig:
    """Base class of every layer kind's attributes (each declared with :func:`layer_config`).

    Subclasses set ``kind`` and implement :meth:`output_shape` (single input, single output) or
    :meth:`output_shapes`; layers with weights implement :meth:`weight_shapes`.
    """

    kind: ClassVar[str] = ""
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    #: True for layers that only act during training (Dropout, GaussianNoise...): identity at inference.
    training_only: ClassVar[bool] = False

    # -- kind traits: facts about a kind that every pass reads here instead of keeping a list of kinds --
    #: the number of spatial axes the layer works over, placed by its ``data_format`` (Conv2D: 2); None
    #: for layers without spatial axes
    rank: ClassVar[int | None] = None
    #: True for layers that carry a state along the time axis (SimpleRNN, LSTM, GRU, ConvLSTM2D...)
    recurrent: ClassVar[bool] = False
    #: for gated recurrent layers: the number of gate blocks along the last axis of the kernel, the
    #: recurrent kernel and the bias, and the blocks that use ``recurrent_activation`` (the others use
    #: ``activation``); None for layers without gates
    gates: ClassVar[tuple[int, tuple[int, ...]] | None] = None
    #: the weights that scale the layer's pre-activation linearly (scaling them scales it): a kernel and
    #: its bias; empty where the pre-activation is not linear in a kernel
    linear_weights: ClassVar[tuple[str, ...]] = ()
    #: True for layers Keras hands the padding mask they receive on to, unchanged, as their output's
    #: mask (``supports_masking`` with the default ``compute_mask``, in tf.keras 2 and Keras 3 alike);
    #: layers that compute masks themselves (Embedding, recurrent and merge layers) are False
    passes_mask: ClassVar[bool] = False
    #: True for layers that compute each value from that value alone, the same way at every position
    #: (in training too): any permutation of the non-batch axes commutes with them
    elementwise: ClassVar[bool] = False
    #: what a pooling layer takes over each window (or over all positions): None for other layers
    reduction: ClassVar[Literal["max", "average"] | None] = None
    #: for helper layers keras.applications defines for itself: the module, within the Keras package,
    #: that defines and registers it ("applications.convnext"); None for keras.layers' own layers
    application_module: ClassVar[str | None] = None

    def output_shapes(self, inputs: Sequence[Shape]) -> list[Shape]:
        return [self.output_shape(inputs[0])]

    def output_shape(self, shape: Shape) -> Shape:
        raise NotImplementedError(f"{type(self).__name__} must define output_shape or output_shapes")

    def weight_shapes(self, inputs: Sequence[Shape]) -> dict[str, Shape]:
        """Canonical weight names (in canonical order) and their shapes for these inputs."""
        return {}

    def intermediate_shapes(self, inputs: Sequence[Shape], outputs: Sequence[Shape]) -> list[Shape]:
        """The tensors a run of the layer on ``inputs`` makes: its ``outputs``, and for kinds that
        compute larger ones on the way (attention scores, a dilated window's padded input), those
        too.  The runtime bounds each (``Limits.max_intermediate_bytes``) before it runs."""
        return list(outputs)

    def planar(self) -> "LayerConfig | None":
        """For a 1-D layer over channels-last (steps, channels) inputs, its 2-D form, which computes
        the same over (steps, 1, channels) with its weights given a width axis of 1; else None."""
        return None

    def sublayers(self) -> tuple["Layer", ...]:
        """Layers owned by this one (wrapped layers); they carry their own weights."""
        return ()

    def sublayer_inputs(self, inputs: Sequence[Shape]) -> list[tuple["Layer", list[Shape]]]:
        """The input shapes each sublayer sees when this layer is applied to ``inputs``."""
        return []

    def check_arity(self, count: int) -> None:
        if count < self.min_inputs or (self.max_inputs is not None and count > self.max_inputs):
            if self.max_inputs == self.min_inputs:
                expected = str(self.min_inputs)
            elif self.max_inputs is None:
                expected = f"at least {self.min_inputs}"
            else:
                expected = f"{self.min_inputs} to {self.max_inputs}"
            raise ShapeError(f"takes {expected} input tensor(s), got {count}")

    def attributes(self) -> dict[str, Any]:
        """The attribute values by field name (for summaries, reports and writers)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    # -- what @dataclass(frozen=True, kw_only=True) generates per class, once for all (see layer_config) --

    def __init__(self, **values: Any) -> None:
        missing = []
        for f in fields(self):
            if f.init and f.name in values:
                value = values.pop(f.name)
            elif f.default is not MISSING:
                value = f.default
            elif f.default_factory is not MISSING:
                value = f.default_factory()
            else:
                if f.init:
                    missing.append(repr(f.name))
                continue
            object.__setattr__(self, f.name, value)
        where = f"{self.__class__.__qualname__}.__init__()"
        if values:
            raise TypeError(f"{where} got an unexpected keyword argument {next(iter(values))!r}")
        if missing:
            names = missing[0] if len(missing) == 1 else (
                f"{missing[0]} and {missing[1]}" if len(missing) == 2 else f"{', '.join(missing[:-1])}, and {missing[-1]}")
            raise TypeError(f"{where} missing {len(missing)} required keyword-only argument"
                            f"{'s' if len(missing) > 1 else ''}: {names}")
        if hasattr(self, "__post_init__"):
            self.__post_init__()

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def _compared(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self) if f.compare)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared() == other._compared()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._compared())

    def __repr__(self) -> str:
        shown = ", ".join(f"{f.name}={getattr(self, f.name)!r}" for f in fields(self) if f.repr)
        return f"{self.__class__.__qualname__}({shown})"


LAYER_KINDS: dict[str, type[LayerConfig]] = {}


def kinds_where(trait: Callable[[type[LayerConfig]], Any]) -> tuple[str, ...]:
    """The registered kinds whose class has ``trait``, e.g. ``kinds_where(lambda c: c.recurrent)``:
    registries keyed by kind name register by trait rather than by a list of names."""
    import kconvert.ir.layers  # noqa: F401  (registers every kind)

    return tuple(kind for kind, cls in LAYER_KINDS.items() if trait(cls))


def layer_kind(cls: type[LayerConfig]) -> type[LayerConfig]:
    """Class decorator registering a layer kind; a kind can be registered only once."""
    if not cls.kind:
        raise TypeError(f"{cls.__name__} has no kind")
    if cls.kind in LAYER_KINDS:
        raise TypeError(f"layer kind {cls.kind!r} is already registered by {LAYER_KINDS[cls.kind].__name__}")
    LAYER_KINDS[cls.kind] = cls
    return cls
