"""Kernel for the Luong-style Attention layer (Keras 2.4+ / Keras 3 semantics)."""

from __future__ import annotations

import tensorflow as tf

from kconvert.runtime.registry import Mask, Step, kernel


@kernel("Attention", mask="custom")
def attention(step: Step) -> tuple[list[tf.Tensor], list[Mask]]:
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
