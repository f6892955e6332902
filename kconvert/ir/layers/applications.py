"""Helper layers that keras.applications models define for themselves (not in keras.layers).

Keras registers them under its own modules, so that a saved application reloads; kconvert reads them
from an allowlist of those registrations and never imports a class a file names.
"""

from __future__ import annotations

from typing import Sequence

from kconvert.ir.layer import LayerConfig, layer_config, layer_kind
from kconvert.ir.shapes import Shape, ShapeError, broadcast


@layer_kind
@layer_config
class LayerScale(LayerConfig):
    """ConvNeXt's learned per-channel scale: ``x * gamma`` over the last axis."""

    kind = "LayerScale"
    application_module = "applications.convnext"
    projection_dim: int
    init_values: float = 1e-6  # gamma's initial value (training only)

    def output_shape(self, shape: Shape) -> Shape:
        if shape[-1] is not None and shape[-1] != self.projection_dim:
            raise ShapeError(f"the last axis has {shape[-1]} channels, not projection_dim={self.projection_dim}")
        return shape

    def weight_shapes(self, inputs: Sequence[Shape]) -> dict[str, Shape]:
        return {"gamma": (self.projection_dim,)}


@layer_kind
@layer_config
class StochasticDepth(LayerConfig):
    """ConvNeXt's drop-path: drops whole residual branches in training; identity at inference."""

    kind = "StochasticDepth"
    training_only = True
    elementwise = True
    application_module = "applications.convnext"
    rate: float

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@layer_kind
@layer_config
class CustomScaleLayer(LayerConfig):
    """InceptionResNetV2's residual: ``inputs[0] + inputs[1] * scale``."""

    kind = "CustomScaleLayer"
    application_module = "applications.inception_resnet_v2"
    min_inputs = 2
    max_inputs = 2
    scale: float

    def output_shapes(self, inputs: Sequence[Shape]) -> list[Shape]:
        return [broadcast(inputs)]
