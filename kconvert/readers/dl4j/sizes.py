"""A DL4J network's input sizes, which its configuration need not record: a MultiLayerConfiguration
keeps no InputType, so a network built for 28x28 images reads as taking (C, ?, ?).  What it does
record downstream (a preprocessor's height, width and channels; a layer's ``nIn``) often decides
them: each spatial size a layer makes grows with its input's along the same axis alone (convolution,
pooling, padding, upsampling), so an input axis is found by bisection against the shape inference.
Sizes given by the user (``input_shapes``) come first; what neither decides stays unknown, and a
target that needs it refuses, asking for it (:mod:`kconvert.rewrite.lowering`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kconvert.errors import IncompatibleKerasConfigurationException, KConvertError
from kconvert.ir.graph import Model, TensorRef, infer_shapes
from kconvert.ir.layers import core
from kconvert.ir.shapes import Shape

#: the size every other unknown axis takes while one is sought (large enough for any window)
_PROBE = 1024
#: the largest input size sought
_LARGEST = 1 << 16


@dataclass(frozen=True)
class Declared:
    """A shape the configuration states for a tensor (None where it states nothing)."""

    ref: TensorRef
    shape: Shape


def given_shape(name: str, known: Shape | None, given: Mapping[str, tuple[int | None, ...]]) -> Shape | None:
    """Input ``name``'s shape as the user gives it (batch left out) where ``given`` names it, checked against what
    the configuration says of it (``known``, None: nothing); else ``known``."""
    shape = given.get(name)
    if shape is None:
        return known
    if known is not None and (len(shape) != len(known) - 1 or any(
            k is not None and k != s for k, s in zip(known[1:], shape))):
        raise IncompatibleKerasConfigurationException(
            f"the input shape given, {tuple(shape)}, does not fit the network's input {known[1:]} (the "
            "layout Deeplearning4j takes: channels first unless the layers say NHWC)", layer=name)
    return (None, *shape)


def inferred_sizes(model: Model, declared: list[Declared]) -> list[str]:
    """Set each unknown input size that the ``declared`` shapes decide; returns a note per input
    with sizes several values fit, which stay unknown (DL4J runs them all: no one is the model's)."""
    unknown = [(i, axis) for i, ref in enumerate(model.inputs)
               for axis, d in enumerate(_input_shape(model, ref)) if axis and d is None]
    if not unknown or not declared:
        return []
    shapes = [list(_input_shape(model, ref)) for ref in model.inputs]
    found, ranges = {}, {}
    for i, axis in unknown:
        lo, hi = _solve(model, shapes, unknown, (i, axis), declared)
        if lo is not None and hi == lo:
            found[i, axis] = lo
        elif lo is not None:
            ranges.setdefault(i, []).append(f"axis {axis}: sizes {lo} to {hi}")
    for (i, axis), size in found.items():
        shapes[i][axis] = size
    for ref, shape in zip(model.inputs, shapes):
        model.layer(ref.layer).config = core.InputLayer(batch_shape=tuple(shape))
    return [f"input '{model.inputs[i].layer}' of shape {tuple(shapes[i][1:])}: the configuration records no size "
            f"but what follows it, which several fit ({'; '.join(axes)}); they stay unknown (give them with "
            "--input-shape / input_shapes where a target needs them)" for i, axes in ranges.items()]


def _input_shape(model: Model, ref: TensorRef) -> Shape:
    return tuple(model.layer(ref.layer).config.batch_shape)


def _solve(model: Model, shapes: list[list[int | None]], unknown: list[tuple[int, int]], sought: tuple[int, int],
           declared: list[Declared]) -> tuple[int | None, int | None]:
    """The smallest and largest size of input axis ``sought`` that give the declared sizes depending on
    it alone (the other unknown axes at :data:`_PROBE`); (None, None) where none decides it."""

    def sizes(size: int, others: int = _PROBE) -> list[int | None] | None:
        trial = [list(s) for s in shapes]
        for i, axis in unknown:
            trial[i][axis] = size if (i, axis) == sought else others
        try:
            inferred = infer_shapes(model, [tuple(s) for s in trial])
        except (KConvertError, ValueError):  # too small for a window on the way
            return None
        return [d for dec in declared for d in inferred[(dec.ref.layer, dec.ref.node)][dec.ref.index]]

    wanted = [d for dec in declared for d in dec.shape]
    base, moved, other = sizes(_PROBE), sizes(2 * _PROBE), sizes(_PROBE, 2 * _PROBE)
    if base is None or moved is None or other is None:
        return None, None
    # the declared sizes that follow this axis and no other
    deciding = [k for k, w in enumerate(wanted)
                if w is not None and base[k] != moved[k] and base[k] == other[k]]
    if not deciding:
        return None, None

    def at_least(size: int) -> bool:
        got = sizes(size)
        return got is not None and all(got[k] >= wanted[k] for k in deciding)  # type: ignore[operator]

    def at_most(size: int) -> bool:
        got = sizes(size)
        return got is None or all(got[k] <= wanted[k] for k in deciding)  # type: ignore[operator]

    lo = _first(at_least)
    got = sizes(lo) if lo is not None else None
    if got is None or any(got[k] != wanted[k] for k in deciding):
        return None, None  # no size gives what is declared
    hi = _first(lambda s: not at_most(s), lo)
    return lo, (hi - 1 if hi is not None else _LARGEST)


def _first(test, start: int = 1) -> int | None:  # type: ignore[no-untyped-def]
    """The smallest size in [start, _LARGEST] where the monotone ``test`` holds."""
    lo, hi = start, _LARGEST
    if not test(hi):
        return None
    while lo < hi:
        mid = (lo + hi) // 2
        if test(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo
