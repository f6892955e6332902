"""An IR training configuration as a tf.keras 2 ``training_config``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from kconvert.ir.training import Loss, TrainingConfig

#: loss function names whose class name is not the plain CamelCase of the function name
_LOSS_CLASSES = {"kl_divergence": "KLDivergence"}


def training_config(training: TrainingConfig, outputs: list[str],
                    renamed: dict[str, str] | None = None) -> dict[str, Any]:
    """``outputs`` are the written output layer names, in order; ``renamed`` maps the IR's output
    names (which key per-output values) to them where they differ."""
    training = _renamed(training, renamed or {})
    out: dict[str, Any] = {}
    if training.optimizer is not None:
        out["optimizer_config"] = {"class_name": training.optimizer.name,
                                   "config": {"name": training.optimizer.name, **training.optimizer.config}}
    if training.losses:
        losses = {name: loss_value(loss) for name, loss in training.losses.items()}
        distinct = {repr(v) for v in losses.values()}
        out["loss"] = next(iter(losses.values())) if len(distinct) == 1 and len(losses) == len(outputs) else losses
    if training.metrics:
        out["metrics"] = training.metrics[""] if set(training.metrics) == {""} else dict(training.metrics)
    out["loss_weights"] = dict(training.loss_weights) if training.loss_weights else None
    out["sample_weight_mode"] = None
    out["weighted_metrics"] = None
    return out


def loss_value(loss: Loss) -> Any:
    """The function name, or the loss class with its arguments when it has any."""
    if not loss.config:
        return loss.name
    class_name = _LOSS_CLASSES.get(loss.name) or "".join(p.capitalize() for p in loss.name.split("_"))
    return {"class_name": class_name, "config": {"name": loss.name, "reduction": "auto", **loss.config}}


def _renamed(training: TrainingConfig, renamed: dict[str, str]) -> TrainingConfig:
    def keys(d: dict[str, Any]) -> dict[str, Any]:
        return {renamed.get(k, k): v for k, v in d.items()}
    return replace(training, losses=keys(training.losses), metrics=keys(training.metrics),
                   loss_weights=keys(training.loss_weights) if training.loss_weights else training.loss_weights)
