"""Kernels for layers that run other layers: TimeDistributed, Bidirectional, nested models."""

from __future__ import annotations

from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import Mask, Invocation, kernel


@kernel("TimeDistributed")
def time_distributed(step: Invocation) -> list[tf.Tensor]:
    x = step.x
    shape = tf.shape(x)
    folded = tf.reshape(x, tf.concat([[-1], shape[2:]], 0))
    folded.set_shape([None, *x.shape[2:]])
    (y,), _ = step.apply(step.config.layer, [folded])
    return [tf.reshape(y, tf.concat([shape[:2], tf.shape(y)[1:]], 0))]


_MERGES = {
    "concat": lambda a, b: tf.concat([a, b], axis=-1),
    "sum": tf.add,
    "mul": tf.multiply,
    "ave": lambda a, b: (a + b) / 2.0,
}


@kernel("Bidirectional", mask="custom")
def bidirectional(step: Invocation) -> tuple[list[tf.Tensor], list[Mask]]:
    c = step.config
    states = step.inputs[1:]
    half = len(states) // 2
    # Keras makes both directions output zeros at masked steps when they return sequences
    kwargs = {"zero_output_for_mask": bool(c.forward.config.return_sequences)}
    fw, _ = step.apply(c.forward, [step.x, *states[:half]], [step.mask] + [None] * half, kwargs)
    bw, _ = step.apply(c.backward, [step.x, *states[half:]], [step.mask] + [None] * half, kwargs)
    sequences = c.forward.config.return_sequences
    y_fw, y_bw = fw[0], bw[0]
    if sequences:
        y_bw = tf.reverse(y_bw, [1])
    outputs = [y_fw, y_bw] if c.merge_mode is None else [_MERGES[c.merge_mode](y_fw, y_bw)]
    out_mask = step.mask if sequences else None
    extra = fw[1:] + bw[1:]
    return outputs + extra, [out_mask] * len(outputs) + [None] * len(extra)


@kernel("Model", mask="custom")
def nested_model(step: Invocation) -> tuple[list[tf.Tensor], list[Mask]]:
    return step.executor.run_graph(step.config.model, step.inputs, step.masks)
