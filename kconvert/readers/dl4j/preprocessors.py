"""DL4J input preprocessors, keyed by class: the IR layers doing what each does, and the input
shape a network starting with one takes (DL4J records none)."""

from __future__ import annotations

from typing import Any, Callable

from kconvert.errors import IncompatibleKerasConfigurationException, KConvertError
from kconvert.formats.dl4j import KERAS_PREPROCESSORS, PREPROCESSORS
from kconvert.ir.layers import core
from kconvert.ir.shapes import Shape
from kconvert.readers.dl4j.layer import Entry
from kconvert.readers.dl4j.spec import LIMITS, Keys, java_object
from kconvert.registry import registrar

_LEGACY = {"cnnToFeedForward": "CnnToFeedForwardPreProcessor", "feedForwardToCnn": "FeedForwardToCnnPreProcessor"}
#: preprocessor class -> the IR entries for it, in front of layer or vertex ``name``
PREPROCESSOR_LAYERS: dict[str, Callable[[Keys, str], list[Entry]]] = {}
preprocessor_layers = registrar(PREPROCESSOR_LAYERS, "IR layers for the Deeplearning4j preprocessor")
#: preprocessor class -> the input shape it declares (absent: none)
PREPROCESSOR_INPUTS: dict[str, Callable[[Keys], Shape | None]] = {}
preprocessor_input = registrar(PREPROCESSOR_INPUTS, "an input shape for the Deeplearning4j preprocessor")


def _preprocessor(raw: Any) -> tuple[str, Keys]:
    cls, body = java_object(raw, "a preprocessor", PREPROCESSORS, _LEGACY)
    return cls.removeprefix(KERAS_PREPROCESSORS), Keys(body)


def preprocess(raw: dict[str, Any], name: str) -> list[Entry]:
    """The IR layers doing what a preprocessor (in front of layer or vertex ``name``) does."""
    try:
        return _preprocess(raw, name)
    except KConvertError as exc:
        raise exc.with_context(layer=name) from None


def _preprocess(raw: Any, name: str) -> list[Entry]:
    cls, keys = _preprocessor(raw)
    fn = PREPROCESSOR_LAYERS.get(cls)
    if fn is None:
        raise IncompatibleKerasConfigurationException(f"input preprocessor {cls}: not supported", layer=name)
    return fn(keys, name)


def declared_input(raw: Any) -> Shape | None:
    """The input shape a network's first preprocessor declares, if it declares one."""
    cls, keys = _preprocessor(raw)
    fn = PREPROCESSOR_INPUTS.get(cls)
    return None if fn is None else fn(keys)


@preprocessor_layers("ComposableInputPreProcessor")
def composable(keys: Keys, name: str) -> list[Entry]:
    steps = keys.get("inputPreProcessors", [])
    if not isinstance(steps, list):
        raise keys.error("expected a list of preprocessors", "inputPreProcessors")
    return [entry for i, step in enumerate(steps) for entry in _preprocess(step, f"{name}_{i}")]


@preprocessor_input("ComposableInputPreProcessor")
def composable_input(keys: Keys) -> Shape | None:
    steps = keys.get("inputPreProcessors")
    return declared_input(steps[0]) if isinstance(steps, list) and steps else None


@preprocessor_layers("CnnToFeedForwardPreProcessor", "KerasFlattenRnnPreprocessor", "Cnn3DToFeedForwardPreProcessor")
def flatten(keys: Keys, name: str) -> list[Entry]:
    return [(f"{name}_flatten", core.Flatten(), {})]  # a C-order flatten of the layout DL4J holds


@preprocessor_input("CnnToFeedForwardPreProcessor")
def image_input(keys: Keys) -> Shape | None:
    h, w, c = keys.integer("inputHeight"), keys.integer("inputWidth"), keys.integer("numChannels")
    return (None, h, w, c) if keys.get("format") == "NHWC" else (None, c, h, w)


