"""Kernels for dense, embedding, activation and reshaping-only layers."""

from __future__ import annotations

from kconvert.runtime.activations import activation
from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import Invocation, kernel


def dense_product(x: tf.Tensor, kernel_: tf.Tensor) -> tf.Tensor:
    """``x @ kernel`` on the last axis, for inputs of any rank."""
    if x.shape.rank == 2:
        return tf.matmul(x, kernel_)
    return tf.tensordot(x, kernel_, axes=[[x.shape.rank - 1], [0]])


@kernel("Dense")
def dense(step: Invocation) -> list[tf.Tensor]:
    y = dense_product(step.x, step.w("kernel"))
    if step.config.use_bias:
        y = y + step.w("bias")
    return [activation(step.config.activation)(y)]


@kernel("Activation")
def activation_layer(step: Invocation) -> list[tf.Tensor]:
    return [activation(step.config.activation)(step.x)]


@kernel("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise",
        "GaussianDropout", "AlphaDropout", "ActivityRegularization", "StochasticDepth", "Identity", "Augmentation")
def inference_identity(step: Invocation) -> list[tf.Tensor]:
    """Training-only layers are the identity at inference."""
    return [tf.identity(step.x)]


@kernel("Masking", mask="custom")
def masking(step: Invocation) -> tuple[list[tf.Tensor], list]:
    keep = tf.reduce_any(tf.not_equal(step.x, tf.cast(step.config.mask_value, step.x.dtype)), axis=-1)
    return [step.x * tf.cast(keep, step.x.dtype)[..., None]], [keep]


@kernel("Flatten")
def flatten(step: Invocation) -> list[tf.Tensor]:
    x = step.x
    if step.config.data_format == "channels_first" and x.shape.rank > 2:
        x = tf.transpose(x, [0, *range(2, x.shape.rank), 1])
    size = x.shape[1:].num_elements()  # static when known, so that later layers see it
    return [tf.reshape(x, [-1, size] if size is not None else [tf.shape(x)[0], -1])]


@kernel("Reshape")
def reshape(step: Invocation) -> list[tf.Tensor]:
    return [tf.reshape(step.x, [tf.shape(step.x)[0], *step.config.target_shape])]


@kernel("Permute")
def permute(step: Invocation) -> list[tf.Tensor]:
    return [tf.transpose(step.x, [0, *step.config.dims])]


@kernel("RepeatVector")
def repeat_vector(step: Invocation) -> list[tf.Tensor]:
    return [tf.tile(step.x[:, None, :], [1, step.config.n, 1])]


@kernel("Highway")
def highway(step: Invocation) -> list[tf.Tensor]:
    x = step.x
    carry = tf.matmul(x, step.w("carry_kernel"))
    transformed = tf.matmul(x, step.w("kernel"))
    if step.config.use_bias:
        carry, transformed = carry + step.w("carry_bias"), transformed + step.w("bias")
    gate = tf.sigmoid(carry)
    return [activation(step.config.activation)(transformed) * gate + (1.0 - gate) * x]


@kernel("MaxoutDense")
def maxout_dense(step: Invocation) -> list[tf.Tensor]:
    y = tf.einsum("bi,fio->bfo", step.x, step.w("kernel"))
    if step.config.use_bias:
        y = y + step.w("bias")
    return [tf.reduce_max(y, axis=1)]


@kernel("Embedding", mask="custom", integer_inputs=True)
def embedding(step: Invocation) -> tuple[list[tf.Tensor], list]:
    ids = tf.cast(step.x, tf.int32)
    out = tf.gather(step.w("embeddings"), ids)
    return [out], [tf.not_equal(ids, 0) if step.config.mask_zero else None]


@kernel("Rescaling")
def rescaling(step: Invocation) -> list[tf.Tensor]:
    scale = tf.constant(step.config.scale, step.x.dtype)
    offset = tf.constant(step.config.offset, step.x.dtype)
    return [step.x * scale + offset]


@kernel("NotEqual", integer_inputs=True)
def not_equal(step: Invocation) -> list[tf.Tensor]:
    return [tf.not_equal(step.x, tf.cast(step.config.value, step.x.dtype))]
