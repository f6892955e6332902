"""A DL4J ``MultiLayerConfiguration`` (``confs``) as a sequential IR model."""

from __future__ import annotations

from typing import Any, Mapping

from kconvert.errors import IncompatibleKerasConfigurationException, InputReadError, KConvertError
from kconvert.ir.graph import Model, TensorRef
from kconvert.readers.dl4j.layer import Parameters
from kconvert.readers.dl4j.layers.core import SHAPE_KEEPING
from kconvert.readers.dl4j.layers.reshaping import CHANNEL_KEEPING
from kconvert.readers.dl4j.network import Chain, input_shape
from kconvert.readers.dl4j.sizes import Declared
from kconvert.readers.dl4j.spec import Keys, LayerSpec, layer_spec, strings


def read_multilayer(document: dict[str, Any], params: Parameters,
                    given: Mapping[str, tuple[int | None, ...]]) -> tuple[Model, list[Declared]]:
    """The layers in order, each behind the preprocessor ``inputPreProcessors`` gives its index; and the
    shapes the configuration declares on the way (``given``: the input's shape as the user gives it)."""
    confs = document.get("confs")
    if not isinstance(confs, list) or not confs:
        raise InputReadError("a MultiLayerConfiguration without layers (confs)", file=params.display)
    if not all(isinstance(conf, dict) for conf in confs):
        raise IncompatibleKerasConfigurationException("a layer configuration that is not an object", key="confs")
    specs = [layer_spec(conf.get("layer"), f"layer{i}") for i, conf in enumerate(confs)]
    preprocessors = Keys(document).get("inputPreProcessors", {})
    if not isinstance(preprocessors, dict):
        raise IncompatibleKerasConfigurationException("expected an object", key="inputPreProcessors")
    chain = Chain([TensorRef("input")], given)
    first = _first_declaring(specs, preprocessors)
    derived = None  # then as given
    try:
        derived = input_shape(specs[first], preprocessors.get(str(first)))
    except KConvertError:
        if "input" not in given:
            raise
    current = chain.add_input("input", derived)
    for i, (spec, conf) in enumerate(zip(specs, confs)):
        spec.variables = strings(conf, "variables")
        if str(i) in preprocessors:
            current = chain.preprocessed(preprocessors[str(i)], spec.name, current)
        current = chain.add_layer(spec, current, params)
    model = Model("dl4j", chain.layers, chain.inputs, [current], structure="sequential")
    return model, chain.declared


def _first_declaring(specs: list[LayerSpec], preprocessors: dict[str, Any]) -> int:
    """The layer whose input (or preprocessor's) the network's input is derived from: the first one, unless it
    declares no size: then the first after layers keeping their input's shape, or only its channels (padding,
    pooling: a later layer's ``nIn`` says how many, and what follows their sizes, :mod:`.sizes`)."""
    for i, spec in enumerate(specs):
        if str(i) in preprocessors:
            return i if all(s.cls in SHAPE_KEEPING for s in specs[:i]) else 0
        if spec.cls not in SHAPE_KEEPING and spec.cls not in CHANNEL_KEEPING:
            return i
    return 0
