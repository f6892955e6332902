"""DL4J graph vertices other than layers, keyed by vertex class: each one IR layer over all the
vertex's inputs (a LayerVertex is the graph builder's, being a layer)."""

from __future__ import annotations

from typing import Callable

from kconvert.errors import IncompatibleKerasConfigurationException
from kconvert.formats.dl4j import ELEMENTWISE_MERGES, REVERSE_TIME
from kconvert.ir.layer import LayerConfig
from kconvert.ir.layers import merge
from kconvert.readers.dl4j.preprocessors import preprocess
from kconvert.readers.dl4j.spec import Keys
from kconvert.registry import registrar

#: vertex class -> the IR layer for a vertex (its name and keys)
DL4J_VERTICES: dict[str, Callable[[str, Keys], LayerConfig]] = {}
dl4j_vertex = registrar(DL4J_VERTICES, "a converter for the Deeplearning4j graph vertex")


def unsupported(kind: str, name: str) -> IncompatibleKerasConfigurationException:
    return IncompatibleKerasConfigurationException(f"graph vertex {kind}: not supported", layer=name)


@dl4j_vertex("MergeVertex")
def merge_vertex(name: str, keys: Keys) -> LayerConfig:
    return merge.Concatenate(axis=keys.integer("mergeAxis", 1, minimum=0))


@dl4j_vertex("ElementWiseVertex")
def elementwise(name: str, keys: Keys) -> LayerConfig:
    op = keys.body.get("op")
    if not isinstance(op, str) or op not in ELEMENTWISE_MERGES:
        raise unsupported("ElementWiseVertex", name)
    return ELEMENTWISE_MERGES[op]()


@dl4j_vertex("rnn.ReverseTimeSeriesVertex")
def reverse_time(name: str, keys: Keys) -> LayerConfig:
    """NCW sequences reversed in time."""
    if keys.body.get("maskArrayInputName"):
        raise IncompatibleKerasConfigurationException("a time reversal following a mask", layer=name)
    return REVERSE_TIME


@dl4j_vertex("PreprocessorVertex")
def preprocessor_vertex(name: str, keys: Keys) -> LayerConfig:
    ((_, config, _),) = preprocess(keys.body.get("preProcessor") or {}, name)
    return config
