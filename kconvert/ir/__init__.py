"""kconvert's intermediate representation: a typed graph of layers with canonical weights.

Start with :class:`Model` (graph.py), :class:`LayerConfig` and the layer kinds (layers/), and
:class:`Weight` (weights.py).
"""

from kconvert.ir import layers  # noqa: F401  (registers every layer kind)
from kconvert.ir.graph import Call, Layer, Model, TensorRef, infer_shapes, topological_nodes
from kconvert.ir.layer import LAYER_KINDS, LayerConfig, layer_kind
from kconvert.ir.report import Note, Provenance, Report
from kconvert.ir.shapes import Shape, ShapeError
from kconvert.ir.training import Loss, Optimizer, TrainingConfig
from kconvert.ir.values import ACTIVATIONS, Constraint, Initializer, Regularizer, WeightSettings
from kconvert.ir.weights import Weight

__all__ = [
    "ACTIVATIONS", "Call", "Constraint", "Initializer", "LAYER_KINDS", "Layer", "LayerConfig",
    "Loss", "Model", "Note", "Optimizer", "Provenance", "Regularizer", "Report", "Shape",
    "ShapeError", "TensorRef", "TrainingConfig", "Weight", "WeightSettings", "infer_shapes",
    "layer_kind", "topological_nodes",
]
