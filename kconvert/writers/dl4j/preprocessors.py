"""IR layers that only move values around (Flatten, Reshape, Permute) as Deeplearning4j input
preprocessors, one rule per IR kind.

DL4J has no such layers: a preprocessor runs in front of the next layer (MultiLayerConfiguration)
or as a PreprocessorVertex (ComputationGraphConfiguration).  Since kconvert writes data in
Keras's channels-last layouts (NHWC, NWC, NDHWC), a C-order reshape in DL4J is a Keras reshape.
The Keras-specific preprocessors live in ``org.deeplearning4j.preprocessors`` (deeplearning4j-nn
since 1.0.0-M1), as DL4J's own Keras import writes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from kconvert.formats.dl4j import KERAS_PREPROCESSORS, PREPROCESSORS
from kconvert.ir.graph import Layer
from kconvert.ir.shapes import Shape
from kconvert.registry import register_kinds
from kconvert.writers.dl4j.layers import inexpressible, says_of_input

Preprocessor = dict[str, Any]
Rule = Callable[[Layer, Shape], list[Preprocessor]]
PREPROCESSOR_RULES: dict[str, Rule] = {}




def rule(*kinds: str, declares_input: bool = False) -> Callable[[Rule], Rule]:
    """Registers the preprocessors of ``kinds``; ``declares_input``: they record their input's shape."""
    def register(fn: Rule) -> Rule:
        register_kinds(PREPROCESSOR_RULES, kinds, fn, "a Deeplearning4j preprocessor rule")
        says_of_input(kinds, declares_input)
        return fn
    return register


def preprocessors(layer: Layer, shape: Shape) -> list[Preprocessor]:
    """The preprocessors doing what ``layer`` does to an input of ``shape`` (applied in order)."""
    return PREPROCESSOR_RULES[layer.kind](layer, shape)


def compose(steps: list[Preprocessor]) -> Preprocessor:
    """One preprocessor running ``steps`` in order."""
    if len(steps) == 1:
        return steps[0]
    return {"@class": PREPROCESSORS + "ComposableInputPreProcessor", "inputPreProcessors": steps}


def _known(layer: Layer, shape: Shape) -> tuple[int, ...]:
    if any(d is None for d in shape[1:]):
        raise inexpressible(layer, f"{layer.kind} of a {shape} tensor of unknown size")
    return tuple(int(d) for d in shape[1:])  # type: ignore[arg-type]


def _permute(dims: tuple[int, ...]) -> Preprocessor:
    return {"@class": KERAS_PREPROCESSORS + "PermutePreprocessor", "permutationIndices": list(dims)}


@rule("Flatten", declares_input=True)
def flatten(layer: Layer, shape: Shape) -> list[Preprocessor]:
    dims = _known(layer, shape)
    steps = []
    if layer.config.data_format == "channels_first" and len(dims) > 1:
        # Keras flattens a channels_first tensor in channels-last order
        dims = (*dims[1:], dims[0])
        steps.append(_permute((*range(2, len(dims) + 1), 1)))
    if len(dims) == 3:
        h, w, c = dims
        steps.append({"@class": PREPROCESSORS + "CnnToFeedForwardPreProcessor", "inputHeight": h, "inputWidth": w,
                      "numChannels": c, "format": "NHWC"})
    elif len(dims) == 2:  # a C-order reshape of NWC (KerasFlattenRnnPreprocessor expects NCW and transposes)
        steps.append(_reshape(dims, (dims[0] * dims[1],)))
    elif len(dims) == 4:
        d, h, w, c = dims
        steps.append({"@class": PREPROCESSORS + "Cnn3DToFeedForwardPreProcessor", "inputDepth": d,
                      "inputHeight": h, "inputWidth": w, "numChannels": c,
                      "isNCDHW": False, "ncdhw": False})  # DL4J reads the first, writes the second
    elif len(dims) == 1:  # flat already: DL4J's Keras import writes an identity reshape too
        steps.append(_reshape(dims, dims))
    else:
        raise inexpressible(layer, f"Flatten of a rank-{len(shape)} tensor")
    return steps


def _reshape(source: Shape, target: Shape) -> Preprocessor:
    """A C-order reshape of the non-batch axes.  A -1 in the target is resolved where the source's
    sizes are known: DL4J's ReshapePreprocessor compares the sizes' products as given and refuses a
    -1 ("input shape and target shape do not match")."""
    target = list(target)
    if -1 in target and all(d is not None for d in source):
        known = math.prod(d for d in target if d != -1)
        target[target.index(-1)] = math.prod(source) // known  # type: ignore[arg-type]
    return {"@class": KERAS_PREPROCESSORS + "ReshapePreprocessor",
            "inputShape": [-1 if d is None else d for d in source], "targetShape": target,
            "hasMiniBatchDimension": False}


@rule("Reshape", declares_input=True)
def reshape(layer: Layer, shape: Shape) -> list[Preprocessor]:
    return [_reshape(shape[1:], layer.config.target_shape)]


@rule("Permute")
def permute(layer: Layer, shape: Shape) -> list[Preprocessor]:
    return [_permute(layer.config.dims)]
