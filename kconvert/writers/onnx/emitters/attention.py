"""Attention, MultiHeadAttention and EinsumDense as MatMul, Einsum and Softmax, in the source's
layout; dropout is the identity at inference.  A causal mask is built from the scores' own shape
(Range and GreaterOrEqual), so sequences of any length run."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto

from kconvert.writers.onnx.emit import Emit, emits
from kconvert.writers.onnx.graph import Value, identity

#: what Keras 3's fused attention puts in place of a masked score (-0.7 * float32 max), as the runtime
_MHA_MASKED = -0.7 * 3.38953e38


def _causal(em: Emit, scores: str, rank: int) -> str:
    """(rows, cols) booleans, row >= col, for the trailing two axes of ``scores``."""
    shape = em.op("Shape", [scores])
    ranges = []
    for axis in (rank - 2, rank - 1):
        size = em.op("Gather", [shape, em.const(axis, np.int64)], axis=0)
        ranges.append(em.op("Range", [em.const(0, np.int64), size, em.const(1, np.int64)]))
    rows = em.op("Unsqueeze", [ranges[0], em.const([1], np.int64)])
    return em.op("GreaterOrEqual", [rows, ranges[1]])


def _swap_last(em: Emit, x: str, rank: int) -> str:
    return em.op("Transpose", [x], perm=[*range(rank - 2), rank - 1, rank - 2])


@emits("Attention")
def attention(em: Emit) -> list[Value]:
    """Luong (dot) or Bahdanau (concat) scores, the causal mask as ``score - 1e9`` (Keras's), softmax
    over the keys, and the weighted values; rank-2 inputs attend across the batch, as in Keras."""
    c = em.config
    query, value = em.input(0), em.input(1)
    key = em.input(2) if len(em.values) > 2 else value
    rank = query.rank
    w = em.weights()
    if c.score_mode == "dot":
        scores = em.op("MatMul", [query.name, _swap_last(em, key.name, rank)])
        if c.use_scale:
            scores = em.op("Mul", [scores, em.weight("scale", w["scale"])])
    else:
        q = em.op("Unsqueeze", [query.name, em.const([rank - 1], np.int64)])
        k = em.op("Unsqueeze", [key.name, em.const([rank - 2], np.int64)])
        summed = em.op("Add", [q, k])
        if c.use_scale:
            summed = em.op("Mul", [summed, em.weight("scale", w["scale"])])
        reduced = em.graph.reduce("ReduceSum", em.op("Tanh", [summed]), [rank], em.base, keepdims=False)
        scores = em.op("Mul", [reduced, em.weight("concat_score_weight", w["concat_score_weight"])])
    q_mask, v_mask = em.mask(0), em.mask(1)
    if rank == 2:
        em.unmasked("rank-2 inputs attend across the batch, where a mask has no meaning")
    keep = None if v_mask is None else em.op("Unsqueeze", [v_mask.name, em.const([1], np.int64)])
    if c.causal:
        causal = _causal(em, scores, rank)
        keep = causal if keep is None else em.op("And", [keep, causal])
    if keep is not None:
        scores = em.op("Where", [keep, scores, em.op("Sub", [scores, em.const(1e9)])])
    weights = em.op("Softmax", [scores], axis=rank - 1)
    result = em.op("MatMul", [weights, value.name])
    if q_mask is not None:  # masked query steps give zeros, and the output keeps the query's mask
        as_float = em.op("Cast", [q_mask.name], to=TensorProto.FLOAT)
        result = em.op("Mul", [result, em.op("Unsqueeze", [as_float, em.const([-1], np.int64)])])
    em.out_masks = [q_mask]
    outputs = [Value(result, identity(rank))]
    return outputs + [Value(weights, identity(rank))] if c.return_attention_scores else outputs


@emits("MultiHeadAttention")
def multi_head_attention(em: Emit) -> list[Value]:
    """The projections as Einsums, scores per head ``(q / sqrt(key_dim)) . k``, ``attention_mask`` and
    the causal mask ANDed (a masked score is Keras 3's large negative), softmax over the keys, and
    the output projection."""
    c = em.config
    count = len(em.values)
    query, value = em.input(0), em.input(1)
    key = em.input(2) if c.has_key(count) else value
    w = em.weights()

    def project(x: Value, name: str) -> str:
        y = em.op("Einsum", [x.name, em.weight(f"{name}_kernel", w[f"{name}_kernel"])], equation="abc,cde->abde")
        return em.op("Add", [y, em.weight(f"{name}_bias", w[f"{name}_bias"])]) if c.use_bias else y

    q = em.op("Mul", [project(query, "query"), em.const(1.0 / c.key_dim ** 0.5)])
    k, v = project(key, "key"), project(value, "value")
    scores = em.op("Einsum", [k, q], equation="aecd,abcd->acbe")  # (batch, heads, query time, key time)
    parts = []  # (batch, query time, key time) booleans, ANDed
    for i, axis in ((0, 2), (1, 1), (2 if c.has_key(count) else None, 1)):
        mask = em.mask(i) if i is not None else None
        if mask is not None:
            parts.append(em.op("Unsqueeze", [mask.name, em.const([axis], np.int64)]))
    if c.with_attention_mask:
        parts.append(em.op("Cast", [em.input(count - 1).name], to=TensorProto.BOOL))
    keep = parts[0] if parts else None
    for part in parts[1:]:
        keep = em.op("And", [keep, part])
    if keep is not None:
        keep = em.op("Unsqueeze", [keep, em.const([1], np.int64)])  # the heads axis
    if c.causal:
        causal = _causal(em, scores, 4)
        keep = causal if keep is None else em.op("And", [keep, causal])
    if keep is not None:
        scores = em.op("Where", [keep, scores, em.const(_MHA_MASKED)])
    weights = em.op("Softmax", [scores], axis=3)
    if keep is not None and c.zero_masked_rows:
        weights = em.op("Where", [keep, weights, em.const(0.0)])
    heads = em.op("Einsum", [weights, v], equation="acbe,aecd->abcd")  # (batch, query time, heads, value_dim)
    letters = "fghij"[:len(c.output_dims) if c.output_dims else 1]
    out = em.op("Einsum", [heads, em.weight("output_kernel", w["output_kernel"])],
                equation=f"abcd,cd{letters}->ab{letters}")
    if c.use_bias:
        out = em.op("Add", [out, em.weight("output_bias", w["output_bias"])])
    em.out_masks = [em.mask(0)]
    return [Value(out, identity(len(em.outputs[0])))]


@emits("EinsumDense")
def einsum_dense(em: Emit) -> list[Value]:
    """``activation(einsum(equation, x, kernel) + bias)``, the bias stored broadcastable."""
    c, w = em.config, em.weights()
    x = em.input(0)
    y = em.op("Einsum", [x.name, em.weight("kernel", w["kernel"])], equation=c.equation)
    if "bias" in w:
        y = em.op("Add", [y, em.weight("bias", w["bias"])])
    return [em.activation(Value(y, identity(len(em.outputs[0]))), c.activation)]
