"""Kernels for the helper layers keras.applications models define for themselves."""

from __future__ import annotations

from kconvert.runtime.quiet_start import tf
from kconvert.runtime.registry import Invocation, kernel


@kernel("LayerScale")
def layer_scale(step: Invocation) -> list[tf.Tensor]:
    return [step.x * step.w("gamma")]


@kernel("CustomScaleLayer")
def custom_scale(step: Invocation) -> list[tf.Tensor]:
    x, y = step.inputs
    return [x + y * tf.cast(step.config.scale, y.dtype)]
