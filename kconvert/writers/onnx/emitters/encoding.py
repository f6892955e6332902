"""The index-encoding preprocessing layers (:mod:`kconvert.ir.layers.encoding`) as comparisons:
Discretization counts the boundaries at or below each value, IntegerLookup finds each value's
vocabulary entry by equality (a Gather maps an inverted lookup's indices back), and every output
mode compares the indices with ``0..depth-1``, so an index out of range counts nowhere, as in
Keras (ONNX's OneHot would wrap a negative one around).  Indices are int64 inside; the outputs are
float32, as the writer declares every output.  Hashing has no form: ONNX has no hash operator."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from kconvert.writers.onnx.emit import Emit, emits
from kconvert.writers.onnx.graph import Value, identity


def _integers(em: Emit) -> str:
    """The input as int64, floats rounded first (as the runtime reads them): through float64, exact
    for every float32 and for integers up to 2**53."""
    wide = em.op("Cast", [em.input(0).name], to=TensorProto.DOUBLE)
    return em.op("Cast", [em.op("Round", [wide])], to=TensorProto.INT64)


def _last(em: Emit, x: str) -> str:
    return em.op("Unsqueeze", [x, em.const([-1], np.int64)])


def _encoded(em: Emit, indices: str, rank: int, depth: int) -> list[Value]:
    """Keras's encode_categorical_inputs of int64 ``indices`` of source rank ``rank``."""
    mode = em.config.output_mode
    if mode == "int":
        return [Value(em.op("Cast", [indices], to=TensorProto.FLOAT), identity(rank))]
    if mode == "one_hot" and rank > 1 and em.shapes[0][-1] == 1:
        indices = em.op("Squeeze", [indices, em.const([-1], np.int64)])
        rank -= 1
    elif mode != "one_hot" and rank == 1:
        indices = _last(em, indices)
        rank = 2
    hot = em.op("Cast", [em.op("Equal", [_last(em, indices), em.const(np.arange(depth), np.int64)])],
                to=TensorProto.FLOAT)
    if mode == "one_hot":
        return [Value(hot, identity(rank + 1))]
    counts = em.graph.reduce("ReduceSum", hot, [1], em.base, keepdims=False)
    if mode == "multi_hot":
        counts = em.op("Min", [counts, em.const(1.0)])
    return [Value(counts, identity(2))]


@emits("CategoryEncoding")
def category_encoding(em: Emit) -> list[Value]:
    return _encoded(em, _integers(em), em.values[0].rank, em.config.num_tokens)


@emits("Discretization")
def discretization(em: Emit) -> list[Value]:
    """The number of boundaries at or below each value (float32 comparisons, as Bucketize's)."""
    c = em.config
    x = em.op("Cast", [em.input(0).name], to=TensorProto.FLOAT)
    above = em.op("Cast", [em.op("GreaterOrEqual", [_last(em, x), em.const(c.bin_boundaries)])],
                  to=TensorProto.INT64)
    buckets = em.graph.reduce("ReduceSum", above, [em.values[0].rank], em.base, keepdims=False)
    return _encoded(em, buckets, em.values[0].rank, c.depth)


def _where(em: Emit, condition: str, value: int, otherwise: str) -> str:
    return em.op("Where", [condition, em.const(value, np.int64), otherwise])


@emits("IntegerLookup")
def integer_lookup(em: Emit) -> list[Value]:
    c = em.config
    x = _integers(em)
    rank = em.values[0].rank
    vocabulary = em.const(list(c.vocabulary), np.int64)
    if c.invert:
        slot = em.op("Sub", [x, em.const(c.offset, np.int64)])
        known = em.op("And", [em.op("GreaterOrEqual", [slot, em.const(0, np.int64)]),
                              em.op("Less", [slot, em.const(len(c.vocabulary), np.int64)])])
        clipped = em.op("Clip", [slot, em.const(0, np.int64), em.const(max(len(c.vocabulary) - 1, 0), np.int64)])
        out = em.op("Where", [known, em.op("Gather", [vocabulary, clipped]), em.const(c.oov_token, np.int64)])
        if c.mask_token is not None:
            out = _where(em, em.op("Equal", [x, em.const(0, np.int64)]), c.mask_token, out)
        return [Value(em.op("Cast", [out], to=TensorProto.FLOAT), identity(rank))]
    oov = em.op("Add", [em.op("Mod", [x, em.const(c.num_oov_indices, np.int64)]), em.const(c.masked, np.int64)])
    index = oov
    if c.vocabulary:
        matches = em.op("Cast", [em.op("Equal", [_last(em, x), vocabulary])], to=TensorProto.INT32)
        found = em.op("Cast", [em.graph.reduce("ReduceMax", matches, [rank], em.base, keepdims=False)],
                      to=TensorProto.BOOL)
        position = em.op("ArgMax", [matches], axis=rank, keepdims=0)
        index = em.op("Where", [found, em.op("Add", [position, em.const(c.offset, np.int64)]), oov])
    if c.mask_token is not None:
        index = _where(em, em.op("Equal", [x, em.const(c.mask_token, np.int64)]), 0 if c.masked else -1, index)
    return _encoded(em, index, rank, c.depth)
