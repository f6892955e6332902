"""What ONNX expresses, for lowering: :data:`ONNX_TARGET` and its rule book :data:`ONNX_RULES`.

ONNX has an operator (or an exact composition, see :data:`~kconvert.writers.onnx.emit.ACTIVATIONS`)
for every IR activation but DL4J's precise GELU, and 1-D convolutions and pooling of its own, so the
book needs few rewrites: the shared ones for Keras 1 layers, per-feature affine layers written as
BatchNormalization, CustomScaleLayer, and the identities of inference.
"""

from __future__ import annotations

from kconvert.rewrite import compositions as shared
from kconvert.rewrite.lowering import Target, TargetSite
from kconvert.rewrite.rules import Rewrite, RuleBook
from kconvert.writers.onnx.emit import ACTIVATIONS

ONNX_RULES: RuleBook[TargetSite, Rewrite] = RuleBook("ONNX")
ONNX_RULES.include(shared.normalization_layer, shared.layer_scale, shared.custom_scale, shared.identity,
                   *shared.EVERY_TARGET)

ONNX_TARGET = Target(
    "ONNX", {name: name for name in ACTIVATIONS}, ONNX_RULES,
    inlines_models="an ONNX graph is flat (a nested model's layers join it)")
