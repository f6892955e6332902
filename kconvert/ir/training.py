"""The training configuration a model was compiled with (optional, typed).

Only what a target can carry is modelled: the optimizer and its hyper-parameters, the loss per
output, metrics and loss weights.  Names are the Keras 3 spellings (``learning_rate``, not ``lr``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

#: optimizer class name -> hyper-parameters kconvert carries (others are reported and dropped)
OPTIMIZERS: dict[str, tuple[str, ...]] = {
    "SGD": ("learning_rate", "momentum", "nesterov", "decay", "clipnorm", "clipvalue"),
    "RMSprop": ("learning_rate", "rho", "momentum", "epsilon", "centered", "decay", "clipnorm", "clipvalue"),
    "Adagrad": ("learning_rate", "initial_accumulator_value", "epsilon", "decay", "clipnorm", "clipvalue"),
    "Adadelta": ("learning_rate", "rho", "epsilon", "decay", "clipnorm", "clipvalue"),
    "Adam": ("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad", "decay", "clipnorm", "clipvalue"),
    "AdamW": ("learning_rate", "weight_decay", "beta_1", "beta_2", "epsilon", "amsgrad", "clipnorm", "clipvalue"),
    "Adamax": ("learning_rate", "beta_1", "beta_2", "epsilon", "decay", "clipnorm", "clipvalue"),
    "Nadam": ("learning_rate", "beta_1", "beta_2", "epsilon", "schedule_decay", "clipnorm", "clipvalue"),
    "Ftrl": ("learning_rate", "learning_rate_power", "initial_accumulator_value",
             "l1_regularization_strength", "l2_regularization_strength", "beta"),
}

#: canonical loss function names (Keras function spelling)
LOSSES: frozenset[str] = frozenset({
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "squared_hinge", "hinge", "categorical_hinge", "log_cosh",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
    "binary_focal_crossentropy", "categorical_focal_crossentropy", "kl_divergence", "poisson",
    "cosine_similarity", "huber",
})


@dataclass(frozen=True)
class Optimizer:
    name: str
    config: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "config": dict(self.config)}


@dataclass(frozen=True)
class Loss:
    name: str
    config: Mapping[str, Any] = field(default_factory=dict)  # from_logits, label_smoothing, ...

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "config": dict(self.config)}


@dataclass
class TrainingConfig:
    """``losses`` maps each output layer name to its loss (the same one when Keras got one)."""

    optimizer: Optimizer | None = None
    losses: dict[str, Loss] = field(default_factory=dict)
    loss_weights: dict[str, float] | None = None
    metrics: dict[str, list[str]] = field(default_factory=dict)  # output name ('' = all) -> names

    def renamed(self, names: dict[str, str]) -> TrainingConfig:
        """This configuration with its per-output keys renamed (``names``: old -> new output name)."""
        def keys(d: dict[str, Any]) -> dict[str, Any]:
            return {names.get(k, k): v for k, v in d.items()}
        return replace(self, losses=keys(self.losses), metrics=keys(self.metrics),
                       loss_weights=keys(self.loss_weights) if self.loss_weights else self.loss_weights)

    def to_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.to_dict() if self.optimizer else None,
            "losses": {k: v.to_dict() for k, v in self.losses.items()},
            "loss_weights": self.loss_weights,
            "metrics": self.metrics,
        }
