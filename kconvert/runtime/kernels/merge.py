"""Kernels for merge layers."""

from __future__ import annotations

from functools import reduce

from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import Mask, Invocation, kernel

@kernel("Add", mask="all")
def add(step: Invocation) -> list[tf.Tensor]:
    return [reduce(tf.add, step.inputs)]


@kernel("Subtract", mask="all")
def subtract(step: Invocation) -> list[tf.Tensor]:
    return [step.inputs[0] - step.inputs[1]]


@kernel("Multiply", mask="all")
def multiply(step: Invocation) -> list[tf.Tensor]:
    return [reduce(tf.multiply, step.inputs)]


@kernel("Average", mask="all")
def average(step: Invocation) -> list[tf.Tensor]:
    return [reduce(tf.add, step.inputs) / len(step.inputs)]


@kernel("Maximum", mask="all")
def maximum(step: Invocation) -> list[tf.Tensor]:
    return [reduce(tf.maximum, step.inputs)]


@kernel("Minimum", mask="all")
def minimum(step: Invocation) -> list[tf.Tensor]:
    return [reduce(tf.minimum, step.inputs)]


@kernel("Concatenate", mask="custom")
def concatenate(step: Invocation) -> tuple[list[tf.Tensor], list[Mask]]:
    axis = step.config.axis
    y = tf.concat(step.inputs, axis=axis)
    if all(m is None for m in step.masks):
        return [y], [None]
    # tf.keras: a missing mask counts as all-true; masks are broadcast to the inputs, concatenated,
    # and reduced with AND over the last axis (Keras 3 changed the reduction to OR)
    masks = []
    for m, x in zip(step.masks, step.inputs):
        if m is None:
            masks.append(tf.ones_like(x, tf.bool))
        else:
            m = tf.cast(m, tf.bool)
            masks.append(tf.broadcast_to(m[..., None], tf.shape(x)) if m.shape.rank < x.shape.rank else m)
    return [y], [tf.reduce_all(tf.concat(masks, axis=axis), axis=-1)]


@kernel("Dot")
def dot(step: Invocation) -> list[tf.Tensor]:
    """Keras's batched dot product over one axis of each input (cosine when normalised)."""
    a, b = step.inputs
    ax, bx = (step.config.axes[0] % a.shape.rank, step.config.axes[1] % b.shape.rank)
    if step.config.normalize:
        a, b = tf.math.l2_normalize(a, axis=ax), tf.math.l2_normalize(b, axis=bx)
    letters = "abcdefghijklmnopqrstuvwxyz"
    a_idx = ["z"] + [letters[i] for i in range(a.shape.rank - 1)]
    b_idx = ["z"] + [letters[i + a.shape.rank] for i in range(b.shape.rank - 1)]
    b_idx[bx] = a_idx[ax] = "y"
    out = [i for i in a_idx if i != "y"] + [i for i in b_idx[1:] if i != "y"]
    y = tf.einsum(f"{''.join(a_idx)},{''.join(b_idx)}->{''.join(out)}", a, b)
    return [y[:, None] if y.shape.rank == 1 else y]