@preprocessor_input("Cnn3DToFeedForwardPreProcessor")
def volume_input(keys: Keys) -> Shape | None:
    d, h, w = keys.integer("inputDepth"), keys.integer("inputHeight"), keys.integer("inputWidth")
    c = keys.integer("numChannels")
    ncdhw = keys.flag("isNCDHW", keys.flag("ncdhw", True))  # DL4J writes the second, reads the first
    return (None, c, d, h, w) if ncdhw else (None, d, h, w, c)


@preprocessor_input("KerasFlattenRnnPreprocessor")
def sequence_input(keys: Keys) -> Shape | None:
    length = keys.integer("tsLength", minimum=-LIMITS.max_dimension)
    return (None, abs(length) or None, keys.integer("depth"))


@preprocessor_layers("RnnToFeedForwardPreProcessor")
def steps_as_rows(keys: Keys, name: str) -> list[Entry]:
    """DL4J makes each time step a row of the batch for the feed-forward layers after it; each sample's steps
    stay together here, as (time, features), which those layers (acting on the last axis) take alike."""
    if keys.text("rnnDataFormat", "NCW") == "NWC":
        return []
    return [(f"{name}_steps", core.Permute(dims=(2, 1)), {})]


@preprocessor_input("RnnToFeedForwardPreProcessor")
def steps_input(keys: Keys) -> Shape | None:
    """Sequences of the size the layer after it takes (:func:`sized_by_layer`)."""
    return None


def sized_by_layer(raw: Any, layer_input: Shape) -> Shape:
    """The input a preprocessor declaring no size takes, given the input the layer after it takes."""
    cls, keys = _preprocessor(raw)
    if cls == "RnnToFeedForwardPreProcessor" and len(layer_input) == 2:
        return (None, None, layer_input[1]) if keys.text("rnnDataFormat", "NCW") == "NWC" else (
            None, layer_input[1], None)
    return layer_input


@preprocessor_layers("FeedForwardToRnnPreProcessor")
def rows_as_steps(keys: Keys, name: str) -> list[Entry]:
    """The steps :func:`steps_as_rows` kept together, back in DL4J's sequence layout."""
    if keys.text("rnnDataFormat", "NCW") == "NWC":
        return []
    return [(f"{name}_sequence", core.Permute(dims=(2, 1)), {})]


@preprocessor_layers("FeedForwardToCnnPreProcessor")
def to_image(keys: Keys, name: str) -> list[Entry]:
    h, w, c = keys.integer("inputHeight"), keys.integer("inputWidth"), keys.integer("numChannels")
    return [(f"{name}_to_cnn", core.Reshape(target_shape=(c, h, w)), {})]


@preprocessor_input("FeedForwardToCnnPreProcessor")
def features_input(keys: Keys) -> Shape | None:
    return (None, keys.integer("inputHeight") * keys.integer("inputWidth") * keys.integer("numChannels"))


def _without_batch(keys: Keys, key: str) -> tuple[int, ...]:
    """A ReshapePreprocessor's shape, less its batch dimension when it records one."""
    return keys.integers(key, minimum=-1)[1 if keys.flag("hasMiniBatchDimension", False) else 0:]


@preprocessor_layers("ReshapePreprocessor")
def reshape(keys: Keys, name: str) -> list[Entry]:
    return [(f"{name}_reshape", core.Reshape(target_shape=tuple(_without_batch(keys, "targetShape"))), {})]


@preprocessor_input("ReshapePreprocessor")
def reshape_input(keys: Keys) -> Shape | None:
    return (None, *(d if d > 0 else None for d in _without_batch(keys, "inputShape")))


@preprocessor_layers("PermutePreprocessor")
def permute(keys: Keys, name: str) -> list[Entry]:
    dims = list(keys.integers("permutationIndices", minimum=0))
    return [(f"{name}_permute", core.Permute(dims=tuple(dims[1:] if dims[:1] == [0] else dims)), {})]


@preprocessor_input("PermutePreprocessor")
def permute_input(keys: Keys) -> Shape | None:
    raise IncompatibleKerasConfigurationException(
        "a network starting with a permutation: its input shape cannot be derived")
