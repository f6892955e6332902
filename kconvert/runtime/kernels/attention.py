"""Kernel for the Luong-style Attention layer (Keras 2.4+ / Keras 3 semantics)."""

from __future__ import annotations

from kconvert.runtime.activations import activation
from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import Mask, Invocation, kernel


@kernel("Attention", mask="custom")
def attention(step: Invocation) -> tuple[list[tf.Tensor], list[Mask]]:
    c = step.config
    query, value = step.inputs[0], step.inputs[1]
    key = step.inputs[2] if len(step.inputs) > 2 else value
    q_mask = step.masks[0]
    v_mask = step.masks[1] if len(step.masks) > 1 else None
    if c.score_mode == "dot":
        scores = tf.matmul(query, key, transpose_b=True)
        if c.use_scale:
            scores = scores * step.w("scale")
    else:
        summed = query[..., None, :] + key[..., None, :, :]
        if c.use_scale:
            summed = step.w("scale") * summed
        scores = step.w("concat_score_weight") * tf.reduce_sum(tf.tanh(summed), axis=-1)
    keep = None if v_mask is None else tf.cast(v_mask, tf.bool)[..., None, :]
    if c.causal:
        rows = tf.shape(scores)[-2]
        cols = tf.shape(scores)[-1]
        causal = tf.range(rows)[:, None] >= tf.range(cols)[None, :]
        keep = causal[None] if keep is None else tf.logical_and(keep, causal[None])
    if keep is not None:
        scores = tf.where(keep, scores, scores - 1.0e9)
    weights = tf.nn.softmax(scores, axis=-1)
    result = tf.matmul(weights, value)
    if q_mask is not None:
        result = result * tf.cast(q_mask, result.dtype)[..., None]
    outputs = [result, weights] if c.return_attention_scores else [result]
    return outputs, [q_mask] + [None] * (len(outputs) - 1)


#: what Keras 3's fused attention puts in place of a masked score (-0.7 * float32 max)
_MASKED_SCORE = -0.7 * 3.38953e38


@kernel("MultiHeadAttention", mask="custom")
def multi_head_attention(step: Invocation) -> tuple[list[tf.Tensor], list[Mask]]:
    """Keras's MultiHeadAttention at inference: the query, key and value projections, scaled
    dot-product scores per head, softmax over the keys with masked keys excluded (the inputs'
    padding masks, ``attention_mask`` and the causal mask ANDed), and the output projection.
    The output carries the query's mask."""
    c = step.config
    count = len(step.inputs)
    query, value = step.inputs[0], step.inputs[1]
    key = step.inputs[2] if c.has_key(count) else value
    q_mask, v_mask = step.masks[0], step.masks[1] if count > 1 else None
    k_mask = step.masks[2] if c.has_key(count) else None

    def project(x: tf.Tensor, name: str, equation: str) -> tf.Tensor:
        y = tf.einsum(equation, x, step.w(f"{name}_kernel"))
        return y + step.w(f"{name}_bias") if c.use_bias else y

    q = project(query, "query", "abc,cde->abde") * tf.cast(1.0 / c.key_dim ** 0.5, query.dtype)
    k = project(key, "key", "abc,cde->abde")
    v = project(value, "value", "abc,cde->abde")
    scores = tf.einsum("aecd,abcd->acbe", k, q)  # (batch, heads, query time, key time)
    keep = None
    for part in (None if q_mask is None else tf.cast(q_mask, tf.bool)[:, :, None],
                 None if v_mask is None else tf.cast(v_mask, tf.bool)[:, None, :],
                 None if k_mask is None else tf.cast(k_mask, tf.bool)[:, None, :],
                 tf.cast(step.inputs[-1], tf.bool) if c.with_attention_mask else None):
        if part is not None:
            keep = part if keep is None else tf.logical_and(keep, part)
    if c.causal:
        rows, cols = tf.shape(scores)[-2], tf.shape(scores)[-1]
        causal = (tf.range(rows)[:, None] >= tf.range(cols)[None, :])[None]
        keep = causal if keep is None else tf.logical_and(keep, causal)
    if keep is not None:
        keep = keep[:, None] if len(keep.shape) == 3 else keep  # the heads axis
        scores = tf.where(keep, scores, tf.cast(_MASKED_SCORE, scores.dtype))
    weights = tf.nn.softmax(scores, axis=-1)
    if keep is not None and c.zero_masked_rows:
        weights = tf.where(keep, weights, tf.zeros_like(weights))
    heads = tf.einsum("acbe,aecd->abcd", weights, v)  # (batch, query time, heads, value_dim)
    letters = "fghij"[:len(c.output_dims) if c.output_dims else 1]
    out = tf.einsum(f"abcd,cd{letters}->ab{letters}", heads, step.w("output_kernel"))
    if c.use_bias:
        out = out + step.w("output_bias")
    return [out], [q_mask]


@kernel("EinsumDense")
def einsum_dense(step: Invocation) -> list[tf.Tensor]:
    """``activation(einsum(equation, x, kernel) + bias)``; the bias is stored broadcastable."""
    c = step.config
    y = tf.einsum(c.equation, step.x, step.w("kernel"))
    if step.has("bias"):
        y = y + step.w("bias")
    return [activation(c.activation)(y)]
