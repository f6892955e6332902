"""Kernels for the index-encoding preprocessing layers (kconvert.ir.layers.encoding)."""

from __future__ import annotations

from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import Invocation, kernel


def encode(indices: tf.Tensor, mode: str, depth: int, dtype: tf.DType) -> tf.Tensor:
    """Keras's encode_categorical_inputs on dense indices (out-of-range indices count nowhere)."""
    if mode == "int":
        return indices
    if mode == "one_hot":
        if indices.shape.rank > 1 and indices.shape[-1] == 1:
            indices = tf.squeeze(indices, axis=-1)
        return tf.one_hot(indices, depth, dtype=dtype)
    if indices.shape.rank == 1:
        indices = indices[:, None]
    counts = tf.reduce_sum(tf.one_hot(indices, depth, dtype=dtype), axis=1)
    return tf.minimum(counts, 1) if mode == "multi_hot" else counts


def _integers(x: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.round(x) if x.dtype.is_floating else x, tf.int64)


@kernel("CategoryEncoding")
def category_encoding(step: Invocation) -> list[tf.Tensor]:
    c = step.config
    return [encode(_integers(step.x), c.output_mode, c.num_tokens, step.dtype)]


@kernel("Discretization")
def discretization(step: Invocation) -> list[tf.Tensor]:
    c = step.config
    buckets = tf.raw_ops.Bucketize(input=tf.cast(step.x, tf.float32), boundaries=list(c.bin_boundaries))
    return [encode(tf.cast(buckets, tf.int64), c.output_mode, c.depth, step.dtype)]


@kernel("IntegerLookup")
def integer_lookup(step: Invocation) -> list[tf.Tensor]:
    c = step.config
    x = _integers(step.x)
    vocabulary = tf.constant(list(c.vocabulary) or [0], tf.int64)
    if c.invert:
        slot = x - c.offset
        known = (slot >= 0) & (slot < len(c.vocabulary))
        out = tf.where(known, tf.gather(vocabulary, tf.clip_by_value(slot, 0, max(len(c.vocabulary) - 1, 0))),
                       tf.constant(c.oov_token, tf.int64))
        if c.mask_token is not None:
            out = tf.where(tf.equal(x, 0), tf.constant(c.mask_token, tf.int64), out)
        return [out]
    matches = tf.equal(x[..., None], vocabulary)
    found = tf.reduce_any(matches, axis=-1) if c.vocabulary else tf.zeros_like(x, tf.bool)
    oov = c.masked + tf.math.floormod(x, c.num_oov_indices)
    index = tf.where(found, c.offset + tf.argmax(tf.cast(matches, tf.int32), axis=-1, output_type=tf.int64), oov)
    if c.mask_token is not None:
        index = tf.where(tf.equal(x, c.mask_token), tf.constant(0 if c.masked else -1, tf.int64), index)
    return [encode(index, c.output_mode, c.depth, step.dtype)]


@kernel("Hashing")
def hashing(step: Invocation) -> list[tf.Tensor]:
    """TensorFlow's own string hashes, on the strings Keras makes of the values."""
    c = step.config
    x = step.x
    mask = tf.equal(x, c.mask_value) if c.hashed_bins < c.num_bins else None
    if x.dtype.is_floating:
        x = tf.cast(x, tf.int64)
    if x.dtype != tf.string:
        x = tf.strings.as_string(x)
    if c.salt is not None:
        bins = tf.strings.to_hash_bucket_strong(x, c.hashed_bins, key=list(c.salt))
    else:
        bins = tf.strings.to_hash_bucket_fast(x, c.hashed_bins)
    if mask is not None:
        bins = tf.where(mask, tf.zeros_like(bins), bins + 1)
    return [encode(bins, c.output_mode, c.num_bins, step.dtype)]
