"""Typed values that appear inside layer attributes: activations, initializers, regularizers,
constraints.

Each vocabulary is closed: a reader maps its format's spelling onto these names or refuses the
model.  Where Keras changed the meaning of a name between versions, the IR keeps the meanings
apart (see ``hard_sigmoid``), so a name here always denotes one function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# name -> definition (documentation and the single reference for runtime and writers)
ACTIVATIONS: dict[str, str] = {
    "linear": "x",
    "relu": "max(x, 0)",
    "relu6": "min(max(x, 0), 6)",
    "leaky_relu": "x if x > 0 else 0.2 * x",
    "elu": "x if x > 0 else exp(x) - 1",
    "selu": "1.0507009873554805 * (x if x > 0 else 1.6732632423543772 * (exp(x) - 1))",
    "sigmoid": "1 / (1 + exp(-x))",
    "hard_sigmoid": "clip(0.2 * x + 0.5, 0, 1)  (Keras 1-2, tf.keras, TF.js, DL4J)",
    "hard_sigmoid_relu6": "relu6(x + 3) / 6  (what Keras 3 calls hard_sigmoid)",
    "hard_silu": "x * relu6(x + 3) / 6  (Keras 3 hard_silu / hard_swish)",
    "tanh": "tanh(x)",
    "softmax": "exp(x) / sum(exp(x)) over the last axis",
    "log_softmax": "x - logsumexp(x) over the last axis",
    "softplus": "log(1 + exp(x))",
    "softsign": "x / (1 + |x|)",
    "exponential": "exp(x)",
    "silu": "x * sigmoid(x)  (also called swish)",
    "gelu": "0.5 * x * (1 + erf(x / sqrt(2)))",
    "gelu_tanh": "0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))  (Keras's gelu(approximate=True), "
                 "which BERT and GPT-2 use)",
    "gelu_sigmoid": "x * sigmoid(1.702 * x)  (Deeplearning4j's GELU, precise=false)",
    "dl4j_precise_gelu": "0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + (0.044715 * x)^3)))  (Deeplearning4j's GELU, "
                         "precise=true: it cubes 0.044715 x, where the usual tanh approximation has 0.044715 x^3)",
    "mish": "x * tanh(softplus(x))",
    "log_sigmoid": "-softplus(-x)",
    "hard_tanh": "clip(x, -1, 1)  (also Deeplearning4j's HardTanH)",
    "tanh_shrink": "x - tanh(x)",
    "cube": "x^3  (Deeplearning4j's Cube)",
    "rectified_tanh": "max(tanh(x), 0)  (Deeplearning4j's RectifiedTanh)",
    "dl4j_rational_tanh": "1.7159 * sign(y) * (1 - 1 / (1 + |y| + y^2 + 1.41645 * y^4)) with y = 2x / 3  "
                          "(Deeplearning4j's RationalTanh: a rational approximation of 1.7159 * tanh(2x / 3))",
}


@dataclass(frozen=True)
class Initializer:
    """A weight initializer, by its Keras 3 class name, with normalised arguments."""

    name: str
    config: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "config": dict(self.config)}


INITIALIZERS: dict[str, tuple[str, ...]] = {
    # name -> accepted config keys
    "Zeros": (),
    "Ones": (),
    "Constant": ("value",),
    "RandomNormal": ("mean", "stddev", "seed"),
    "RandomUniform": ("minval", "maxval", "seed"),
    "TruncatedNormal": ("mean", "stddev", "seed"),
    "VarianceScaling": ("scale", "mode", "distribution", "seed"),
    "GlorotUniform": ("seed",),
    "GlorotNormal": ("seed",),
    "HeUniform": ("seed",),
    "HeNormal": ("seed",),
    "LecunUniform": ("seed",),
    "LecunNormal": ("seed",),
    "Orthogonal": ("gain", "seed"),
    "Identity": ("gain",),
}


@dataclass(frozen=True)
class Regularizer:
    """A weight or activity penalty.  ``L1``, ``L2`` and ``L1L2`` all normalise to ``L1L2``."""

    name: str  # "L1L2" or "OrthogonalRegularizer"
    config: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def l1l2(cls, l1: float = 0.0, l2: float = 0.0) -> "Regularizer":
        return cls("L1L2", {"l1": float(l1), "l2": float(l2)})

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "config": dict(self.config)}


REGULARIZERS: dict[str, tuple[str, ...]] = {
    "L1L2": ("l1", "l2"),
    "OrthogonalRegularizer": ("factor", "mode"),
}


@dataclass(frozen=True)
class Constraint:
    """A projection applied to weights after each training step."""

    name: str
    config: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "config": dict(self.config)}


CONSTRAINTS: dict[str, tuple[str, ...]] = {
    "MaxNorm": ("max_value", "axis"),
    "MinMaxNorm": ("min_value", "max_value", "rate", "axis"),
    "NonNeg": (),
    "UnitNorm": ("axis",),
}


@dataclass(frozen=True)
class WeightSettings:
    """Training-only settings of one weight (``kernel``, ``bias``, ``gamma``...).

    Inference ignores them; they are carried so that a written model trains like the source.
    """

    initializer: Initializer | None = None
    regularizer: Regularizer | None = None
    constraint: Constraint | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (v.to_dict() if v is not None else None)
                for k, v in (("initializer", self.initializer), ("regularizer", self.regularizer),
                             ("constraint", self.constraint))}
